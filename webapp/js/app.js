// The teacher app: enrol the device, pick who you are, file and correct reports offline,
// see every record's honest sync state. On an inspector's device (enrolled for a county)
// the same app files inspections of the county's schools instead.

import { h, modal, toast } from './dom.js';
import { t, pick, getLang, setLang } from './i18n.js';
import * as device from './device.js';
import * as clock from './clock.js';
import { Store, makeId } from './store.js';
import { SyncManager } from './sync.js';
import { Carrier, carryScreen, stopCarryScreen } from './carry.js';
import { handoverScreen, stopHandoverScreen } from './handover.js';
import { FormView, loadSchema, applyZero, zeroRule } from './forms.js';
import { validateData } from './validate.js';
import { APP_VERSION } from './version.js';

const root = document.getElementById('app');
let store = null;
let syncer = null;
let carrier = null;  // other devices' reports this device carries (carry.js)
let view = { name: 'home' };
let renderQueued = false;
let syncNotice = null;  // what "sync now" found (no connection), shown in the sync bar until online

function utcOffset() { const e = device.enrolment(); return e && e.utc_offset_minutes != null ? e.utc_offset_minutes : 480; }
function today() { return clock.schoolDate(utcOffset()); }

function ensureRuntime() {
  const e = device.enrolment();
  if (!e || store) { return; }
  store = new Store(e);
  syncer = new SyncManager(store, e, { authorFn: () => (device.currentTeacher() || {}).username || null });
  window.app = { store, syncer };  // for tests and support: the page's own databases
  store.onChange(queueHome);
  syncer.onState(queueHome);
  syncer.onRefresh((rosterChanged) => {
    // A teacher added (or removed) on the server: show the new list, unless a PIN is being typed.
    if (root.dataset.screen === 'who' && rosterChanged && !document.getElementById('pin-form')) { render(); }
    else if (root.dataset.screen === 'home' && !device.currentTeacher()) { render(); }
    else { queueHome(); }
  });
  carrier = new Carrier(e);
  window.app.carrier = carrier;
  carrier.onChange(queueHome);
  syncer.onCycle(() => carrier.upload());  // whenever the service answers
  syncer.start();
}

function queueHome() {
  // Only the home screen follows live changes: a form or a PIN prompt keeps what is typed.
  if (root.dataset.screen !== 'home' || renderQueued) { return; }
  renderQueued = true;
  setTimeout(() => { renderQueued = false; if (root.dataset.screen === 'home' && view.name === 'home') { render(); } }, 150);
}

/** Show another screen; a form being left first writes what was typed to its draft. */
async function go(next) {
  const leaving = view;
  if (leaving.flush) { await leaving.flush(); }
  view = next;
  render();
}

function header() {
  const e = device.enrolment();
  const teacher = device.currentTeacher();
  return h('header', { class: 'top' },
    h('div', { class: 'title' },
      h('h1', {}, t(device.isInspector() ? 'app_title_inspector' : 'app_title')),
      e ? h('p', { class: 'sub' }, device.isInspector() ? t('inspector_of', { county: e.county_name || e.county_id }) : (e.school_name || e.school_id),
        teacher ? ' · ' + teacher.display_name : '') : null),
    h('div', { class: 'top-actions' },
      h('button', { class: 'btn small', id: 'lang', onclick: () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); render(); } }, t('switch_lang')),
      teacher ? h('button', { class: 'btn small', id: 'switch-teacher', onclick: () => { device.setTeacher(null); go({ name: 'home' }); } }, t('switch_teacher')) : null));
}

let renderSeq = 0;

async function render() {
  // Screens are built asynchronously: a home screen queued by a sync event may finish after
  // the teacher opened a form. Only the newest render may replace what is shown.
  const mine = ++renderSeq;
  const shown = view;
  const e = device.enrolment();
  let screen;
  let flush = null;
  if (!e) {
    screen = enrolScreen();
  } else {
    ensureRuntime();
    if (!device.currentTeacher()) { screen = whoScreen(); }
    else if (shown.name === 'form') { screen = await formScreen(shown); }
    else if (shown.name === 'carry') { screen = carryScreen(carrier, { back: () => go({ name: 'home' }), schoolName }); flush = stopCarryScreen; }
    else if (shown.name === 'handover') { screen = await handoverScreen(store, { back: () => go({ name: 'home' }) }); flush = stopHandoverScreen; }
    else { screen = await homeScreen(); }
  }
  if (mine !== renderSeq) {
    if (flush && view.name !== shown.name) { flush(); }  // a camera or code timer nobody will see
    return;
  }
  if (flush) { shown.flush = flush; }
  root.replaceChildren(header(), screen);
  root.dataset.screen = screen.dataset.screen || '';
}

// --- enrolment ----------------------------------------------------------------------

function enrolScreen() {
  const error = h('p', { class: 'err', role: 'alert', id: 'enrol-error' }, navigator.onLine ? '' : t('enrol_offline'));
  const field = (name, label, type) => h('label', { class: 'field' }, h('span', { class: 'label' }, label),
    h('input', { name, type: type || 'text', autocomplete: 'off', autocapitalize: 'none' }));
  const form = h('form', { class: 'card', id: 'enrol-form' },
    h('p', {}, t('enrol_intro')),
    field('username', t('username')), field('password', t('password'), 'password'),
    field('school_id', t('school_id_admin')), field('county_id', t('county_id_admin')), field('label', t('device_label')),
    h('button', { class: 'btn primary big', type: 'submit' }, t('enrol_button')), error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    error.textContent = '';
    form.querySelector('button').disabled = true;
    try {
      await device.enrol(values);
      await clock.measureOffset().catch(() => null);
      go({ name: 'home' });
    } catch (err) {
      error.textContent = t('enrol_failed') + ': ' + err.message;
      form.querySelector('button').disabled = false;
    }
  });
  return h('main', { dataset: { screen: 'enrol' } }, h('h2', {}, t('enrol_title')), form);
}

// --- who are you --------------------------------------------------------------------

function whoScreen() {
  const e = device.enrolment();
  const box = h('div', { id: 'pin-box' });  // a card once a name is tapped, not an empty box before
  const list = h('ul', { class: 'roster' }, (e.roster || []).map((teacher) => h('li', {},
    h('button', { class: 'btn big roster-name', dataset: { username: teacher.username }, onclick: () => pinPrompt(teacher, box) }, teacher.display_name))));
  const refresh = h('button', { class: 'btn small', id: 'roster-refresh', onclick: async () => {
    refresh.disabled = true;
    try { await syncer.refreshNow(); render(); } catch (err) { refresh.disabled = false; toast(t('roster_refresh_failed')); }
  } }, t('roster_refresh'));
  return h('main', { dataset: { screen: 'who' } }, h('h2', {}, t('who_title')), list,
    h('p', { class: 'help' }, t('roster_missing'), ' ', refresh), box);
}

function pinPrompt(teacher, box) {
  const setting = !device.hasPin(teacher.username);
  const pin = h('input', { name: 'pin', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: 8 });
  const again = setting ? h('input', { name: 'pin2', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: 8 }) : null;
  const error = h('p', { class: 'err', role: 'alert' });
  const form = h('form', { id: 'pin-form' },
    h('p', { class: 'strong' }, teacher.display_name),
    h('label', { class: 'field' }, h('span', { class: 'label' }, setting ? t('pin_set') : t('pin_enter')), pin),
    again ? h('label', { class: 'field' }, h('span', { class: 'label' }, t('pin_repeat')), again) : null,
    h('button', { class: 'btn primary big', type: 'submit' }, t('ok')), error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!/^[0-9]{4,8}$/.test(pin.value)) { error.textContent = t('pin_short'); return; }
    if (setting) {
      if (pin.value !== again.value) { error.textContent = t('pin_mismatch'); return; }
      await device.setPin(teacher.username, pin.value);
    } else if (!(await device.checkPin(teacher.username, pin.value))) {
      error.textContent = t('pin_wrong');
      return;
    }
    device.setTeacher(teacher.username);
    go({ name: 'home' });
  });
  box.classList.add('card');
  box.replaceChildren(form);
  pin.focus();
}

// --- home: actions, sync state, records -----------------------------------------------

function fmtTime(iso) {
  if (!iso) { return t('never'); }
  const d = new Date(iso);
  return d.toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

async function syncBar() {
  const s = syncer.state;
  if (s.online) { syncNotice = null; }
  const waiting = await store.waitingCount();
  const status = s.revoked ? t('revoked') : !s.online ? t('offline') : s.active ? t('syncing') : t('online');
  return h('section', { class: 'sync-bar' + (s.revoked ? ' revoked' : ''), id: 'sync-bar', dataset: { online: String(s.online), revoked: String(s.revoked) } },
    h('p', { class: 'sync-status', id: 'sync-status' }, status),
    h('p', {}, t('last_synced') + ': ', h('span', { id: 'last-synced' }, fmtTime(s.lastSyncAt)),
      ' · ' + t('waiting_n') + ': ', h('strong', { id: 'waiting-count' }, String(waiting))),
    s.lastError && !s.revoked ? h('p', { class: 'help' }, s.lastError) : null,
    syncNotice && !s.online && !s.revoked ? h('p', { class: 'sync-message', id: 'sync-message', role: 'status' }, t(syncNotice)) : null,
    h('button', { class: 'btn', id: 'sync-now', disabled: s.revoked, onclick: syncNowPressed }, t('sync_now')));
}

async function syncNowPressed(ev) {
  const button = ev.currentTarget;
  button.disabled = true;
  await syncer.syncNow();
  // No answer from the service: say so, and that nothing is lost (the bar re-renders).
  syncNotice = syncer.state.online ? null : 'sync_offline';
  if (root.dataset.screen === 'home') { render(); }
}

function schoolName(schoolId) {
  const found = ((device.enrolment() || {}).schools || []).find((s) => s.school_id === schoolId);
  return found ? found.name : schoolId;
}

function recordItem(r) {
  const zero = r.doc && r.doc.data && r.doc.data.zero_report === true;
  const where = r.form === 'inspection' ? ((r.doc && r.doc.school_id) || (r.draft && r.draft.school_id)) : null;
  const formName = t('form_' + r.form) + (where ? ' · ' + schoolName(where) : '');
  return h('li', { class: 'record state-' + r.state, dataset: { id: r.id, state: r.state, form: r.form, date: r.date } },
    h('button', { class: 'record-open', onclick: () => go({ name: 'form', form: r.form, docId: r.id, date: r.date }) },
      h('span', { class: 'record-title' }, formName, ' ', r.date),
      zero ? h('span', { class: 'badge zero' }, t('zero_badge')) : null,
      h('span', { class: 'badge state' }, t('state_' + r.state)),
      r.draft && r.state !== 'draft' ? h('span', { class: 'badge' }, t('state_draft')) : null),
    r.reason ? h('p', { class: 'reason' }, r.reason) : null,
    r.notice ? noticeBox(r.notice) : null);
}

function noticeBox(notice) {
  return h('div', { class: 'notice' },
    h('p', { class: 'strong' }, t('merged_notice') + ': ', pick(notice.message)),
    h('ul', {}, (notice.fields || []).map((f) => h('li', {}, f.field, ': ', t('kept'), ' ', JSON.stringify(f.kept),
      (f.overridden || []).length ? ' · ' + t('overridden') + ' ' + (f.overridden || []).map((v) => JSON.stringify(v && v.value !== undefined ? v.value : v)).join(', ') : ''))));
}

function fmtDate(iso) {
  const d = new Date(iso + 'T00:00:00Z');
  return d.toLocaleDateString(getLang() === 'zh' ? 'zh-CN' : 'en-GB', { month: 'long', day: 'numeric', timeZone: 'UTC' });
}

/** The county office's requests as tasks: open ones with their note and what to do. */
function taskList(tasks) {
  if (!tasks.length) { return null; }
  const item = (task) => h('li', { class: 'task' + (task.answer ? ' answered' : ''), dataset: { id: task.id, kind: task.kind, date: task.date, answer: task.answer || '' } },
    h('p', { class: 'task-title strong' }, t(task.kind === 'check' ? 'task_check' : 'task_file', { date: fmtDate(task.date) }),
      task.answer ? h('span', { class: 'badge state' }, t('task_answer_' + task.answer)) : null),
    task.note ? h('p', { class: 'task-note' }, task.note) : null,
    h('p', { class: 'help' }, t('task_from', { who: task.sentBy, when: fmtTime(task.sentAt) })),
    task.answer ? null : h('div', { class: 'task-actions' },
      h('button', { class: 'btn primary task-report', onclick: () => go({ name: 'form', form: 'daily_health', date: task.date, docId: 'report:daily_health:' + task.date }) },
        t(task.kind === 'check' ? 'task_correct_report' : 'task_file_report')),
      h('button', { class: 'btn task-explain', onclick: () => go({ name: 'form', form: 'explanation', date: task.date, docId: 'explanation:' + task.date }) },
        t('task_explain'))));
  const open = tasks.filter((task) => !task.answer);
  // Answered ones stay a while (the last five), so the teacher sees the answer went.
  const shown = open.concat(tasks.filter((task) => task.answer).slice(0, 5));
  return h('section', { class: 'tasks card', id: 'tasks', dataset: { open: String(open.length) } },
    h('h2', {}, t('tasks'), open.length ? h('span', { class: 'badge zero' }, String(open.length)) : null),
    h('ul', { class: 'task-list' }, shown.map(item)));
}

async function homeScreen() {
  const records = await store.records();
  const tasks = device.isInspector() ? [] : await store.tasks();
  const actions = device.isInspector()
    ? h('section', { class: 'actions' },
      h('button', { class: 'btn primary big', id: 'new-inspection', onclick: () => go({ name: 'form', form: 'inspection', date: today() }) }, t('new_inspection')))
    : h('section', { class: 'actions' },
      h('button', { class: 'btn primary big', id: 'new-daily', onclick: () => go({ name: 'form', form: 'daily_health', date: today() }) }, t('new_daily')),
      h('button', { class: 'btn big zero', id: 'zero-today', onclick: () => zeroReport(today()) }, t('zero_today')),
      h('button', { class: 'btn big', id: 'new-incident', onclick: () => go({ name: 'form', form: 'incident', date: today() }) }, t('new_incident')));
  const list = records.length
    ? h('ul', { class: 'records', id: 'records' }, records.map(recordItem))
    : h('p', { class: 'help', id: 'records' }, t('no_records'));
  const carrying = await carrier.carryingCount();
  const carry = h('button', { class: 'btn big', id: 'carry-open', dataset: { carrying: String(carrying) }, onclick: () => go({ name: 'carry' }) },
    t('carry_open'), carrying ? ' (' + carrying + ')' : null);
  const handover = h('button', { class: 'btn big', id: 'handover-open', onclick: () => go({ name: 'handover' }) }, t('handover_open'));
  return h('main', { dataset: { screen: 'home' } }, await syncBar(), taskList(tasks), actions, handover, carry, h('h2', {}, t('records')), list,
    h('p', { class: 'footer' }, t('device') + ': ' + device.enrolment().device.slice(0, 15) + '… · v' + APP_VERSION));
}

/**
 * A zero report for `date`: a day already filed is not silently reopened as it was. Say so
 * and offer to correct it as a zero report (the box ticked), or cancel. Resolves true when
 * the zero report is to go ahead.
 */
async function confirmZeroOnFiled(schema, date) {
  const filed = await store.getDoc(makeId(schema, date));
  if (!filed) { return true; }
  const zero = zeroRule(schema);
  const already = zero && filed.data && filed.data[zero.flag] === true;
  const answer = await modal(t(already ? 'zero_filed_zero' : 'zero_filed', { date }), [
    { label: t('cancel'), value: 'cancel' }, { label: t('zero_correct'), value: 'correct', primary: true }]);
  return answer === 'correct';
}

async function zeroReport(date) {
  let schema = null;
  try { schema = await loadSchema('daily_health'); } catch (err) { schema = null; }  // the form screen says why
  if (schema && !(await confirmZeroOnFiled(schema, date))) { return; }
  go({ name: 'form', form: 'daily_health', date, zero: true, zeroDocId: schema ? makeId(schema, date) : null });
}

// --- a form ---------------------------------------------------------------------------

async function formScreen(v) {
  let schema;
  try { schema = await loadSchema(v.form); } catch (err) {
    return h('main', { dataset: { screen: 'form' } }, h('p', { class: 'err' }, String(err.message)),
      h('button', { class: 'btn', onclick: () => go({ name: 'home' }) }, t('back')));
  }
  const teacher = device.currentTeacher();
  const dated = schema['x-form'].id_example.indexOf('{date}') !== -1;
  const randomId = schema['x-form'].id_example.indexOf('{random}') !== -1;
  let date = v.date || today();
  let docId = v.docId || makeId(schema, date);
  let existing = null;
  let data = {};
  const body = h('div', { id: 'form-body' });
  const banner = h('p', { class: 'err', role: 'alert', id: 'form-error' });
  let formView = null;
  // An inspection names the school visited: one of the county's schools, chosen here.
  const e = device.enrolment();
  const visits = schema['x-form'].doc_type === 'inspection' && device.isInspector();
  let schoolId = v.schoolId || null;
  const schoolError = h('p', { class: 'err', role: 'alert' });
  const schoolSelect = visits ? h('select', { id: 'inspection-school', name: 'school_id', onchange: (ev) => {
    schoolId = ev.target.value || null;
    v.schoolId = schoolId;
    schoolError.textContent = '';
    scheduleDraft();
  } }) : null;
  const fillSchools = () => {
    if (!schoolSelect) { return; }
    const schools = (e.schools || []).slice();
    if (schoolId && !schools.some((s) => s.school_id === schoolId)) { schools.push({ school_id: schoolId, name: schoolId }); }
    schoolSelect.replaceChildren(h('option', { value: '' }, t('choose_school')),
      ...schools.map((s) => h('option', { value: s.school_id, selected: s.school_id === schoolId }, s.name)));
  };

  const load = async () => {
    existing = await store.getDoc(docId);
    const draft = await store.getDraft(docId);
    // Re-rendered in place (language switch): keep what is typed, even before the draft is saved.
    const kept = v.data && v.docId === docId ? v.data : null;
    data = kept || JSON.parse(JSON.stringify((draft && draft.data) || (existing && existing.data) || {}));
    // A zero report ticks the box: on a new day, or on a filed day the teacher chose to correct as zero.
    if (v.zero && !kept && (!existing || v.zeroDocId === docId)) { applyZero(schema, data, true); }
    const zero = zeroRule(schema);
    if (zero && data[zero.flag] === undefined) { data[zero.flag] = false; }  // a report is not a zero report unless said
    if (visits) {
      schoolId = schoolId || (draft && draft.school_id) || (existing && existing.school_id) || null;
      fillSchools();
      // Who inspected: the inspector using the device, unless already written.
      if (schema['x-fields'].inspector && data.inspector === undefined) { data.inspector = teacher.display_name || teacher.username; }
    }
    formView = new FormView(schema, data, { onInput: scheduleDraft, nowIso: clock.nowIso, checklist: e.checklist });
    body.replaceChildren(formView.el);
    body.dataset.docId = docId;
    Object.assign(v, { docId, date, data });
    submitBtn.textContent = existing ? t('submit_correction') : t('submit');
  };
  // Every change is written to the draft at once (one write at a time, the last one with
  // everything typed), and leaving the form waits for it: a draft reopened, even right
  // after "back" or a reload, has every value typed.
  let saving = null;
  let dirty = false;
  const writeDraft = async () => {
    try {
      while (dirty) {
        dirty = false;
        await store.saveDraft(docId, { form: v.form, date: dated ? date : null, data, author: teacher.username, base_rev: existing ? existing._rev : null,
          ...(visits ? { school_id: schoolId } : {}) });
        status.textContent = t('draft_saved');
      }
    } catch (err) {
      status.textContent = String(err.message || err);
    } finally {
      saving = null;
    }
  };
  const scheduleDraft = () => {
    dirty = true;
    if (!saving) { saving = writeDraft(); }
  };
  const flush = () => saving || Promise.resolve();
  v.flush = flush;
  const status = h('p', { class: 'help', id: 'draft-status' });
  const dateInput = dated ? h('input', { type: 'date', id: 'report-date', value: date, max: clock.schoolDate(utcOffset(), 1),
    onchange: async (ev) => {
      const next = ev.target.value;
      if (!next) { return; }
      if (randomId) { date = next; return; }
      await flush();  // the draft of the day being left keeps what was typed there
      const zero = zeroRule(schema);
      v.zero = Boolean(zero && data[zero.flag] === true);
      if (v.zero && !(await confirmZeroOnFiled(schema, next))) { ev.target.value = date; return; }
      date = next;
      docId = makeId(schema, date);
      v.zeroDocId = v.zero ? docId : null;
      await load();
    } }) : null;
  const submitBtn = h('button', { class: 'btn primary big', id: 'submit', type: 'button' }, t('submit'));
  submitBtn.onclick = async () => {
    await flush();  // no draft write may land after the submitted document
    const issues = validateData(schema, data);
    const first = formView.showIssues(issues);
    schoolError.textContent = visits && !schoolId ? t('required_school') : '';
    if (issues.length || schoolError.textContent) {
      banner.textContent = t('fix_errors');
      const at = first || (schoolError.textContent ? schoolSelect : null);
      if (at) { at.scrollIntoView({ block: 'center' }); }
      return;
    }
    banner.textContent = '';
    const doubt = clock.clockDoubt();
    if (doubt && dated) {
      const why = t('clock_' + doubt.kind, { minutes: doubt.minutes });
      const go_on = await modal(why + ' ' + t('clock_confirm', { date }), [
        { label: t('cancel'), value: false }, { label: t('file_anyway'), value: true, primary: true }]);
      if (!go_on) { return; }
    }
    submitBtn.disabled = true;
    try {
      await store.submit(schema, docId, dated ? date : null, data, teacher,
        visits ? { school_id: schoolId, county_id: e.county_id } : {});
      toast(t('submitted'));
      go({ name: 'home' });
    } catch (err) {
      banner.textContent = String(err.message || err);
      submitBtn.disabled = false;
    }
  };
  await load();
  return h('main', { dataset: { screen: 'form', form: v.form } },
    h('div', { class: 'form-head' },
      h('button', { class: 'btn small', id: 'back', onclick: () => go({ name: 'home' }) }, '‹ ' + t('back')),
      h('h2', {}, t('form_' + v.form))),
    visits ? h('div', { class: 'field', dataset: { field: 'school_id' } },
      h('label', { class: 'label', for: 'inspection-school' }, t('inspected_school'), ' *'), schoolSelect, schoolError) : null,
    dated ? h('label', { class: 'field date-field' }, h('span', { class: 'label' }, t(visits ? 'visit_date' : 'report_date')), dateInput) : null,
    body, banner, submitBtn, status);
}

// --- start ----------------------------------------------------------------------------

async function boot() {
  setLang(getLang());
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch((err) => console.warn('service worker', err));
  }
  await render();
}

boot();
