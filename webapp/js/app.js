// The teacher app: enrol the device, pick who you are, file and correct reports offline,
// see every record's honest sync state.

import { h, modal, toast } from './dom.js';
import { t, pick, getLang, setLang } from './i18n.js';
import * as device from './device.js';
import * as clock from './clock.js';
import { Store, makeId } from './store.js';
import { SyncManager } from './sync.js';
import { FormView, loadSchema, applyZero, zeroRule } from './forms.js';
import { validateData } from './validate.js';
import { APP_VERSION } from './version.js';

const root = document.getElementById('app');
let store = null;
let syncer = null;
let view = { name: 'home' };
let renderQueued = false;

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
  syncer.start();
}

function queueHome() {
  // Only the home screen follows live changes: a form or a PIN prompt keeps what is typed.
  if (root.dataset.screen !== 'home' || renderQueued) { return; }
  renderQueued = true;
  setTimeout(() => { renderQueued = false; if (root.dataset.screen === 'home' && view.name === 'home') { render(); } }, 150);
}

function go(next) { view = next; render(); }

function header() {
  const e = device.enrolment();
  const teacher = device.currentTeacher();
  return h('header', { class: 'top' },
    h('div', { class: 'title' },
      h('h1', {}, t('app_title')),
      e ? h('p', { class: 'sub' }, (e.school_name || e.school_id), teacher ? ' · ' + teacher.display_name : '') : null),
    h('div', { class: 'top-actions' },
      h('button', { class: 'btn small', id: 'lang', onclick: () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); render(); } }, t('switch_lang')),
      teacher ? h('button', { class: 'btn small', id: 'switch-teacher', onclick: () => { device.setTeacher(null); go({ name: 'home' }); } }, t('switch_teacher')) : null));
}

async function render() {
  const e = device.enrolment();
  let screen;
  if (!e) {
    screen = enrolScreen();
  } else {
    ensureRuntime();
    if (!device.currentTeacher()) { screen = whoScreen(); }
    else if (view.name === 'form') { screen = await formScreen(view); }
    else { screen = await homeScreen(); }
  }
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
    field('school_id', t('school_id_admin')), field('label', t('device_label')),
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
  const box = h('div', { class: 'card', id: 'pin-box' });
  const list = h('ul', { class: 'roster' }, (e.roster || []).map((teacher) => h('li', {},
    h('button', { class: 'btn big roster-name', dataset: { username: teacher.username }, onclick: () => pinPrompt(teacher, box) }, teacher.display_name))));
  return h('main', { dataset: { screen: 'who' } }, h('h2', {}, t('who_title')), list, box);
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
  const waiting = await store.waitingCount();
  const status = s.revoked ? t('revoked') : !s.online ? t('offline') : s.active ? t('syncing') : t('online');
  return h('section', { class: 'sync-bar' + (s.revoked ? ' revoked' : ''), id: 'sync-bar', dataset: { online: String(s.online), revoked: String(s.revoked) } },
    h('p', { class: 'sync-status', id: 'sync-status' }, status),
    h('p', {}, t('last_synced') + ': ', h('span', { id: 'last-synced' }, fmtTime(s.lastSyncAt)),
      ' · ' + t('waiting_n') + ': ', h('strong', { id: 'waiting-count' }, String(waiting))),
    s.lastError && !s.revoked ? h('p', { class: 'help' }, s.lastError) : null,
    h('button', { class: 'btn', id: 'sync-now', disabled: s.revoked, onclick: () => { syncer.syncNow(); } }, t('sync_now')));
}

function recordItem(r) {
  const zero = r.doc && r.doc.data && r.doc.data.zero_report === true;
  const formName = t('form_' + r.form);
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

async function homeScreen() {
  const records = await store.records();
  const actions = h('section', { class: 'actions' },
    h('button', { class: 'btn primary big', id: 'new-daily', onclick: () => go({ name: 'form', form: 'daily_health', date: today() }) }, t('new_daily')),
    h('button', { class: 'btn big zero', id: 'zero-today', onclick: () => go({ name: 'form', form: 'daily_health', date: today(), zero: true }) }, t('zero_today')),
    h('button', { class: 'btn big', id: 'new-incident', onclick: () => go({ name: 'form', form: 'incident', date: today() }) }, t('new_incident')));
  const list = records.length
    ? h('ul', { class: 'records', id: 'records' }, records.map(recordItem))
    : h('p', { class: 'help', id: 'records' }, t('no_records'));
  return h('main', { dataset: { screen: 'home' } }, await syncBar(), actions, h('h2', {}, t('records')), list,
    h('p', { class: 'footer' }, t('device') + ': ' + device.enrolment().device.slice(0, 15) + '… · v' + APP_VERSION));
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
  let saveTimer = null;
  const body = h('div', { id: 'form-body' });
  const banner = h('p', { class: 'err', role: 'alert', id: 'form-error' });
  let formView = null;

  const load = async () => {
    existing = await store.getDoc(docId);
    const draft = await store.getDraft(docId);
    // Re-rendered in place (language switch): keep what is typed, even before the draft is saved.
    const kept = v.data && v.docId === docId ? v.data : null;
    data = kept || JSON.parse(JSON.stringify((draft && draft.data) || (existing && existing.data) || {}));
    if (v.zero && !existing) { applyZero(schema, data, true); }
    const zero = zeroRule(schema);
    if (zero && data[zero.flag] === undefined) { data[zero.flag] = false; }  // a report is not a zero report unless said
    formView = new FormView(schema, data, { onInput: scheduleDraft, nowIso: clock.nowIso });
    body.replaceChildren(formView.el);
    body.dataset.docId = docId;
    Object.assign(v, { docId, date, data });
    submitBtn.textContent = existing ? t('submit_correction') : t('submit');
  };
  const scheduleDraft = () => {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(async () => {
      await store.saveDraft(docId, { form: v.form, date: dated ? date : null, data, author: teacher.username, base_rev: existing ? existing._rev : null });
      status.textContent = t('draft_saved');
    }, 300);
  };
  const status = h('p', { class: 'help', id: 'draft-status' });
  const dateInput = dated ? h('input', { type: 'date', id: 'report-date', value: date, max: clock.schoolDate(utcOffset(), 1),
    onchange: async (ev) => {
      if (!ev.target.value) { return; }
      date = ev.target.value;
      if (!randomId) { docId = makeId(schema, date); await load(); }
    } }) : null;
  const submitBtn = h('button', { class: 'btn primary big', id: 'submit', type: 'button' }, t('submit'));
  submitBtn.onclick = async () => {
    clearTimeout(saveTimer);
    const issues = validateData(schema, data);
    const first = formView.showIssues(issues);
    if (issues.length) { banner.textContent = t('fix_errors'); if (first) { first.scrollIntoView({ block: 'center' }); } return; }
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
      await store.submit(schema, docId, dated ? date : null, data, teacher);
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
    dated ? h('label', { class: 'field date-field' }, h('span', { class: 'label' }, t('report_date')), dateInput) : null,
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
