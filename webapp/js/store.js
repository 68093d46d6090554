// Local data: the school's synced PouchDB (reports, incidents, this device's status,
// conflict notices and config pulled from the server) and a local-only PouchDB for
// drafts and per-record sync state, which is never replicated.

/* global PouchDB */
import { APP_VERSION } from './version.js';
import * as clock from './clock.js';

const RECORD_TYPES = ['report', 'incident', 'inspection', 'explanation'];

function deepEqual(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

function randomPart(n = 16) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

/** The id of a new document of `schema`'s form, from its `x-form.id_example`. */
export function makeId(schema, date) {
  return schema['x-form'].id_example.replace('{date}', date).replace('{random}', randomPart());
}

export class Store {
  constructor(enrolment) {
    this.enrolment = enrolment;
    this.db = new PouchDB('school_' + enrolment.device, { auto_compaction: true });
    this.local = new PouchDB('local_' + enrolment.device, { auto_compaction: true });
    this.listeners = new Set();
    this.changes = this.db.changes({ live: true, since: 'now' }).on('change', () => this.notify());
  }

  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  notify() { for (const fn of this.listeners) { fn(); } }

  async getOr(db, id) {
    try { return await db.get(id); } catch (err) { if (err.status === 404) { return null; } throw err; }
  }

  /** Read-modify-write of a local-only doc, retried on conflicts (events race each other). */
  async upsertLocal(id, change) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = (await this.getOr(this.local, id)) || { _id: id };
      const next = change({ ...current });
      if (!next) { return; }
      try { await this.local.put(next); return; } catch (err) { if (err.status !== 409) { throw err; } }
    }
  }

  getDoc(id) { return this.getOr(this.db, id); }

  getDraft(docId) { return this.getOr(this.local, 'draft:' + docId); }

  async saveDraft(docId, fields) {
    await this.upsertLocal('draft:' + docId, (d) => ({
      ...d, ...fields, doc_id: docId, created_at: d.created_at || clock.nowIso(), updated_at: clock.nowIso(),
    }));
    this.notify();
  }

  async deleteDraft(docId) {
    const d = await this.getDraft(docId);
    if (d) { await this.local.remove(d); this.notify(); }
  }

  /**
   * Write the submitted document into the synced database with full meta. Only fields whose
   * value changed get a new edit clock, with base = the clock of the value they replace.
   * Returns the written doc, or null when a correction changed nothing. `where` places a
   * document outside the device's own school: an inspection names its school and county.
   */
  async submit(schema, docId, date, data, teacher, where = {}) {
    const e = this.enrolment;
    const xform = schema['x-form'];
    const existing = await this.getDoc(docId);
    const draft = await this.getDraft(docId);
    const oldClocks = (existing && existing.meta && existing.meta.clocks) || {};
    for (const c of Object.values(oldClocks)) { clock.observeClock(c.at); }
    const clocks = {};
    for (const name of Object.keys(oldClocks)) { if (name in data) { clocks[name] = oldClocks[name]; } }
    let changed = false;
    for (const name of Object.keys(data)) {
      if (existing && existing.data && name in existing.data && deepEqual(existing.data[name], data[name])) { continue; }
      changed = true;
      clocks[name] = { at: clock.tick(e.device), base: oldClocks[name] ? oldClocks[name].at : null };
    }
    const moved = existing && where.school_id && existing.school_id !== where.school_id;
    if (existing && !changed && !moved && existing.schema_version === xform.schema_version) {
      await this.deleteDraft(docId);
      return null;
    }
    const now = clock.nowIso();
    const doc = {
      _id: docId,
      type: xform.doc_type,
      form: xform.name,
      schema_version: xform.schema_version,
      school_id: where.school_id || (existing && existing.school_id) || e.school_id,
      ...(where.county_id || e.county_id ? { county_id: where.county_id || e.county_id } : {}),
      ...(date ? { date } : {}),
      data,
      meta: {
        author: teacher.username,
        device: e.device,
        app_version: APP_VERSION,
        created_at: (existing && existing.meta && existing.meta.created_at) || (draft && draft.created_at) || now,
        updated_at: now,
        submitted_at: now,
        utc_offset_minutes: clock.localOffsetMinutes(),
        clock_offset_ms: clock.offsetMs(),
        clocks,
      },
    };
    if (existing) { doc._rev = existing._rev; }
    const result = await this.db.put(doc);
    doc._rev = result.rev;
    await this.deleteDraft(docId);
    this.notify();
    return doc;
  }

  /** Revisions the server has (pushed by us, or pulled from it). */
  async markSynced(docs) {
    for (const doc of docs) {
      if (!doc || !doc._id || doc._id.startsWith('_')) { continue; }
      for (const c of Object.values((doc.meta && doc.meta.clocks) || {})) { clock.observeClock(c.at); }
      await this.upsertLocal('state:' + doc._id, (s) => {
        const revs = (s.synced_revs || []).filter((r) => r !== doc._rev);
        revs.push(doc._rev);
        return { ...s, synced_revs: revs.slice(-10) };
      });
    }
    this.notify();
  }

  /** The database refused a document (validate_doc_update): keep it and say why. */
  async markDenied(err) {
    const id = err.id || (err.doc && err.doc._id);
    if (!id) { return; }
    const doc = await this.getDoc(id);
    const reason = err.reason || err.message || String(err.error || 'forbidden');
    await this.upsertLocal('state:' + id, (s) => ({
      ...s, denied: { rev: doc ? doc._rev : null, reason, at: clock.nowIso() },
    }));
    this.notify();
  }

  /** Every record with its honest sync state, newest date first. */
  async records() {
    const [all, locals] = await Promise.all([
      this.db.allDocs({ include_docs: true }),
      this.local.allDocs({ include_docs: true }),
    ]);
    const states = {}, drafts = {};
    for (const row of locals.rows) {
      if (row.id.startsWith('state:')) { states[row.id.slice(6)] = row.doc; }
      if (row.id.startsWith('draft:')) { drafts[row.id.slice(6)] = row.doc; }
    }
    const notices = {};
    for (const row of all.rows) {
      const d = row.doc;
      if (d && d.type === 'conflict_notice' && d.doc_id) { (notices[d.doc_id] = notices[d.doc_id] || []).push(d); }
    }
    const out = [];
    for (const row of all.rows) {
      const doc = row.doc;
      if (!doc || RECORD_TYPES.indexOf(doc.type) === -1) { continue; }
      const st = states[doc._id] || {};
      const notice = (notices[doc._id] || []).sort((a, b) => String(a.created_at || '').localeCompare(String(b.created_at || ''))).pop() || null;
      let state = 'waiting', reason = null;
      if (st.denied && st.denied.rev === doc._rev) {
        state = 'rejected';
        reason = st.denied.reason;
      } else if ((st.synced_revs || []).indexOf(doc._rev) !== -1) {
        state = notice ? 'merged' : 'synced';
      } else if (st.handed_over && st.handed_over.rev === doc._rev) {
        state = 'handed_over';  // another device carries it; only our own sync can confirm it
      }
      out.push({ id: doc._id, form: doc.form, date: doc.date || '', doc, state, reason, notice, draft: drafts[doc._id] || null });
    }
    for (const [id, draft] of Object.entries(drafts)) {
      if (!out.some((r) => r.id === id)) {
        out.push({ id, form: draft.form, date: draft.date || '', doc: null, state: 'draft', reason: null, notice: null, draft });
      }
    }
    out.sort((a, b) => (b.date + b.id).localeCompare(a.date + a.id));
    return out;
  }

  /**
   * The county office's requests (pulled from the server; only the service writes them), each
   * with whether this school has answered it: a request to file is answered by the day's report
   * or an explanation of the day; a request to check, by a report or explanation submitted
   * after the request was sent. Open ones first, newest first within each.
   */
  async tasks() {
    const all = await this.db.allDocs({ startkey: 'request:', endkey: 'request:\ufff0', include_docs: true });
    const out = [];
    for (const row of all.rows) {
      const req = row.doc;
      if (!req || req.type !== 'request') { continue; }
      const report = await this.getDoc('report:daily_health:' + req.date);
      const explanation = await this.getDoc('explanation:' + req.date);
      const after = (doc) => Boolean(doc && doc.meta && String(doc.meta.submitted_at || '') > String(req.sent_at || ''));
      let answer = null;
      if (req.kind === 'file') { answer = report ? 'filed' : explanation ? 'explained' : null; }
      else { answer = after(report) ? 'corrected' : after(explanation) ? 'explained' : null; }
      out.push({ id: req._id, kind: req.kind, date: req.date, note: req.note || '', sentBy: req.sent_by || '',
        sentAt: req.sent_at || '', answer });
    }
    out.sort((a, b) => (Number(Boolean(a.answer)) - Number(Boolean(b.answer))) || b.sentAt.localeCompare(a.sentAt));
    return out;
  }

  /** Records the server has not confirmed: waiting, or handed over to a carrier (not drafts or rejected ones). */
  async pendingRecords() {
    return (await this.records()).filter((r) => r.doc && (r.state === 'waiting' || r.state === 'handed_over'));
  }

  async waitingCount() {
    return (await this.pendingRecords()).length;
  }

  /** The stored document with its whole revision history, as a relay payload carries it. */
  getWithRevisions(id) { return this.db.get(id, { revs: true }); }

  /** This revision was shown as a relay code (docs/relay.md): "handed over" until a sync confirms it. */
  async markHandedOver(doc) {
    let changed = false;  // the hand-over screen shows each code again every few seconds
    await this.upsertLocal('state:' + doc._id, (s) => {
      if (s.handed_over && s.handed_over.rev === doc._rev) { return null; }
      changed = true;
      return { ...s, handed_over: { rev: doc._rev, at: clock.nowIso() } };
    });
    if (changed) { this.notify(); }
  }

  /** This device's status document (written after syncs, synced like any other doc). */
  async writeDeviceStatus(fields, author) {
    const e = this.enrolment;
    const id = 'device_status:' + e.device;
    const existing = await this.getDoc(id);
    const data = {
      device: e.device, school_id: e.school_id, app_version: APP_VERSION, ...fields,
    };
    if (existing && deepEqual({ ...existing.data, last_sync_at: null }, { ...data, last_sync_at: null }) &&
        Date.now() - Date.parse(existing.meta.updated_at) < 10 * 60 * 1000) {
      return false;  // nothing new worth a revision
    }
    const now = clock.nowIso();
    const doc = {
      _id: id, type: 'device_status', form: 'device_status', schema_version: 1, school_id: e.school_id, data,
      meta: {
        author: author || e.device, device: e.device, app_version: APP_VERSION,
        created_at: (existing && existing.meta.created_at) || now, updated_at: now, submitted_at: now,
        utc_offset_minutes: clock.localOffsetMinutes(), clock_offset_ms: clock.offsetMs(), clocks: {},
      },
    };
    if (existing) { doc._rev = existing._rev; }
    await this.db.put(doc);
    return true;
  }

  close() {
    this.changes.cancel();
    return Promise.all([this.db.close(), this.local.close()]);
  }
}
