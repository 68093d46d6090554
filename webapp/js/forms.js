// Forms rendered from their JSON Schema export: field order, labels, help and units from
// `x-fields`, types and bounds from `properties`, the zero-report flag and the counts it
// zeroes from the `zero_when` rule, status histories kept by the app from the
// `forward_history` rule, choice labels from each field's `choices`, an inspection's
// checklist from the `in_checklist` rule and `x-checklists` (item wording from the
// checklist the device was given at enrolment). Nothing about a particular form is
// written here.

import { h } from './dom.js';
import { t, pick, getLang } from './i18n.js';
import { formatIssue } from './validate.js';

const UNITS = { people: { zh: '人', en: 'people' }, documents: { zh: '份', en: 'documents' } };
const schemaCache = {};

/** A form's schema from the service (the service worker answers from its cache offline). */
export async function loadSchema(name) {
  if (schemaCache[name]) { return schemaCache[name]; }
  const response = await fetch('/api/v1/forms/' + encodeURIComponent(name));
  if (!response.ok) { throw new Error('form ' + name + ': ' + response.status); }
  schemaCache[name] = await response.json();
  return schemaCache[name];
}

function resolve(schema, prop) {
  if (prop && prop.$ref) { return schema.definitions[prop.$ref.split('/').pop()]; }
  return prop || {};
}

export function zeroRule(schema) { return schema['x-rules'].find((r) => r.rule === 'zero_when') || null; }

function historyRules(schema) { return schema['x-rules'].filter((r) => r.rule === 'forward_history'); }

export function checklistRule(schema) { return schema['x-rules'].find((r) => r.rule === 'in_checklist') || null; }

/** The label of a choice code in the current language, from a `choices` map; else the code. */
export function choiceLabel(choices, code) {
  return choices && choices[code] ? pick(choices[code]) : String(code).replace(/_/g, ' ');
}

/**
 * The checklist a form is filled against: the one the data names, else the one the device
 * was given (`given`: {checklist_id, version, items: [{id, zh, en}]}), else the first of
 * `x-checklists`. Item ids and order come from `x-checklists`; wording from `given` when
 * it is that very checklist and version, else the ids.
 */
export function resolveChecklist(schema, data, given) {
  const rule = checklistRule(schema);
  if (!rule) { return null; }
  const all = schema['x-checklists'] || {};
  const known = (cid, ver) => Boolean(all[cid] && all[cid][String(ver)]);
  let cid = data[rule.checklist_field], ver = data[rule.version_field];
  if (!known(cid, ver)) {
    if (given && known(given.checklist_id, given.version)) { cid = given.checklist_id; ver = given.version; }
    else {
      cid = Object.keys(all).sort()[0];
      ver = cid ? Math.max(...Object.keys(all[cid]).map(Number)) : null;
    }
  }
  if (!known(cid, ver)) { return null; }
  const wording = {};
  if (given && given.checklist_id === cid && Number(given.version) === Number(ver)) {
    for (const item of given.items || []) { wording[item.id] = item; }
  }
  return {
    rule, id: cid, version: Number(ver), title: given && given.checklist_id === cid ? given.title : null,
    items: all[cid][String(ver)].map((id) => ({ id, label: wording[id] ? pick(wording[id]) : id })),
  };
}

/** Fields in form order: [name, x-fields entry, JSON Schema property]. */
function orderedFields(schema) {
  return Object.entries(schema['x-fields'])
    .sort((a, b) => a[1].order - b[1].order)
    .map(([name, meta]) => [name, meta, schema.properties[name] || {}]);
}

/** Apply the zero report: the flag on and every count it covers at 0. */
export function applyZero(schema, data, on) {
  const rule = zeroRule(schema);
  if (!rule) { return; }
  data[rule.flag] = on;
  if (on) { for (const f of rule.fields) { data[f] = 0; } }
}

export class FormView {
  /** `data` is edited in place; `onInput` is called after every change. */
  constructor(schema, data, { onInput, nowIso, checklist }) {
    this.schema = schema;
    this.data = data;
    this.onInput = onInput || (() => {});
    this.nowIso = nowIso;
    this.zero = zeroRule(schema);
    this.checklist = resolveChecklist(schema, data, checklist);
    if (this.checklist) {
      data[this.checklist.rule.checklist_field] = this.checklist.id;
      data[this.checklist.rule.version_field] = this.checklist.version;
    }
    this.histories = historyRules(schema);
    this.baseHistory = {};
    for (const r of this.histories) { this.baseHistory[r.history] = (data[r.history] || []).slice(); }
    this.inputs = {};
    this.errorEls = {};
    this.el = this.render();
    this.applyLocks();
  }

  changed() { this.applyLocks(); this.onInput(this.data); }

  managedBy(name) { return this.histories.find((r) => r.history === name) || null; }

  render() {
    const parts = [];
    if (this.zero) {
      const flag = this.zero.flag;
      parts.push(h('div', { class: 'field zero-field', dataset: { field: flag } },
        h('label', { class: 'zero-toggle' },
          this.inputs[flag] = h('input', {
            type: 'checkbox', name: flag, checked: this.data[flag] === true,
            onchange: (ev) => { applyZero(this.schema, this.data, ev.target.checked); this.syncInputs(); this.changed(); },
          }),
          h('span', {}, t('zero_toggle'))),
        this.errorEls[flag] = h('p', { class: 'err', role: 'alert' })));
    }
    for (const [name, meta, prop] of orderedFields(this.schema)) {
      if (this.zero && name === this.zero.flag) { continue; }
      parts.push(this.renderField(name, meta, prop));
    }
    return h('div', { class: 'form-fields' }, parts);
  }

  fieldShell(name, meta, control, extraClass) {
    const unit = meta.unit && UNITS[meta.unit] ? pick(UNITS[meta.unit]) : '';
    return h('div', { class: 'field ' + (extraClass || ''), dataset: { field: name } },
      h('label', { class: 'label', for: 'f_' + name }, pick(meta.label), meta.required ? ' *' : '', unit ? h('span', { class: 'unit' }, ' (' + unit + ')') : null),
      meta.help ? h('p', { class: 'help' }, pick(meta.help)) : null,
      control,
      this.errorEls[name] = h('p', { class: 'err', role: 'alert' }));
  }

  /** The checklist list a field is ([list, key, unique] of the in_checklist rule), or null. */
  checklistList(name) {
    return this.checklist ? (this.checklist.rule.lists.find((l) => l[0] === name) || null) : null;
  }

  renderField(name, meta, prop) {
    const cl = this.checklist;
    if (cl && (name === cl.rule.checklist_field || name === cl.rule.version_field)) {
      // Set from the checklist in use, not typed: shown so the inspector knows which one.
      const text = name === cl.rule.checklist_field ? (cl.title ? pick(cl.title) + ' (' + cl.id + ')' : cl.id) : String(cl.version);
      return this.fieldShell(name, { ...meta, required: false }, h('p', { class: 'fixed', id: 'f_' + name }, text));
    }
    const listed = this.checklistList(name);
    if (listed && listed[2]) {
      return this.fieldShell(name, meta, this.checklistItems(name, listed[1], resolve(this.schema, (prop || {}).items)));
    }
    const history = this.managedBy(name);
    if (history) {
      this.historyList = this.historyList || {};
      const list = h('ul', { class: 'history' });
      this.historyList[name] = list;
      this.renderHistory(name);
      return this.fieldShell(name, { ...meta, help: null }, h('div', {}, h('p', { class: 'help' }, t('history_auto')), list));
    }
    return this.fieldShell(name, meta, this.control(name, prop, this.data, () => {
      for (const r of this.histories) { if (r.status === name) { this.updateHistory(r); } }
      this.changed();
    }, meta));
  }

  /**
   * One row per checklist item: its wording, a button per choice of each choice field
   * (e.g. ok / issue / not applicable) and the other fields (a note). An item is in the
   * data once something is set for it, in checklist order.
   */
  checklistItems(name, keyField, itemSchema) {
    if (!Array.isArray(this.data[name])) { this.data[name] = []; }
    const list = this.data[name];
    const order = this.checklist.items.map((i) => i.id);
    const props = Object.entries((itemSchema && itemSchema.properties) || {}).filter(([sub]) => sub !== keyField);
    const count = h('p', { class: 'help checklist-count' });
    const showCount = () => { count.textContent = t('checklist_answered', { n: list.length, total: order.length }); };
    const rows = this.checklist.items.map((item) => {
      let entry = list.find((e) => e[keyField] === item.id) || { [keyField]: item.id };
      const attach = () => {
        const empty = props.every(([sub]) => entry[sub] === undefined || entry[sub] === '');
        const at = list.indexOf(entry);
        if (empty && at !== -1) { list.splice(at, 1); }
        if (!empty && at === -1) {
          list.push(entry);
          list.sort((a, b) => order.indexOf(a[keyField]) - order.indexOf(b[keyField]));
        }
        showCount();
        this.onInput(this.data);
      };
      const controls = props.map(([sub, subProp]) => {
        subProp = resolve(this.schema, subProp);
        if (subProp.type === 'string' && subProp.enum) {
          const buttons = subProp.enum.map((code) => h('button', {
            type: 'button', class: 'seg', dataset: { value: code },
            onclick: () => {
              entry[sub] = entry[sub] === code ? undefined : code;  // a second tap clears it
              if (entry[sub] === undefined) { delete entry[sub]; }
              mark();
              attach();
            },
          }, choiceLabel(subProp.choices, code)));
          const mark = () => { for (const b of buttons) { b.setAttribute('aria-pressed', String(entry[sub] === b.dataset.value)); } };
          mark();
          return h('div', { class: 'segmented choice', role: 'group', dataset: { sub } }, buttons);
        }
        // One line per note keeps 27 items on a phone screen readable.
        const input = subProp.type === 'string' && !subProp.format
          ? h('input', { type: 'text', name: sub, autocomplete: 'off', maxlength: subProp.maxLength, value: entry[sub] || '',
            oninput: (ev) => { if (ev.target.value) { entry[sub] = ev.target.value; } else { delete entry[sub]; } attach(); } })
          : this.control(sub, subProp, entry, attach);
        return h('div', { class: 'subfield', dataset: { sub } },
          h('label', { class: 'label small' }, pick(subProp.label) || sub), input);
      });
      return h('li', { class: 'checklist-item', dataset: { item: item.id } },
        h('p', { class: 'item-text' }, item.label), controls);
    });
    showCount();
    return h('div', { id: 'f_' + name }, count, h('ol', { class: 'checklist' }, rows));
  }

  renderHistory(name) {
    const list = this.historyList[name];
    const rule = this.managedBy(name);
    const statusMeta = (rule && this.schema['x-fields'][rule.status]) || {};
    list.replaceChildren(...(this.data[name] || []).map((entry) => h('li', {},
      choiceLabel(statusMeta.choices, entry.status), entry.at ? ' · ' + new Date(entry.at).toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-GB') : '')));
  }

  /** Status changed: the history is what it was plus the new status, stamped now. */
  updateHistory(rule) {
    const base = this.baseHistory[rule.history];
    const status = this.data[rule.status];
    const last = base.length ? base[base.length - 1].status : null;
    this.data[rule.history] = status == null || status === last ? base.slice() : base.concat([{ status, at: this.nowIso() }]);
    this.renderHistory(rule.history);
  }

  /** An input for one value of `prop`, reading and writing `holder[key]`; `meta` (x-fields)
   * gives top-level fields their choice labels, nested ones carry theirs on `prop`. */
  control(key, prop, holder, onChange, meta) {
    prop = resolve(this.schema, prop);
    const choices = (meta && meta.choices) || prop.choices || null;
    const id = 'f_' + key;
    const set = (v) => { if (v === undefined) { delete holder[key]; } else { holder[key] = v; } onChange(); };
    if (prop.type === 'integer' || prop.type === 'number') {
      const input = h('input', {
        id, name: key, type: 'number', inputmode: 'numeric', min: prop.minimum, max: prop.maximum, step: 1,
        value: holder[key] == null ? '' : String(holder[key]),
        oninput: (ev) => set(ev.target.value === '' ? undefined : Number(ev.target.value)),
      });
      if (holder === this.data) { this.inputs[key] = input; }
      return input;
    }
    if (prop.type === 'boolean') {
      const yes = h('button', { type: 'button', class: 'seg', dataset: { value: 'true' } }, t('yes'));
      const no = h('button', { type: 'button', class: 'seg', dataset: { value: 'false' } }, t('no'));
      const mark = () => { yes.setAttribute('aria-pressed', String(holder[key] === true)); no.setAttribute('aria-pressed', String(holder[key] === false)); };
      yes.onclick = () => { set(true); mark(); };
      no.onclick = () => { set(false); mark(); };
      mark();
      return h('div', { class: 'segmented', id, role: 'group' }, yes, no);
    }
    if (prop.type === 'string' && prop.enum) {
      return h('select', { id, name: key, onchange: (ev) => set(ev.target.value || undefined) },
        h('option', { value: '' }, t('choose')),
        prop.enum.map((v) => h('option', { value: v, selected: holder[key] === v }, choiceLabel(choices, v))));
    }
    if (prop.type === 'string') {
      const attrs = { id, name: key, value: holder[key] || '', maxlength: prop.maxLength, oninput: (ev) => set(ev.target.value) };
      if (prop.format === 'date') { return h('input', { ...attrs, type: 'date', oninput: (ev) => set(ev.target.value || undefined) }); }
      if ((prop.maxLength || 0) > 200) { return h('textarea', { ...attrs, rows: 3 }, holder[key] || ''); }
      return h('input', { ...attrs, type: 'text', autocomplete: 'off' });
    }
    if (prop.type === 'array') {
      const items = resolve(this.schema, prop.items);
      if (items.type === 'string' && items.enum) {
        const chosen = () => (Array.isArray(holder[key]) ? holder[key] : []);
        return h('div', { class: 'checks', id }, items.enum.map((v) => h('label', { class: 'check' },
          h('input', {
            type: 'checkbox', value: v, checked: chosen().indexOf(v) !== -1,
            onchange: (ev) => {
              const next = chosen().filter((x) => x !== v);
              if (ev.target.checked) { next.push(v); }
              set(items.enum.filter((x) => next.indexOf(x) !== -1));
            },
          }), ' ', choiceLabel(choices, v))));
      }
      return this.objectList(key, items, holder, onChange);
    }
    return h('p', { class: 'help' }, key);
  }

  /** A list of sub-forms (e.g. actions taken), with add and remove. */
  objectList(key, itemSchema, holder, onChange) {
    if (!Array.isArray(holder[key])) { holder[key] = []; }
    const listed = holder === this.data ? this.checklistList(key) : null;
    const checklistKey = listed ? listed[1] : null;
    const box = h('div', { class: 'object-list', id: 'f_' + key });
    const draw = () => {
      box.replaceChildren(
        ...holder[key].map((entry, i) => h('div', { class: 'object-item' },
          Object.entries(itemSchema.properties || {}).map(([sub, subProp]) => h('div', { class: 'subfield', dataset: { sub } },
            h('label', { class: 'label' }, pick(subProp.label) || sub),
            sub === checklistKey ? this.checklistSelect(sub, entry, onChange) : this.control(sub, subProp, entry, onChange))),
          h('button', { type: 'button', class: 'btn small', onclick: () => { holder[key].splice(i, 1); draw(); onChange(); } }, t('remove')))),
        h('button', { type: 'button', class: 'btn', onclick: () => {
          const entry = {};
          for (const [sub, subProp] of Object.entries(itemSchema.properties || {})) {
            if (subProp.format === 'date') { entry[sub] = this.nowIso().slice(0, 10); }
            if (subProp.type === 'string' && !subProp.enum && !subProp.format && !subProp.pattern) { entry[sub] = ''; }
            if (subProp.enum && subProp.ordered) { entry[sub] = subProp.enum[0]; }  // a new entry starts at the first step
          }
          holder[key].push(entry);
          draw();
          onChange();
        } }, '+ ' + t('add')));
    };
    draw();
    return box;
  }

  /** A select of the checklist's items (by their wording) for an entry's item reference. */
  checklistSelect(sub, entry, onChange) {
    return h('select', { name: sub, onchange: (ev) => { if (ev.target.value) { entry[sub] = ev.target.value; } else { delete entry[sub]; } onChange(); } },
      h('option', { value: '' }, t('choose')),
      this.checklist.items.map((item) => h('option', { value: item.id, selected: entry[sub] === item.id }, item.label)));
  }

  /**
   * While the zero report is on, the counts its `zero_when` rule covers are locked at 0, and
   * every other count says it is still to be filled in (a zero report does not cover it,
   * e.g. students back from affected areas and being followed).
   */
  applyLocks() {
    if (!this.zero) { return; }
    const on = this.data[this.zero.flag] === true;
    for (const [name, input] of Object.entries(this.inputs)) {
      if (input.type !== 'number') { continue; }
      const field = input.closest('.field');
      const covered = this.zero.fields.indexOf(name) !== -1;
      if (covered) { input.disabled = on; field.classList.toggle('locked', on); continue; }
      let note = field.querySelector('.zero-note');
      if (on && !note) { note = h('p', { class: 'zero-note' }, t('zero_still_needed')); input.before(note); }
      if (!on && note) { note.remove(); }
    }
  }

  syncInputs() {
    for (const [name, input] of Object.entries(this.inputs)) {
      if (input.type === 'checkbox') { input.checked = this.data[name] === true; }
      else { input.value = this.data[name] == null ? '' : String(this.data[name]); }
    }
  }

  /** Show issues (from validateData) next to their fields; returns the first field element. */
  showIssues(issues) {
    for (const el of Object.values(this.errorEls)) { el.textContent = ''; el.closest('.field').classList.remove('invalid'); }
    let first = null;
    for (const iss of issues) {
      const top = iss.field.split('.')[0];
      const el = this.errorEls[top];
      if (!el) { continue; }
      const prefix = iss.field !== top ? iss.field.slice(top.length + 1) + ': ' : '';
      el.textContent = (el.textContent ? el.textContent + '; ' : '') + prefix + formatIssue(this.schema, iss, getLang());
      el.closest('.field').classList.add('invalid');
      first = first || el.closest('.field');
    }
    return first;
  }
}
