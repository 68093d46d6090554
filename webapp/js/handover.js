// Hand over (交给别的设备带出, docs/relay.md): the reports the server has not confirmed, one
// signed QR code each, shown in turn so another device can scan them with no network between
// the two. Showing a report's code marks that revision "handed over (not yet confirmed)";
// only this device's own next sync turns it "synced".

import { h } from './dom.js';
import { t } from './i18n.js';
import { loadSchema } from './forms.js';
import { encodePayload } from './relay_codec.js';
import * as keys from './keys.js';
import { enrolment } from './device.js';

const ADVANCE_EVERY_MS = 2000;
const QUIET_MODULES = 4;  // the quiet zone the QR standard asks for around the symbol
const MAX_CSS_PX = 560;
let timer = null;
let wakeLock = null;
let shownSince = 0;  // bumped when the screen is left: a wake lock granted after that is let go
let qrLibrary = null;

/** qrcode-generator (vendor/qrcode.js, a classic script defining `qrcode`), loaded on first use. */
function loadQrLibrary() {
  if (!qrLibrary) {
    qrLibrary = new Promise((resolve, reject) => {
      if (window.qrcode) { resolve(window.qrcode); return; }
      const script = document.createElement('script');
      script.src = 'vendor/qrcode.js';
      script.onload = () => resolve(window.qrcode);
      script.onerror = () => { qrLibrary = null; reject(new Error('vendor/qrcode.js did not load')); };
      document.head.append(script);
    });
  }
  return qrLibrary;
}

/**
 * The QR symbol of `text` in alphanumeric mode at level Q, or M when Q needs more than
 * version 40; null when it fits neither. Returns {qr, level}.
 */
export function makeQr(qrcode, text) {
  for (const level of ['Q', 'M']) {
    const qr = qrcode(0, level);
    qr.addData(text, 'Alphanumeric');
    try { qr.make(); return { qr, level }; } catch (err) { /* too long at this level */ }
  }
  return null;
}

/** Draw with whole device pixels per module and no smoothing, so a camera reads it reliably. */
function drawQr(canvas, qr) {
  const modules = qr.getModuleCount();
  const total = modules + 2 * QUIET_MODULES;
  const ratio = window.devicePixelRatio || 1;
  const cssWidth = Math.min(MAX_CSS_PX, (window.innerWidth || MAX_CSS_PX) - 24);
  const cell = Math.max(2, Math.floor((cssWidth * ratio) / total));
  canvas.width = canvas.height = total * cell;
  canvas.style.width = (total * cell) / ratio + 'px';  // the height follows (app.css)
  const ctx = canvas.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#000';
  for (let row = 0; row < modules; row++) {
    for (let col = 0; col < modules; col++) {
      if (qr.isDark(row, col)) { ctx.fillRect((col + QUIET_MODULES) * cell, (row + QUIET_MODULES) * cell, cell, cell); }
    }
  }
}

async function schemaOrNull(form) {
  try { return await loadSchema(form); } catch (err) { return null; }  // then `data` goes as an object
}

/** One payload per pending report, in the order of the records list: [{record, doc, text}]. */
async function buildPayloads(store) {
  const pending = await store.pendingRecords();
  const out = [];
  for (const [i, record] of pending.entries()) {
    const doc = await store.getWithRevisions(record.id);
    const text = await encodePayload(doc, await schemaOrNull(doc.form), keys.sign, i + 1, pending.length);
    out.push({ record, doc, text });
  }
  return out;
}

function stopTimer() {
  clearInterval(timer);
  timer = null;
}

export function stopHandoverScreen() {
  stopTimer();
  shownSince += 1;
  if (wakeLock) { wakeLock.release().catch(() => null); wakeLock = null; }
}

/** Keep the screen on while the codes are shown (where the browser allows it). */
async function keepScreenOn() {
  const screen = shownSince;
  let lock = null;
  try { lock = navigator.wakeLock ? await navigator.wakeLock.request('screen') : null; } catch (err) { lock = null; }
  if (lock && screen !== shownSince) { lock.release().catch(() => null); } else { wakeLock = lock; }
}

/** The hand-over screen; `back()` leaves it. */
export async function handoverScreen(store, { back }) {
  stopHandoverScreen();
  const title = h('h2', {}, t('handover_title'));
  const backButton = h('button', { class: 'btn', id: 'handover-back', onclick: back }, t('back'));
  const screen = (...children) => h('main', { class: 'handover', dataset: { screen: 'handover' } }, title, ...children, backButton);
  const e = enrolment();
  if (e && e.key_refused) {
    return screen(h('p', { class: 'err', id: 'handover-error', role: 'alert' }, t('handover_key_refused')));
  }
  if (!(await keys.keyPair())) {
    return screen(h('p', { class: 'err', id: 'handover-error', role: 'alert' }, t('handover_no_key')));
  }
  const payloads = await buildPayloads(store);
  if (!payloads.length) {
    return screen(h('p', { class: 'help', id: 'handover-empty' }, t('handover_none')));
  }
  const qrcode = await loadQrLibrary();
  const canvas = h('canvas', { id: 'handover-code', class: 'handover-code', role: 'img' });
  const position = h('p', { class: 'handover-position strong', id: 'handover-position' });
  const what = h('p', { class: 'handover-what', id: 'handover-what' });
  const problem = h('p', { class: 'err', id: 'handover-too-big', role: 'alert', hidden: true }, t('handover_too_big'));
  let shown = 0;

  const show = (i) => {
    shown = (i + payloads.length) % payloads.length;
    const { record, doc, text } = payloads[shown];
    const made = makeQr(qrcode, text);
    canvas.hidden = !made;
    problem.hidden = Boolean(made);
    if (made) { drawQr(canvas, made.qr); }
    Object.assign(canvas.dataset, {
      index: String(shown + 1), count: String(payloads.length), payload: text, docId: doc._id, rev: doc._rev,
      level: made ? made.level : '', version: made ? String((made.qr.getModuleCount() - 17) / 4) : '',
    });
    canvas.setAttribute('aria-label', `${shown + 1} / ${payloads.length}`);
    position.textContent = `${shown + 1} / ${payloads.length}`;
    what.textContent = t('form_' + record.form) + (record.date ? ' · ' + record.date : '');
    if (made) { store.markHandedOver(doc).catch((err) => console.warn('hand-over state not saved:', err)); }
  };
  const restartTimer = () => {
    stopTimer();
    if (payloads.length > 1) {
      timer = setInterval(() => { if (canvas.isConnected) { show(shown + 1); } else { stopHandoverScreen(); } }, ADVANCE_EVERY_MS);
    }
  };
  const step = (by) => { show(shown + by); restartTimer(); };
  show(0);
  restartTimer();
  keepScreenOn();

  return screen(
    h('p', { class: 'help' }, t('handover_intro')),
    e && !e.key_registered ? h('p', { class: 'err', id: 'handover-key-warning', role: 'alert' }, t('handover_key_unregistered')) : null,
    h('figure', { class: 'handover-figure' }, canvas, problem, h('figcaption', {}, position, what)),
    payloads.length > 1 ? h('div', { class: 'handover-nav' },
      h('button', { class: 'btn big', id: 'handover-prev', onclick: () => step(-1) }, t('handover_prev')),
      h('button', { class: 'btn big', id: 'handover-next', onclick: () => step(1) }, t('handover_next'))) : null);
}
