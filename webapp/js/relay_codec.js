// The relay wire format, version 1 (docs/relay.md): one stored document and its device's
// signature as the text of one QR code, `SR1:<i>/<n>:<base45(signature || deflate-raw(body))>`.
// mobile_schema/relay.py is the same format in Python; the two must agree byte for byte on the
// body, because the signature is over it. Only browser APIs (also present in Node 20), so the
// size bench can run it.

export const PREFIX = 'SR1';
export const BODY_VERSION = 1;
export const SIGNATURE_BYTES = 64;
export const MAX_BODY_BYTES = 64 * 1024;
export const MAX_TEXT_CHARS = 4296;  // the most a QR code holds in alphanumeric mode (version 40, level L)
export const RELAY_FORMS = ['daily_health', 'incident', 'explanation', 'inspection'];
export const META_KEYS = ['author', 'device', 'app_version', 'created_at', 'updated_at', 'submitted_at',
  'utc_offset_minutes', 'clock_offset_ms'];
const PLACE_KEYS = ['school_id', 'county_id', 'date'];
const BODY_KEYS = new Set(['_id', '_rev', '_revisions', 'type', 'form', 'schema_version', 'data', 'meta', ...PLACE_KEYS]);
const TEXT_PATTERN = /^SR1:([1-9][0-9]{0,5})\/([1-9][0-9]{0,5}):([0-9A-Z $%*+\-./:]+)$/;
const CLOCK_PATTERN = /^([0-9]{15}):([0-9]{5}):([A-Za-z0-9_-]{1,100})$/;
const DEVICE_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

/** A payload that is not a well-formed version-1 relay code; `message` says what is wrong. */
export class RelayFormatError extends Error {
  constructor(message) { super(message); this.name = 'RelayFormatError'; this.code = 'malformed'; }
}

// RFC 9285 base45, written here because the npm package needs Node's Buffer.
const B45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

export function base45Encode(bytes) {
  let out = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const n = bytes[i] * 256 + bytes[i + 1];
    out += B45[n % 45] + B45[Math.floor(n / 45) % 45] + B45[Math.floor(n / 2025)];
  }
  if (bytes.length % 2) { const n = bytes[bytes.length - 1]; out += B45[n % 45] + B45[Math.floor(n / 45)]; }
  return out;
}

export function base45Decode(text) {
  if (text.length % 3 === 1) { throw new RelayFormatError('base45: impossible length ' + text.length); }
  const digits = Array.from(text, (ch) => {
    const d = B45.indexOf(ch);
    if (d < 0) { throw new RelayFormatError('base45: not a base45 character: ' + JSON.stringify(ch)); }
    return d;
  });
  const out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 ? 1 : 0));
  let o = 0;
  for (let i = 0; i < digits.length; i += 3) {
    if (i + 2 < digits.length) {
      const n = digits[i] + digits[i + 1] * 45 + digits[i + 2] * 2025;
      if (n > 0xffff) { throw new RelayFormatError('base45: group out of range'); }
      out[o++] = n >> 8; out[o++] = n & 0xff;
    } else {
      const n = digits[i] + digits[i + 1] * 45;
      if (n > 0xff) { throw new RelayFormatError('base45: group out of range'); }
      out[o++] = n;
    }
  }
  return out;
}

/** Run `bytes` through a (De)CompressionStream; stop with an error past `limit` output bytes. */
async function transformBytes(bytes, stream, limit = Infinity) {
  const writer = stream.writable.getWriter();
  writer.write(bytes).catch(() => {});  // the reader reports the error
  writer.close().catch(() => {});
  const reader = stream.readable.getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) { break; }
    size += value.length;
    if (size > limit) { reader.cancel().catch(() => {}); throw new RelayFormatError('body larger than ' + limit + ' bytes'); }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function deflateRaw(bytes) { return transformBytes(bytes, new CompressionStream('deflate-raw')); }

export async function inflateRaw(bytes, limit = MAX_BODY_BYTES) {
  try {
    return await transformBytes(bytes, new DecompressionStream('deflate-raw'), limit);
  } catch (err) {
    if (err instanceof RelayFormatError) { throw err; }
    throw new RelayFormatError('does not inflate: ' + (err && err.message));
  }
}

/** A form version's field names in declared order, or null when `schema` is not that version. */
export function fieldOrder(schema, form, version) {
  const xform = schema && schema['x-form'];
  if (!xform || xform.name !== form || xform.schema_version !== version || !schema['x-fields']) { return null; }
  return Object.entries(schema['x-fields']).sort((a, b) => a[1].order - b[1].order).map(([name]) => name);
}

function sameKeys(obj, names) {
  const keys = Object.keys(obj);
  return keys.length === names.length && names.every((n) => Object.prototype.hasOwnProperty.call(obj, n));
}

function isPlainObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

function packClock(value, device) {
  const m = typeof value === 'string' ? CLOCK_PATTERN.exec(value) : null;
  return m && device && m[3] === device ? [Number(m[1]), Number(m[2])] : value;
}

function unpackClock(value, device) {
  if (!Array.isArray(value)) { return value; }
  const [wall, counter] = value;
  if (value.length !== 2 || !Number.isSafeInteger(wall) || !Number.isSafeInteger(counter) || wall < 0 || counter < 0
      || wall > 999999999999999 || counter > 99999 || !DEVICE_PATTERN.test(device)) {
    throw new RelayFormatError('a clock is not [wall, counter] of the origin device');
  }
  return String(wall).padStart(15, '0') + ':' + String(counter).padStart(5, '0') + ':' + device;
}

/** The body array (docs/relay.md, "Wire format") of a stored document. */
export function packDocument(doc, schema) {
  const revisions = doc._revisions || (() => {
    const [start, id] = String(doc._rev).split('-');
    return { start: Number(start), ids: [id] };
  })();
  const order = fieldOrder(schema, doc.form, doc.schema_version);
  const data = doc.data;
  const dataOut = order && isPlainObject(data) && sameKeys(data, order) ? order.map((n) => data[n]) : data;
  const meta = isPlainObject(doc.meta) ? doc.meta : null;
  let metaOut = doc.meta, clocksOut = null;
  if (meta) {
    const { clocks, ...rest } = meta;
    metaOut = sameKeys(rest, META_KEYS) ? META_KEYS.map((k) => rest[k]) : rest;
    if ('clocks' in meta) {
      clocksOut = isPlainObject(clocks) ? Object.entries(clocks).map(([name, c]) => {
        const i = order ? order.indexOf(name) : -1;
        return [i >= 0 ? i : name, packClock(c && c.at, meta.device), packClock(c && c.base, meta.device)];
      }) : clocks;
    }
  }
  const extra = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!BODY_KEYS.has(k) || (PLACE_KEYS.includes(k) && v === null)) { extra[k] = v; }
  }
  const place = (k) => (doc[k] === undefined || doc[k] === null ? null : doc[k]);
  return [BODY_VERSION, doc.form, doc.schema_version, doc._id, [revisions.start, revisions.ids], doc.type,
    place('school_id'), place('county_id'), place('date'), dataOut, metaOut, clocksOut, extra];
}

/** The shape checks mobile_schema/relay.py makes too, so a carrier keeps only what the server can read. */
function checkBody(body) {
  if (!Array.isArray(body) || body.length !== 13) { throw new RelayFormatError('body is not a 13-element array'); }
  if (body[0] !== BODY_VERSION) { throw new RelayFormatError('body version ' + JSON.stringify(body[0]) + ' is not 1'); }
  if (!RELAY_FORMS.includes(body[1])) { throw new RelayFormatError('unknown form ' + JSON.stringify(body[1])); }
  if (!Number.isInteger(body[2])) { throw new RelayFormatError('schema_version is not an integer'); }
  if (typeof body[3] !== 'string' || !body[3]) { throw new RelayFormatError('no document id'); }
  const revs = body[4];
  if (!Array.isArray(revs) || revs.length !== 2 || !Number.isInteger(revs[0]) || revs[0] < 1 || !Array.isArray(revs[1])
      || !revs[1].length || revs[1].length > revs[0] || !revs[1].every((r) => typeof r === 'string' && r)) {
    throw new RelayFormatError('revisions are not [start, [id, ...]]');
  }
  if (typeof body[5] !== 'string') { throw new RelayFormatError('type is not text'); }
  const extra = body[12];
  if (!isPlainObject(extra)) { throw new RelayFormatError('extra is not an object'); }
  const clashes = Object.keys(extra).filter((k) => BODY_KEYS.has(k) && !(PLACE_KEYS.includes(k) && body[6 + PLACE_KEYS.indexOf(k)] === null));
  if (clashes.length) { throw new RelayFormatError('extra repeats ' + clashes.sort().join(', ')); }
  const meta = body[10];
  if (Array.isArray(meta) ? meta.length !== META_KEYS.length : !isPlainObject(meta) || 'clocks' in meta) {
    throw new RelayFormatError('meta is neither the 8-element array nor an object without clocks');
  }
  const device = metaObject(meta).device;
  if (typeof device !== 'string' || !device) { throw new RelayFormatError('the payload names no origin device (meta.device)'); }
  if (body[11] !== null && !Array.isArray(body[11])) { throw new RelayFormatError('clocks are not an array'); }
}

function metaObject(meta) {
  return Array.isArray(meta) ? Object.fromEntries(META_KEYS.map((k, i) => [k, meta[i]])) : { ...meta };
}

/** The stored document a checked body array describes; `schema` is needed when `data` is an array. */
export function unpackDocument(body, schema) {
  checkBody(body);
  const [, form, version, id, [start, ids], type, schoolId, countyId, date, data, meta, clocks, extra] = body;
  const needOrder = Array.isArray(data) || (clocks || []).some((c) => Array.isArray(c) && Number.isInteger(c[0]));
  const order = fieldOrder(schema, form, version);
  if (needOrder && !order) {
    throw new Error(`the schema of ${form} version ${version} is needed to decode this payload and is not on this device`);
  }
  let dataOut = data;
  if (Array.isArray(data)) {
    if (data.length !== order.length) { throw new RelayFormatError('data has ' + data.length + ' values, the form has ' + order.length + ' fields'); }
    dataOut = Object.fromEntries(order.map((n, i) => [n, data[i]]));
  }
  const metaOut = metaObject(meta);
  if (clocks !== null) {
    metaOut.clocks = {};
    for (const c of clocks) {
      if (!Array.isArray(c) || c.length !== 3) { throw new RelayFormatError('a clock is not [field, at, base]'); }
      const name = Number.isInteger(c[0]) ? order[c[0]] : c[0];
      if (typeof name !== 'string') { throw new RelayFormatError('a clock names no field of ' + form + ' v' + version); }
      if (name in metaOut.clocks) { throw new RelayFormatError('two clocks for ' + name); }
      metaOut.clocks[name] = { at: unpackClock(c[1], metaOut.device), base: unpackClock(c[2], metaOut.device) };
    }
  }
  const doc = { _id: id, _rev: start + '-' + ids[0], _revisions: { start, ids }, type, form, schema_version: version };
  if (schoolId !== null) { doc.school_id = schoolId; }
  if (countyId !== null) { doc.county_id = countyId; }
  if (date !== null) { doc.date = date; }
  doc.data = dataOut;
  doc.meta = metaOut;
  return Object.assign(doc, extra);
}

/**
 * The text of one code for a stored document (`doc` with `_revisions`, as from
 * `db.get(id, {revs: true})`). `schema` is the form's JSON schema (used only when it is the
 * document's version); `sign(bytes)` resolves to the 64-byte P1363 signature of the body.
 */
export async function encodePayload(doc, schema, sign, index, count) {
  const body = new TextEncoder().encode(JSON.stringify(packDocument(doc, schema)));
  const signature = new Uint8Array(await sign(body));
  if (signature.length !== SIGNATURE_BYTES) { throw new Error('a signature must be 64 bytes, got ' + signature.length); }
  const packed = await deflateRaw(body);
  const frame = new Uint8Array(SIGNATURE_BYTES + packed.length);
  frame.set(signature, 0);
  frame.set(packed, SIGNATURE_BYTES);
  return `${PREFIX}:${index}/${count}:${base45Encode(frame)}`;
}

/** Prefix, base45, signature length, inflate and parse: {index, count, signature, bodyBytes, body}. */
async function openPayload(text) {
  if (typeof text === 'string' && text.length > MAX_TEXT_CHARS) { throw new RelayFormatError('longer than a QR code holds'); }
  const m = TEXT_PATTERN.exec(typeof text === 'string' ? text : '');
  if (!m) { throw new RelayFormatError('not an SR1 relay code'); }
  const index = Number(m[1]), count = Number(m[2]);
  if (index > count) { throw new RelayFormatError(`code ${index} of ${count}`); }
  const frame = base45Decode(m[3]);
  if (frame.length <= SIGNATURE_BYTES) { throw new RelayFormatError('too short for a signature and a body'); }
  const bodyBytes = await inflateRaw(frame.subarray(SIGNATURE_BYTES));
  let body;
  try { body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bodyBytes)); } catch (err) {
    throw new RelayFormatError('body is not UTF-8 JSON');
  }
  checkBody(body);
  return { index, count, signature: frame.slice(0, SIGNATURE_BYTES), bodyBytes, body };
}

/**
 * What a code carries, checked without the form's schema (a carrier may not have it):
 * {index, count, form, schema_version, doc_id, rev, school_id, county_id, date, origin_device}.
 * Throws RelayFormatError for anything that is not a well-formed version-1 payload.
 */
export async function inspectPayload(text) {
  const { index, count, body } = await openPayload(text);
  const [, form, version, id, [start, ids], , schoolId, countyId, date, , meta, , extra] = body;
  const place = (k, v) => (k in extra ? extra[k] : v);
  const device = metaObject(meta).device;
  return {
    index, count, form, schema_version: version, doc_id: id, rev: start + '-' + ids[0],
    school_id: place('school_id', schoolId), county_id: place('county_id', countyId), date: place('date', date),
    origin_device: device,
  };
}

/**
 * The stored document a code carries: {doc, body (the signed bytes), signature, index, count}.
 * `schemaFor(form, version)` returns (or resolves to) that form version's JSON schema or null;
 * a payload with `data` as an array cannot be decoded without it (Error). Malformed payloads
 * throw RelayFormatError. The signature is not verified here.
 */
export async function decodePayload(text, schemaFor) {
  const { index, count, signature, bodyBytes, body } = await openPayload(text);
  const schema = schemaFor ? await schemaFor(body[1], body[2]) : null;
  return { doc: unpackDocument(body, schema), body: bodyBytes, signature, index, count };
}
