// Device clock, server offset and hybrid logical clocks (HLC) for per-field edit stamps.
//
// A clock is "%015d:%05d:%s" (wall ms, counter, device), as in mobile_schema/clocks.py:
// zero padding makes plain string comparison order them. The wall part is the device time
// corrected by the offset last measured against the server, and never goes back from the
// newest clock this device has seen (its own or one in a document it pulled).

const OFFSET_KEY = 'clock_offset';
const HLC_KEY = 'hlc_last';
const MAX_COUNTER = 99999;
export const SUSPECT_OFFSET_MS = 10 * 60 * 1000;
export const STALE_MEASUREMENT_MS = 14 * 24 * 3600 * 1000;

function pad(n, width) { return String(n).padStart(width, '0'); }

export function hlcFormat(wall, counter, device) {
  return pad(wall, 15) + ':' + pad(counter, 5) + ':' + device;
}

export function hlcParse(s) {
  const m = /^([0-9]{15}):([0-9]{5}):([A-Za-z0-9_-]{1,100})$/.exec(s || '');
  if (!m) { throw new Error('not a clock: ' + s); }
  return [Number(m[1]), Number(m[2]), m[3]];
}

export function hlcTick(last, nowMs, device) {
  if (!last) { return hlcFormat(Math.max(nowMs, 0), 0, device); }
  const [wall, counter] = hlcParse(last);
  if (nowMs > wall) { return hlcFormat(nowMs, 0, device); }
  if (counter < MAX_COUNTER) { return hlcFormat(wall, counter + 1, device); }
  return hlcFormat(wall + 1, 0, device);
}

export function measuredOffset() {
  try { return JSON.parse(localStorage.getItem(OFFSET_KEY)); } catch (e) { return null; }
}

/** Server clock minus device clock in ms, or null when never measured. */
export function offsetMs() {
  const m = measuredOffset();
  return m ? m.offset_ms : null;
}

export function correctedNow() { return Date.now() + (offsetMs() || 0); }

/** Measure the offset against the service (JSON time, else the Date header). */
export async function measureOffset() {
  const t0 = Date.now();
  const response = await fetch('/api/v1/devices/time', { cache: 'no-store' });
  const t1 = Date.now();
  let server = null;
  try { server = (await response.json()).epoch_ms; } catch (e) { server = null; }
  if (typeof server !== 'number') {
    const header = response.headers.get('Date');
    if (!header) { throw new Error('no server time'); }
    server = Date.parse(header) + 500;  // the header has whole seconds
  }
  const offset = Math.round(server - (t0 + t1) / 2);
  localStorage.setItem(OFFSET_KEY, JSON.stringify({ offset_ms: offset, measured_at: t1, rtt_ms: t1 - t0 }));
  return offset;
}

/** Why the device clock may file a report under a wrong date, or null when it looks right. */
export function clockDoubt() {
  const m = measuredOffset();
  if (!m) { return { kind: 'never' }; }
  if (Math.abs(m.offset_ms) > SUSPECT_OFFSET_MS) { return { kind: 'offset', minutes: Math.round(m.offset_ms / 60000) }; }
  if (Date.now() - m.measured_at > STALE_MEASUREMENT_MS || Date.now() < m.measured_at) { return { kind: 'stale' }; }
  return null;
}

/** The school's local date (YYYY-MM-DD) `days` from today, by the corrected clock. */
export function schoolDate(utcOffsetMinutes, days = 0) {
  const t = correctedNow() + utcOffsetMinutes * 60000 + days * 86400000;
  return new Date(t).toISOString().slice(0, 10);
}

export function nowIso() { return new Date().toISOString(); }

export function localOffsetMinutes() { return -new Date().getTimezoneOffset(); }

export function lastClock() { return localStorage.getItem(HLC_KEY); }

/** Raise the HLC to a clock seen in a document. */
export function observeClock(clock) {
  if (typeof clock === 'string' && /^[0-9]{15}:/.test(clock)) {
    const last = lastClock();
    if (!last || clock > last) { localStorage.setItem(HLC_KEY, clock); }
  }
}

export function tick(device) {
  const next = hlcTick(lastClock(), correctedNow(), device);
  localStorage.setItem(HLC_KEY, next);
  return next;
}
