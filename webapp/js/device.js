// The device's enrolment (its own CouchDB account), the teachers' local PINs and who is
// using the device now. Kept in localStorage: it must survive restarts and offline days.
// The device's signing key (keys.js) is registered with the service at enrolment, or on the
// first refresh after it for a device enrolled before keys.

import * as keys from './keys.js';

const ENROLMENT_KEY = 'enrolment';
const PINS_KEY = 'pins';
const TEACHER_KEY = 'teacher';
const PIN_ITERATIONS = 60000;

export function enrolment() {
  try { return JSON.parse(localStorage.getItem(ENROLMENT_KEY)); } catch (e) { return null; }
}

export function saveEnrolment(value) { localStorage.setItem(ENROLMENT_KEY, JSON.stringify(value)); }

export function markRevoked(revoked) {
  const e = enrolment();
  if (e) { e.revoked = revoked; saveEnrolment(e); }
}

/** POST the enrolment; returns the service's answer or throws an Error with its message. */
export async function enrol({ username, password, school_id, county_id, label }) {
  const body = { username, password, label: label || '' };
  if (school_id) { body.school_id = school_id; }
  if (county_id) { body.county_id = county_id; }
  try {
    await keys.createKeyPair();
    body.public_key = await keys.publicKeyB64url();
  } catch (err) {
    // Enrol anyway (no IndexedDB or WebCrypto here): refresh() registers a key later.
    console.warn('no signing key at enrolment:', err);
  }
  const response = await fetch('/api/v1/devices/enrol', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store',
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error(answer.message || response.statusText);
    err.status = response.status;
    throw err;
  }
  saveEnrolment({
    ...answer, label: label || '', enrolled_at: new Date().toISOString(), revoked: false,
    key_registered: Boolean(body.public_key && answer.key_registered_at),  // else refresh() registers it
  });
  return answer;
}

/** An inspector's device (syncs its county's inspections), not a school's. */
export function isInspector() {
  const e = enrolment();
  return Boolean(e && e.kind === 'inspector');
}

const REFRESHED = ['roster', 'schools', 'checklist', 'window_days', 'county_name'];

/**
 * Ask the service again, as the device account, for what may change after enrolment
 * (the roster; an inspector's schools and checklist). Stores it; returns whether the
 * roster changed. Throws an Error with `status` (401: the account is gone).
 */
export async function refresh() {
  const e = enrolment();
  if (!e) { return false; }
  const response = await fetch('/api/v1/devices/roster', {
    headers: { Authorization: 'Basic ' + btoa(e.device + ':' + e.password), Accept: 'application/json' },
    cache: 'no-store',
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const err = new Error(answer.message || response.statusText);
    err.status = response.status;
    throw err;
  }
  const now = enrolment();  // read again: a PIN or teacher may have changed meanwhile
  const before = JSON.stringify(now.roster || []);
  for (const key of REFRESHED) { if (key in answer) { now[key] = answer[key]; } }
  now.refreshed_at = new Date().toISOString();
  saveEnrolment(now);
  if (!now.key_registered || !(await keys.keyPair())) {
    try { await registerKey(); } catch (err) { console.warn('signing key not registered:', err); }
  }
  return JSON.stringify(now.roster || []) !== before;
}

/**
 * Register this device's public key (creating the pair when there is none) for a device
 * enrolled before keys existed, and record `key_registered` on the enrolment. Throws an Error
 * with `status` when the service refuses; 409 (the service has another key: this device lost
 * its own) is recorded as `key_refused`, since only a new enrolment can give it a key again.
 */
export async function registerKey() {
  const e = enrolment();
  if (!e || (e.key_registered && (await keys.keyPair()))) { return; }
  await keys.ensureKeyPair();
  const response = await fetch('/api/v1/devices/key', {
    method: 'POST',
    headers: {
      Authorization: 'Basic ' + btoa(e.device + ':' + e.password),
      'Content-Type': 'application/json', Accept: 'application/json',
    },
    body: JSON.stringify({ public_key: await keys.publicKeyB64url() }),
    cache: 'no-store',
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 409) {
      const refused = enrolment();
      Object.assign(refused, { key_registered: false, key_refused: true });
      saveEnrolment(refused);
    }
    const err = new Error(answer.message || response.statusText);
    err.status = response.status;
    throw err;
  }
  const now = enrolment();
  now.key_registered = true;
  now.key_registered_at = answer.key_registered_at || new Date().toISOString();
  saveEnrolment(now);
}

export function currentTeacher() {
  const e = enrolment();
  const name = localStorage.getItem(TEACHER_KEY);
  if (!e || !name) { return null; }
  return (e.roster || []).find((t) => t.username === name) || null;
}

export function setTeacher(username) {
  if (username) { localStorage.setItem(TEACHER_KEY, username); } else { localStorage.removeItem(TEACHER_KEY); }
}

function b64(bytes) { return btoa(String.fromCharCode(...new Uint8Array(bytes))); }
function unb64(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }

async function derive(pin, salt) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveBits']);
  return crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: PIN_ITERATIONS }, key, 256);
}

function pins() {
  try { return JSON.parse(localStorage.getItem(PINS_KEY)) || {}; } catch (e) { return {}; }
}

export function hasPin(username) { return Boolean(pins()[username]); }

export async function setPin(username, pin) {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const all = pins();
  all[username] = { salt: b64(salt), hash: b64(await derive(pin, salt)), iterations: PIN_ITERATIONS };
  localStorage.setItem(PINS_KEY, JSON.stringify(all));
}

export async function checkPin(username, pin) {
  const entry = pins()[username];
  if (!entry) { return false; }
  return b64(await derive(pin, unb64(entry.salt))) === entry.hash;
}
