// Humiao inspectors' panel: a single page over the hub's API. No build step, no framework.
"use strict";

// Every word shown comes from the hub's message catalogue for the viewer's language (hub/catalogue/<language>/, served
// at GET /api/catalogue/<language> before the first screen and again on a switch): no word is written here.
let CAT = {};
let LANGS = [];  // [{code, name}] the languages the hub has catalogues for, the default first
let lang = { zh: "zh-CN" }[localStorage.getItem("humiao.lang")] || localStorage.getItem("humiao.lang") || "zh-CN";
const isZh = () => lang.startsWith("zh");
// a catalogue entry with its {placeholders} filled; the key itself only if the catalogue lacks it (a test forbids that)
const t = (k, params) => {
  const s = CAT[k] ?? k;
  return params ? s.replace(/\{([a-z_][a-z0-9_]*)\}/g, (m, n) => (n in params ? String(params[n]) : m)) : s;
};
// a stored code (department, role, case status, decision, case event) in the viewer's language; unknown codes as they are
const label = (kind, code) => (code ? (CAT[`${kind}.${code}`] ?? code) : "");
async function loadCatalogue() {
  if (!LANGS.length) {
    try { LANGS = (await (await fetch("/api/catalogue")).json()).languages; } catch (e) { LANGS = [{ code: "zh-CN", name: "zh-CN" }]; }
  }
  if (!LANGS.some((l) => l.code === lang)) lang = LANGS[0].code;
  const r = await fetch(`/api/catalogue/${encodeURIComponent(lang)}`);
  if (r.ok) CAT = await r.json();
}
const $ = (sel, root = document) => root.querySelector(sel);
// money as people write it: ¥5,000 (never 5000.0)
const money = (v) => `¥${Number(v).toLocaleString(isZh() ? "zh-CN" : "en-GB", { maximumFractionDigits: 2 })}`;
// who made a history entry: an account as it is, the hub's own rules in words
const actor = (a) => (a === "rules" ? t("actor.rules") : a);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// -- the hub's lists (GET /api/meta, once after sign-in; both languages in it): venue types, case decisions and steps,
// departments, the time zone. Without them (the banner says so) venue types show as their codes, times in this
// computer's zone, and steps needing a list cannot be taken.
let META = null, metaError = "";

async function loadMeta() {
  try { META = await (await api("/api/meta")).json(); metaError = ""; }
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
  return v ? label("venue", code) : (code || "");
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
    name = new Intl.DateTimeFormat(isZh() ? "zh-CN" : "en-GB", { timeZone: tz, timeZoneName: "longGeneric" })
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
  headers["Accept-Language"] = lang;  // the hub answers in the viewer's words: the rules' reasoning, its errors
  const r = await fetch(path, Object.assign({}, opts, { headers, credentials: "same-origin" }));
  if (r.status === 401 && path !== "/api/login") { showLogin(); throw new Error(t("session.ended")); }
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return r;
}
// A page the viewer has already left must not be drawn over the newer one: each page route() goes to is a generation,
// and a read answered after the viewer went elsewhere is dropped (Stale, said nowhere). Within the alarm list (its
// filters, the open alarm) and the audit log, newer answers already win (paging.asked, auditAsked).
let routeGen = 0, routed = "";
class Stale extends Error {}
const getJSON = async (p) => {
  const gen = routeGen, data = await (await api(p)).json();
  if (gen !== routeGen) throw new Stale("");
  return data;
};
const postJSON = async (p, body) => (await api(p, { method: "POST", body })).json();

function toast(msg) {
  if (!msg) return;  // a dropped read (Stale) has nothing to say
  const el = $("#toast");
  el.textContent = msg;
  el.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove("show"), 3500);
}

function applyI18n() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  const next = LANGS[(LANGS.findIndex((l) => l.code === lang) + 1) % Math.max(LANGS.length, 1)];
  $("#lang").textContent = next ? next.name : "";
  if (metaError) banner();
  const me = state.me;  // the role in the viewer's language
  $("#who").textContent = me ? `${me.user} · ${label("role", me.role)}${me.district ? " · " + me.district : ""}` : "";
}

function can(permission) { return state.me && state.me.permissions[permission] !== "none"; }

// -- sign-in -------------------------------------------------------------------------------------
function showLogin() {
  if (state.stream) { state.stream.close(); state.stream = null; }
  state.me = null; state.selected = null; sheet();
  routeGen++; routed = "";  // what the last viewer asked for is not drawn over the sign-in
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
      const r = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json", "Accept-Language": lang },
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
  const here = page === "alarms" ? page : path;
  if (redraw || here !== routed) { routeGen++; routed = here; }
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
  } catch (e) { if (!(e instanceof Stale)) toast(e.message); }
}

// -- live alarms ---------------------------------------------------------------------------------
// The filters live in the address (#/alarms?verdict=confirmed&district=d1; #/alarms/ID?… with an alarm open): a
// reload or a shared address keeps them, Back undoes the last one. The list comes a page at a time, newest first,
// paged by id (the next page: the rows before the last one's id), with the count of every matching alarm.
const ALARM_FILTERS = ["district", "venue_type", "verdict", "active", "since"];
const PAGE = 100;
const filters = { district: "", venue_type: "", verdict: "", active: "", since: "" };
// the list's paging: cursor, the smallest id a page brought (the next page is before it); more: older rows match;
// total: the matching rows when the first page came, top: the largest id then (the feed's newer ones add to it)
const paging = { cursor: null, more: false, total: 0, capped: false, top: 0, asked: 0, error: "" };

// the filters the address names
function hashFilters() {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  return Object.fromEntries(ALARM_FILTERS.map((k) => [k, (q.get(k) || "").trim()]));
}
// the filters as the address writes them: "?verdict=…" ("" for none), in one order
function alarmsQuery(f = filters) {
  const q = new URLSearchParams(ALARM_FILTERS.filter((k) => f[k]).map((k) => [k, f[k]]));
  return q.toString() ? `?${q}` : "";
}

function alarmMatches(a) {
  if (filters.district && a.district_id !== filters.district) return false;
  if (filters.venue_type && a.venue_type !== filters.venue_type) return false;
  if (filters.verdict && a.verdict !== filters.verdict) return false;
  if (filters.active && String(a.active) !== filters.active) return false;
  if (DATE_ONLY.test(filters.since) && Date.parse(a.raised_at) < Date.parse(dayStart(filters.since))) return false;
  return true;
}

// The list stays put under the pointer: alarms the feed brings wait in a bar until asked for. The hash names the
// open alarm (#/alarms/ID), so the browser's Back closes it; on a tablet or phone it is a sheet over the list,
// on a desktop a side panel that stays in view while the list scrolls.
const narrow = matchMedia("(max-width: 900px)");
narrow.addEventListener("change", () => sheet());

async function alarmsPage(id, redraw) {
  const wanted = hashFilters(), changed = alarmsQuery(wanted) !== alarmsQuery();
  Object.assign(filters, wanted);
  if (!redraw && $("#alarm-rows")) {  // the same page: other filters (a new list), or only the open alarm changes
    if (changed) { showFilters(); await loadAlarms(); }
    if (!id) closeAlarm();
    else if (!(changed && state.selected === +id)) await showAlarm(+id);
    return;
  }
  const opt = (vals, cur, label) => `<option value="">${t("all")}</option>` + vals.map((v) => `<option value="${esc(v)}" ${cur === v ? "selected" : ""}>${esc(label ? label(v) : v)}</option>`).join("");
  const types = META ? META.venue_types.map((v) => v.code) : [];
  if (filters.venue_type && !types.includes(filters.venue_type)) types.push(filters.venue_type);  // as the address says
  state.selected = null; state.detail = null; state.pending = []; state.fromList = false;
  $("#main").innerHTML = `<h1>${t("alarms.title")} <span class="badge ok" id="live">● ${t("live")}</span></h1>${zoneNote()}
    <form class="filters" id="filters" role="search" aria-label="${esc(t("alist.filters"))}">
      <label>${t("district")}<input name="district" value="${esc(filters.district)}" placeholder="${esc(state.me.district || "")}" size="12" maxlength="64" autocomplete="off"></label>
      <label>${t("type")}<select name="venue_type" ${META ? "" : "disabled"}>${opt(types, filters.venue_type, venueType)}</select></label>
      <label>${t("verdict")}<select name="verdict">${opt(["confirmed", "suspected", "pending", "none"], filters.verdict, t)}</select></label>
      <label>${t("status")}<select name="active">${opt(["true", "false"], filters.active, (v) => v === "true" ? t("active") : t("cleared"))}</select></label>
      <label>${t("since")}<input name="since" type="date" value="${esc(filters.since)}"></label>
      <button class="act" type="submit">${t("filter")}</button>
      <button class="act secondary" type="button" id="alarm-clear" ${alarmsQuery() ? "" : "hidden"}>${t("alist.clear")}</button>
    </form>
    <div class="grid alarms"><div class="card" id="alarm-list"><div class="newbar" role="status" aria-live="polite"><button class="act" id="new-alarms" type="button" hidden></button></div>
      <p class="muted" id="alarm-count" role="status"></p>
      <table><thead><tr><th>${t("time")}</th><th>${t("venue")}</th><th>${t("type")}</th>
      <th>${t("age")}</th><th>${t("verdict")}</th><th>${t("status")}</th></tr></thead><tbody id="alarm-rows"></tbody></table>
      <button class="act secondary" id="more" type="button" hidden>${t("more")}</button></div>
      <section class="card" id="alarm-detail" tabindex="-1" aria-labelledby="alarm-title"><p class="muted">${t("detail.choose")}</p></section></div>`;
  const form = $("#filters");
  const apply = () => {  // a new entry in the browser's history (the open alarm stays open); the hashchange loads
    const next = Object.fromEntries(ALARM_FILTERS.map((k) => [k, String(form.elements[k].value || "").trim()]));
    const hash = `#/alarms${state.selected != null ? `/${state.selected}` : ""}${alarmsQuery(next)}`;
    if (location.hash !== hash) { state.fromList = false; location.hash = hash; }
  };
  form.addEventListener("change", apply);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
  $("#alarm-clear").addEventListener("click", () => {
    location.hash = `#/alarms${state.selected != null ? `/${state.selected}` : ""}`;
    form.elements.verdict.focus();
  });
  $("#more").addEventListener("click", () => loadAlarms(true).catch((e) => toast(e.message)));
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

// the form shows what the address says (after Back, a reload, a shared address)
function showFilters() {
  const form = $("#filters");
  if (!form) return;
  for (const k of ALARM_FILTERS) {
    const el = form.elements[k];
    if (el.tagName === "SELECT" && filters[k] && ![...el.options].some((o) => o.value === filters[k])) el.add(new Option(filters[k], filters[k]));
    el.value = filters[k];
  }
  $("#alarm-clear").hidden = !alarmsQuery();
}

// the first page for the filters (with the count), or the next older one ("load older")
async function loadAlarms(older = false) {
  const q = new URLSearchParams({ limit: PAGE });
  for (const k of ALARM_FILTERS) if (filters[k]) q.set(k, k === "since" && DATE_ONLY.test(filters[k]) ? dayStart(filters[k]) : filters[k]);
  if (older && paging.cursor != null) q.set("before_id", paging.cursor); else q.set("count", "true");
  const asked = ++paging.asked, query = alarmsQuery().slice(1);
  let got;
  try { got = await getJSON(`/api/alarms?${q}`); } catch (e) {  // a filter the hub refuses (a bad address): said where the count goes
    if (e instanceof Stale || asked !== paging.asked) return;
    Object.assign(paging, { cursor: null, more: false, total: 0, capped: false, error: e.message });
    if (!older) state.alarms = [];
    renderAlarms(new Set(), query);
    return;
  }
  if (asked !== paging.asked) return;  // the filters changed meanwhile: a newer answer is coming
  const page = got.alarms;
  paging.error = "";
  if (older) {
    const have = new Set(state.alarms.map((a) => a.id));
    state.alarms = state.alarms.concat(page.filter((a) => !have.has(a.id)));
  } else {
    state.alarms = page;
    state.pending = state.pending.filter((p) => !page.some((a) => a.id === p.id));
    Object.assign(paging, { total: got.total, capped: got.total_capped, top: page.length ? page[0].id : 0 });
  }
  if (page.length) paging.cursor = page[page.length - 1].id;
  else if (!older) paging.cursor = null;
  paging.more = got.more;
  renderAlarms(new Set(), query);
  if (older && page.length) { const tr = $(`#alarm-rows tr[data-id="${page[0].id}"]`); if (tr) tr.focus({ preventScroll: true }); }
}

function alarmRow(a, fresh) {
  return `<tr class="row ${state.selected === a.id ? "sel" : ""} ${fresh ? "fresh" : ""}" data-id="${a.id}" tabindex="0">
    <td>${esc(fmtTime(a.raised_at))}</td><td>${esc(a.venue_name)}<div class="muted">${esc(a.district_id)}</div></td>
    <td>${esc(venueType(a.venue_type))}</td><td>${a.age_estimate ?? "–"}</td>
    <td><span class="badge ${esc(a.severity)}">${esc(t(a.verdict))}</span></td>
    <td>${a.active ? t("active") : t("cleared")}${a.acknowledged ? " · " + t("acknowledged") : ""}</td></tr>`;
}

// the rows, "showing N of M", "load older"; #alarm-rows' data-query: the filters they answer (tests and the
// benchmark wait for it)
function renderAlarms(fresh = new Set(), query = alarmsQuery().slice(1)) {
  const body = $("#alarm-rows");
  if (!body) return;
  const shown = state.alarms.filter(alarmMatches);
  body.innerHTML = shown.map((a) => alarmRow(a, fresh.has(a.id))).join("")
    || `<tr><td colspan="6" class="muted">${esc(paging.error ? t("alist.failed", { reason: paging.error }) : t("alist.none"))}</td></tr>`;
  const n = (x) => x.toLocaleString(lang);
  $("#alarm-count").textContent = paging.error ? "" : t(paging.capped ? "alist.count_capped" : "alist.count",
    { shown: n(shown.length), total: n(Math.max(paging.total, shown.length)) });
  $("#more").hidden = !paging.more;
  body.dataset.query = query;
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
  paging.total += state.pending.filter((a) => a.id > paging.top && alarmMatches(a)).length;  // new since the count
  paging.top = Math.max(paging.top, ...fresh);
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
  const es = new EventSource(`/api/stream?lang=${encodeURIComponent(lang)}` + (newest ? `&after=${encodeURIComponent(newest)}` : ""));
  state.stream = es;
  es.addEventListener("alarm", (ev) => {
    const a = JSON.parse(ev.data);
    const i = state.alarms.findIndex((x) => x.id === a.id);
    if (i >= 0) {  // a change: its row, in its place
      state.alarms[i] = a;
      const tr = $(`#alarm-rows tr[data-id="${a.id}"]`), focused = tr && document.activeElement === tr;
      if (tr) tr.outerHTML = alarmRow(a, true);
      if (focused) $(`#alarm-rows tr[data-id="${a.id}"]`).focus({ preventScroll: true });
    } else if (paging.more && a.id < paging.cursor) {
      // an older alarm, on a page not loaded yet, changed: that page brings it, as it is then
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
  document.querySelectorAll("#skip, header, #banner, #main > :not(.alarms), .alarms > :not(#alarm-detail)").forEach((el) => { el.inert = on; });
  if (!d) return;
  d.classList.toggle("open", state.selected != null);
  if (on) { d.setAttribute("role", "dialog"); d.setAttribute("aria-modal", "true"); } else { d.removeAttribute("role"); d.removeAttribute("aria-modal"); }
}

function openAlarm(id) {
  const hash = `#/alarms/${id}${alarmsQuery()}`;
  if (location.hash === hash) showAlarm(id).catch((e) => toast(e.message));  // open already: look again
  else if (state.selected != null) location.replace(hash);  // one entry in the browser's history for the open alarm
  else { state.fromList = true; location.hash = hash; }
}

// the close button and Escape: Back, when the list opened it; otherwise the hash without the alarm
function leaveAlarm() {
  if (state.fromList) { state.fromList = false; history.back(); } else { history.replaceState(null, "", `#/alarms${alarmsQuery()}`); closeAlarm(); }
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
      ${a.departments ? `<div>${t("department")}</div><div>${esc(a.departments.map((d) => label("dept", d)).join(t("list.sep")))}</div>` : ""}</div>
    <h2>${t("reasons")}</h2><ul class="reasons">${(a.reasons || []).map((r) => `<li>${esc(r)}</li>`).join("")}</ul>
    <div>${acts}</div>${ev}
    <h2>${t("history")}</h2><ul class="history">${(a.history || []).map((h) => `<li>${esc(fmtTime(h.at))} · ${esc(actor(h.actor))} · ${esc(label("aev", h.action))} ${esc(h.detail)}</li>`).join("")}</ul>`;
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
      $("#evidence").innerHTML = `<img id="evidence-img" alt="${esc(t("evidence"))}" src="${URL.createObjectURL(blob)}">`;
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
  if (Array.isArray(v)) return v.map((o) => (o && o.user ? `${o.user} (${o.enforcement_id})` : k === "alarms" ? `#${o}` : o)).join(t("list.sep"));
  if (typeof v === "boolean") return t(v ? "yes" : "no");
  if (k === "decision") return label("dec", v);
  if (k === "fine_yuan") return money(v);
  if (k === "suspension_months") return t("unit.months", { n: v });
  if (k === "source") return label("src", v);
  if (k.endsWith("department")) return label("dept", v);
  return ISO_TIME.test(v) ? fmtTime(v) : v;
}
function describe(detail) {
  const [colon, semi] = isZh() ? ["：", "；"] : [": ", "; "];
  return Object.entries(detail || {}).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${DETAIL_WORDS[k] ? t(DETAIL_WORDS[k]) : k.replace(/_/g, " ")}${colon}${detailValue(k, v)}`)
    .join(semi);
}

async function casesPage() {
  const { cases } = await getJSON("/api/cases");
  // each number is a link (the keyboard's way in); the whole row opens the case for the pointer
  $("#main").innerHTML = `<h1>${t("cases.title")}</h1>${zoneNote()}<div class="card scroll"><table id="case-list"><thead><tr><th>${t("number")}</th>
    <th>${t("venue")}</th><th>${t("department")}</th><th>${t("status")}</th><th>${t("deadline")}</th><th>${t("decision")}</th></tr></thead>
    <tbody>${cases.map((c) => `<tr class="row" data-id="${c.id}"><td><a href="#/cases/${c.id}">${esc(c.number)}</a></td><td>${esc(c.venue_name)}</td>
      <td>${esc(label("dept", c.department))}</td><td>${esc(label("cs", c.status))}</td>
      <td><span class="badge ${esc(c.deadline_state)}">${esc(t("deadline." + c.deadline_state))}</span> ${esc(fmtTime(c.decision_deadline, "day"))}</td>
      <td>${esc(label("dec", c.decision))}${c.fine_yuan ? " " + money(c.fine_yuan) : ""}</td></tr>`).join("")}</tbody></table></div>`;
  document.querySelectorAll("#case-list tr.row").forEach((tr) => tr.addEventListener("click", (ev) => {
    if (!ev.target.closest("a")) location.hash = `#/cases/${tr.dataset.id}`;
  }));
}

// a step's form, for each step the hub may offer (its allowed_actions name them)
const STEP_FORMS = {
  assign: () => stepForm("assign", area("officers", "officers")),
  inspect: () => stepForm("inspect", area("findings", "findings") + area("evidence_notes", "evidence_notes")),
  respond_notice: () => stepForm("respond_notice", `<label class="check"><input type="checkbox" name="hearing_requested"> ${t("hk.hearing")}</label><br>`),
  legal_review: () => stepForm("legal_review", area("opinion", "opinion")),
  decide: () => stepForm("decide", `<label>${t("decision")}<br>${choice("decision", META ? META.case_decisions : [], (d) => label("dec", d))}</label><br>
    <label>${t("fine")}<br><input name="fine_yuan" type="number" min="0"></label> <label>${t("months")}<br><input name="suspension_months" type="number" min="0"></label><br>${area("basis", "basis")}`, !!META),
  pay: () => stepForm("pay", ""),
  close: () => stepForm("close", area("note", "reason")),
  transfer: (c) => stepForm("transfer", `<label>${t("to_department")}<br>${choice("to_department", (META ? META.departments : []).filter((d) => d !== c.department), (d) => label("dept", d))}</label><br>${area("reason", "reason")}`, !!META),
};
// (a step choosing from the hub's lists cannot be taken without them)
const stepForm = (action, fields, ready = true) => `<form class="card step" data-action="${action}"><strong>${t(action)}</strong><br>${fields}
   <button class="act" type="submit" ${ready ? "" : "disabled"}>${t(action)}</button></form>`;
const area = (name, words) => `<label>${t(words)}<br><textarea name="${name}" rows="2" cols="50"></textarea></label><br>`;
const choice = (name, codes, words) => `<select name="${name}">${codes.map((x) => `<option value="${esc(x)}">${esc(words(x))}</option>`).join("")}</select>`;

// -- the procedure stepper: the statuses in the hub's order (meta.case_statuses), each done, current or to come, with
// the history entry that brought the case there (when, by whom) and what else was done at that stage; the deadlines
// that apply; what comes next (the steps the hub's transitions allow from here). A history entry enters a status
// when it is named after it; the opening and a transfer enter the first one (the receiver starts again).
const msOf = (v) => (v ? Date.parse(/T[\d:.]+$/.test(v) ? `${v}Z` : v) : NaN);
const DAY_MS = 86400000, PAYMENT_SOON_DAYS = 3;

function procedure(c) {
  const statuses = META ? META.case_statuses : [c.status];
  const into = (h) => (statuses.includes(h.action) ? h.action : h.action === "opened" || h.action === "transferred" ? statuses[0] : null);
  let stages = {}, at = null;
  for (const h of c.history || []) {
    const s = into(h);
    if (s === statuses[0]) stages = {};  // opened, or transferred: the procedure starts again
    if (s) { stages[s] = { entry: h, within: [] }; at = s; } else if (at && stages[at]) stages[at].within.push(h);
  }
  return { statuses, stages, current: statuses.indexOf(c.status) };
}

function whenBy(h) {
  return h ? `<span class="when">${esc(t("step.when", { when: fmtTime(h.at), who: h.actor }))}</span>` : "";
}

// days left before a deadline, or past it, in words
function daysWords(due) {
  const ms = msOf(due) - Date.now(), days = Math.floor(Math.abs(ms) / DAY_MS);
  if (!days) return t("step.due_today");
  return t(`step.days_${ms < 0 ? "over" : "left"}${days === 1 ? "_one" : ""}`, { n: days });
}

function deadlines(c) {
  const rows = [];
  if (c.decision_deadline) {
    const state = c.deadline_state || "ok";
    rows.push([t("step.decision_deadline"), `${fmtTime(c.decision_deadline)}`, state,
      state === "met" ? t("step.decided_on", { when: fmtTime(c.decided_at) }) : daysWords(c.decision_deadline)]);
  }
  if (c.payment_due) {
    const left = (msOf(c.payment_due) - Date.now()) / DAY_MS;
    const state = c.paid_at ? "met" : left < 0 ? "overdue" : left <= PAYMENT_SOON_DAYS ? "due_soon" : "ok";
    rows.push([t("step.payment_due"), fmtTime(c.payment_due), state,
      c.paid_at ? t("step.paid_on", { when: fmtTime(c.paid_at) }) : daysWords(c.payment_due)]);
  }
  if (c.respond_notice_at) rows.push([t("step.hearing"), t(c.hearing_requested ? "step.hearing_yes" : "step.hearing_no"), "", ""]);
  if (!rows.length) return "";
  const stateWords = (s) => (s === "met" ? t("step.state_met") : t("deadline." + s));
  return `<h3 id="deadlines-title">${t("step.deadlines")}</h3><dl class="deadlines" aria-labelledby="deadlines-title">${rows.map(([what, when, state, more]) =>
    `<div><dt>${esc(what)}</dt><dd>${esc(when)}${state ? ` <span class="badge ${esc(state)}">${esc(stateWords(state))}</span>` : ""}${more ? ` <span class="muted">${esc(more)}</span>` : ""}</dd></div>`).join("")}</dl>`;
}

function stepper(c, offered) {
  const { statuses, stages, current } = procedure(c);
  const closedAll = current === statuses.length - 1;
  const items = statuses.map((s, i) => {
    const state = i < current || (i === current && closedAll) ? "done" : i === current ? "current" : "todo";
    const stage = stages[s];
    const entered = stage ? stage.entry : null;
    const fallback = !entered && state !== "todo" && (c[`${s}_at`] || (i === 0 && c.opened_at));
    const within = stage ? stage.within.map((h) => `<li>${esc(label("ev", h.action))} ${whenBy(h)}</li>`).join("") : "";
    return `<li class="${state}" ${i === current ? 'aria-current="step"' : ""} data-status="${esc(s)}">
      <span class="mark" aria-hidden="true">${state === "done" ? "✓" : i + 1}</span>
      <span class="name">${esc(label("cs", s))}</span> <span class="state">${esc(t("step." + state))}</span>
      ${entered ? `<span class="entry">${esc(label("ev", entered.action))} ${whenBy(entered)}</span>` : fallback ? `<span class="entry"><span class="when">${esc(fmtTime(fallback))}</span></span>` : ""}
      ${within ? `<ul class="within">${within}</ul>` : ""}</li>`;
  }).join("");
  // what comes next: the steps the hub allows from here (this viewer's, or the stage's when it may only read)
  let next = offered.length ? offered : (META && META.case_transitions[c.status]) || [];
  next = next.filter((a) => a !== "pay" || (c.decision === "fine" && !c.paid_at));
  const by = offered.length ? "" : ` <span class="muted">${esc(t("step.next_by", { dept: label("dept", c.department) }))}</span>`;
  const nextWords = next.length ? `<ul class="next-steps">${next.map((a) => `<li data-action="${esc(a)}">${esc(t(a))}</li>`).join("")}</ul>${by}`
    : `<p class="muted">${esc(t(closedAll ? "step.next_none" : "case.no_steps"))}</p>`;
  return `<section class="card" id="stepper" aria-labelledby="stepper-title"><h2 id="stepper-title" tabindex="-1">${t("step.title")}</h2>
    <ol class="stepper">${items}</ol>
    <div class="next-deadlines"><div class="next" id="next"><h3>${t("step.next")}</h3>${nextWords}</div><div id="deadlines">${deadlines(c)}</div></div></section>`;
}

// the case's alarms (each opens with its evidence) and its venue
function caseLinks(c, finished) {
  const alarms = (c.alarms || []).map((id) => (can("alarms.read")
    ? `<li><a href="#/alarms/${encodeURIComponent(id)}" class="alarm-link">${esc(t("step.alarm", { id }))}</a> <span class="muted">${esc(t("step.alarm_evidence"))}</span></li>`
    : `<li>${esc(t("step.alarm", { id }))}</li>`)).join("");
  const venue = can("venues.read") ? `<a href="#/venues/${encodeURIComponent(c.venue_id)}" id="venue-link">${esc(c.venue_name)}</a>` : esc(c.venue_name);
  return `<section class="card" id="case-links" aria-labelledby="links-title"><h2 id="links-title">${t("step.links")}</h2>
    <p>${t("venue")}${isZh() ? "：" : ": "}${venue} <span class="muted">(${esc(venueType(c.venue_type))})</span></p>
    <ul class="alarm-links">${alarms || "<li>–</li>"}</ul>${!finished && (c.alarms || []).length ? `<p class="muted">${t("step.held")}</p>` : ""}</section>`;
}

async function casePage(id, afterStep = false) {
  const c = await getJSON(`/api/cases/${id}`);
  // only the steps the hub offers this viewer now (none to one who may only read); "pay" only for a fine not yet paid
  const offered = (c.allowed_actions || []).filter((a) => STEP_FORMS[a] && (a !== "pay" || (c.decision === "fine" && !c.paid_at)));
  let steps = offered.map((a) => STEP_FORMS[a](c)).join("");
  if (!offered.length) {
    const stage = META && META.case_transitions[c.status];
    const why = !META ? "case.no_steps" : stage && stage.length ? "case.read_only" : "case.done";
    steps = `<div class="card" id="no-steps"><p class="muted">${esc(t(why).replace("{s}", label("cs", c.status)))}</p></div>`;
  } else steps = `<h2 id="actions-title">${t("step.actions")}</h2>${steps}`;
  const kv = [["number", c.number], ["venue", c.venue_name], ["department", label("dept", c.department)], ["status", label("cs", c.status)],
    ["deadline", `${fmtTime(c.decision_deadline)} (${t("deadline." + c.deadline_state)})`], ["findings", c.findings || "–"],
    ["decision", (label("dec", c.decision) || "–") + (c.fine_yuan ? ` ${money(c.fine_yuan)}` : "") + (c.suspension_months ? ` ${t("unit.months", { n: c.suspension_months })}` : "")],
    ["officers_short", (c.officers || []).map((o) => `${o.user} (${o.enforcement_id})`).join(t("list.sep")) || "–"],
    ["other_actions", (c.other_actions || []).map((o) => `${o.number} ${label("dept", o.department)} ${o.decision ? label("dec", o.decision) : label("cs", o.status)}`).join(t("list.semi")) || "–"],
    ["escalation", c.escalation ? `${c.escalation.suggestion} ${c.escalation.basis}` : "–"]];
  $("#main").innerHTML = `<h1>${esc(c.number)} <span class="badge ${esc(c.deadline_state)}" id="case-status">${esc(label("cs", c.status))}</span></h1>
    ${zoneNote()}${stepper(c, offered)}<div class="grid"><div><div id="case-steps" aria-labelledby="actions-title">${steps}</div>
    <div class="card kv">${kv.map(([k, v]) => `<div>${t(k)}</div><div>${esc(v)}</div>`).join("")}</div></div>
    <div>${caseLinks(c, !!META && c.status === META.case_statuses[META.case_statuses.length - 1])}<section class="card" aria-labelledby="history-title"><h2 id="history-title">${t("history")}</h2><ul class="history">${(c.history || []).map((h) => `<li>${esc(fmtTime(h.at))} · ${esc(h.actor)} · <b>${esc(label("ev", h.action))}</b> ${esc(describe(h.detail))}</li>`).join("")}</ul></section></div></div>`;
  document.querySelectorAll("form.step").forEach((f) => f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(f));
    const body = { action: f.dataset.action };
    if (data.officers !== undefined) body.officers = data.officers.split("\n").map((l) => l.split(":")).filter((p) => p.length === 2).map(([u, e]) => ({ user: u.trim(), enforcement_id: e.trim() }));
    for (const k of ["findings", "evidence_notes", "opinion", "decision", "basis", "note", "to_department", "reason"]) if (data[k] !== undefined) body[k] = data[k];
    if (f.dataset.action === "respond_notice") body.hearing_requested = data.hearing_requested === "on";
    if (data.fine_yuan) body.fine_yuan = +data.fine_yuan;
    if (data.suspension_months) body.suspension_months = +data.suspension_months;
    try { await postJSON(`/api/cases/${id}/actions`, body); toast(t("saved")); body.action === "transfer" ? (location.hash = "#/cases") : await casePage(id, true); }
    catch (e) { toast(e.message); }
  }));
  // after a step the keyboard lands on the stepper, which says where the case is now
  if (afterStep) $("#stepper-title").focus();
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
    <tbody>${venues.map((v) => `<tr class="row" data-id="${esc(v.id)}"><td><a href="#/venues/${esc(v.id)}">${esc(v.name)}</a><div class="muted">${esc(v.address)}</div></td>
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
      <div>${t("near_school")}</div><div>${v.near_school ? t("yes") + ` (${t("unit.metres", { n: v.nearest_school_m })})` : t("no")}</div>
      <div>${t("sign")}</div><div>${v.sign_posted ? t("yes") + " " + esc(v.sign_checked_on ? fmtTime(v.sign_checked_on) : "") : t("no")}</div>
      ${v.escalation ? `<div>${t("escalation")}</div><div>${esc(v.escalation.suggestion)} ${esc(v.escalation.basis)}</div>` : ""}</div>
    <div class="card"><h2>${t("nav.alarms")}</h2><table>${(v.alarms || []).map((a) => `<tr><td>${esc(fmtTime(a.raised_at))}</td><td><span class="badge ${esc(a.severity)}">${esc(t(a.verdict))}</span></td></tr>`).join("")}</table></div></div>
    <div><div class="card"><h2>${t("devices")}</h2>${v.devices.map((d) => `<div>${esc(d.device_id)} · ${d.online ? t("online") : t("offline")} · ${esc(fmtTime(d.last_seen))}
       ${(d.cameras || []).map((c) => `<div class="muted">${esc(c.camera_id)}: ${esc(label("cam", (c.state || "").replace("CAMERA_STATE_", "").toLowerCase()))}</div>`).join("")}</div>`).join("") || "–"}</div>
    <div class="card"><h2>${t("nav.cases")}</h2>${(v.cases || []).map((c) => `<div><a href="#/cases/${c.id}">${esc(c.number)}</a> · ${esc(label("cs", c.status))} · ${esc(label("dec", c.decision))}</div>`).join("") || "–"}</div></div></div>
    <div class="card"><h2>${t("idc.title")}</h2><div id="idchecks"></div></div>`;
  await showIdChecks($("#idchecks"), `/api/idchecks?days=30&venue_id=${encodeURIComponent(v.id)}`);
}

// -- dashboard, lists, reports, audit -------------------------------------------------------------
// confirmed and suspected violations are never added up into one number
function violationSplit(c) {
  return `<span class="split"><span class="badge critical">${t("confirmed")} ${c.confirmed}</span> <span class="badge major">${t("suspected")} ${c.suspected}</span></span>`;
}

// a chart drawn by the hub (hub/charts.py: axes, values, legend, key periods; its words in the viewer's language) as
// an image; the same figures follow it as a table. A chart that cannot load says so in words.
function chartImg(id, src, alt, maxWidth = "none") {  // maxWidth: a chart drawn for a narrow card stays its size
  const sep = src.includes("?") ? "&amp;" : "?";
  return `<img id="${id}" class="chart" src="${esc(src)}${sep}title=false&amp;lang=${encodeURIComponent(lang)}" alt="${esc(alt)}" style="display:block;width:100%;max-width:${maxWidth};height:auto">`;
}
function watchCharts() {
  document.querySelectorAll("#main img.chart").forEach((img) => img.addEventListener("error", () => {
    const note = document.createElement("div");
    note.className = "notice bad";
    note.dataset.chart = img.id;
    note.textContent = t("chart.failed");
    img.replaceWith(note);
  }));
}

async function dashboardPage() {
  const d = await getJSON(`/api/dashboard?days=30&lang=${encodeURIComponent(lang)}`);
  const types = Object.entries(d.by_venue_type);
  const split = violationSplit;
  const V = ["confirmed", "suspected", "pending", "none"];
  const sum = (v) => d.days.reduce((n, x) => n + x[v], 0);
  const first = fmtTime(d.days[0].day), last = fmtTime(d.days[d.days.length - 1].day);
  const perDayAlt = t("chart.alt.per_day", { start: first, end: last, confirmed: sum("confirmed"), suspected: sum("suspected"), pending: sum("pending"), none: sum("none") });
  $("#main").innerHTML = `<h1>${t("dashboard.title")}</h1>${zoneNote()}<div class="grid"><div class="card"><h2>${t("chart.per_day.title")}</h2>
    ${chartImg("per-day", d.charts["alarms-per-day"], perDayAlt)}
    <div class="muted">${esc(first)} … ${esc(last)}</div>
    <details id="per-day-figures"><summary>${t("chart.figures")}</summary><div class="scroll"><table><thead><tr><th>${t("report.col.day")}</th>
      ${V.map((v) => `<th>${t("report.verdict." + v)}</th>`).join("")}<th>${t("report.col.key_period")}</th></tr></thead>
      <tbody>${d.days.map((x) => `<tr data-day="${esc(x.day)}"><td>${esc(fmtTime(x.day))}</td>${V.map((v) => `<td>${x[v]}</td>`).join("")}<td>${esc(x.key_periods.join(t("list.sep")))}</td></tr>`).join("")}</tbody></table></div></details></div>
    <div class="card"><h2>${t("violations")}</h2><div id="violation-totals">${split(d.violations)}</div>
    <h2>${t("chart.by_type.title")}</h2>${types.length ? chartImg("by-type-chart", d.charts["violations-by-type"], t("chart.alt.by_type"), "560px") : ""}
    <div id="by-type">${types.map(([k, c]) => `<div class="hbar"><span>${esc(venueType(k))}</span>${split(c)}</div>`).join("") || "–"}</div>
    <h2>${t("repeat")}</h2><div id="repeat-venues">${d.repeat_venues.map((r) => `<div class="repeat">${esc(r.name)} ${split(r)}</div>`).join("") || "–"}</div>
    <h2>${t("open_cases")}</h2>${Object.entries(d.open_cases).map(([k, n]) => `<span class="badge ${k}">${t("deadline." + k)} ${n}</span> `).join("") || "–"}</div></div>
    <div class="card"><h2>${t("idc.title")}</h2><div id="idchecks"></div></div>`;
  watchCharts();
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
      <td class="outcomes">${v.outcomes.filter((o) => o.alerts).map((o) => `<span class="chip" data-result="${esc(o.result)}">${esc(label("result", o.result))} ${o.alerts}</span>`).join(" ")}
        ${v.no_outcome ? `<span class="chip none">${t("idc.no_outcome")} ${v.no_outcome}</span>` : ""}</td></tr>`).join("")}</tbody></table></div>
    <p class="muted">${esc(t("idc.note").replace("{w}", st.window_min))}</p>`;
}

async function listsPage() {
  const near = (await getJSON("/api/venues?near_school=true")).venues;
  const nosign = (await getJSON("/api/venues?sign_posted=false")).venues;
  let insp = "";
  if (state.me.district && can("cases.read") && state.me.role !== "venue_operator") {
    const l = await getJSON(`/api/inspection-list?district=${encodeURIComponent(state.me.district)}`);
    insp = `<div class="card"><h2>${t("inspection")} — ${esc(l.district)} ${esc(fmtTime(l.day))} ${esc(l.key_periods.join(t("list.sep")))}</h2><table>
      <tr><th>${t("score")}</th><th>${t("venue")}</th><th>${t("reasons")}</th></tr>${l.venues.map((v) => `<tr><td>${v.score}</td><td>${esc(v.name)}</td><td>${esc(v.reasons.join(t("list.semi")))}</td></tr>`).join("")}</table></div>`;
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
    <button class="act" type="submit">${t("download")}</button></form><div id="report-result" role="status" aria-live="polite"></div>`;
  $("#report-form").addEventListener("submit", (ev) => { ev.preventDefault(); downloadReport(ev.target); });
}
// the report in the viewer's language, fetched first so that what is wrong with the request (a month 13, another
// district, a format not offered) is shown in the hub's words instead of a download that silently fails
async function downloadReport(form) {
  const f = Object.fromEntries(new FormData(form)), out = $("#report-result"), button = form.querySelector("button");
  button.disabled = true;
  out.innerHTML = "";
  try {
    const r = await api(`/api/reports/${encodeURIComponent(f.district.trim())}/${encodeURIComponent(f.period.trim())}.${encodeURIComponent(f.fmt)}?lang=${encodeURIComponent(lang)}`);
    const name = (/filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "") || [])[1] || `report.${f.fmt}`;
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url; a.download = name; a.id = "report-link";
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    out.innerHTML = `<div class="notice good">${esc(t("report.downloaded", { name }))}</div>`;
  } catch (e) {
    out.innerHTML = `<div class="notice bad" role="alert"><b>${esc(t("report.failed"))}</b><div class="detail">${esc(e.message)}</div></div>`;
  } finally {
    button.disabled = false;
  }
}

// an audit action in the viewer's words (hub/audit.py's, from the hub); its code only when the lists did not load
function auditAction(code) {
  const a = code && META ? META.audit_actions.find((x) => x.code === code) : null;
  return a ? label("auditaction", code) : (code || "");
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
// the language button names the next language in its own words and switches to it
$("#lang").addEventListener("click", async () => {
  const i = LANGS.findIndex((l) => l.code === lang);
  lang = LANGS[(i + 1) % LANGS.length].code;
  localStorage.setItem("humiao.lang", lang);
  await loadCatalogue();
  applyI18n(); state.me ? route(true) : showLogin();
});
$("#logout").addEventListener("click", async () => { try { await api("/api/logout", { method: "POST" }); } catch (e) { /* gone anyway */ } showLogin(); });
window.addEventListener("hashchange", () => route());
// Escape closes the open alarm (the sheet on a tablet or phone), as its close button does
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && state.selected != null && $("#alarm-detail")) { ev.preventDefault(); leaveAlarm(); } });
// the skip link goes to the page's content without touching the address (the hash is the router's)
$("#skip").addEventListener("click", (ev) => { ev.preventDefault(); $("#main").focus(); });
// any other row that opens something and takes the focus (tabindex) opens with Enter or Space, as a click does
// (the alarm list handles its own rows)
document.addEventListener("keydown", (ev) => {
  const tr = !ev.defaultPrevented && (ev.key === "Enter" || ev.key === " ") && ev.target.matches && ev.target.matches("tr.row[tabindex]") ? ev.target : null;
  if (tr && !tr.closest("#alarm-rows")) { ev.preventDefault(); tr.click(); }
});
loadCatalogue().then(() => {
  applyI18n();
  return fetch("/api/me", { credentials: "same-origin" }).then(async (r) => (r.ok ? signedIn(await r.json()) : showLogin()));
});
