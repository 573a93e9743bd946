// Humiao inspectors' panel: a single page over the hub's API. No build step, no framework.
"use strict";

const I18N = {
  zh: {
    "nav.alarms": "实时预警", "nav.cases": "案件", "nav.venues": "场所", "nav.dashboard": "统计", "nav.lists": "清单",
    "nav.reports": "报表", "nav.audit": "审计", logout: "退出", login: "登录", username: "用户名", password: "密码",
    "login.title": "护苗 执法平台登录", "alarms.title": "实时预警", live: "实时", time: "时间", venue: "场所",
    type: "类型", age: "估计年龄", pminor: "未成年概率", verdict: "结论", severity: "级别", status: "状态",
    district: "辖区", all: "全部", active: "未解除", cleared: "已解除", acknowledged: "已确认", unacknowledged: "未确认",
    since: "起始日期", filter: "筛选", reasons: "研判依据", history: "处置记录", actions: "处置", ack: "确认",
    comment: "备注", clear: "解除", assign_me: "指派给我", open_case: "立案", evidence: "证据（人脸截图）",
    reveal: "查看（将记入审计）", request_evidence: "向前端调取（将记入审计）", why: "请填写查看理由（记入审计日志）",
    no_evidence: "前端未保留截图", requested: "已调取，等待前端上传", purged: "已按保存期限清除",
    "cases.title": "联合执法案件队列", number: "案件编号", department: "部门", deadline: "办理期限",
    decision: "决定", steps: "办理步骤", officers: "执法人员（姓名:执法证号，每行一人）", findings: "检查情况",
    evidence_notes: "现场证据记录", respond_notice: "告知陈述申辩权利", legal_review: "法制审核", opinion: "审核意见",
    decide: "作出决定", basis: "依据", fine: "罚款金额（元）", months: "停业月数", pay: "登记缴款", close: "结案",
    transfer: "移送", to_department: "移送部门", reason: "理由", other_actions: "其他部门处理", escalation: "升级建议",
    "venues.title": "场所", near_school: "学校200米内", sign: "禁入标识", devices: "设备", online: "在线", offline: "离线",
    violations: "违法次数", "dashboard.title": "统计", per_day: "每日预警（红色：重点时段）", by_type: "按场所类型",
    repeat: "重复违法场所", open_cases: "在办案件期限", "lists.title": "清单", school_list: "学校周边场所",
    sign_list: "未张贴禁入标识的场所", inspection: "重点时段检查清单", "reports.title": "报表下载", month: "月份",
    quarter: "季度", format: "格式", download: "下载", "audit.title": "审计日志", user: "用户", action: "操作",
    object: "对象", "audit.actor": "用户名", "audit.until": "截止日期（含当日）", "audit.clear": "清除筛选",
    "audit.none": "没有符合筛选条件的记录", "audit.count": "共 {n} 条（最新在前）",
    "obj.user": "账号", "obj.alert": "预警", "obj.evidence": "证据", "obj.report": "报表", "obj.device": "设备",
    "obj.venues": "场所清单", "obj.schools": "学校清单", saved: "已保存", yes: "是", no: "否", none: "无违法", pending: "待核查", suspected: "疑似违法",
    confirmed: "确认违法", "deadline.ok": "正常", "deadline.due_soon": "临近期限", "deadline.overdue": "已超期",
    "deadline.met": "已决定", score: "优先级", camera: "摄像头", licence: "许可证号", operator: "经营者",
    "dept.police": "公安", "dept.culture_tourism": "文化和旅游", "dept.market_regulation": "市场监管", "dept.procuratorate": "检察院",
    "role.venue_operator": "场所经营者", "role.admin": "管理员", "role.auditor": "审计员",
    "cs.open": "已立案", "cs.assigned": "已指派", "cs.inspected": "已检查", "cs.decided": "已决定", "cs.closed": "已结案",
    "dec.no_penalty": "不予处罚", "dec.warning": "警告", "dec.fine": "罚款", "dec.suspension": "责令停业整顿", "dec.revocation": "吊销许可证",
    "ev.opened": "立案", "ev.assigned": "指派", "ev.inspected": "检查", "ev.respond_notice": "告知陈述申辩", "ev.legal_review": "法制审核",
    "ev.decided": "决定", "ev.paid": "缴款", "ev.closed": "结案", "ev.transferred": "移送",
    "aev.raised": "触发预警", "aev.verdict": "研判", "aev.cleared": "解除", "aev.acknowledged": "确认", "aev.assigned": "指派",
    "aev.commented": "备注", "aev.reactivated": "重新启用",
    "cam.streaming": "正常", "cam.reconnecting": "重连中", "cam.stalled": "无画面", "cam.down": "断开", "cam.unspecified": "未知", custody: "证据链", captured: "采集时间", officers_short: "执法人员", export: "导出", import: "导入", imported: "已导入", more: "加载更早的预警",
    "nav.devices": "设备", "devices.title": "设备管理", "dev.keys": "已登记的设备密钥", "dev.device": "设备",
    "dev.fingerprint": "密钥指纹", "dev.enrolled": "登记时间 · 登记人", "dev.state": "状态", "dev.active": "有效",
    "dev.revoked": "已撤销", "dev.revoke": "撤销", "dev.revoke_why": "请填写撤销该设备密钥的理由（记入审计日志）",
    "dev.revoked_ok": "已撤销该设备的密钥", "dev.revoke_failed": "撤销未完成：", "dev.none": "尚无已登记的设备",
    "dev.enrol": "登记设备", "dev.choose": "选择文件", "dev.no_file_chosen": "未选择文件", "dev.request_file": "设备生成的登记申请文件（enrolment-request.json）",
    "dev.replace": "替换该设备当前的密钥（旧密钥将被撤销）", "dev.submit": "登记",
    "dev.no_file": "请先选择设备的登记申请文件。", "dev.not_json": "所选文件不是 JSON 文件，请选择设备生成的 enrolment-request.json。",
    "dev.not_request": "所选文件不是设备登记申请，请选择设备生成的 enrolment-request.json。",
    "dev.enrolled_ok": "设备已登记", "dev.compare": "请将上面的指纹与设备生成申请时显示的指纹逐组核对（可电话核对）；如不一致，请立即撤销该密钥。",
    "dev.refused": "中心未登记该设备：",
    "idc.title": "证件查验（近30天）", "idc.alerts": "预警", "idc.checked": "时限内查验",
    "idc.median": "查验用时中位数", "idc.refused": "劝离未成年人", "idc.walkups": "主动查验（其中未成年人）",
    "idc.outcomes": "预警的查验结果", "idc.no_outcome": "无查验记录", "idc.none": "期间内无预警或查验记录",
    "idc.note": "每条预警按其最后一次查验结果计一次；时限内查验：工作人员在 {w} 分钟内记录了结果（“时限内未查验”与无记录均计为未查验）；主动查验：工作人员对摄像头未预警人员的查验。",
    "unit.s": "秒", "unit.min": "分钟",
    "new.one": "{n} 条新预警 · 点击显示", "new.many": "{n} 条新预警 · 点击显示",
    "detail.close": "关闭", "detail.back": "返回预警列表", "detail.choose": "点击一条预警查看详情",
    "meta.failed": "未能从中心加载场所类型、办理步骤等列表和时区设置：场所类型暂以代码显示，时间按本机时区显示。", "meta.retry": "重新加载",
    "zone.note": "时间为{name}（{tz}）", "zone.local": "时间为本机时区（{tz}）",
    "case.done": "本案状态为“{s}”，没有需要办理的步骤。",
    "case.read_only": "本案当前状态为“{s}”。您的账号只能查看本案：此阶段的办理步骤由承办部门的执法人员进行。",
    "case.no_steps": "此阶段没有您可以办理的步骤。",
    assign: "指派执法人员", inspect: "记录检查情况",
    "hk.alarms": "预警", "hk.source": "来源", "hk.hearing": "申请听证", "hk.late": "逾期缴款", "hk.from": "原部门",
    "src.alert": "预警", "src.inspection": "检查", "src.public_report": "群众举报", "src.transfer": "移送",
  },
  en: {
    "nav.alarms": "Live alarms", "nav.cases": "Cases", "nav.venues": "Venues", "nav.dashboard": "Dashboard",
    "nav.lists": "Lists", "nav.reports": "Reports", "nav.audit": "Audit", logout: "Sign out", login: "Sign in",
    username: "User name", password: "Password", "login.title": "Humiao enforcement sign-in", "alarms.title": "Live alarms",
    live: "live", time: "Time", venue: "Venue", type: "Type", age: "Age≈", pminor: "P(minor)", verdict: "Verdict",
    severity: "Severity", status: "Status", district: "District", all: "All", active: "Active", cleared: "Cleared",
    acknowledged: "Acknowledged", unacknowledged: "Unacknowledged", since: "Since", filter: "Filter",
    reasons: "Reasoning", history: "History", actions: "Actions", ack: "Acknowledge", comment: "Comment",
    clear: "Clear", assign_me: "Assign to me", open_case: "Open case", evidence: "Evidence (face crop)",
    reveal: "Reveal (audited)", request_evidence: "Request from the edge (audited)",
    why: "Why are you viewing this? (written to the audit log)", no_evidence: "The edge kept no crop",
    requested: "Requested; waiting for the edge", purged: "Purged after its retention", "cases.title": "Case queue",
    number: "Number", department: "Department", deadline: "Deadline", decision: "Decision", steps: "Procedure",
    officers: "Officers (name:enforcement id, one per line)", findings: "Findings", evidence_notes: "On-site evidence notes",
    respond_notice: "Notify the right to respond", legal_review: "Legal review", opinion: "Opinion", decide: "Decide",
    basis: "Basis", fine: "Fine (¥)", months: "Suspension months", pay: "Record payment", close: "Close",
    transfer: "Transfer", to_department: "To department", reason: "Reason", other_actions: "Other departments",
    escalation: "Escalation", "venues.title": "Venues", near_school: "School within 200 m", sign: "Sign posted",
    devices: "Devices", online: "online", offline: "offline", violations: "Violations", "dashboard.title": "Dashboard",
    per_day: "Alarms per day (red: key period)", by_type: "By venue type", repeat: "Repeat venues",
    open_cases: "Open cases by deadline", "lists.title": "Lists", school_list: "Venues near schools",
    sign_list: "Venues without the no-minors sign", inspection: "Key-period inspection list",
    "reports.title": "Reports", month: "Month", quarter: "Quarter", format: "Format", download: "Download",
    "audit.title": "Audit log", user: "User", action: "Action", object: "Object",
    "audit.actor": "User name", "audit.until": "Until (inclusive)", "audit.clear": "Clear filters",
    "audit.none": "No entries match the filters", "audit.count": "{n} entries (newest first)",
    "obj.user": "account", "obj.alert": "alarm", "obj.evidence": "evidence", "obj.report": "report", "obj.device": "device",
    "obj.venues": "venue list", "obj.schools": "school list", saved: "Saved", yes: "yes", no: "no",
    none: "no violation", pending: "pending", suspected: "suspected", confirmed: "confirmed", "deadline.ok": "on time",
    "deadline.due_soon": "due soon", "deadline.overdue": "overdue", "deadline.met": "decided", score: "Priority",
    licence: "Licence", operator: "Operator",
    "dept.police": "police", "dept.culture_tourism": "culture & tourism", "dept.market_regulation": "market regulation",
    "dept.procuratorate": "procuratorate", "role.venue_operator": "venue operator",
    "dec.no_penalty": "no penalty", "dec.revocation": "licence revocation",
    camera: "Camera", custody: "Chain of custody", captured: "captured", officers_short: "Officers", export: "Export", import: "Import", imported: "Imported", more: "Load older alarms",
    "nav.devices": "Devices", "devices.title": "Devices", "dev.keys": "Enrolled device keys", "dev.device": "Device",
    "dev.fingerprint": "Key fingerprint", "dev.enrolled": "Enrolled · by", "dev.state": "State", "dev.active": "active",
    "dev.revoked": "revoked", "dev.revoke": "Revoke", "dev.revoke_why": "Why revoke this device's key? (written to the audit log)",
    "dev.revoked_ok": "The device's key is revoked", "dev.revoke_failed": "Revocation not completed:", "dev.none": "No device is enrolled yet",
    "dev.enrol": "Enrol a device", "dev.choose": "Choose file", "dev.no_file_chosen": "no file chosen", "dev.request_file": "The device's enrolment request (enrolment-request.json)",
    "dev.replace": "Replace the device's current key (the old key is revoked)", "dev.submit": "Enrol",
    "dev.no_file": "Choose the device's enrolment request first.", "dev.not_json": "The chosen file is not JSON: choose the enrolment-request.json the device wrote.",
    "dev.not_request": "The chosen file is not an enrolment request: choose the enrolment-request.json the device wrote.",
    "dev.enrolled_ok": "Device enrolled", "dev.compare": "Compare this fingerprint, group by group, with the one the device printed when it made its request (by phone if need be); if they differ, revoke the key at once.",
    "dev.refused": "The hub did not enrol the device:",
    "idc.title": "ID checks (last 30 days)", "idc.alerts": "Alerts", "idc.checked": "Checked in time",
    "idc.median": "Median time to check", "idc.refused": "Minors refused", "idc.walkups": "Walk-up checks (minors)",
    "idc.outcomes": "Outcomes of the alerts", "idc.no_outcome": "no check recorded", "idc.none": "No alerts or ID checks in the period",
    "idc.note": "Each alert counts once, by its latest check. Checked in time: staff recorded an outcome within {w} min (“not checked within the window” and no record count as unchecked). Walk-up checks: staff checked someone the camera did not flag.",
    "unit.s": "s", "unit.min": "min",
    "new.one": "{n} new alarm · show it", "new.many": "{n} new alarms · show them",
    "detail.close": "Close", "detail.back": "Back to the alarms", "detail.choose": "Choose an alarm to see it here",
    "meta.failed": "Could not load the hub's lists (venue types, case steps …) and its time zone: venue types are shown as codes, times in this computer's zone.", "meta.retry": "Load again",
    "zone.note": "Times in {name} ({tz})", "zone.local": "Times in this computer's zone ({tz})",
    "case.done": "This case is {s}: there are no steps left to take.",
    "case.read_only": "This case is {s}. Your account may only read it: the steps at this stage are taken by the officers of the department handling it.",
    "case.no_steps": "There is no step for you to take at this stage.",
    assign: "Assign officers", inspect: "Record the inspection",
    "hk.alarms": "alarms", "hk.source": "source", "hk.hearing": "hearing requested", "hk.late": "paid late", "hk.from": "from",
    "src.alert": "alarm", "src.inspection": "inspection", "src.public_report": "public report", "src.transfer": "transfer",
    "cs.open": "open", "cs.assigned": "assigned", "cs.inspected": "inspected", "cs.decided": "decided", "cs.closed": "closed",
    "ev.opened": "opened", "ev.assigned": "assigned", "ev.inspected": "inspected", "ev.respond_notice": "right to respond notified",
    "ev.legal_review": "legal review", "ev.decided": "decided", "ev.paid": "paid", "ev.closed": "closed", "ev.transferred": "transferred",
  },
};
// the four department roles are named as their departments
for (const words of Object.values(I18N)) for (const d of ["police", "culture_tourism", "market_regulation", "procuratorate"]) words[`role.${d}`] = words[`dept.${d}`];
let lang = localStorage.getItem("humiao.lang") || "zh";
const t = (k) => (I18N[lang][k] ?? I18N.en[k] ?? k);
// a stored code (department, role, case status, decision, case event) in the viewer's language; unknown codes as they are
const label = (kind, code) => (code ? (I18N[lang][`${kind}.${code}`] ?? I18N.en[`${kind}.${code}`] ?? code) : "");
// the Chinese form of a server-side text (or list of them) where the API gives one
const zh = (en, zhText) => (lang === "zh" && zhText && zhText.length ? zhText : en);
const $ = (sel, root = document) => root.querySelector(sel);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// -- the hub's lists (GET /api/meta, once after sign-in; both languages in it): venue types, case decisions and steps,
// departments, the time zone. Without them (the banner says so) venue types show as their codes, times in this
// computer's zone, and steps needing a list cannot be taken.
let META = null, metaError = "";

async function loadMeta() {
  try { META = await getJSON("/api/meta"); metaError = ""; }
  catch (e) { META = null; metaError = e.message || "error"; }
  banner();
}

function banner() {
  const b = $("#banner");
  b.hidden = !metaError;
  b.innerHTML = metaError ? `<span>${esc(t("meta.failed"))} <span class="muted">(${esc(metaError)})</span></span>
    <button class="act secondary" id="meta-retry" type="button">${t("meta.retry")}</button>` : "";
  if (metaError) $("#meta-retry").addEventListener("click", async () => { await loadMeta(); if (state.me) route(true); });
}

// a venue type in the viewer's words (the statute table's, from the hub); its code only when the list did not load
function venueType(code) {
  const v = code && META ? META.venue_types.find((x) => x.code === code) : null;
  return v ? (v.words[lang] ?? v.words.en) : (code || "");
}

// -- times: every one shown goes through fmtTime, in the venues' zone (meta.timezone: the rules reason in it), not
// the browser's; one form in both languages, YYYY-MM-DD HH:MM:SS. A date (YYYY-MM-DD) is a calendar day, in no
// zone: shown as it is, never shifted.
const zone = () => (META && META.timezone) || Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const clocks = {};
function wall(ms, tz = zone()) {  // the instant's date and time on the zone's clocks: {year, month, day, hour, minute, second}
  const f = clocks[tz] || (clocks[tz] = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }));
  return Object.fromEntries(f.formatToParts(ms).map((p) => [p.type, p.value]));
}
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
function fmtTime(value, only) {
  if (!value) return "–";
  if (DATE_ONLY.test(value)) return value;
  // the hub's times carry their offset; one without (a naive value) is UTC, as the hub stores them
  const ms = Date.parse(/T[\d:.]+$/.test(value) ? `${value}Z` : value);
  if (Number.isNaN(ms)) return String(value);
  const p = wall(ms), day = `${p.year}-${p.month}-${p.day}`;
  return only === "day" ? day : `${day} ${p.hour}:${p.minute}:${p.second}`;
}
// the instant a day (YYYY-MM-DD) begins in the venues' zone, as ISO (the "since" filter)
function dayStart(day) {
  const [y, m, d] = day.split("-").map(Number), target = Date.UTC(y, m - 1, d);
  let ms = target;
  for (let i = 0; i < 2; i++) {  // shift by the zone's offset there (twice: the offset may change across it)
    const p = wall(ms);
    ms += target - Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  }
  return new Date(ms).toISOString();
}
// the zone, named once on each page that shows times
function zoneNote() {
  const tz = zone();
  let name = tz;
  try {
    name = new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: tz, timeZoneName: "longGeneric" })
      .formatToParts(Date.now()).find((p) => p.type === "timeZoneName").value;
  } catch (e) { /* the zone's name alone */ }
  return `<p class="muted zone-note" id="zone-note">${esc(t(META ? "zone.note" : "zone.local").replace("{name}", name).replace("{tz}", tz))}</p>`;
}

// alarms: the list as shown; pending: what the feed brought since, shown when asked; selected, detail: the open
// alarm (its id; as drawn); fromList: its row opened it (Back closes it)
const state = { me: null, csrf: null, alarms: [], pending: [], selected: null, detail: null, fromList: false, stream: null };

async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (opts.body && !(opts.body instanceof Blob) && typeof opts.body !== "string") {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.body);
  }
  if (opts.method && opts.method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const r = await fetch(path, Object.assign({}, opts, { headers, credentials: "same-origin" }));
  if (r.status === 401 && path !== "/api/login") { showLogin(); throw new Error("sign in first"); }
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return r;
}
const getJSON = async (p) => (await api(p)).json();
const postJSON = async (p, body) => (await api(p, { method: "POST", body })).json();

function toast(msg) {
  const el = $("#toast");
  el.textContent = msg;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 3500);
}

function applyI18n() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("#lang").textContent = lang === "zh" ? "EN" : "中文";
  if (metaError) banner();
  const me = state.me;  // the role in the viewer's language
  $("#who").textContent = me ? `${me.user} · ${label("role", me.role)}${me.district ? " · " + me.district : ""}` : "";
}

function can(permission) { return state.me && state.me.permissions[permission] !== "none"; }

// -- sign-in -------------------------------------------------------------------------------------
function showLogin() {
  if (state.stream) { state.stream.close(); state.stream = null; }
  state.me = null; state.selected = null; sheet();
  metaError = ""; banner();  // tried again at the next sign-in
  $("#nav").hidden = true; $("#logout").hidden = true; $("#who").textContent = "";
  $("#main").innerHTML = `<form class="card login" id="login-form">
    <h1>${t("login.title")}</h1>
    <label>${t("username")}<input name="username" autocomplete="username" required></label>
    <label>${t("password")}<input name="password" type="password" autocomplete="current-password" required></label>
    <button class="act" type="submit">${t("login")}</button> <span class="muted" id="login-error"></span></form>`;
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      const r = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: f.get("username"), password: f.get("password") }) });
      const data = await r.json();
      if (!r.ok) throw new Error(data.detail);
      signedIn(data);
    } catch (e) { $("#login-error").textContent = e.message; }
  });
}

async function signedIn(me) {
  state.csrf = me.csrf_token;
  if (!META) await loadMeta();  // before anything is drawn (the menu and the user's name show once it has come)
  state.me = me;
  applyI18n();
  $("#nav").hidden = false; $("#logout").hidden = false;
  document.querySelectorAll("#nav a").forEach((a) => {
    const need = { "#/alarms": "alarms.read", "#/cases": "cases.read", "#/venues": "venues.read", "#/dashboard": "alarms.read",
      "#/lists": "venues.read", "#/reports": "reports.read", "#/audit": "audit.read", "#/devices": "devices.manage" }[a.getAttribute("href")];
    a.hidden = !can(need);
  });
  const first = [...document.querySelectorAll("#nav a")].find((a) => !a.hidden);
  if (!location.hash || location.hash === "#/" || !can(routeNeed())) location.hash = first ? first.getAttribute("href") : "#/";
  route();
}

function routeNeed() {
  const part = (location.hash.split("?")[0].split("/")[1] || "");
  return { alarms: "alarms.read", cases: "cases.read", venues: "venues.read", dashboard: "alarms.read", lists: "venues.read",
    reports: "reports.read", audit: "audit.read", devices: "devices.manage" }[part] || "alarms.read";
}

// -- router --------------------------------------------------------------------------------------
// #/page/id, and after "?" a page's filters (#/audit?action=evidence.view&since=2026-03-01): a reload keeps them
async function route(redraw = false) {
  if (!state.me) return;
  const [path, query = ""] = location.hash.split("?");
  const [, page, id] = path.split("/");
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("on", a.getAttribute("href") === `#/${page}`));
  if (page !== "alarms") {
    if (state.stream) { state.stream.close(); state.stream = null; }
    state.selected = null; sheet();
  }
  try {
    if (page === "alarms") await alarmsPage(id, redraw);
    else if (page === "cases" && id) await casePage(id);
    else if (page === "cases") await casesPage();
    else if (page === "venues" && id) await venuePage(id);
    else if (page === "venues") await venuesPage();
    else if (page === "dashboard") await dashboardPage();
    else if (page === "lists") await listsPage();
    else if (page === "reports") reportsPage();
    else if (page === "audit") await auditPage(new URLSearchParams(query), redraw);
    else if (page === "devices") await devicesPage();
  } catch (e) { toast(e.message); }
}

// -- live alarms ---------------------------------------------------------------------------------
const filters = { district: "", venue_type: "", verdict: "", active: "", since: "" };

function alarmMatches(a) {
  if (filters.district && a.district_id !== filters.district) return false;
  if (filters.venue_type && a.venue_type !== filters.venue_type) return false;
  if (filters.verdict && a.verdict !== filters.verdict) return false;
  if (filters.active && String(a.active) !== filters.active) return false;
  if (filters.since && Date.parse(a.raised_at) < Date.parse(dayStart(filters.since))) return false;
  return true;
}

// The list stays put under the pointer: alarms the feed brings wait in a bar until asked for. The hash names the
// open alarm (#/alarms/ID), so the browser's Back closes it; on a tablet or phone it is a sheet over the list,
// on a desktop a side panel that stays in view while the list scrolls.
const narrow = matchMedia("(max-width: 900px)");
narrow.addEventListener("change", () => sheet());

async function alarmsPage(id, redraw) {
  if (!redraw && $("#alarm-rows")) { if (id) await showAlarm(+id); else closeAlarm(); return; }  // the same page: only the open alarm changes
  const opt = (vals, cur, label) => `<option value="">${t("all")}</option>` + vals.map((v) => `<option value="${v}" ${cur === v ? "selected" : ""}>${esc(label ? label(v) : v)}</option>`).join("");
  state.selected = null; state.detail = null; state.pending = []; state.fromList = false;
  $("#main").innerHTML = `<h1>${t("alarms.title")} <span class="badge ok" id="live">● ${t("live")}</span></h1>${zoneNote()}
    <div class="filters" id="filters">
      <label>${t("district")}<input name="district" value="${esc(filters.district)}" placeholder="${esc(state.me.district || "")}" size="12"></label>
      <label>${t("type")}<select name="venue_type" ${META ? "" : "disabled"}>${opt(META ? META.venue_types.map((v) => v.code) : [], filters.venue_type, venueType)}</select></label>
      <label>${t("verdict")}<select name="verdict">${opt(["confirmed", "suspected", "pending", "none"], filters.verdict, t)}</select></label>
      <label>${t("status")}<select name="active">${opt(["true", "false"], filters.active, (v) => v === "true" ? t("active") : t("cleared"))}</select></label>
      <label>${t("since")}<input name="since" type="date" value="${esc(filters.since)}"></label>
    </div>
    <div class="grid alarms"><div class="card" id="alarm-list"><div class="newbar" role="status" aria-live="polite"><button class="act" id="new-alarms" type="button" hidden></button></div>
      <table><thead><tr><th>${t("time")}</th><th>${t("venue")}</th><th>${t("type")}</th>
      <th>${t("age")}</th><th>${t("verdict")}</th><th>${t("status")}</th></tr></thead><tbody id="alarm-rows"></tbody></table>
      <button class="act secondary" id="more" type="button">${t("more")}</button></div>
      <section class="card" id="alarm-detail" tabindex="-1" aria-labelledby="alarm-title"><p class="muted">${t("detail.choose")}</p></section></div>`;
  $("#filters").addEventListener("change", (ev) => { filters[ev.target.name] = ev.target.value; loadAlarms(); });
  $("#more").addEventListener("click", () => loadAlarms(true));
  $("#new-alarms").addEventListener("click", () => showNew(true));
  const rows = $("#alarm-rows");  // a row opens with a click, or with Enter (or Space) once reached with Tab
  rows.addEventListener("click", (ev) => { const tr = ev.target.closest("tr.row"); if (tr) openAlarm(+tr.dataset.id); });
  rows.addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr.row");
    if (tr && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); openAlarm(+tr.dataset.id); }
  });
  await loadAlarms();
  startStream();
  if (id) await showAlarm(+id);
}

async function loadAlarms(older = false) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, k === "since" ? dayStart(v) : v);
  if (older && state.alarms.length) q.set("before_id", Math.min(...state.alarms.map((a) => a.id)));
  const page = (await getJSON(`/api/alarms?${q}`)).alarms;
  state.alarms = older ? state.alarms.concat(page) : page;
  if (!older) state.pending = state.pending.filter((p) => !page.some((a) => a.id === p.id));
  $("#more").hidden = page.length < 100;
  renderAlarms();
}

function alarmRow(a, fresh) {
  return `<tr class="row ${state.selected === a.id ? "sel" : ""} ${fresh ? "fresh" : ""}" data-id="${a.id}" tabindex="0">
    <td>${esc(fmtTime(a.raised_at))}</td><td>${esc(a.venue_name)}<div class="muted">${esc(a.district_id)}</div></td>
    <td>${esc(venueType(a.venue_type))}</td><td>${a.age_estimate ?? "–"}</td>
    <td><span class="badge ${esc(a.severity)}">${esc(t(a.verdict))}</span></td>
    <td>${a.active ? t("active") : t("cleared")}${a.acknowledged ? " · " + t("acknowledged") : ""}</td></tr>`;
}

function renderAlarms(fresh = new Set()) {
  const body = $("#alarm-rows");
  if (!body) return;
  body.innerHTML = state.alarms.filter(alarmMatches).map((a) => alarmRow(a, fresh.has(a.id))).join("");
  newBar();
}

// "N new alarms": the feed's alarms not in the list yet (those the filters let through)
function newBar() {
  const b = $("#new-alarms"), n = state.pending.filter(alarmMatches).length;
  if (!b) return;
  b.hidden = !n;
  b.textContent = t(n === 1 ? "new.one" : "new.many").replace("{n}", n);
}

function showNew(asked) {
  const fresh = new Set(state.pending.map((a) => a.id));
  state.alarms = state.alarms.filter((a) => !fresh.has(a.id)).concat(state.pending).sort((x, y) => y.id - x.id);
  state.pending = [];
  renderAlarms(fresh);
  const first = $("#alarm-rows tr.row");
  if (asked && first) {  // the new rows are at the top: there, and the keyboard with them
    first.focus({ preventScroll: true });
    if (first.getBoundingClientRect().top < 0) $("#alarm-list").scrollIntoView({ block: "start" });
  }
}

function startStream() {
  if (state.stream) state.stream.close();
  const newest = state.alarms.reduce((m, a) => (a.updated_at > m ? a.updated_at : m), "");
  const es = new EventSource("/api/stream" + (newest ? `?after=${encodeURIComponent(newest)}` : ""));
  state.stream = es;
  es.addEventListener("alarm", (ev) => {
    const a = JSON.parse(ev.data);
    const i = state.alarms.findIndex((x) => x.id === a.id);
    if (i >= 0) {  // a change: its row, in its place
      state.alarms[i] = a;
      const tr = $(`#alarm-rows tr[data-id="${a.id}"]`), focused = tr && document.activeElement === tr;
      if (tr) tr.outerHTML = alarmRow(a, true);
      if (focused) $(`#alarm-rows tr[data-id="${a.id}"]`).focus({ preventScroll: true });
    } else {  // not in the list: waits in the bar (an empty list has no rows to push away: it shows at once)
      state.pending = state.pending.filter((x) => x.id !== a.id).concat(a);
      if ($("#alarm-rows tr.row")) newBar(); else showNew(false);
    }
    // the open alarm changed: drawn again (its history comes with the alarm itself)
    const d = state.detail;
    if (state.selected === a.id && !(d && d.id === a.id && d.updated_at === a.updated_at && d.evidence === a.evidence)) showAlarm(a.id).catch((e) => toast(e.message));
  });
  // the feed ends with the session (signed out elsewhere, expired): back to the sign-in form, no reconnecting
  es.addEventListener("signed-out", () => { es.close(); if (state.stream === es) showLogin(); });
  es.onerror = () => { const l = $("#live"); if (l) l.className = "badge minor"; };
  es.onopen = () => { const l = $("#live"); if (l) l.className = "badge ok"; };
}

// on a narrow screen an open alarm is a sheet over the page: what is under it is out of reach until it closes
function sheet() {
  const d = $("#alarm-detail"), on = !!d && state.selected != null && narrow.matches;
  document.body.classList.toggle("sheet-open", on);
  document.querySelectorAll("header, #main > :not(.alarms), .alarms > :not(#alarm-detail)").forEach((el) => { el.inert = on; });
  if (!d) return;
  d.classList.toggle("open", state.selected != null);
  if (on) { d.setAttribute("role", "dialog"); d.setAttribute("aria-modal", "true"); } else { d.removeAttribute("role"); d.removeAttribute("aria-modal"); }
}

function openAlarm(id) {
  const hash = `#/alarms/${id}`;
  if (location.hash === hash) showAlarm(id).catch((e) => toast(e.message));  // open already: look again
  else if (state.selected != null) location.replace(hash);  // one entry in the browser's history for the open alarm
  else { state.fromList = true; location.hash = hash; }
}

// the close button and Escape: Back, when the list opened it; otherwise the hash without the alarm
function leaveAlarm() {
  if (state.fromList) { state.fromList = false; history.back(); } else { history.replaceState(null, "", "#/alarms"); closeAlarm(); }
}

function closeAlarm() {
  const id = state.selected, d = $("#alarm-detail");
  state.selected = null; state.detail = null; state.fromList = false;
  clearTimeout(state.evidencePoll);
  if (!d || id == null) { sheet(); return; }
  d.innerHTML = `<p class="muted">${t("detail.choose")}</p>`;
  sheet();
  const tr = $(`#alarm-rows tr[data-id="${id}"]`);
  if (tr) { tr.classList.remove("sel"); tr.focus(); }  // back where the user was
}

async function showAlarm(id) {
  const opening = state.selected !== id;
  state.selected = id;
  document.querySelectorAll("#alarm-rows tr.row").forEach((tr) => tr.classList.toggle("sel", +tr.dataset.id === id));
  const a = await getJSON(`/api/alarms/${id}`);
  if (state.selected !== id) return;  // another one was chosen meanwhile
  renderDetail(a);
  if (opening) { sheet(); $("#close-alarm").focus({ preventScroll: true }); }
}

// the rules' own history entries in the viewer's words: a verdict with its reason as the alarm words it, "no violation"
function said(h, a) {
  const d = h.detail || "";
  if (h.actor !== "rules") return d;
  if (h.action === "raised") return d.replace(/^alert /, "");
  if (h.action === "cleared" && d === "no violation") return t("none");
  const [, code, why] = /^(none|pending|suspected|confirmed)(?:: ([^]*))?$/.exec(d) || [];
  if (!code) return d;
  const i = (a.reasons || []).indexOf(why);
  return why ? `${t(code)}${lang === "zh" ? "：" : ": "}${(lang === "zh" && i >= 0 && a.reasons_zh && a.reasons_zh[i]) || why}` : t(code);
}

function renderDetail(a) {
  const id = a.id, box = $("#alarm-detail");
  if (!box) return;
  // a crop already revealed stays on screen; so does the keyboard's place
  const shown = state.detail && state.detail.id === id && a.evidence === "stored" && $("#evidence-img") ? [$("#evidence"), $("#custody")].filter(Boolean) : null;
  const f = document.activeElement, focus = box.contains(f) ? (f.id ? `#${f.id}` : f.dataset.act ? `[data-act="${f.dataset.act}"]` : "#close-alarm") : "";
  state.detail = a;
  const acts = can("alarms.act") ? `
    <button class="act" data-act="acknowledge" ${a.acknowledged ? "disabled" : ""}>${t("ack")}</button>
    <button class="act secondary" data-act="assign">${t("assign_me")}</button>
    <button class="act secondary" data-act="comment">${t("comment")}</button>
    <button class="act secondary" data-act="clear" ${a.active ? "" : "disabled"}>${t("clear")}</button>
    ${can("cases.act") ? `<button class="act" id="open-case">${t("open_case")}</button>` : ""}` : "";
  let ev = "";
  if (can("evidence.view") || can("evidence.request")) {
    let inner;
    if (a.evidence === "stored") inner = `<div class="veil"><button class="act" id="reveal">${t("reveal")}</button></div>`;
    else if (a.evidence === "requested") inner = `<span class="muted">${t("requested")}</span>`;
    else if (a.evidence === "purged") inner = `<span class="muted">${t("purged")}</span>`;
    else if (a.evidence_available && can("evidence.request")) inner = `<button class="act secondary" id="request-ev">${t("request_evidence")}</button>`;
    else inner = `<span class="muted">${t("no_evidence")}</span>`;
    ev = `<h2>${t("evidence")}</h2><div class="evidence" id="evidence">${inner}</div>`;
  }
  box.innerHTML = `<div class="sheet-bar"><h2 id="alarm-title">${esc(a.venue_name)} · <span class="badge ${esc(a.severity)}">${esc(t(a.verdict))}</span></h2>
      <button class="act secondary" id="close-alarm" type="button"><span class="wide">✕ ${t("detail.close")}</span><span class="narrow">← ${t("detail.back")}</span></button></div>
    <div class="kv"><div>${t("time")}</div><div>${esc(fmtTime(a.raised_at))}</div>
      <div>${t("status")}</div><div id="alarm-status">${a.active ? t("active") : t("cleared")} · ${a.acknowledged ? t("acknowledged") : t("unacknowledged")}</div>
      <div>${t("venue")}</div><div><a href="#/venues/${esc(a.venue_id)}">${esc(a.venue_id)}</a> (${esc(venueType(a.venue_type))})</div>
      <div>${t("age")}</div><div>${a.age_estimate ?? "–"} · ${t("pminor")} ${a.p_minor ?? "–"}</div>
      <div>${t("camera")}</div><div>${esc(a.device_id || "")} / ${esc(a.camera_id || "")}</div>
      ${a.departments ? `<div>${t("department")}</div><div>${esc(a.departments.map((d) => label("dept", d)).join(lang === "zh" ? "、" : ", "))}</div>` : ""}</div>
    <h2>${t("reasons")}</h2><ul class="reasons">${zh(a.reasons, a.reasons_zh).map((r) => `<li>${esc(r)}</li>`).join("")}</ul>
    <div>${acts}</div>${ev}
    <h2>${t("history")}</h2><ul class="history">${(a.history || []).map((h) => `<li>${esc(fmtTime(h.at))} · ${esc(h.actor)} · ${esc(label("aev", h.action))} ${esc(said(h, a))}</li>`).join("")}</ul>`;
  if (shown) $("#evidence").replaceWith(...shown);
  $("#close-alarm").addEventListener("click", leaveAlarm);
  box.querySelectorAll("[data-act]").forEach((b) => b.addEventListener("click", async () => {
    let text = "";
    if (b.dataset.act === "comment" || b.dataset.act === "clear") { text = prompt(t(b.dataset.act === "clear" ? "reason" : "comment")); if (!text) return; }
    try { const changed = await postJSON(`/api/alarms/${id}/actions`, { action: b.dataset.act, text }); toast(t("saved")); if (state.selected === id) renderDetail(changed); }
    catch (e) { toast(e.message); }
  }));
  const reveal = $("#reveal");
  if (reveal) reveal.addEventListener("click", async () => {
    const why = prompt(t("why"));
    if (!why) return;
    try {
      const r = await api(`/api/alarms/${id}/evidence?why=${encodeURIComponent(why)}`);
      const blob = await r.blob();
      $("#evidence").innerHTML = `<img id="evidence-img" alt="evidence" src="${URL.createObjectURL(blob)}">`;
      $("#evidence").insertAdjacentHTML("afterend", `<div class="muted" id="custody">${t("custody")}: sha256 ${esc(r.headers.get("x-evidence-sha256"))}
        · ${t("captured")} ${esc(fmtTime(r.headers.get("x-evidence-captured-at")))}</div>`);
    } catch (e) { toast(e.message); }
  });
  const req = $("#request-ev");
  if (req) req.addEventListener("click", async () => {
    const why = prompt(t("why"));
    if (!why) return;
    try { await postJSON(`/api/alarms/${id}/evidence-request`, { why }); toast(t("requested")); await showAlarm(id); }
    catch (e) { toast(e.message); }
  });
  const oc = $("#open-case");
  if (oc) oc.addEventListener("click", async () => {
    try { const c = await postJSON("/api/cases", { alarm_ids: [id] }); location.hash = `#/cases/${c.id}`; }
    catch (e) { toast(e.message); }
  });
  if (focus) (box.querySelector(focus) || $("#close-alarm")).focus({ preventScroll: true });
  // the feed says nothing of a crop arriving from the edge: while one is awaited, the open alarm is looked at again
  clearTimeout(state.evidencePoll);
  if (a.evidence === "requested") state.evidencePoll = setTimeout(() => { if (state.selected === id) showAlarm(id).catch(() => {}); }, 3000);
}

// -- cases ---------------------------------------------------------------------------------------
// a history entry's details as "what: value" pairs in the viewer's words (officers as name (id), codes as words)
const DETAIL_WORDS = { alarms: "hk.alarms", source: "hk.source", officers: "officers_short", findings: "findings",
  evidence_notes: "evidence_notes", hearing_requested: "hk.hearing", opinion: "opinion", decision: "decision", fine_yuan: "fine",
  suspension_months: "months", basis: "basis", late: "hk.late", note: "comment", from_department: "hk.from",
  to_department: "to_department", reason: "reason" };
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
function detailValue(k, v) {
  if (Array.isArray(v)) return v.map((o) => (o && o.user ? `${o.user} (${o.enforcement_id})` : k === "alarms" ? `#${o}` : o)).join(", ");
  if (typeof v === "boolean") return t(v ? "yes" : "no");
  if (k === "decision") return label("dec", v);
  if (k === "source") return label("src", v);
  if (k.endsWith("department")) return label("dept", v);
  return ISO_TIME.test(v) ? fmtTime(v) : v;
}
function describe(detail) {
  const [colon, semi] = lang === "zh" ? ["：", "；"] : [": ", "; "];
  return Object.entries(detail || {}).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${DETAIL_WORDS[k] ? t(DETAIL_WORDS[k]) : k.replace(/_/g, " ")}${colon}${detailValue(k, v)}`)
    .join(semi);
}

async function casesPage() {
  const { cases } = await getJSON("/api/cases");
  $("#main").innerHTML = `<h1>${t("cases.title")}</h1>${zoneNote()}<div class="card"><table><thead><tr><th>${t("number")}</th>
    <th>${t("venue")}</th><th>${t("department")}</th><th>${t("status")}</th><th>${t("deadline")}</th><th>${t("decision")}</th></tr></thead>
    <tbody>${cases.map((c) => `<tr class="row" data-id="${c.id}"><td>${esc(c.number)}</td><td>${esc(c.venue_name)}</td>
      <td>${esc(label("dept", c.department))}</td><td>${esc(label("cs", c.status))}</td>
      <td><span class="badge ${esc(c.deadline_state)}">${esc(t("deadline." + c.deadline_state))}</span> ${esc(fmtTime(c.decision_deadline, "day"))}</td>
      <td>${esc(label("dec", c.decision))}${c.fine_yuan ? " ¥" + c.fine_yuan : ""}</td></tr>`).join("")}</tbody></table></div>`;
  document.querySelectorAll("tr.row").forEach((tr) => tr.addEventListener("click", () => { location.hash = `#/cases/${tr.dataset.id}`; }));
}

// a step's form, for each step the hub may offer (its allowed_actions name them)
const STEP_FORMS = {
  assign: () => stepForm("assign", area("officers", "officers")),
  inspect: () => stepForm("inspect", area("findings", "findings") + area("evidence_notes", "evidence_notes")),
  respond_notice: () => stepForm("respond_notice", ""),
  legal_review: () => stepForm("legal_review", area("opinion", "opinion")),
  decide: () => stepForm("decide", `${choice("decision", META ? META.case_decisions : [], (d) => label("dec", d))}
    <input name="fine_yuan" type="number" placeholder="${t("fine")}"> <input name="suspension_months" type="number" placeholder="${t("months")}"><br>${area("basis", "basis")}`, !!META),
  pay: () => stepForm("pay", ""),
  close: () => stepForm("close", area("note", "reason")),
  transfer: (c) => stepForm("transfer", `${choice("to_department", (META ? META.departments : []).filter((d) => d !== c.department), (d) => label("dept", d))}<br>${area("reason", "reason")}`, !!META),
};
// (a step choosing from the hub's lists cannot be taken without them)
const stepForm = (action, fields, ready = true) => `<form class="card step" data-action="${action}"><strong>${t(action)}</strong><br>${fields}
   <button class="act" type="submit" ${ready ? "" : "disabled"}>${t(action)}</button></form>`;
const area = (name, words) => `<label>${t(words)}<br><textarea name="${name}" rows="2" cols="50"></textarea></label><br>`;
const choice = (name, codes, words) => `<select name="${name}">${codes.map((x) => `<option value="${esc(x)}">${esc(words(x))}</option>`).join("")}</select>`;

async function casePage(id) {
  const c = await getJSON(`/api/cases/${id}`);
  // only the steps the hub offers this viewer now (none to one who may only read); "pay" only for a fine not yet paid
  const offered = (c.allowed_actions || []).filter((a) => STEP_FORMS[a] && (a !== "pay" || (c.decision === "fine" && !c.paid_at)));
  let steps = offered.map((a) => STEP_FORMS[a](c)).join("");
  if (!offered.length) {
    const stage = META && META.case_transitions[c.status];
    const why = !META ? "case.no_steps" : stage && stage.length ? "case.read_only" : "case.done";
    steps = `<div class="card" id="no-steps"><p class="muted">${esc(t(why).replace("{s}", label("cs", c.status)))}</p></div>`;
  }
  const kv = [["number", c.number], ["venue", c.venue_name], ["department", label("dept", c.department)], ["status", label("cs", c.status)],
    ["deadline", `${fmtTime(c.decision_deadline)} (${t("deadline." + c.deadline_state)})`], ["findings", c.findings || "–"],
    ["decision", (label("dec", c.decision) || "–") + (c.fine_yuan ? ` ¥${c.fine_yuan}` : "") + (c.suspension_months ? ` ${c.suspension_months}m` : "")],
    ["officers_short", (c.officers || []).map((o) => `${o.user} (${o.enforcement_id})`).join(", ") || "–"],
    ["other_actions", (c.other_actions || []).map((o) => `${o.number} ${label("dept", o.department)} ${o.decision ? label("dec", o.decision) : label("cs", o.status)}`).join("; ") || "–"],
    ["escalation", `${zh(c.escalation.suggestion, c.escalation.suggestion_zh)} ${zh(c.escalation.basis || "", c.escalation.basis_zh)}`]];
  $("#main").innerHTML = `<h1>${esc(c.number)} <span class="badge ${esc(c.deadline_state)}" id="case-status">${esc(label("cs", c.status))}</span></h1>
    ${zoneNote()}<div class="grid"><div><div class="card kv">${kv.map(([k, v]) => `<div>${t(k)}</div><div>${esc(v)}</div>`).join("")}</div><div id="case-steps">${steps}</div></div>
    <div class="card"><h2>${t("history")}</h2><ul class="history">${c.history.map((h) => `<li>${esc(fmtTime(h.at))} · ${esc(h.actor)} · <b>${esc(label("ev", h.action))}</b> ${esc(describe(h.detail))}</li>`).join("")}</ul></div></div>`;
  document.querySelectorAll("form.step").forEach((f) => f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(f));
    const body = { action: f.dataset.action };
    if (data.officers !== undefined) body.officers = data.officers.split("\n").map((l) => l.split(":")).filter((p) => p.length === 2).map(([u, e]) => ({ user: u.trim(), enforcement_id: e.trim() }));
    for (const k of ["findings", "evidence_notes", "opinion", "decision", "basis", "note", "to_department", "reason"]) if (data[k] !== undefined) body[k] = data[k];
    if (data.fine_yuan) body.fine_yuan = +data.fine_yuan;
    if (data.suspension_months) body.suspension_months = +data.suspension_months;
    try { await postJSON(`/api/cases/${id}/actions`, body); toast(t("saved")); body.action === "transfer" ? (location.hash = "#/cases") : casePage(id); }
    catch (e) { toast(e.message); }
  }));
}

// -- venues --------------------------------------------------------------------------------------
async function venuesPage(query = "") {
  const { venues } = await getJSON(`/api/venues${query}`);
  const admin = can("venues.write") ? `<div class="card filters" id="registry">
      <a class="act" href="/api/registry/venues.csv" download>${t("export")} venues.csv</a>
      <a class="act secondary" href="/api/registry/schools.csv" download>${t("export")} schools.csv</a>
      <label>${t("import")} venues.csv<input type="file" accept=".csv,text/csv" data-what="venues"></label>
      <label>${t("import")} schools.csv<input type="file" accept=".csv,text/csv" data-what="schools"></label></div>` : "";
  $("#main").innerHTML = `<h1>${t("venues.title")}</h1>${admin}<div class="card"><table><thead><tr><th>${t("venue")}</th><th>${t("type")}</th>
    <th>${t("district")}</th><th>${t("near_school")}</th><th>${t("sign")}</th><th>${t("violations")}</th><th>${t("devices")}</th></tr></thead>
    <tbody>${venues.map((v) => `<tr class="row" data-id="${esc(v.id)}"><td>${esc(v.name)}<div class="muted">${esc(v.address)}</div></td>
      <td>${esc(venueType(v.venue_type))}</td><td>${esc(v.district_id)}</td><td>${v.near_school ? `${t("yes")} (${v.nearest_school_m} m)` : t("no")}</td>
      <td>${v.sign_posted ? t("yes") : `<b>${t("no")}</b>`}</td><td>${violationSplit(v.violations)}</td>
      <td>${v.devices.map((d) => `${esc(d.device_id)}: ${d.online ? t("online") : t("offline")}`).join("<br>")}</td></tr>`).join("")}</tbody></table></div>`;
  document.querySelectorAll("tr.row").forEach((tr) => tr.addEventListener("click", () => { location.hash = `#/venues/${tr.dataset.id}`; }));
  document.querySelectorAll("#registry input[type=file]").forEach((input) => input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    try {
      const r = await api(`/api/registry/${input.dataset.what}.csv`, { method: "POST", body: file, headers: { "Content-Type": "text/csv" } });
      toast(`${t("imported")}: ${(await r.json()).imported}`);
      venuesPage();
    } catch (e) { toast(e.message); }
  }));
}

async function venuePage(id) {
  const v = await getJSON(`/api/venues/${encodeURIComponent(id)}`);
  $("#main").innerHTML = `<h1>${esc(v.name)}</h1>${zoneNote()}<div class="grid"><div>
    <div class="card kv"><div>${t("type")}</div><div>${esc(venueType(v.venue_type))}</div><div>${t("district")}</div><div>${esc(v.district_id)}</div>
      <div>${t("licence")}</div><div>${esc(v.licence_no)}</div><div>${t("operator")}</div><div>${esc(v.operator)}</div>
      <div>${t("near_school")}</div><div>${v.near_school ? t("yes") + ` (${v.nearest_school_m} m)` : t("no")}</div>
      <div>${t("sign")}</div><div>${v.sign_posted ? t("yes") + " " + esc(v.sign_checked_on ? fmtTime(v.sign_checked_on) : "") : t("no")}</div>
      <div>${t("escalation")}</div><div>${esc(zh(v.escalation.suggestion, v.escalation.suggestion_zh))} ${esc(zh(v.escalation.basis, v.escalation.basis_zh))}</div></div>
    <div class="card"><h2>${t("nav.alarms")}</h2><table>${v.alarms.map((a) => `<tr><td>${esc(fmtTime(a.raised_at))}</td><td><span class="badge ${esc(a.severity)}">${esc(t(a.verdict))}</span></td></tr>`).join("")}</table></div></div>
    <div><div class="card"><h2>${t("devices")}</h2>${v.devices.map((d) => `<div>${esc(d.device_id)} · ${d.online ? t("online") : t("offline")} · ${esc(fmtTime(d.last_seen))}
       ${(d.cameras || []).map((c) => `<div class="muted">${esc(c.camera_id)}: ${esc(label("cam", (c.state || "").replace("CAMERA_STATE_", "").toLowerCase()))}</div>`).join("")}</div>`).join("") || "–"}</div>
    <div class="card"><h2>${t("nav.cases")}</h2>${v.cases.map((c) => `<div><a href="#/cases/${c.id}">${esc(c.number)}</a> · ${esc(label("cs", c.status))} · ${esc(label("dec", c.decision))}</div>`).join("") || "–"}</div></div></div>
    <div class="card"><h2>${t("idc.title")}</h2><div id="idchecks"></div></div>`;
  await showIdChecks($("#idchecks"), `/api/idchecks?days=30&venue_id=${encodeURIComponent(v.id)}`);
}

// -- dashboard, lists, reports, audit -------------------------------------------------------------
// confirmed and suspected violations are never added up into one number
function violationSplit(c) {
  return `<span class="split"><span class="badge critical">${t("confirmed")} ${c.confirmed}</span> <span class="badge major">${t("suspected")} ${c.suspected}</span></span>`;
}

async function dashboardPage() {
  const d = await getJSON("/api/dashboard?days=30");
  const max = Math.max(1, ...d.days.map((x) => x.alarms));
  const types = Object.entries(d.by_venue_type), tmax = Math.max(1, ...types.map(([, c]) => c.confirmed + c.suspected));
  const split = violationSplit;
  $("#main").innerHTML = `<h1>${t("dashboard.title")}</h1>${zoneNote()}<div class="grid"><div class="card"><h2>${t("per_day")}</h2>
    <div class="bars" id="per-day">${d.days.map((x) => `<div class="${x.key ? "key" : ""}" title="${esc(fmtTime(x.day))}: ${x.alarms} ${esc(x.key)}" style="height:${100 * x.alarms / max}%"></div>`).join("")}</div>
    <div class="muted">${esc(fmtTime(d.days[0].day))} … ${esc(fmtTime(d.days[d.days.length - 1].day))}</div></div>
    <div class="card"><h2>${t("violations")}</h2><div id="violation-totals">${split(d.violations)}</div>
    <h2>${t("by_type")}</h2><div id="by-type">${types.map(([k, c]) => `<div class="hbar"><span>${esc(venueType(k))}</span><div class="stack" style="width:${100 * (c.confirmed + c.suspected) / tmax}px"><i class="c" style="flex:${c.confirmed}"></i><i class="s" style="flex:${c.suspected}"></i></div>${split(c)}</div>`).join("") || "–"}</div>
    <h2>${t("repeat")}</h2><div id="repeat-venues">${d.repeat_venues.map((r) => `<div class="repeat">${esc(r.name)} ${split(r)}</div>`).join("") || "–"}</div>
    <h2>${t("open_cases")}</h2>${Object.entries(d.open_cases).map(([k, n]) => `<span class="badge ${k}">${t("deadline." + k)} ${n}</span> `).join("") || "–"}</div></div>
    <div class="card"><h2>${t("idc.title")}</h2><div id="idchecks"></div></div>`;
  await showIdChecks($("#idchecks"), "/api/idchecks?days=30");
}

// -- ID-check statistics per venue (dashboard, venue page); the outcomes' words come with the figures
const fmtDuration = (s) => (s == null ? "–" : s < 90 ? `${Math.round(s)} ${t("unit.s")}` : `${(s / 60).toFixed(1)} ${t("unit.min")}`);
const pct = (share) => (share == null ? "–" : `${Math.round(100 * share)}%`);

async function showIdChecks(el, path) {
  const st = await getJSON(path);
  if (!st.venues.length) { el.innerHTML = `<p class="muted">${t("idc.none")}</p>`; return; }
  el.innerHTML = `<div class="scroll"><table class="idchecks"><thead><tr><th>${t("venue")}</th><th>${t("idc.alerts")}</th>
    <th>${t("idc.checked")}</th><th>${t("idc.median")}</th><th>${t("idc.refused")}</th><th>${t("idc.walkups")}</th>
    <th>${t("idc.outcomes")}</th></tr></thead><tbody>${st.venues.map((v) => `<tr data-venue="${esc(v.venue_id)}">
      <td>${esc(v.name)}<div class="muted">${esc(venueType(v.venue_type))}</div></td><td>${v.alerts}</td>
      <td>${v.checked} / ${v.alerts} <b>${pct(v.checked_share)}</b></td><td>${fmtDuration(v.median_time_to_check_s)}</td>
      <td>${v.minors_refused}</td><td>${v.walk_ups} (${v.walk_up_minors})</td>
      <td class="outcomes">${v.outcomes.filter((o) => o.alerts).map((o) => `<span class="chip" data-result="${esc(o.result)}">${esc(o.words[lang] ?? o.words.en)} ${o.alerts}</span>`).join(" ")}
        ${v.no_outcome ? `<span class="chip none">${t("idc.no_outcome")} ${v.no_outcome}</span>` : ""}</td></tr>`).join("")}</tbody></table></div>
    <p class="muted">${esc(t("idc.note").replace("{w}", st.window_min))}</p>`;
}

async function listsPage() {
  const near = (await getJSON("/api/venues?near_school=true")).venues;
  const nosign = (await getJSON("/api/venues?sign_posted=false")).venues;
  let insp = "";
  if (state.me.district && can("cases.read") && state.me.role !== "venue_operator") {
    const l = await getJSON(`/api/inspection-list?district=${encodeURIComponent(state.me.district)}`);
    insp = `<div class="card"><h2>${t("inspection")} — ${esc(l.district)} ${esc(fmtTime(l.day))} ${esc(zh(l.key_periods, l.key_periods_zh).join(lang === "zh" ? "、" : ", "))}</h2><table>
      <tr><th>${t("score")}</th><th>${t("venue")}</th><th>${t("reasons")}</th></tr>${l.venues.map((v) => `<tr><td>${v.score}</td><td>${esc(v.name)}</td><td>${esc(zh(v.reasons, v.reasons_zh).join(lang === "zh" ? "；" : "; "))}</td></tr>`).join("")}</table></div>`;
  }
  const list = (vs, dist) => vs.map((v) => `<div><a href="#/venues/${esc(v.id)}">${esc(v.name)}</a> · ${esc(venueType(v.venue_type))} ${dist && v.nearest_school_m ? "· " + v.nearest_school_m + " m" : ""}</div>`).join("") || "–";
  $("#main").innerHTML = `<h1>${t("lists.title")}</h1><div class="grid"><div class="card"><h2>${t("school_list")}</h2>${list(near, true)}</div>
    <div class="card"><h2>${t("sign_list")}</h2>${list(nosign)}</div></div>${insp}`;
}

function reportsPage() {
  const month = fmtTime(new Date().toISOString(), "day").slice(0, 7);  // this month, in the venues' zone
  $("#main").innerHTML = `<h1>${t("reports.title")}</h1><form class="card filters" id="report-form">
    <label>${t("district")}<input name="district" value="${esc(state.me.district || "")}" required></label>
    <label>${t("month")} / ${t("quarter")}<input name="period" value="${month}" pattern="\\d{4}-\\d{2}|\\d{4}[Qq][1-4]" required></label>
    <label>${t("format")}<select name="fmt"><option>pdf</option><option>xlsx</option><option>csv</option></select></label>
    <button class="act" type="submit">${t("download")}</button></form>`;
  $("#report-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries(new FormData(ev.target));
    const a = document.createElement("a");
    a.href = `/api/reports/${encodeURIComponent(f.district)}/${encodeURIComponent(f.period)}.${f.fmt}`;
    a.download = "";
    a.id = "report-link";
    document.body.appendChild(a); a.click(); a.remove();
  });
}

// an audit action in the viewer's words (hub/audit.py's, from the hub); its code only when the lists did not load
function auditAction(code) {
  const a = code && META ? META.audit_actions.find((x) => x.code === code) : null;
  return a ? (a.words[lang] ?? a.words.en) : (code || "");
}

// The audit log, narrowed by who, what, which object and which days (the venues' calendar days, "until" inclusive);
// the filters live in the hash (#/audit?actor=…&action=…), so a reload or a shared address keeps them, and Back undoes
// the last one.
const AUDIT_FILTERS = ["actor", "action", "object", "since", "until"];
let auditAsked = 0;  // the newest query: an older answer arriving late is dropped

async function auditPage(params = new URLSearchParams(), redraw = false) {
  const f = Object.fromEntries(AUDIT_FILTERS.map((k) => [k, params.get(k) || ""]));
  const q = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
  const asked = ++auditAsked;
  const { events } = await getJSON(`/api/audit?${q}`);
  if (asked !== auditAsked) return;
  let form = $("#audit-filters");
  if (redraw || !form) {
    const actions = META ? META.audit_actions.map((a) => a.code) : [];
    if (f.action && !actions.includes(f.action)) actions.push(f.action);
    $("#main").innerHTML = `<h1>${t("audit.title")}</h1>${zoneNote()}
      <form class="filters" id="audit-filters">
        <label>${t("audit.actor")}<input name="actor" size="12" maxlength="64" autocomplete="off"></label>
        <label>${t("action")}<select name="action"><option value="">${t("all")}</option>${actions.map((code) =>
          `<option value="${esc(code)}">${esc(auditAction(code))}</option>`).join("")}</select></label>
        <label>${t("object")}<input name="object" size="14" maxlength="64" autocomplete="off"></label>
        <label>${t("since")}<input name="since" type="date"></label>
        <label>${t("audit.until")}<input name="until" type="date"></label>
        <button class="act" type="submit">${t("filter")}</button>
        <button class="act secondary" type="button" id="audit-clear">${t("audit.clear")}</button>
      </form>
      <div class="card"><p class="muted" id="audit-count"></p>
      <div class="scroll"><table id="audit-log"><thead><tr><th>${t("time")}</th><th>${t("user")}</th><th>${t("action")}</th>
      <th>${t("object")}</th><th>${t("reason")}</th></tr></thead><tbody id="audit-rows"></tbody></table></div></div>`;
    form = $("#audit-filters");
    const apply = () => {  // a new entry in the browser's history; the hashchange asks the hub again
      const next = new URLSearchParams();
      for (const k of AUDIT_FILTERS) { const v = String(form.elements[k].value || "").trim(); if (v) next.set(k, v); }
      const hash = `#/audit${next.toString() ? "?" + next : ""}`;
      if (location.hash !== hash) location.hash = hash;
    };
    form.addEventListener("change", apply);
    form.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
    $("#audit-clear").addEventListener("click", () => { location.hash = "#/audit"; });
  }
  for (const k of AUDIT_FILTERS) form.elements[k].value = f[k];  // as the address says (after Back, a reload)
  $("#audit-clear").hidden = !q.toString();
  $("#audit-count").textContent = t("audit.count").replace("{n}", events.length);
  $("#audit-rows").innerHTML = events.map((e) => `<tr class="audit-row" data-action="${esc(e.action)}">
    <td>${esc(fmtTime(e.at))}</td><td>${esc(e.user)} (${esc(label("role", e.role))})</td><td>${esc(auditAction(e.action))}</td>
    <td>${esc(label("obj", e.object_type))} ${esc(e.object_id)}</td><td>${esc(e.why)}</td></tr>`).join("")
    || `<tr><td colspan="5" class="muted">${t("audit.none")}</td></tr>`;
}

// -- devices (administrators: enrol and revoke edge devices) --------------------------------------
async function devicesPage() {
  const { keys } = await getJSON("/api/devices/keys");  // first: without devices.manage, nothing of the view is drawn
  $("#main").innerHTML = `<h1>${t("devices.title")}</h1>${zoneNote()}
    <form class="card" id="enrol-form"><h2>${t("dev.enrol")}</h2>
      <div class="filters"><label>${t("dev.request_file")}<span class="file"><input type="file" name="request" accept=".json,application/json">
          <span class="act secondary">${t("dev.choose")}</span> <span class="muted" id="file-name">${t("dev.no_file_chosen")}</span></span></label>
        <label class="check"><input type="checkbox" name="replace"> ${t("dev.replace")}</label>
        <button class="act" type="submit">${t("dev.submit")}</button></div>
      <div id="enrol-result" role="status" aria-live="polite"></div></form>
    <div class="card"><h2>${t("dev.keys")}</h2><div id="revoke-result" role="status" aria-live="polite"></div>
      <div class="scroll"><table id="device-keys"><thead><tr><th>${t("dev.device")}</th><th>${t("dev.fingerprint")}</th>
        <th>${t("dev.enrolled")}</th><th>${t("dev.state")}</th><th>${t("actions")}</th></tr></thead><tbody id="key-rows"></tbody></table></div></div>`;
  $("#enrol-form").addEventListener("submit", enrolDevice);
  // the browser's own file button speaks the browser's language: ours, from the catalogue, stands in for it
  const input = $("#enrol-form input[type=file]");
  input.addEventListener("change", () => { $("#file-name").textContent = input.files[0] ? input.files[0].name : t("dev.no_file_chosen"); });
  $("#enrol-form").addEventListener("reset", () => { $("#file-name").textContent = t("dev.no_file_chosen"); });
  showKeys(keys);
}

// a failure of an enrolment or a revocation: our lead-in, then the hub's own words (its `detail`)
const failure = (lead, detail) => `<div class="notice bad"><b>${esc(lead)}</b>${detail ? `<div class="detail">${esc(detail)}</div>` : ""}</div>`;

// a key's fingerprint, wrapping only between its groups of four (as it is read aloud)
const fingerprint = (fp) => esc(fp).replace(/:/g, ":<wbr>");
const loadKeys = async () => showKeys((await getJSON("/api/devices/keys")).keys);

function showKeys(keys) {
  // grouped per device, its newest key first
  keys.sort((a, b) => (a.device === b.device ? (a.enrolled_at < b.enrolled_at ? 1 : -1) : (a.device < b.device ? -1 : 1)));
  const body = $("#key-rows");
  if (!body) return;
  body.innerHTML = keys.map((k) => `<tr data-key="${esc(k.key_id)}" data-device="${esc(k.device)}" class="${k.revoked_at ? "revoked" : "active"}">
    <td>${esc(k.device)}<div class="muted">${esc(k.key_id)}</div></td><td class="fp">${fingerprint(k.fingerprint)}</td>
    <td>${esc(fmtTime(k.enrolled_at))}<div class="muted">${esc(k.enrolled_by)}</div></td>
    <td class="key-state">${k.revoked_at
      ? `<span class="badge critical">${t("dev.revoked")}</span> ${esc(fmtTime(k.revoked_at))}<div class="muted">${esc(k.revoked_by)}</div><div>${t("reason")}: ${esc(k.revoke_reason)}</div>`
      : `<span class="badge ok">${t("dev.active")}</span>`}</td>
    <td>${k.revoked_at ? "" : `<button class="act secondary revoke" type="button">${t("dev.revoke")}</button>`}</td></tr>`).join("")
    || `<tr><td colspan="5" class="muted">${t("dev.none")}</td></tr>`;
  body.querySelectorAll("button.revoke").forEach((b) => b.addEventListener("click", () => revokeDevice(b.closest("tr").dataset.device)));
}

function readFile(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

async function enrolDevice(ev) {
  ev.preventDefault();
  const form = ev.target, out = $("#enrol-result"), file = form.elements.request.files[0];
  out.innerHTML = "";
  if (!file) { out.innerHTML = failure(t("dev.no_file")); return; }
  let request;
  try { request = JSON.parse(await readFile(file)); } catch (e) { out.innerHTML = failure(t("dev.not_json")); return; }
  if (!request || typeof request !== "object" || Array.isArray(request)) { out.innerHTML = failure(t("dev.not_request")); return; }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const k = await postJSON("/api/devices/enrol", { request, replace: form.elements.replace.checked });
    form.reset();
    out.innerHTML = `<div class="notice good"><b>${t("dev.enrolled_ok")}: ${esc(k.device)}</b>
      <div class="kv"><div>${t("dev.fingerprint")}</div><div class="fp" id="enrolled-fp">${fingerprint(k.fingerprint)}</div></div>
      <p>${t("dev.compare")}</p></div>`;
  } catch (e) { out.innerHTML = failure(t("dev.refused"), e.message); }
  finally { button.disabled = false; }
  await loadKeys().catch((e) => toast(e.message));
}

async function revokeDevice(device) {
  const reason = prompt(t("dev.revoke_why"));
  if (!reason || !reason.trim()) return;
  const out = $("#revoke-result");
  out.innerHTML = "";
  try {
    await postJSON(`/api/devices/${device.split("/").map(encodeURIComponent).join("/")}/revoke`, { reason: reason.trim() });
    toast(t("dev.revoked_ok"));
  } catch (e) { out.innerHTML = failure(t("dev.revoke_failed"), e.message); }
  await loadKeys().catch((e) => toast(e.message));  // a 502 is revoked at the hub all the same: the table says what stands
}

// -- start ---------------------------------------------------------------------------------------
$("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("humiao.lang", lang); applyI18n(); state.me ? route(true) : showLogin(); });
$("#logout").addEventListener("click", async () => { try { await api("/api/logout", { method: "POST" }); } catch (e) { /* gone anyway */ } showLogin(); });
window.addEventListener("hashchange", () => route());
// Escape closes the open alarm (the sheet on a tablet or phone), as its close button does
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && state.selected != null && $("#alarm-detail")) { ev.preventDefault(); leaveAlarm(); } });
applyI18n();
fetch("/api/me", { credentials: "same-origin" }).then(async (r) => (r.ok ? signedIn(await r.json()) : showLogin()));
