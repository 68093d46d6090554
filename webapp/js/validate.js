// Client-side validation from a form's JSON Schema export: `x-checks` (per-field checks),
// `x-rules` (cross-field rules) and `x-messages` (the bilingual catalogue). It follows
// the order and wording of the server's validate_doc_update, so the teacher sees the
// same message before submitting as the database would give.

function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
function isObject(v) { return typeof v === 'object' && v !== null && !Array.isArray(v); }
function isWhole(v) { return typeof v === 'number' && Number.isFinite(v) && Math.floor(v) === v; }
function full(pattern, s) { return new RegExp('^(?:' + pattern + ')$').test(s); }
function join(path, key) { return path ? path + '.' + key : String(key); }
function issue(field, code, params) { return { field, code, params: params || {} }; }
function size(v) { return typeof v === 'string' ? Array.from(v).length : v.length; }

function isDate(s) {
  if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(s)) { return false; }
  const y = +s.slice(0, 4), m = +s.slice(5, 7), d = +s.slice(8, 10);
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

function typeOk(spec, v) {
  switch (spec.kind) {
    case 'integer': return isWhole(v);
    case 'boolean': return v === true || v === false;
    case 'string': return typeof v === 'string';
    case 'list': return Array.isArray(v);
    default: return isObject(v);
  }
}

function passes(c, v) {
  switch (c.check) {
    case 'min': return v >= c.min;
    case 'max': return v <= c.max;
    case 'minlen': return size(v) >= c.min;
    case 'maxlen': return size(v) <= c.max;
    case 'choices': return c.choices.indexOf(v) !== -1;
    case 'pattern': return full(c.pattern, v);
    case 'date': return full(c.pattern, v) && isDate(v);
    case 'no_personal_ids': return !new RegExp(c.digits).test(v.replace(new RegExp(c.strip, 'g'), ''));
    default: return true;  // a check this app version does not know: the server still checks it
  }
}

function walkValue(spec, v, path, out) {
  const before = out.length;
  if (v === null) {
    if (!spec.nullable) { out.push(issue(path, spec.type_code)); }
    return;
  }
  if (!typeOk(spec, v)) { out.push(issue(path, spec.type_code)); return; }
  if (spec.kind === 'object') { walkObject(spec.fields, v, path, out); return; }
  if (spec.kind === 'map') {
    for (const k of Object.keys(v).sort()) { walkObject(spec.values, v[k], join(path, k), out); }
    return;
  }
  if (spec.kind === 'list') {
    v.forEach((item, i) => walkValue(spec.items, item, join(path, i), out));
    if (out.length > before) { return; }
  }
  for (const c of spec.checks) {
    if (!passes(c, v)) { out.push(issue(path, c.code, c.params)); return; }
  }
}

function walkObject(fields, obj, path, out) {
  if (!isObject(obj)) { out.push(issue(path, 'not_object')); return; }
  const declared = {};
  for (const f of fields) {
    declared[f.name] = true;
    if (!has(obj, f.name) || obj[f.name] === undefined) {
      if (f.required) { out.push(issue(join(path, f.name), 'required')); }
    } else {
      walkValue(f, obj[f.name], join(path, f.name), out);
    }
  }
  for (const k of Object.keys(obj).sort()) {
    if (!has(declared, k)) { out.push(issue(join(path, k), 'unknown_field')); }
  }
}

function checkRule(r, d, out) {
  switch (r.rule) {
    case 'le':
      if (d[r.field] != null && d[r.limit] != null && d[r.field] > d[r.limit]) {
        out.push(issue(r.field, r.code, { value: d[r.field], limit: d[r.limit] }));
      }
      return;
    case 'sum_eq': {
      let total = 0;
      for (const f of r.fields) { if (d[f] == null) { return; } total += d[f]; }
      if (d[r.minuend] == null || d[r.subtrahend] == null) { return; }
      const expected = d[r.minuend] - d[r.subtrahend];
      if (total !== expected) { out.push(issue(r.fields[0], r.code, { value: total, expected })); }
      return;
    }
    case 'zero_when':
      if (d[r.flag] !== true) { return; }
      for (const f of r.fields) {
        if (d[f] != null && d[f] !== 0) { out.push(issue(f, r.code, { label: r.labels[f], value: d[f] })); }
      }
      return;
    case 'forward_history': {
      const entries = d[r.history] || [];
      for (let i = 1; i < entries.length; i++) {
        if (r.order.indexOf(entries[i].status) <= r.order.indexOf(entries[i - 1].status)) {
          out.push(issue(r.history + '.' + i + '.status', 'history_order',
            { status: entries[i].status, previous: entries[i - 1].status }));
          break;
        }
      }
      const last = entries.length ? entries[entries.length - 1].status : null;
      if (last !== null && d[r.status] != null && last !== d[r.status]) {
        out.push(issue(r.status, 'history_end', { last, status: d[r.status] }));
      }
      return;
    }
    case 'all_when': {
      if (d[r.when] !== r.value) { return; }
      (d[r.list] || []).forEach((entry, i) => {
        if (entry[r.field] !== r.expected) {
          out.push(issue(r.list + '.' + i + '.' + r.field, r.code, { item_id: entry[r.key], status: entry[r.field] }));
        }
      });
      return;
    }
    case 'in_checklist':
    default:
      return;  // the server checks these against data this app does not carry
  }
}

/**
 * Issues of `data` against a form schema, all at once: field checks first, then every
 * rule whose fields (`reads`) are valid, so a simple field error hides no cross-field one.
 */
export function validateData(schema, data) {
  const out = [];
  walkObject(schema['x-checks'], data, '', out);
  if (!isObject(data)) { return out; }
  const invalid = new Set(out.map((iss) => iss.field.split('.')[0]));
  for (const r of schema['x-rules']) {
    // A schema cached before rules named their fields: rules only on valid data, as then.
    const ready = r.reads ? !r.reads.some((f) => invalid.has(f)) : invalid.size === 0;
    if (ready) { checkRule(r, data, out); }
  }
  return out;
}

function fmtParam(v, lang) {
  if (Array.isArray(v)) { return v.map((x) => fmtParam(x, lang)).join(', '); }
  if (isObject(v)) { return String(has(v, lang) ? v[lang] : (v.en || '')); }
  if (v === null) { return 'null'; }
  return String(v);
}

/** An issue's message in `lang`, from the schema's catalogue (the server's wording). */
export function formatIssue(schema, iss, lang) {
  const entry = schema['x-messages'][iss.code];
  if (!entry) { return iss.code; }
  return entry[lang].replace(/\{([a-z_]+)\}/g, (m, name) => (has(iss.params, name) ? fmtParam(iss.params[name], lang) : m));
}
