// How big a relay code is (docs/relay.md): a realistic daily report and a correction of it,
// encoded by the app's own codec (webapp/js/relay_codec.js) with a real ECDSA P-256
// signature, and the QR version qrcode-generator picks for the text at levels M and Q.
//
//     node bench/relay_size.mjs
//
// The field order comes from the service's JSON schema of daily_health (through the
// project's Python venv), as the device has it.

import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const qrcode = require(path.join(ROOT, 'node_modules/qrcode-generator/dist/qrcode.js'));

// webapp/ has no package.json saying "module"; Node says so once per run. Quiet that one
// warning only, so the figures are all the output.
process.removeAllListeners('warning');
process.on('warning', (w) => { if (w.code !== 'MODULE_TYPELESS_PACKAGE_JSON') { console.warn(w); } });
const codec = await import(path.join(ROOT, 'webapp/js/relay_codec.js'));

const schema = JSON.parse(execFileSync(path.join(ROOT, '.venv/bin/python'),
  ['-c', 'import json; from mobile_schema import json_schema; print(json.dumps(json_schema("daily_health")))'],
  { cwd: ROOT }));

const DEVICE = 'device_5f0c1e9a7b3d4c2e8a6f1b0d9c7e3a21';  // as enrolment names devices: 32 hex
/** 32 hex digits that look like a revision hash (MD5: they do not compress), the same every run. */
function hex(seed) {
  let x = seed * 2654435761 >>> 0;
  return Array.from({ length: 32 }, () => { x = (x * 1103515245 + 12345) >>> 0; return ((x >>> 16) & 15).toString(16); }).join('');
}
const clock = (wall, counter = 0, device = DEVICE) => `${String(wall).padStart(15, '0')}:${String(counter).padStart(5, '0')}:${device}`;

function dailyReport() {
  const data = {
    students_enrolled: 326, students_present: 311, absent_illness: 7, absent_fever: 3, absent_other: 5,
    fever_at_check: 2, respiratory_symptoms: 4, isolated_on_campus: 1, sent_to_hospital: 1, suspected_cases: 0,
    confirmed_cases: 0, close_contacts: 0, returned_from_affected_areas: 6, staff_total: 24, staff_present: 23,
    staff_fever: 0, disinfection_done: true, notes: '三年级二班两名学生发热,已通知家长接回。', zero_report: false,
  };
  const wall = 1796083200000;  // 2026-12-01 08:00 China time
  const clocks = {};
  Object.keys(data).forEach((name, i) => { clocks[name] = { at: clock(wall + i * 1500), base: null }; });
  return {
    _id: 'report:daily_health:2026-12-01', _rev: '1-' + hex(1), _revisions: { start: 1, ids: [hex(1)] },
    type: 'report', form: 'daily_health', schema_version: 2, school_id: 's510104012', county_id: 'c510104',
    date: '2026-12-01', data,
    meta: {
      author: 't_s510104012_3', device: DEVICE, app_version: '0.3.0', created_at: '2026-12-01T00:00:12.345Z',
      updated_at: '2026-12-01T00:01:40.112Z', submitted_at: '2026-12-01T00:01:40.112Z', utc_offset_minutes: 480,
      clock_offset_ms: -1834, clocks,
    },
  };
}

/** The same report corrected twice (3 revisions): three counts changed, each clock based on the one it replaced. */
function correction() {
  const doc = dailyReport();
  const later = 1796083200000 + 3 * 3600 * 1000;
  Object.assign(doc.data, { students_present: 309, absent_fever: 5, fever_at_check: 3 });
  for (const [i, name] of ['students_present', 'absent_fever', 'fever_at_check'].entries()) {
    doc.meta.clocks[name] = { at: clock(later + i * 900, 1), base: doc.meta.clocks[name].at };
  }
  doc.meta.updated_at = doc.meta.submitted_at = '2026-12-01T03:02:11.908Z';
  const ids = [hex(3), hex(2), hex(1)];
  return { ...doc, _rev: '3-' + ids[0], _revisions: { start: 3, ids } };
}

const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const sign = async (bytes) => new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, bytes));

function qrVersion(text, level) {
  const qr = qrcode(0, level);
  qr.addData(text, 'Alphanumeric');
  try { qr.make(); } catch (err) { return 'does not fit'; }
  const modules = qr.getModuleCount();
  return `version ${(modules - 17) / 4} (${modules}x${modules} modules)`;
}

for (const [name, doc] of [['daily report, 1 revision', dailyReport()], ['correction, 3 revisions', correction()]]) {
  const plain = new TextEncoder().encode(JSON.stringify(doc)).length;
  const body = new TextEncoder().encode(JSON.stringify(codec.packDocument(doc, schema)));
  const deflated = await codec.deflateRaw(body);
  const text = await codec.encodePayload(doc, schema, sign, 1, 1);
  console.log(`${name}:`);
  console.log(`  stored document as JSON      ${String(plain).padStart(5)} B`);
  console.log(`  body (packed JSON array)     ${String(body.length).padStart(5)} B`);
  console.log(`  body deflated (raw)          ${String(deflated.length).padStart(5)} B`);
  console.log(`  frame (64 B signature + it)  ${String(64 + deflated.length).padStart(5)} B`);
  console.log(`  QR text "SR1:1/1:..."        ${String(text.length).padStart(5)} characters (alphanumeric mode)`);
  console.log(`  QR at level M                ${qrVersion(text, 'M')}`);
  console.log(`  QR at level Q                ${qrVersion(text, 'Q')}`);
}
