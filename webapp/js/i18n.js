// The app's own words in Chinese (default) and English. Form labels, help and
// validation messages come from the form schemas, not from here.

const STRINGS = {
  app_title: { zh: '学校每日健康报告', en: 'School daily health report' },
  app_title_inspector: { zh: '学校防疫督导检查', en: 'School inspections' },
  switch_lang: { zh: 'English', en: '中文' },
  enrol_title: { zh: '登记本设备', en: 'Enrol this device' },
  enrol_intro: { zh: '首次使用需联网。请教师或管理员登录,为本校登记此设备。', en: 'First use needs a connection. A teacher or admin signs in to enrol this device for the school.' },
  username: { zh: '用户名', en: 'User name' },
  password: { zh: '密码', en: 'Password' },
  school_id_admin: { zh: '学校编号(管理员登记时填写)', en: 'School id (admins only)' },
  device_label: { zh: '设备名称(如:三年级平板)', en: 'Device label (e.g. Grade 3 tablet)' },
  enrol_button: { zh: '登记设备', en: 'Enrol device' },
  enrol_offline: { zh: '当前离线。登记设备需要网络连接。', en: 'Offline. Enrolling a device needs a connection.' },
  enrol_failed: { zh: '登记失败', en: 'Enrolment failed' },
  who_title: { zh: '请选择您的姓名', en: 'Who are you?' },
  pin_set: { zh: '设置本机 PIN(4-8 位数字)', en: 'Set a PIN for this device (4-8 digits)' },
  pin_repeat: { zh: '再次输入 PIN', en: 'Repeat the PIN' },
  pin_enter: { zh: '输入 PIN', en: 'Enter your PIN' },
  pin_wrong: { zh: 'PIN 不正确', en: 'Wrong PIN' },
  pin_mismatch: { zh: '两次输入的 PIN 不一致', en: 'The PINs do not match' },
  pin_short: { zh: 'PIN 需为 4-8 位数字', en: 'The PIN must be 4-8 digits' },
  ok: { zh: '确定', en: 'OK' },
  back: { zh: '返回', en: 'Back' },
  cancel: { zh: '取消', en: 'Cancel' },
  switch_teacher: { zh: '切换教师', en: 'Switch teacher' },
  new_daily: { zh: '填写今日报告', en: "Fill today's report" },
  zero_today: { zh: '零报告(今日无异常)', en: 'Zero report (nothing abnormal today)' },
  new_incident: { zh: '登记病例跟踪', en: 'New incident' },
  records: { zh: '报告记录', en: 'Reports' },
  no_records: { zh: '暂无记录', en: 'Nothing yet' },
  online: { zh: '在线', en: 'Online' },
  offline: { zh: '离线', en: 'Offline' },
  syncing: { zh: '同步中…', en: 'Syncing…' },
  last_synced: { zh: '上次同步', en: 'Last synced' },
  never: { zh: '从未', en: 'never' },
  waiting_n: { zh: '待同步', en: 'Waiting' },
  sync_now: { zh: '立即同步', en: 'Sync now' },
  revoked: { zh: '此设备已被停用,已停止同步。本机数据仍保留,请联系管理员。', en: 'This device has been revoked: syncing stopped. Data on this device is kept; contact the admin.' },
  state_draft: { zh: '草稿', en: 'Draft' },
  state_waiting: { zh: '等待同步', en: 'Waiting to sync' },
  state_synced: { zh: '已同步', en: 'Synced' },
  state_rejected: { zh: '服务器拒收', en: 'Rejected by the server' },
  state_merged: { zh: '冲突已合并', en: 'Merged after a conflict' },
  form_daily_health: { zh: '每日健康报告', en: 'Daily health report' },
  form_incident: { zh: '病例跟踪', en: 'Incident' },
  form_explanation: { zh: '未报告原因说明', en: 'Explanation (no report)' },
  tasks: { zh: '县教育局的提醒', en: 'Requests from the county office' },
  task_file: { zh: '请填报 {date} 的日报告', en: 'Please file the report for {date}' },
  task_check: { zh: '请核实 {date} 的报告', en: 'Please check the report for {date}' },
  task_from: { zh: '{who} 发送于 {when}', en: 'Sent by {who}, {when}' },
  task_file_report: { zh: '填报该日报告', en: 'File that day\'s report' },
  task_correct_report: { zh: '核实并更正报告', en: 'Check and correct the report' },
  task_explain: { zh: '说明原因', en: 'Explain why' },
  task_answered: { zh: '已答复', en: 'Answered' },
  task_answer_filed: { zh: '已填报', en: 'Filed' },
  task_answer_corrected: { zh: '已更正', en: 'Corrected' },
  task_answer_explained: { zh: '已说明', en: 'Explained' },
  form_inspection: { zh: '督导检查', en: 'Inspection' },
  zero_badge: { zh: '零报告', en: 'Zero report' },
  report_date: { zh: '报告日期', en: 'Report date' },
  zero_toggle: { zh: '零报告:今日无异常(异常人数全部为 0)', en: 'Zero report: nothing abnormal today (all abnormal counts 0)' },
  submit: { zh: '提交', en: 'Submit' },
  submit_correction: { zh: '提交更正', en: 'Submit correction' },
  draft_saved: { zh: '草稿已保存在本机', en: 'Draft saved on this device' },
  fix_errors: { zh: '请先修正标红的项目', en: 'Please fix the fields marked in red' },
  yes: { zh: '是', en: 'Yes' },
  no: { zh: '否', en: 'No' },
  choose: { zh: '请选择', en: 'Choose' },
  add: { zh: '添加', en: 'Add' },
  remove: { zh: '删除', en: 'Remove' },
  clock_never: { zh: '本机时间从未与服务器核对过,报告日期可能有误。', en: "This device's clock has never been checked against the server; the report date may be wrong." },
  clock_offset: { zh: '本机时间与服务器相差约 {minutes} 分钟,报告日期可能有误。', en: "This device's clock is about {minutes} minutes off the server's; the report date may be wrong." },
  clock_stale: { zh: '本机时间已很久未与服务器核对,报告日期可能有误。', en: "This device's clock has not been checked against the server for a long time; the report date may be wrong." },
  clock_confirm: { zh: '确认以 {date} 提交?', en: 'File it under {date}?' },
  file_anyway: { zh: '仍然提交', en: 'File anyway' },
  submitted: { zh: '已保存,将在联网时同步', en: 'Saved; it will sync when online' },
  merged_notice: { zh: '合并说明', en: 'Merge notice' },
  kept: { zh: '保留', en: 'kept' },
  overridden: { zh: '被覆盖', en: 'overridden' },
  teacher: { zh: '教师', en: 'Teacher' },
  device: { zh: '设备', en: 'Device' },
  county_id_admin: { zh: '县编号(负责多个县的督导人员填写)', en: 'County id (inspectors of several counties only)' },
  roster_missing: { zh: '名单中没有您?', en: 'Not on the list?' },
  roster_refresh: { zh: '刷新名单', en: 'Refresh the list' },
  roster_refresh_failed: { zh: '无法刷新名单(需联网)', en: 'Could not refresh the list (needs a connection)' },
  inspector_of: { zh: '督导 · {county}', en: 'Inspection · {county}' },
  new_inspection: { zh: '新建督导检查', en: 'New inspection' },
  inspected_school: { zh: '被检查学校', en: 'School inspected' },
  choose_school: { zh: '请选择学校', en: 'Choose the school' },
  required_school: { zh: '请选择被检查的学校', en: 'Choose the school inspected' },
  visit_date: { zh: '检查日期', en: 'Date of the visit' },
  checklist_answered: { zh: '已检查 {n}/{total} 项', en: '{n} of {total} items checked' },
  zero_filed: { zh: '{date} 的报告已提交。要把它更正为零报告(今日无异常)吗?', en: 'The report for {date} is already filed. Correct it as a zero report (nothing abnormal)?' },
  zero_filed_zero: { zh: '{date} 已提交零报告。要打开它进行更正吗?', en: 'A zero report for {date} is already filed. Open it to correct it?' },
  zero_correct: { zh: '更正为零报告', en: 'Correct as a zero report' },
  zero_still_needed: { zh: '零报告也需填写', en: 'Still needed in a zero report' },
  sync_offline: { zh: '没有网络连接,暂时无法同步。报告已安全保存在本机,联网后会自动发送。', en: 'No connection, so nothing can be sent now. Your reports are safe on this device and will be sent by themselves when there is a connection.' },
  history_auto: { zh: '(随状态自动记录)', en: '(recorded when the status changes)' },
};

let lang = localStorage.getItem('lang') || 'zh';

export function getLang() { return lang; }

export function setLang(value) {
  lang = value;
  localStorage.setItem('lang', value);
  document.documentElement.lang = value === 'zh' ? 'zh-CN' : 'en';
}

/** A UI string in the current language, with {name} placeholders filled. */
export function t(key, params) {
  const entry = STRINGS[key];
  const text = entry ? entry[lang] : key;
  return text.replace(/\{([a-z_]+)\}/g, (m, name) => (params && name in params ? String(params[name]) : m));
}

/** A bilingual {en, zh} object from a schema, in the current language. */
export function pick(obj) {
  if (!obj) { return ''; }
  return obj[lang] || obj.en || obj.zh || '';
}
