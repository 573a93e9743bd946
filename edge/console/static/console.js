// Humiao staff console: the checks the entrance camera asked for, reading the ID, recording the outcome.
// Plain JavaScript, no build step, nothing from outside this box. Every word comes from /static/words.json.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const LANG_KEY = "humiao.console.lang";
  const PHOTO_MAX_SIDE = 2048; // a photo chosen from the gallery is scaled down to this before upload

  let W = null; // the catalogue
  let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
  let me = null; // {staff, lang}
  let state = null; // the last /api/state
  let stateAt = 0; // performance.now() when it came
  let stream = null; // EventSource
  let seen = new Set(); // pending event ids already shown (a new one gets attention)
  let check = null; // the open check: {eventId, walkUp}
  let reading = null; // the last read: {reading_id, age, under_14, minor, document, method}
  let chosen = null; // the outcome code tapped
  let camera = null; // MediaStream
  let busy = false;
  let recording = false; // an outcome is on its way (its own update may arrive before the answer)

  // -- words ---------------------------------------------------------------------------------
  function t(key, fill) {
    let s = (W && (W.ui[lang] || W.ui.zh)[key]) || "";
    for (const [k, v] of Object.entries(fill || {})) s = s.replace(`{${k}}`, String(v));
    return s;
  }
  const w = (words) => (words ? words[lang] || words.zh : "");

  function applyWords() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    for (const el of document.querySelectorAll("[data-w]")) el.textContent = t(el.dataset.w);
    for (const el of document.querySelectorAll("[data-w-label]")) el.setAttribute("aria-label", t(el.dataset.wLabel));
    const btn = $("#lang");
    btn.textContent = t("lang.other");
    btn.setAttribute("aria-label", t("lang.switch"));
    fillDocuments();
    if (state) render(state);
    if (check) showCheck();
  }

  // -- the API -------------------------------------------------------------------------------
  async function api(method, path, body, contentType) {
    const init = { method, headers: { "X-Humiao-Console": "1" }, credentials: "same-origin", cache: "no-store" };
    if (body instanceof Blob) {
      init.headers["Content-Type"] = contentType || body.type;
      init.body = body;
    } else if (method === "POST") {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    let r;
    try {
      r = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, data: { error: t("live.off") } };
    }
    let data = {};
    try {
      data = await r.json();
    } catch (e) {
      data = {};
    }
    if (r.status === 401 && path !== "/api/session") signedOut("signin.expired");
    return { ok: r.ok, status: r.status, data };
  }

  // -- views ---------------------------------------------------------------------------------
  function showView(name) {
    $("#signin").hidden = name !== "signin";
    $("#desk").hidden = name !== "desk";
    $("#signout").hidden = name !== "desk";
    $("#live").hidden = name !== "desk";
    if (name !== "desk") closeCheck();
  }

  function toast(text) {
    const el = $("#toast");
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => el.classList.remove("show"), 3500);
  }

  // -- signing in ----------------------------------------------------------------------------
  function signedOut(key) {
    if (stream) {
      stream.close();
      stream = null;
    }
    me = null;
    if (check) closeCheck(); // an ID read and its age go with the session
    state = null;
    seen = new Set();
    cards = new Map();
    // nothing of the session stays in the page: the faces waiting, the outcomes recorded
    $("#pending").replaceChildren();
    $("#recent").replaceChildren();
    $("#announce").textContent = "";
    $("#toast").textContent = "";
    $("#toast").classList.remove("show");
    document.title = t("title");
    $("#who").textContent = "";
    $("#venue").textContent = "";
    showView("signin");
    $("#signin-msg").textContent = key ? t(key) : "";
    $("#signin-pin").value = "";
    $("#signin-name").focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    const submit = $("#signin-form button[type=submit]");
    if (submit.disabled) return;
    submit.disabled = true;
    const r = await api("POST", "/api/session", {
      name: $("#signin-name").value,
      pin: $("#signin-pin").value,
      lang,
    });
    $("#signin-pin").value = "";
    if (r.ok) {
      submit.disabled = false;
      enterDesk(r.data);
      return;
    }
    const msg = $("#signin-msg");
    msg.textContent = r.data.error || t("err.signin");
    let wait = r.data.retry_after || 0;
    if (wait > 0) {
      const base = msg.textContent;
      const tick = () => {
        if (wait <= 0) {
          msg.textContent = base;
          submit.disabled = false;
          return;
        }
        msg.textContent = `${base} ${t("signin.wait", { s: wait })}`;
        wait -= 1;
        setTimeout(tick, 1000);
      };
      tick();
    } else {
      submit.disabled = false;
    }
  }

  function enterDesk(who) {
    me = who;
    if (who.lang && who.lang !== lang) {
      lang = who.lang;
      localStorage.setItem(LANG_KEY, lang);
      applyWords();
    }
    $("#who").textContent = who.staff;
    $("#signin-msg").textContent = "";
    showView("desk");
    connect();
  }

  async function signOut() {
    if (stream) {
      stream.close();
      stream = null;
    }
    await api("POST", "/api/signout", {});
    signedOut("signin.out");
  }

  // -- live state ----------------------------------------------------------------------------
  function setLive(on) {
    const el = $("#live");
    el.textContent = t(on ? "live.on" : "live.off");
    el.classList.toggle("off", !on);
  }

  function connect() {
    if (stream) stream.close();
    stream = new EventSource("/api/events");
    stream.addEventListener("open", () => setLive(true));
    stream.addEventListener("state", (e) => {
      setLive(true);
      render(JSON.parse(e.data));
    });
    stream.addEventListener("end", () => signedOut("signin.expired"));
    stream.addEventListener("error", () => {
      setLive(false);
      if (stream && stream.readyState === EventSource.CLOSED) setTimeout(recheck, 3000);
    });
  }

  async function recheck() {
    if (!me) return;
    const r = await api("GET", "/api/session");
    if (r.ok) connect();
    else if (r.status !== 401) setTimeout(recheck, 5000);
  }

  function secondsLeft(p) {
    return Math.max(0, Math.round(p.seconds_left - (performance.now() - stateAt) / 1000));
  }

  function clock(ts) {
    return new Date(ts * 1000).toLocaleTimeString(lang === "zh" ? "zh-CN" : "en-GB", {
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  function mmss(s) {
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render(s) {
    state = s;
    stateAt = performance.now();
    $("#venue").textContent = w(s.venue);
    renderPending();
    renderRecent();
    if (check && check.eventId && !recording && !pendingById(check.eventId)) {
      toast(t("check.gone")); // answered at another screen, or its window ran out
      closeCheck();
    }
  }

  const pendingById = (id) => (state ? state.pending.find((p) => p.event_id === id) : null);

  let cards = new Map(); // `${event id}|${lang}` → its list item, kept so that crops are not fetched again

  function pendingCard(p) {
    const li = el("li");
    const card = el("button", "pending-card");
    card.type = "button";
    card.dataset.id = p.event_id;
    if (p.crop) {
      const img = el("img", "crop");
      img.alt = t("check.face");
      img.src = `/api/checks/${encodeURIComponent(p.event_id)}/crop`;
      card.append(img);
    } else {
      card.append(el("span", "crop empty", t("pending.no_crop")));
    }
    const info = el("span", "info");
    const bar = el("span", "timebar");
    bar.append(el("span", "fill"));
    info.append(
      el("span", "flag", t("pending.flag")),
      el("span", "meta", `${t("camera")} ${p.camera_id} · ${clock(p.alerted_at)}`),
      el("span", "est", t("estimate", { n: p.age_estimate })),
      el("span", "countdown", ""),
      bar,
    );
    card.append(info);
    card.addEventListener("click", () => openCheck(p.event_id));
    li.append(card);
    return li;
  }

  function renderPending() {
    const next = new Map();
    const fresh = [];
    for (const p of state.pending) {
      const key = `${p.event_id}|${lang}`;
      const li = cards.get(key) || pendingCard(p);
      if (!seen.has(p.event_id)) {
        li.firstChild.classList.add("fresh");
        fresh.push(p.event_id);
      }
      next.set(key, li);
    }
    cards = next;
    $("#pending").replaceChildren(...next.values());
    for (const id of fresh) seen.add(id);
    if (fresh.length) {
      const p = pendingById(fresh[fresh.length - 1]);
      $("#announce").textContent = `${t("pending.flag")} · ${t("camera")} ${p.camera_id}`;
      if (navigator.vibrate) navigator.vibrate([150, 80, 150]);
    }
    $("#pending-none").hidden = state.pending.length > 0;
    document.title = (state.pending.length ? `(${state.pending.length}) ` : "") + t("title");
    tick();
  }

  function renderRecent() {
    const list = $("#recent");
    list.replaceChildren(
      ...state.recent.map((r) => {
        const li = el("li");
        li.append(el("span", "when", clock(r.checked_at)), el("span", "what", w(r.result)));
        const bits = [];
        if (r.age_years !== null) bits.push(t("reading.age", { n: r.age_years }));
        if (r.method) bits.push(w(r.method));
        if (r.document) bits.push(w(r.document));
        bits.push(r.walk_up ? t("recent.walkup") : `${t("camera")} ${r.camera_id}`);
        bits.push(r.staff || t("recent.agent"));
        li.append(el("span", "how", bits.join(" · ")));
        return li;
      }),
    );
    $("#recent-none").hidden = state.recent.length > 0;
  }

  function tick() {
    if (!state) return;
    for (const card of document.querySelectorAll(".pending-card")) {
      const p = pendingById(card.dataset.id);
      if (!p) continue;
      const left = secondsLeft(p);
      card.querySelector(".countdown").textContent = left > 0 ? t("left", { s: mmss(left) }) : t("timeup");
      card.querySelector(".fill").style.width = `${Math.min(100, (100 * left) / (state.window_s || 1))}%`;
      card.classList.toggle("urgent", left < 60);
      card.setAttribute("aria-label", `${t("pending.open")} · ${t("camera")} ${p.camera_id} · ${t("left", { s: mmss(left) })}`);
    }
    if (check && check.eventId) {
      const p = pendingById(check.eventId);
      if (p) {
        const left = secondsLeft(p);
        $("#check-timer").textContent = left > 0 ? t("left", { s: mmss(left) }) : t("timeup");
        $("#check-timer").classList.toggle("urgent", left < 60);
      }
    }
  }

  // -- a check -------------------------------------------------------------------------------
  function openCheck(eventId) {
    check = { eventId, walkUp: !eventId };
    reading = null;
    chosen = null;
    $("#number").value = "";
    $("#doc-birth").value = "";
    $("#guardian").querySelectorAll("input").forEach((i) => (i.checked = false));
    showCheck();
    $("#check").hidden = false;
    $("#desk").classList.add("behind");
    $("#check").scrollTop = 0;
    if (window.matchMedia("(pointer: fine)").matches) $("#number").focus();
    else $("#back").focus();
  }

  function showCheck() {
    const p = check.eventId ? pendingById(check.eventId) : null;
    $("#check-title").textContent = check.walkUp ? t("walkup.title") : t("check.title");
    const img = $("#check-crop");
    if (p && p.crop) {
      const src = `/api/checks/${encodeURIComponent(p.event_id)}/crop`;
      if (img.getAttribute("src") !== src) img.src = src;
      img.alt = t("check.face");
      img.hidden = false;
    } else {
      img.hidden = true;
      img.removeAttribute("src");
    }
    $("#check-meta").textContent = p ? `${t("camera")} ${p.camera_id} · ${t("alerted")} ${clock(p.alerted_at)}` : "";
    $("#check-estimate").textContent = p ? t("estimate", { n: p.age_estimate }) : "";
    $("#check-timer").textContent = "";
    $("#walkup-camera").hidden = !check.walkUp;
    if (check.walkUp) fillCameras();
    const canChip = state ? state.reader : false;
    const canOcr = state ? state.ocr : false;
    document.querySelector("[data-read=chip]").disabled = !canChip;
    document.querySelector("[data-read=photo]").disabled = !canOcr;
    $("#step-read").hidden = !!reading;
    $("#step-reading").hidden = !reading;
    if (reading) showReading();
    renderOutcomes();
    tick();
  }

  function closeCheck() {
    stopCamera();
    check = null;
    reading = null;
    chosen = null;
    $("#number").value = "";
    $("#doc-birth").value = "";
    $("#check").hidden = true;
    $("#desk").classList.remove("behind");
    hideReadPanels();
    clearErrors();
    // the face, the age read and the outcomes offered go with the check (not left hidden in the page)
    const img = $("#check-crop");
    img.removeAttribute("src");
    img.hidden = true;
    for (const id of ["#check-meta", "#check-estimate", "#reading-age", "#reading-kind", "#reading-how"]) {
      $(id).textContent = "";
    }
    $("#outcomes").replaceChildren();
  }

  function fillCameras() {
    const sel = $("#camera-select");
    const keep = sel.value;
    const opts = [el("option", "", t("walkup.no_camera"))];
    opts[0].value = "";
    for (const c of (state && state.cameras) || []) {
      const o = el("option", "", c);
      o.value = c;
      opts.push(o);
    }
    sel.replaceChildren(...opts);
    sel.value = keep;
  }

  function fillDocuments() {
    if (!W) return;
    const sel = $("#doc-type");
    const keep = sel.value;
    sel.replaceChildren(
      ...W.documents.map((d) => {
        const o = el("option", "", w(d.words));
        o.value = d.code;
        return o;
      }),
    );
    if (keep) sel.value = keep;
  }

  function hideReadPanels() {
    $("#panel-chip").hidden = true;
    $("#panel-photo").hidden = true;
    $("#document-form").hidden = true;
    $("#read-busy").hidden = true;
  }

  function clearErrors() {
    $("#read-error").hidden = true;
    $("#read-failed").hidden = true;
    $("#record-error").hidden = true;
  }

  async function readWith(kind) {
    clearErrors();
    hideReadPanels();
    if (kind !== "photo") stopCamera();
    if (kind === "typed") {
      $("#number").focus();
      return;
    }
    if (kind === "document") {
      $("#document-form").hidden = false;
      $("#doc-birth").focus();
      return;
    }
    if (kind === "photo") {
      $("#panel-photo").hidden = false;
      await startCamera();
      if (!$("#panel-photo").hidden) $("#panel-photo").scrollIntoView({ block: "center", behavior: "smooth" });
      return;
    }
    $("#panel-chip").hidden = false;
    await submitRead("POST", "/api/read/chip", {});
    $("#panel-chip").hidden = true;
  }

  async function submitRead(method, path, body, contentType) {
    if (busy) return false;
    busy = true;
    clearErrors();
    $("#read-busy").hidden = false;
    const r = await api(method, path, body, contentType);
    $("#read-busy").hidden = true;
    busy = false;
    if (!check) return false;
    if (r.ok) {
      reading = r.data;
      chosen = null;
      stopCamera();
      hideReadPanels();
      $("#number").value = "";
      $("#doc-birth").value = "";
      showCheck();
      const first = $("#outcomes button");
      if (first) first.focus();
      return true;
    }
    if (r.data.reason || r.data.unreadable) {
      $("#read-error-reason").textContent = r.data.reason ? w(r.data.reason) : "";
      $("#read-error").hidden = false;
    } else {
      $("#read-failed").textContent = r.data.error || t("err.internal");
      $("#read-failed").hidden = false;
    }
    return false;
  }

  function showReading() {
    $("#reading-age").textContent = t("reading.age", { n: reading.age });
    const kind = $("#reading-kind");
    kind.textContent = t(reading.minor ? "reading.minor" : "reading.adult");
    kind.className = `badge ${reading.minor ? "minor" : "adult"}`;
    $("#reading").className = `reading ${reading.minor ? "minor" : "adult"}`;
    $("#reading-u14").hidden = !reading.under_14;
    $("#reading-how").textContent = t("reading.how", { d: w(reading.document), m: w(reading.method) });
  }

  // -- the camera ----------------------------------------------------------------------------
  async function startCamera() {
    const video = $("#video");
    const fallback = () => {
      $("#no-camera").hidden = !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
      $("#photo-file-label").hidden = false;
      video.hidden = true;
      $("#capture").hidden = true;
    };
    if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) {
      fallback();
      return;
    }
    if (camera) return;
    try {
      camera = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" }, width: { ideal: 1920 }, height: { ideal: 1080 } },
      });
    } catch (e) {
      camera = null;
      fallback();
      return;
    }
    if (!check || $("#panel-photo").hidden) {
      stopCamera();
      return;
    }
    video.srcObject = camera;
    video.hidden = false;
    $("#capture").hidden = false;
    $("#no-camera").hidden = true;
    $("#photo-file-label").hidden = true;
    try {
      await video.play();
    } catch (e) {
      /* autoplay of a muted preview is allowed; nothing to do otherwise */
    }
  }

  function stopCamera() {
    if (camera) {
      for (const track of camera.getTracks()) track.stop();
      camera = null;
    }
    const video = $("#video");
    video.srcObject = null;
    video.hidden = true;
    $("#capture").hidden = true;
  }

  function toJpeg(source, width, height) {
    const scale = Math.min(1, PHOTO_MAX_SIDE / Math.max(width, height));
    const canvas = $("#canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) =>
      canvas.toBlob((blob) => {
        ctx.clearRect(0, 0, canvas.width, canvas.height); // the frame is not kept on the page
        canvas.width = canvas.height = 1;
        resolve(blob);
      }, "image/jpeg", 0.92),
    );
  }

  async function capture() {
    const video = $("#video");
    if (!camera || !video.videoWidth) return;
    const blob = await toJpeg(video, video.videoWidth, video.videoHeight);
    if (blob) await submitRead("POST", "/api/read/photo", blob, "image/jpeg");
  }

  async function photoChosen() {
    const input = $("#photo-file");
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      const blob = await toJpeg(img, img.naturalWidth, img.naturalHeight);
      if (blob) await submitRead("POST", "/api/read/photo", blob, "image/jpeg");
    } catch (e) {
      $("#read-error-reason").textContent = "";
      $("#read-error").hidden = false;
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  // -- the outcome ---------------------------------------------------------------------------
  function fitting() {
    const age = reading ? (reading.minor ? "minor" : "adult") : "none";
    return W.results.filter((r) => r.age === age);
  }

  function renderOutcomes() {
    const box = $("#outcomes");
    const options = fitting();
    box.replaceChildren(
      ...options.map((r) => {
        const b = el("button", `big outcome age-${r.age}`, w(r.words));
        b.type = "button";
        b.dataset.code = r.code;
        b.setAttribute("aria-pressed", String(chosen === r.code));
        b.addEventListener("click", () => choose(r.code));
        return b;
      }),
    );
    $("#outcome-title").textContent = reading ? t("outcome.title") : t("outcome.no_read");
    const res = options.find((r) => r.code === chosen);
    $("#guardian").hidden = !(res && res.guardian_record && state && state.guardian_questions);
    updateConfirm();
  }

  function choose(code) {
    chosen = code;
    $("#record-error").hidden = true;
    renderOutcomes();
    const c = $("#confirm");
    if (!c.disabled) c.focus();
  }

  function guardianAnswer(name) {
    const picked = document.querySelector(`#guardian input[name=${name}]:checked`);
    return picked ? picked.value === "yes" : null;
  }

  function updateConfirm() {
    const needsGuardian = !$("#guardian").hidden;
    const answered = !needsGuardian || (guardianAnswer("contact") !== null && guardianAnswer("co") !== null);
    $("#confirm").disabled = !chosen || !answered || busy;
  }

  async function confirm() {
    if (!check || !chosen || busy) return;
    const body = {
      event_id: check.eventId,
      outcome: chosen,
      reading_id: reading ? reading.reading_id : null,
    };
    if (check.walkUp) body.camera_id = $("#camera-select").value || null;
    if (!$("#guardian").hidden) {
      body.guardian_contact_recorded = guardianAnswer("contact");
      body.co_occupants_recorded = guardianAnswer("co");
    }
    busy = recording = true;
    updateConfirm();
    const r = await api("POST", "/api/record", body);
    busy = recording = false;
    if (r.ok) {
      toast(t("outcome.recorded", { r: w(r.data.recorded.result) }));
      closeCheck();
      return;
    }
    updateConfirm();
    if (r.status === 409) {
      toast(r.data.error || t("err.internal"));
      closeCheck();
      return;
    }
    $("#record-error").textContent = r.data.error || t("err.internal");
    $("#record-error").hidden = false;
  }

  // -- language ------------------------------------------------------------------------------
  async function switchLang() {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, lang);
    applyWords();
    if (me) await api("POST", "/api/lang", { lang });
  }

  // -- keyboard: a scanner types the number and Enter wherever the focus is --------------------
  function onKey(ev) {
    if (!check || ev.ctrlKey || ev.metaKey || ev.altKey || reading) return;
    const target = ev.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) return;
    if (!/^[0-9Xx]$/.test(ev.key)) return;
    ev.preventDefault();
    const input = $("#number");
    input.value += ev.key.toUpperCase();
    input.focus();
  }

  // -- start ---------------------------------------------------------------------------------
  async function start() {
    try {
      const r = await fetch("/static/words.json", { credentials: "same-origin" });
      W = await r.json();
    } catch (e) {
      W = null;
    }
    applyWords();
    $("#signin-form").addEventListener("submit", signIn);
    $("#lang").addEventListener("click", switchLang);
    $("#signout").addEventListener("click", signOut);
    $("#walkup").addEventListener("click", () => openCheck(null));
    $("#back").addEventListener("click", closeCheck);
    for (const b of document.querySelectorAll("[data-read]")) b.addEventListener("click", () => readWith(b.dataset.read));
    $("#number-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("#number").value.trim();
      if (value) submitRead("POST", "/api/read/number", { number: value });
    });
    $("#number-x").addEventListener("click", () => {
      const input = $("#number");
      input.value += "X";
      input.focus();
    });
    $("#document-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      submitRead("POST", "/api/read/document", { document: $("#doc-type").value, birth_date: $("#doc-birth").value });
    });
    $("#reread").addEventListener("click", () => {
      reading = null;
      chosen = null;
      showCheck();
    });
    $("#capture").addEventListener("click", capture);
    $("#photo-file").addEventListener("change", photoChosen);
    $("#guardian").addEventListener("change", updateConfirm);
    $("#confirm").addEventListener("click", confirm);
    document.addEventListener("keydown", onKey);
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && check) closeCheck();
    });
    setInterval(tick, 1000);
    const r = await api("GET", "/api/session");
    if (r.ok) enterDesk(r.data);
    else signedOut("");
  }

  start();
})();
