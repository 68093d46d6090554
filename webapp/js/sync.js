// Live sync with the school's database through the service's own origin (/db/...).
//
// Push: one live replication with retry, restarted at once when the browser comes back
// online (PouchDB's own back-off could otherwise wait minutes). Pull: only the configured
// window of dates: ask the `window` view for the ids in the window, then replicate those
// ids (`doc_ids`), never a `_selector` filter. A 401 means the device account was revoked:
// stop, say so, keep every local document. When online it also asks the service again for
// the roster (and an inspector's schools and checklist), so a teacher added later appears.
// An inspector's device syncs its county's inspections database (design doc
// `inspections`) and writes no device status there (that database takes inspections only).

/* global PouchDB */
import * as clock from './clock.js';
import { markRevoked, refresh as refreshEnrolment } from './device.js';

const PULL_EVERY_MS = 30000;
const MAX_BACKOFF_MS = 15000;
const PROBE_EVERY_MS = 3000;
const REFRESH_EVERY_MS = 10 * 60 * 1000;

function backOff(delay) { return delay === 0 ? 500 : Math.min(delay * 2, MAX_BACKOFF_MS); }

export class SyncManager {
  constructor(store, enrolment, { authorFn } = {}) {
    this.store = store;
    this.enrolment = enrolment;
    this.authorFn = authorFn || (() => null);
    this.remote = new PouchDB(location.origin + enrolment.db_url, {
      auth: { username: enrolment.device, password: enrolment.password },
      skip_setup: true,
      // Never answer sync from the HTTP cache, and never send conditional requests: a 304
      // through the embedded /db/ pass-through leaks an upstream connection (see README).
      fetch: (url, opts) => fetch(url, { ...opts, cache: 'no-store' }),
    });
    this.state = {
      online: navigator.onLine, active: false, revoked: Boolean(enrolment.revoked),
      lastSyncAt: localStorage.getItem('last_sync_at'), lastError: null, windowDays: enrolment.window_days || 60,
    };
    this.listeners = new Set();
    this.refreshListeners = new Set();
    this.cycleListeners = new Set();
    this.refreshedAt = 0;  // once per page load, then every REFRESH_EVERY_MS and on "sync now"
    this.inspector = enrolment.kind === 'inspector';
    this.design = this.inspector ? 'inspections' : 'school';
    this.push = null;
    this.timer = null;
    this.cycling = null;
    this.probe = null;
    this.onOnline = () => { this.set({ online: true }); this.restart(); };
    this.onOffline = () => { this.markOffline(); };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  onState(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  /** `fn()` at each sync cycle that finds the service answering (the carrier uploads then). */
  onCycle(fn) { this.cycleListeners.add(fn); return () => this.cycleListeners.delete(fn); }

  /** `fn(rosterChanged)` after the enrolment was refreshed from the service. */
  onRefresh(fn) { this.refreshListeners.add(fn); return () => this.refreshListeners.delete(fn); }

  set(changes) {
    Object.assign(this.state, changes);
    for (const fn of this.listeners) { fn(this.state); }
  }

  /**
   * navigator.onLine says "online" whenever some network is up, even without a way to the
   * server (and a page loaded offline may start with it true): what counts is whether the
   * service answers. Once a request fails, probe every few seconds and restart on success.
   */
  markOffline() {
    if (this.state.online || this.state.active) { this.set({ online: false, active: false }); }
    if (this.probe || this.state.revoked) { return; }
    this.probe = setInterval(async () => {
      try {
        await clock.measureOffset();
      } catch (err) {
        return;
      }
      clearInterval(this.probe);
      this.probe = null;
      this.set({ online: true });
      this.restart();
    }, PROBE_EVERY_MS);
  }

  start() {
    if (this.state.revoked) { return; }
    this.startPush();
    this.cycle();
    clearInterval(this.timer);
    this.timer = setInterval(() => { if (navigator.onLine) { this.cycle(); } }, PULL_EVERY_MS);
  }

  restart() {
    if (this.state.revoked) { return; }
    if (this.push) { this.push.cancel(); this.push = null; }
    this.start();
  }

  /** "Sync now": restart the push and pull the window; resolves when the pull is done. */
  syncNow() {
    if (!navigator.onLine) { this.markOffline(); }  // said at once, not after a failed request
    this.refreshedAt = 0;
    this.restart();
    return this.cycling || Promise.resolve();
  }

  /** Ask for the roster at once (the "refresh list" button); a 401 revokes as elsewhere. */
  async refreshNow() {
    this.refreshedAt = 0;
    try { await this.refreshRoster(); } catch (err) { if (err.status === 401) { this.revoke(); } throw err; }
  }

  /** The roster (and an inspector's schools and checklist) from the service, now and then. */
  async refreshRoster() {
    if (Date.now() - this.refreshedAt < REFRESH_EVERY_MS) { return; }
    const changed = await refreshEnrolment();
    this.refreshedAt = Date.now();
    for (const fn of this.refreshListeners) { fn(changed); }
  }

  startPush() {
    const push = this.store.db.replicate.to(this.remote, {
      live: true, retry: true, batch_size: 50, back_off_function: backOff,
    });
    this.push = push;
    push.on('change', (info) => { this.store.markSynced(info.docs || []); })
      .on('denied', (err) => { this.store.markDenied(err); })
      .on('active', () => this.set({ active: true }))
      .on('paused', (err) => {
        if (err && !err.status) { this.markOffline(); return; }  // no answer at all: unreachable
        this.set({ active: false, lastError: err ? String(err.message || err) : this.state.lastError });
        if (!err && this.pulledOk) { this.touchSynced(); }
        if (!err) { this.confirmWaiting().catch(() => null); }
      })
      .on('error', (err) => this.failed(err));
  }

  /**
   * Mark as synced the "waiting" records whose revision the server already has. A push that is
   * cancelled after its write but before its 'change' event (coming online and "sync now" both
   * restart it) never reports them, and the next push has nothing left to send.
   */
  async confirmWaiting() {
    const waiting = await this.store.pendingRecords();  // a relayed revision arrives by no push
    if (!waiting.length) { return; }
    const asked = {};
    for (const r of waiting) { asked[r.id] = [r.doc._rev]; }
    const missing = await this.remote.revsDiff(asked);
    const onServer = waiting.filter((r) => !missing[r.id]).map((r) => r.doc);
    if (onServer.length) { await this.store.markSynced(onServer); }
  }

  failed(err) {
    if (err && err.status === 401) {
      this.revoke();
    } else {
      this.set({ active: false, lastError: String((err && (err.reason || err.message)) || err) });
    }
  }

  revoke() {
    if (this.push) { this.push.cancel(); this.push = null; }
    clearInterval(this.timer);
    clearInterval(this.probe);
    markRevoked(true);
    this.set({ revoked: true, active: false, lastError: 'unauthorized' });
  }

  touchSynced() {
    const now = clock.nowIso();
    localStorage.setItem('last_sync_at', now);
    this.set({ lastSyncAt: now });
  }

  cycle() {
    if (this.cycling || this.state.revoked || !navigator.onLine) { return this.cycling; }
    this.cycling = this.runCycle().finally(() => { this.cycling = null; });
    return this.cycling;
  }

  async runCycle() {
    try {
      await clock.measureOffset();
    } catch (err) {
      this.markOffline();
      return;
    }
    this.set({ active: true, online: true });
    for (const fn of this.cycleListeners) { fn(); }
    try {
      await this.refreshRoster().catch((err) => { if (err.status === 401) { throw err; } });
      await this.pullWindow();
      await this.confirmWaiting();
      this.pulledOk = true;
      this.touchSynced();
      this.set({ lastError: null });
      await this.writeStatus(null);
    } catch (err) {
      if (err && err.status === 401) { this.revoke(); return; }
      this.set({ lastError: String((err && (err.reason || err.message)) || err) });
      await this.writeStatus(this.state.lastError).catch(() => null);
    } finally {
      this.set({ active: false });
    }
  }

  /** Ids of the documents in the window, then a one-shot pull of exactly those. */
  async pullWindow() {
    const e = this.enrolment;
    if (!this.inspector) {
      try {
        const config = await this.remote.get('config:device');
        if (config.window_days) { this.set({ windowDays: config.window_days }); }
      } catch (err) {
        if (err.status === 401) { throw err; }
      }
    }
    const from = clock.schoolDate(e.utc_offset_minutes ?? 480, -this.state.windowDays);
    const dated = await this.remote.query(this.design + '/window', { startkey: from, endkey: '\ufff0' });
    const notices = await this.remote.allDocs({ startkey: 'conflict_notice:', endkey: 'conflict_notice:\ufff0' });
    const ids = new Set(this.inspector ? [] : ['config:device', 'device_status:' + e.device]);
    for (const row of dated.rows) { ids.add(row.id); }
    for (const row of notices.rows) { ids.add(row.id); }
    const pull = this.remote.replicate.to(this.store.db, { doc_ids: Array.from(ids), batch_size: 100 });
    pull.on('change', (info) => { this.store.markSynced(info.docs || []); });
    await pull;
  }

  async writeStatus(lastError) {
    if (this.inspector) { return; }  // the inspections database takes inspections only
    let used = 0;
    try { used = Math.round(((await navigator.storage.estimate()).usage) || 0); } catch (e) { used = 0; }
    await this.store.writeDeviceStatus({
      last_sync_at: this.state.lastSyncAt || null,
      waiting_count: await this.store.waitingCount(),
      storage_used_bytes: used,
      clock_offset_ms: clock.offsetMs(),
      last_error: lastError ? String(lastError).slice(0, 2000) : null,
    }, this.authorFn());
  }

  stop() {
    clearInterval(this.timer);
    clearInterval(this.probe);
    if (this.push) { this.push.cancel(); }
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
  }
}
