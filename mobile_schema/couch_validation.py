"""Generate the CouchDB ``validate_doc_update`` function from the form definitions.

The generated function is plain ES5 (CouchDB's JavaScript engine may be an
old SpiderMonkey) and stateless. It embeds the forms as data (``describe``:
fields with kinds, bounds, choices and patterns; cross-field rules; id
schemes; versions), the checklists and the message catalogue, and
interprets them in the same order as ``validate_document``, so it refuses a
document exactly when Python finds an issue and says
``format_forbidden(issues)``: every issue at once.

Specialised per database: a school database (``school_id``) accepts the
school forms with that school_id from members with role ``school:<id>``; an
inspections database (``county_id``) accepts inspections of that county
from role ``inspector:<county>``. Server admins (``_admin``: the service
account and the worker) pass unchecked.

Deletions: nobody else deletes anything, whatever the document's type. Reports,
incidents and inspections are records the county relies on (a wrong one is
corrected, never removed); ``config``, ``conflict_notice`` and ``correction``
documents are the server's; a device's ``device_status`` is how sync health sees
it. The app never deletes a replicated document (drafts stay in a local-only
database). Under replication ``oldDoc`` may be missing and a tombstone carries no
type, so the refusal depends on neither. What an admin's deletion means is the
worker's business (``check_history``).
"""

from __future__ import annotations

import json
import re

from .describe import checklists_spec, forms_spec, meta_spec
from .fields import CODE_PATTERN, DATE_PATTERN
from .forms import DEVICE_TYPES, FORMS, SERVER_ONLY_TYPES
from .issues import FORBIDDEN_MAX_ISSUES, Issue
from .messages import MESSAGES
from .validation import DELETION_REFUSED, FUTURE_ALLOWANCE, LOCAL_UTC_OFFSET

#: The issue reported when the writer lacks the database's role.
NOT_AUTHORIZED = Issue("_user", "not_authorized")

_RUNTIME = r"""
  var C = __CONFIG__;

  function has(o, k) { return Object.prototype.hasOwnProperty.call(o, k); }
  function isArray(v) { return Object.prototype.toString.call(v) === '[object Array]'; }
  function isObject(v) { return typeof v === 'object' && v !== null && !isArray(v); }
  function isWhole(v) { return typeof v === 'number' && isFinite(v) && Math.floor(v) === v; }
  function full(pattern, s) { return new RegExp('^(?:' + pattern + ')$').test(s); }
  function join(path, key) { return path ? path + '.' + key : String(key); }
  function issue(field, code, params) { return {field: field, code: code, params: params || {}}; }
  function codePoints(s) { return s.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length; }
  function size(v) { return typeof v === 'string' ? codePoints(v) : v.length; }
  function sortedKeys(o) {
    var keys = [], k;
    for (k in o) { if (has(o, k)) { keys.push(k); } }
    keys.sort();
    return keys;
  }
  function isDate(s) {
    if (!full(C.date_pattern, s)) { return false; }
    var y = +s.slice(0, 4), m = +s.slice(5, 7), d = +s.slice(8, 10);
    var t = new Date(Date.UTC(y, m - 1, d));
    return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
  }

  function fmtParam(v, lang) {
    var i, parts;
    if (isArray(v)) {
      parts = [];
      for (i = 0; i < v.length; i++) { parts.push(fmtParam(v[i], lang)); }
      return parts.join(', ');
    }
    if (isObject(v)) { return String(has(v, lang) ? v[lang] : (has(v, 'en') ? v.en : '')); }
    if (v === null) { return 'null'; }
    return String(v);
  }
  function fmt(iss, lang) {
    return C.messages[iss.code][lang].replace(/\{([a-z_]+)\}/g, function (m, name) {
      return has(iss.params, name) ? fmtParam(iss.params[name], lang) : m;
    });
  }
  function forbidden(list) {
    var i, parts = [], more;
    for (i = 0; i < list.length && i < C.forbidden_max; i++) {
      parts.push(list[i].field + ': ' + fmt(list[i], 'en') + ' / ' + fmt(list[i], 'zh'));
    }
    if (list.length > C.forbidden_max) {
      more = issue('', 'more_issues', {count: list.length - C.forbidden_max});
      parts.push(fmt(more, 'en') + ' / ' + fmt(more, 'zh'));
    }
    return {forbidden: parts.join('; ')};
  }

  function typeOk(spec, v) {
    switch (spec.kind) {
      case 'integer': return isWhole(v);
      case 'boolean': return v === true || v === false;
      case 'string': return typeof v === 'string';
      case 'list': return isArray(v);
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
      case 'date': return isDate(v);
      case 'no_personal_ids': return !new RegExp(c.digits).test(v.replace(new RegExp(c.strip, 'g'), ''));
      default: throw new Error('unknown check ' + c.check);
    }
  }
  function walkValue(spec, v, path, out) {
    var i, keys, before = out.length;
    if (v === null) {
      if (!spec.nullable) { out.push(issue(path, spec.type_code)); }
      return;
    }
    if (!typeOk(spec, v)) { out.push(issue(path, spec.type_code)); return; }
    if (spec.kind === 'object') { walkObject(spec.fields, v, path, out); return; }
    if (spec.kind === 'map') {
      keys = sortedKeys(v);
      for (i = 0; i < keys.length; i++) { walkObject(spec.values, v[keys[i]], join(path, keys[i]), out); }
      return;
    }
    if (spec.kind === 'list') {
      for (i = 0; i < v.length; i++) { walkValue(spec.items, v[i], join(path, i), out); }
      if (out.length > before) { return; }
    }
    for (i = 0; i < spec.checks.length; i++) {
      if (!passes(spec.checks[i], v)) { out.push(issue(path, spec.checks[i].code, spec.checks[i].params)); return; }
    }
  }
  function walkObject(fields, obj, path, out) {
    var i, f, keys, declared = {};
    if (!isObject(obj)) { out.push(issue(path, 'not_object')); return; }
    for (i = 0; i < fields.length; i++) {
      f = fields[i];
      declared[f.name] = true;
      if (!has(obj, f.name)) {
        if (f.required) { out.push(issue(join(path, f.name), 'required')); }
      } else {
        walkValue(f, obj[f.name], join(path, f.name), out);
      }
    }
    keys = sortedKeys(obj);
    for (i = 0; i < keys.length; i++) {
      if (!has(declared, keys[i])) { out.push(issue(join(path, keys[i]), 'unknown_field')); }
    }
  }

  function readsInvalid(r, invalid) {
    for (var i = 0; i < r.reads.length; i++) { if (has(invalid, r.reads[i])) { return true; } }
    return false;
  }
  function checkRule(r, d, out) {
    var i, j, total, expected, entries, order, ids, list, seen, id, cid, version, p = 'data.';
    switch (r.rule) {
      case 'le':
        if (d[r.field] != null && d[r.limit] != null && d[r.field] > d[r.limit]) {
          out.push(issue(p + r.field, r.code, {value: d[r.field], limit: d[r.limit]}));
        }
        return;
      case 'sum_eq':
        total = 0;
        for (i = 0; i < r.fields.length; i++) {
          if (d[r.fields[i]] == null) { return; }
          total += d[r.fields[i]];
        }
        if (d[r.minuend] == null || d[r.subtrahend] == null) { return; }
        expected = d[r.minuend] - d[r.subtrahend];
        if (total !== expected) { out.push(issue(p + r.fields[0], r.code, {value: total, expected: expected})); }
        return;
      case 'zero_when':
        if (d[r.flag] !== true) { return; }
        for (i = 0; i < r.fields.length; i++) {
          if (d[r.fields[i]] != null && d[r.fields[i]] !== 0) {
            out.push(issue(p + r.fields[i], r.code, {label: r.labels[r.fields[i]], value: d[r.fields[i]]}));
          }
        }
        return;
      case 'forward_history':
        entries = d[r.history] || [];
        order = r.order;
        for (i = 1; i < entries.length; i++) {
          if (order.indexOf(entries[i].status) <= order.indexOf(entries[i - 1].status)) {
            out.push(issue(p + r.history + '.' + i + '.status', 'history_order',
                           {status: entries[i].status, previous: entries[i - 1].status}));
            break;
          }
        }
        if (entries.length && d[r.status] != null && entries[entries.length - 1].status !== d[r.status]) {
          out.push(issue(p + r.status, 'history_end', {last: entries[entries.length - 1].status, status: d[r.status]}));
        }
        return;
      case 'in_checklist':
        cid = d[r.checklist_field];
        version = d[r.version_field];
        ids = null;
        if (has(C.checklists, cid) && has(C.checklists[cid], String(version))) {
          ids = C.checklists[cid][String(version)];
        }
        if (ids === null) {
          out.push(issue(p + r.checklist_field, 'unknown_checklist', {checklist_id: cid, version: version}));
          return;
        }
        for (j = 0; j < r.lists.length; j++) {
          list = d[r.lists[j][0]] || [];
          seen = {};
          for (i = 0; i < list.length; i++) {
            id = list[i][r.lists[j][1]];
            if (ids.indexOf(id) === -1) {
              out.push(issue(p + r.lists[j][0] + '.' + i + '.' + r.lists[j][1], 'unknown_item',
                             {item_id: id, checklist_id: cid, version: version}));
            } else if (r.lists[j][2] && has(seen, id)) {
              out.push(issue(p + r.lists[j][0] + '.' + i + '.' + r.lists[j][1], 'duplicate_item', {item_id: id}));
            }
            seen[id] = true;
          }
        }
        return;
      case 'all_when':
        if (d[r.when] !== r.value) { return; }
        list = d[r.list] || [];
        for (i = 0; i < list.length; i++) {
          if (list[i][r.field] !== r.expected) {
            out.push(issue(p + r.list + '.' + i + '.' + r.field, r.code,
                           {item_id: list[i][r.key], status: list[i][r.field]}));
          }
        }
        return;
      default:
        throw new Error('unknown rule ' + r.rule);
    }
  }

  function stringIssue(doc, name) {
    if (!has(doc, name)) { return issue(name, 'required'); }
    if (typeof doc[name] !== 'string') { return issue(name, 'not_string'); }
    return null;
  }
  function codeIssue(doc, name, expected, mismatch, out) {
    var iss = stringIssue(doc, name), params;
    if (iss) { out.push(iss); return; }
    if (!full(C.code_pattern, doc[name])) { out.push(issue(name, 'bad_code')); return; }
    if (expected !== null && doc[name] !== expected) {
      params = {expected: expected};
      params[name] = doc[name];
      out.push(issue(name, mismatch, params));
    }
  }
  function latestAllowedDate(now) {
    return new Date(now.getTime() + C.future_offset_ms).toISOString().slice(0, 10);
  }

  function validate(doc, now, device) {
    var iss, form, version, spec, m, limit, meta, clocks, keys, i;
    var out = [], dataIssues = [], idValue = null, names = {}, invalid = {};
    iss = stringIssue(doc, 'type');
    if (iss) { return [iss]; }
    if (C.server_only.indexOf(doc.type) !== -1) { return [issue('type', 'server_only_type', {type: doc.type})]; }
    if (C.device_types.indexOf(doc.type) === -1) { return [issue('type', 'unknown_type', {type: doc.type})]; }
    if (C.db.types.indexOf(doc.type) === -1) { return [issue('type', 'wrong_database', {type: doc.type})]; }
    iss = stringIssue(doc, 'form');
    if (iss) { return [iss]; }
    form = has(C.forms, doc.form) ? C.forms[doc.form] : null;
    if (form === null || form.doc_type !== doc.type) {
      return [issue('form', 'unknown_form', {form: doc.form, type: doc.type})];
    }
    if (!has(doc, 'schema_version')) { return [issue('schema_version', 'required')]; }
    version = doc.schema_version;
    if (!isWhole(version)) { return [issue('schema_version', 'not_integer')]; }
    if (!has(form.versions, String(version))) {
      return [issue('schema_version', 'unknown_version', {form: form.name, version: version, latest: form.latest})];
    }
    spec = form.versions[String(version)];

    if (has(doc, '_attachments') && !(isObject(doc._attachments) && sortedKeys(doc._attachments).length === 0) &&
        !form.attachments) {
      out.push(issue('_attachments', 'attachments_refused', {form: form.name}));
    }
    iss = stringIssue(doc, '_id');
    if (iss) {
      out.push(iss);
    } else {
      m = new RegExp('^(?:' + form.id_pattern + ')$').exec(doc._id);
      if (m) { idValue = m[1]; } else { out.push(issue('_id', 'bad_id', {example: form.id_example})); }
    }
    codeIssue(doc, 'school_id', C.db.school_id, 'wrong_school', out);
    if (form.has_county) { codeIssue(doc, 'county_id', C.db.county_id, 'wrong_county', out); }
    if (form.has_date) {
      iss = stringIssue(doc, 'date');
      if (iss) {
        out.push(iss);
      } else if (!isDate(doc.date)) {
        out.push(issue('date', 'bad_date'));
      } else {
        if (idValue !== null && idValue !== doc.date) {
          out.push(issue('date', 'date_mismatch', {date: doc.date, id_date: idValue}));
        }
        limit = latestAllowedDate(now);
        if (doc.date > limit) { out.push(issue('date', 'future_date', {date: doc.date, limit: limit})); }
      }
    }

    if (!has(doc, 'meta')) {
      out.push(issue('meta', 'required'));
    } else {
      meta = doc.meta;
      walkObject(C.meta_fields, meta, 'meta', out);
      if (isObject(meta)) {
        if (typeof meta.device === 'string' && meta.device !== device) {
          out.push(issue('meta.device', 'wrong_device', {device: meta.device, expected: device}));
        }
        if (form.id_group === 'device' && idValue !== null && typeof meta.device === 'string' &&
            idValue !== meta.device) {
          out.push(issue('_id', 'id_mismatch', {expected: form.id_example.replace('{device}', meta.device)}));
        }
        clocks = meta.clocks;
        if (isObject(clocks)) {
          for (i = 0; i < spec.fields.length; i++) { names[spec.fields[i].name] = true; }
          keys = sortedKeys(clocks);
          for (i = 0; i < keys.length; i++) {
            if (!has(names, keys[i])) { out.push(issue('meta.clocks.' + keys[i], 'unknown_clock_field')); }
          }
        }
      }
    }

    if (!has(doc, 'data')) {
      out.push(issue('data', 'required'));
    } else {
      walkObject(spec.fields, doc.data, 'data', dataIssues);
      for (i = 0; i < dataIssues.length; i++) {
        out.push(dataIssues[i]);
        invalid[dataIssues[i].field.split('.')[1]] = true;
      }
      if (isObject(doc.data)) {
        // Every rule whose fields are valid, so a field error does not hide it.
        for (i = 0; i < spec.rules.length; i++) {
          if (!readsInvalid(spec.rules[i], invalid)) { checkRule(spec.rules[i], doc.data, out); }
        }
      }
    }
    return out;
  }

  var roles = (userCtx && userCtx.roles) || [];
  if (roles.indexOf('_admin') !== -1) { return; }
  if (roles.indexOf(C.db.role) === -1) { throw forbidden([C.not_authorized]); }
  if (newDoc._deleted === true) { throw forbidden([C.deletion_refused]); }
  var found = validate(newDoc, new Date(), userCtx.name);
  if (found.length) { throw forbidden(found); }
"""


def _config(*, school_id: str | None, county_id: str | None) -> dict:
    database = "school" if school_id is not None else "inspections"
    return {
        "db": {
            "school_id": school_id,
            "county_id": county_id,
            "role": f"school:{school_id}" if school_id is not None else f"inspector:{county_id}",
            "types": sorted({f.doc_type for f in FORMS.values() if f.database == database}),
        },
        "forms": forms_spec(),
        "meta_fields": meta_spec(),
        "checklists": checklists_spec(),
        "messages": MESSAGES,
        "server_only": sorted(SERVER_ONLY_TYPES),
        "device_types": sorted(DEVICE_TYPES),
        "date_pattern": DATE_PATTERN,
        "code_pattern": CODE_PATTERN,
        "future_offset_ms": int((LOCAL_UTC_OFFSET + FUTURE_ALLOWANCE).total_seconds() * 1000),
        "not_authorized": {"field": NOT_AUTHORIZED.field, "code": NOT_AUTHORIZED.code, "params": {}},
        "deletion_refused": {"field": DELETION_REFUSED.field, "code": DELETION_REFUSED.code, "params": {}},
        "forbidden_max": FORBIDDEN_MAX_ISSUES,
    }


def validate_doc_update_source(*, school_id: str | None = None, county_id: str | None = None) -> str:
    """ES5 source of ``function (newDoc, oldDoc, userCtx, secObj)`` for one database.

    Give exactly one of ``school_id`` (a ``school_<id>`` database) or
    ``county_id`` (an ``inspections_<county>`` database); raises ``ValueError``
    otherwise or when the id is not a plain code.
    """
    if (school_id is None) == (county_id is None):
        raise ValueError("give exactly one of school_id or county_id")
    for value in (school_id, county_id):
        if value is not None and re.fullmatch(CODE_PATTERN, value) is None:
            raise ValueError(f"not a valid id: {value!r}")
    # ensure_ascii keeps U+2028/U+2029 (not allowed in ES5 string literals) escaped.
    config = json.dumps(_config(school_id=school_id, county_id=county_id), ensure_ascii=True, sort_keys=True)
    return "function (newDoc, oldDoc, userCtx, secObj) {\n" + _RUNTIME.replace("__CONFIG__", config) + "}\n"
