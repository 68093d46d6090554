// This device's signing key (docs/relay.md, "Device keys"): an ECDSA P-256 pair from WebCrypto.
// The private key is not extractable; both CryptoKeys are kept in IndexedDB (structured clone
// keeps a non-extractable key usable without ever exposing its bytes), so the key survives
// restarts and offline days like the enrolment does.

const DB_NAME = 'device-keys';
const STORE = 'keys';
const SLOT = 'signing';
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' };

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function inStore(mode, action) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

let cached = null;

/** The stored pair {privateKey, publicKey}, or null when this device has none. */
export async function keyPair() {
  if (!cached) { cached = (await inStore('readonly', (s) => s.get(SLOT))) || null; }
  return cached;
}

/** A new pair, replacing any stored one (a new enrolment is a new device identity). */
export async function createKeyPair() {
  const pair = await crypto.subtle.generateKey(ALGORITHM, false, ['sign', 'verify']);
  const stored = { privateKey: pair.privateKey, publicKey: pair.publicKey, created_at: new Date().toISOString() };
  await inStore('readwrite', (s) => s.put(stored, SLOT));
  cached = stored;
  return stored;
}

/** The stored pair, created when there is none. */
export async function ensureKeyPair() { return (await keyPair()) || createKeyPair(); }

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The public key as the service stores it: the 65-byte uncompressed point, base64url. */
export async function publicKeyB64url() {
  const pair = await keyPair();
  if (!pair) { throw new Error('this device has no signing key'); }
  return base64url(new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)));
}

/** ECDSA P-256 / SHA-256 signature of `bytes`, as the 64 bytes r || s. Throws without a key. */
export async function sign(bytes) {
  const pair = await keyPair();
  if (!pair) { throw new Error('this device has no signing key'); }
  return new Uint8Array(await crypto.subtle.sign(SIGNING, pair.privateKey, bytes));
}
