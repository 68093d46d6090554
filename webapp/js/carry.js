// Carry reports for another school (代为上传, docs/relay.md "Carry"): scan the hand-over codes
// another device shows, keep each payload in a local-only PouchDB (never replicated, not this
// device's school database), and upload them to POST /api/v1/relay with this device's own
// account whenever the service answers. What the service accepted (or already had) is
// forgotten but for a small "delivered" entry; what it refused is kept, with the reason,
// until the user discards it; a failed request leaves everything "carrying".

/* global PouchDB, BarcodeDetector */
import { h } from './dom.js';
import { t } from './i18n.js';
import { inspectPayload } from './relay_codec.js';

const CODE_PREFIX = 'SR1:';
const BATCH = 50;  // the relay API takes 1-50 payloads a request
const SCAN_EVERY_MS = 150;
const MAX_FRAME_WIDTH = 960;  // larger frames only slow jsQR down
const DELIVERED_KEPT_MS = 14 * 24 * 3600 * 1000;
const JSQR_URL = '/app/vendor/jsQR.js';

function nowIso() { return new Date().toISOString(); }

/** The carried payloads, local to this device: `carry:<origin device>:<doc id>:<rev>`. */
export class CarryStore {
  constructor(enrolment) {
    this.db = new PouchDB('carry_' + enrolment.device, { auto_compaction: true });
  }

  static idOf(info) { return `carry:${info.origin_device}:${info.doc_id}:${info.rev}`; }

  async get(id) {
    try { return await this.db.get(id); } catch (err) { if (err.status === 404) { return null; } throw err; }
  }

  /**
   * Keep a checked payload. Returns 'added', 'known' when this revision is already carried
   * (scanning a code again keeps one) or 'delivered' when it was delivered already.
   */
  async add(text, info) {
    const id = CarryStore.idOf(info);
    const kept = await this.get(id);
    if (kept) { return kept.state === 'delivered' ? 'delivered' : 'known'; }
    try {
      await this.db.put({
        _id: id, state: 'carrying', payload: text, origin_device: info.origin_device, doc_id: info.doc_id, rev: info.rev,
        form: info.form, school_id: info.school_id, county_id: info.county_id, date: info.date, scanned_at: nowIso(),
      });
    } catch (err) {
      if (err.status === 409) { return 'known'; }  // the same code decoded twice at once
      throw err;
    }
    return 'added';
  }

  /** Every entry, carried ones first (oldest scan first), then delivered (newest first). */
  async entries() {
    const all = await this.db.allDocs({ startkey: 'carry:', endkey: 'carry:\ufff0', include_docs: true });
    const docs = all.rows.map((row) => row.doc);
    const old = Date.now() - DELIVERED_KEPT_MS;
    const stale = docs.filter((d) => d.state === 'delivered' && Date.parse(d.delivered_at) < old);
    if (stale.length) { await this.db.bulkDocs(stale.map((d) => ({ _id: d._id, _rev: d._rev, _deleted: true }))); }
    const live = docs.filter((d) => !stale.includes(d));
    const carried = live.filter((d) => d.state !== 'delivered').sort((a, b) => a.scanned_at.localeCompare(b.scanned_at));
    const delivered = live.filter((d) => d.state === 'delivered').sort((a, b) => b.delivered_at.localeCompare(a.delivered_at));
    return carried.concat(delivered);
  }

  async update(id, change) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.get(id);
      if (!current) { return; }
      try { await this.db.put(change(current)); return; } catch (err) { if (err.status !== 409) { throw err; } }
    }
  }

  /** The payload itself is dropped: only what the list shows is kept. */
  markDelivered(id, status, schoolName) {
    return this.update(id, (d) => ({
      _id: d._id, _rev: d._rev, state: 'delivered', status, origin_device: d.origin_device, doc_id: d.doc_id, rev: d.rev,
      form: d.form, school_id: d.school_id, school_name: schoolName || null, date: d.date, scanned_at: d.scanned_at,
      delivered_at: nowIso(),
    }));
  }

  markRefused(id, code, reason) {
    return this.update(id, (d) => ({ ...d, state: 'refused', code: code || null, reason: reason || code || '', refused_at: nowIso() }));
  }

  async discard(id) {
    const d = await this.get(id);
    if (d) { await this.db.remove(d); }
  }
}

/** The carrying side: scanned codes in, uploads out, listeners told of every change. */
export class Carrier {
  constructor(enrolment) {
    this.enrolment = enrolment;
    this.store = new CarryStore(enrolment);
    this.listeners = new Set();
    this.uploading = null;
    this.again = false;
    this.lastError = null;  // why the last upload did not reach the service, if it did not
    window.addEventListener('online', () => { this.upload(); });
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  notify() { for (const fn of this.listeners) { fn(); } }

  /**
   * A decoded code's text: checked offline and kept. Resolves to {outcome, info}, outcome
   * one of 'added', 'known', 'delivered', 'ignored' (not a hand-over code) or 'malformed' (with `error`).
   */
  async scanned(text) {
    if (typeof text !== 'string' || !text.startsWith(CODE_PREFIX)) { return { outcome: 'ignored' }; }
    let info;
    try {
      info = await inspectPayload(text);
    } catch (err) {
      return { outcome: 'malformed', error: String(err.message || err) };
    }
    const outcome = await this.store.add(text, info);
    if (outcome === 'added') {
      this.notify();
      if (navigator.onLine) { this.upload(); }
    }
    return { outcome, info };
  }

  entries() { return this.store.entries(); }

  async carryingCount() { return (await this.store.entries()).filter((d) => d.state === 'carrying').length; }

  async discard(id) { await this.store.discard(id); this.notify(); }

  /**
   * Upload whatever is carried. One upload at a time: a call during one makes it go round
   * once more when done (a code scanned meanwhile is not left for the next sync cycle).
   */
  upload() {
    if (this.uploading) { this.again = true; return this.uploading; }
    this.uploading = (async () => {
      do {
        this.again = false;
        await this.uploadAll().catch((err) => { this.lastError = String(err.message || err); this.notify(); });
      } while (this.again && !this.lastError);
      this.uploading = null;
    })();
    return this.uploading;
  }

  async uploadAll() {
    const waiting = (await this.store.entries()).filter((d) => d.state === 'carrying');
    if (!waiting.length) { return; }
    for (let i = 0; i < waiting.length; i += BATCH) {
      const batch = waiting.slice(i, i + BATCH);
      let results;
      try {
        results = await this.post(batch.map((d) => d.payload));
      } catch (err) {
        // No answer, or an answer about this device rather than the payloads: all stay carried.
        this.lastError = err.status ? String(err.message) : 'offline';
        this.notify();
        return;
      }
      for (const result of results) {
        const entry = batch[result.index];
        if (!entry) { continue; }
        if (result.status === 'accepted' || result.status === 'already_delivered') {
          await this.store.markDelivered(entry._id, result.status, result.school_name);
        } else if (result.status === 'refused') {
          await this.store.markRefused(entry._id, result.code, result.reason);
        }
      }
    }
    this.lastError = null;
    this.notify();
  }

  async post(payloads) {
    const e = this.enrolment;
    const response = await fetch('/api/v1/relay', {
      method: 'POST',
      headers: {
        Authorization: 'Basic ' + btoa(e.device + ':' + e.password), 'Content-Type': 'application/json', Accept: 'application/json',
      },
      body: JSON.stringify({ payloads }),
      cache: 'no-store',
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok || !Array.isArray(answer.results)) {
      const err = new Error(answer.message || response.statusText || String(response.status));
      err.status = response.status || 500;
      throw err;
    }
    return answer.results;
  }
}

// --- the camera -----------------------------------------------------------------------

let jsqrLoading = null;

/** jsQR, loaded on first use by a script tag (the service worker has it in the shell cache). */
function loadJsQR() {
  if (window.jsQR) { return Promise.resolve(window.jsQR); }
  if (!jsqrLoading) {
    jsqrLoading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = JSQR_URL;
      script.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error('jsQR did not load')));
      script.onerror = () => { jsqrLoading = null; script.remove(); reject(new Error('jsQR did not load')); };
      document.head.append(script);
    });
  }
  return jsqrLoading;
}

/** A function from a video element to the texts of the QR codes it shows now. */
async function makeDecoder() {
  if ('BarcodeDetector' in window) {
    try {
      const formats = await BarcodeDetector.getSupportedFormats();
      if (formats.includes('qr_code')) {
        const detector = new BarcodeDetector({ formats: ['qr_code'] });
        return async (video) => (await detector.detect(video)).map((code) => code.rawValue);
      }
    } catch (err) { /* no usable detector: jsQR below */ }
  }
  const jsQR = await loadJsQR();
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  return async (video) => {
    const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const code = jsQR(image.data, image.width, image.height, { inversionAttempts: 'dontInvert' });
    return code ? [code.data] : [];
  };
}

/** The rear camera into `video`, each decoded text to `onText`, until stop(). */
export class Scanner {
  constructor(video, onText) {
    this.video = video;
    this.onText = onText;
    this.stream = null;
    this.timer = null;
    this.stopped = false;
  }

  async start() {
    const decode = await makeDecoder();
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
    if (this.stopped) { stream.getTracks().forEach((track) => track.stop()); return; }  // left while asking
    this.stream = stream;
    this.video.srcObject = stream;
    await this.video.play().catch(() => null);
    const tick = async () => {
      if (this.stopped) { return; }
      try {
        if (this.video.readyState >= 2 && this.video.videoWidth) {
          for (const text of await decode(this.video)) { await this.onText(text); }
        }
      } catch (err) {
        console.warn('scan', err);
      }
      if (!this.stopped) { this.timer = setTimeout(tick, SCAN_EVERY_MS); }
    };
    tick();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.stream) { this.stream.getTracks().forEach((track) => track.stop()); }
    this.stream = null;
    this.video.srcObject = null;
  }
}

// --- the screen -----------------------------------------------------------------------

let activeScreen = null;

/** Stop the camera of the carry screen, if it is open (leaving the screen). */
export function stopCarryScreen() {
  if (activeScreen) { activeScreen.stop(); activeScreen = null; }
}

function entryItem(entry, { schoolName, onDiscard }) {
  // A school device knows only its own school's name; the server names the origin's on delivery.
  const where = [entry.school_name || schoolName(entry.school_id) || entry.school_id || '?', entry.date || '', t('form_' + entry.form)].filter(Boolean).join(' · ');
  return h('li', { class: 'carry-item carry-' + entry.state,
    dataset: { id: entry._id, state: entry.state, school: entry.school_id || '', docId: entry.doc_id, origin: entry.origin_device } },
  h('p', { class: 'record-title' }, where, ' ', h('span', { class: 'badge state' }, t('carry_state_' + entry.state))),
  entry.state === 'refused' ? h('p', { class: 'reason' }, entry.reason || entry.code || '') : null,
  entry.state === 'refused' ? h('button', { class: 'btn small carry-discard', onclick: () => onDiscard(entry) }, t('carry_discard')) : null);
}

/**
 * The carry screen: camera, scan progress, what is carried and for whom, what was
 * delivered. `schoolName(id)` names a school when this device knows it.
 */
export function carryScreen(carrier, { back, schoolName }) {
  stopCarryScreen();
  const video = h('video', { class: 'carry-video', id: 'carry-video', autoplay: true, muted: true, playsinline: true });
  const progress = h('p', { class: 'carry-progress strong', id: 'carry-progress', role: 'status' }, t('carry_point'));
  const message = h('p', { class: 'help', id: 'carry-message' });
  const summary = h('div', { id: 'carry-summary' });
  const list = h('ul', { class: 'records', id: 'carry-list' });
  const uploadBtn = h('button', { class: 'btn', id: 'carry-upload', onclick: async () => {
    uploadBtn.disabled = true;
    await carrier.upload();
    uploadBtn.disabled = false;
  } }, t('carry_upload'));
  // One sequence at a time: the indices seen of the last `n` scanned.
  const sequence = { count: 0, seen: new Set() };

  const showList = async () => {
    const entries = await carrier.entries();
    const carrying = entries.filter((d) => d.state === 'carrying');
    const schools = Array.from(new Set(carrying.map((d) => schoolName(d.school_id) || d.school_id || '?')));
    summary.replaceChildren(...[
      h('p', { class: 'strong', id: 'carry-count', dataset: { carrying: String(carrying.length) } },
        carrying.length ? t(carrying.length === 1 ? 'carry_carrying_one' : 'carry_carrying', { n: carrying.length, schools: schools.join(', ') }) : t('carry_none')),
      carrying.length && (carrier.lastError || !navigator.onLine) ? h('p', { class: 'help', id: 'carry-error' }, t('carry_not_sent'),
        ' (', carrier.lastError && carrier.lastError !== 'offline' ? carrier.lastError : t('offline'), ')') : null,
    ].filter(Boolean));  // replaceChildren would show a null as the text "null"
    list.replaceChildren(...entries.map((entry) => entryItem(entry, { schoolName, onDiscard: discard })));
  };
  const discard = async (entry) => {
    await carrier.discard(entry._id);
  };
  // Each text once per visit: a code stays in view for many frames, and one just discarded
  // must not come back while the camera still sees it.
  const handled = new Set();
  const onText = async (text) => {
    if (handled.has(text)) { return; }
    handled.add(text);
    const result = await carrier.scanned(text);
    if (result.outcome === 'ignored') { message.textContent = t('carry_not_handover'); return; }
    if (result.outcome === 'malformed') { message.textContent = t('carry_malformed') + ': ' + result.error; return; }
    const { index, count } = result.info;
    if (count !== sequence.count) { sequence.count = count; sequence.seen = new Set(); }
    sequence.seen.add(index);
    progress.textContent = t('carry_scanned', { got: sequence.seen.size, n: count });
    progress.dataset.got = String(sequence.seen.size);
    progress.dataset.count = String(count);
    message.textContent = result.outcome === 'known' ? t('carry_known') : result.outcome === 'delivered' ? t('carry_already_delivered') : '';
  };

  const scanner = new Scanner(video, onText);
  const unsubscribe = carrier.onChange(() => { showList(); });
  activeScreen = { stop: () => { scanner.stop(); unsubscribe(); } };
  scanner.start().then(() => { video.dataset.scanning = 'true'; }).catch((err) => {
    progress.textContent = t('carry_no_camera') + ' (' + (err.name || err.message || err) + ')';
  });
  showList();
  if (navigator.onLine) { carrier.upload(); }
  return h('main', { dataset: { screen: 'carry' } },
    h('div', { class: 'form-head' },
      h('button', { class: 'btn small', id: 'back', onclick: back }, '‹ ' + t('back')),
      h('h2', {}, t('carry_title'))),
    h('p', { class: 'help' }, t('carry_intro')),
    video, progress, message, summary, uploadBtn, list);
}
