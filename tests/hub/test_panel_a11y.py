"""The panel for people who read it with weak eyes or use it without a mouse, in real headless Chromium (Debian's,
driven by Playwright), in Chinese and English: every visible text on every page (alarms, an alarm's detail, cases, a
case, venues, a venue, dashboard, lists, reports, audit, devices, the banner, a toast) has WCAG AA contrast with what
is behind it — 4.5:1, 3:1 for large text — measured in the browser from the computed colours (through
semi-transparent layers down to the first opaque background; every colour of a gradient); a focused control shows a
ring of at least 3:1; the keyboard alone reaches the skip link, the menu, the filters and the rows, Enter opens an
alarm (its close button gets the focus), Escape closes it and the focus returns to its row. One hub and one browser
for the module. Screenshots: artifacts/screenshots/a11y-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hub.test_panel_layout import SIZES
from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, Browser, make_hub, seed, served

pytestmark = [pytest.mark.slow]

# WCAG 2.x contrast, in the page: [{text, ratio, need, fg, bg, where}] for each visible text below its minimum, and
# how many texts were measured. A text's colour is composed over what is behind it (semi-transparent backgrounds down
# to the first opaque one, the page's white at the end; a gradient gives each of its colours); its ancestors' opacity
# thins it; disabled controls are exempt (WCAG 1.4.3), as is what an open sheet hides (inert).
CONTRAST_JS = r"""
(root) => {
  root = root || document.body;
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c || "");
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3])).concat(1);
  const WHITE = [255, 255, 255, 1];
  // the colours behind el (several under a gradient)
  const behind = (el) => {
    const layers = [], down = (base) => layers.reduceRight((acc, l) => over(l, acc), base);
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e), bg = parse(cs.backgroundColor);
      const image = cs.backgroundImage && cs.backgroundImage !== "none" ? cs.backgroundImage : "";
      const stops = (image.match(/rgba?\([^)]+\)/g) || []).map(parse);
      if (stops.length) return stops.map((s) => down(over(s, bg && bg[3] ? over(bg, WHITE) : WHITE)));
      if (bg && bg[3] >= 1) return [down(bg)];
      if (bg && bg[3] > 0) layers.push(bg);
    }
    return [down(WHITE)];
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= +getComputedStyle(e).opacity;
    return o;
  };
  const exempt = (el) => el.closest(":disabled, [aria-disabled=true], [inert], option, script, style, noscript");
  const large = (cs) => {
    const px = parseFloat(cs.fontSize), w = +cs.fontWeight || 400;
    return px >= 24 || (px >= 18.66 && w >= 700);
  };
  const where = (el) => el.id ? `#${el.id}`
    : `${el.tagName.toLowerCase()}.${String(el.className).trim().split(/\s+/).join(".")} in ${el.parentElement.id}`;
  const seen = new Set(), failures = [];
  let measured = 0;
  const measure = (el, text, color) => {
    const rect = el.getBoundingClientRect();
    if (rect.width <= 1 || rect.height <= 1) return;
    if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) return;
    const cs = getComputedStyle(el), op = opacity(el), fg = parse(color || cs.color);
    if (op === 0 || !fg) return;
    const need = large(cs) ? 3 : 4.5;
    measured++;
    for (const bg of behind(el)) {
      const r = ratio(over([fg[0], fg[1], fg[2], fg[3] * op], bg), bg);
      if (r < need) {
        const rgb = `rgb(${bg.slice(0, 3).map(Math.round)})`;
        failures.push({ text: text.slice(0, 40), ratio: +r.toFixed(2), need, fg: cs.color, bg: rgb, where: where(el) });
        break;
      }
    }
  };
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement, text = n.textContent.trim();
    if (!text || !el || seen.has(el) || exempt(el)) continue;
    seen.add(el);
    measure(el, text);
  }
  // form fields: what is typed, the choice shown, the placeholder
  const fields = "input:not([type=hidden]):not([type=checkbox]):not([type=radio]):not([type=file]), select, textarea";
  for (const el of root.querySelectorAll(fields)) {
    if (exempt(el.parentElement) || el.disabled) continue;
    measure(el, el.value || el.name || el.tagName);
    if (el.placeholder) measure(el, `placeholder ${el.placeholder}`, getComputedStyle(el, "::placeholder").color);
  }
  return { failures, measured };
}
"""

# the focused element's ring: its colour against what is around it (inside the element when drawn inside)
FOCUS_RING_JS = r"""
() => {
  const el = document.activeElement, cs = getComputedStyle(el);
  const parse = (c) => {
    const p = /rgba?\(([^)]+)\)/.exec(c)[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  let bg = [255, 255, 255, 1];
  for (let e = parseFloat(cs.outlineOffset) < 0 ? el : el.parentElement; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c[3] >= 1) { bg = c; break; }
  }
  const x = lum(parse(cs.outlineColor)), y = lum(bg);
  return { where: el.id || `${el.tagName}.${el.className}`, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
           ratio: (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05) };
}
"""


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory):
    """A hub (no broker) serving the panel, seeded (tests/support/hubapi.py), a case opened on the KTV's alarm and
    taken to decided (a fine); (hub, url, alarm ids, case id)."""
    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("a11y")
    hub = make_hub(tmp, f"sqlite:///{tmp / 'hub.db'}")
    ids = seed(hub)
    ct = Browser(hub, "ct-d1")
    case = ct.post("/api/cases", json={"alarm_ids": [ids["ktv1"]]}).json()["id"]
    officers = [{"user": "ct-d1", "enforcement_id": "31010001"}, {"user": "ct-d1b", "enforcement_id": "31010002"}]
    for action, body in (
        ("assign", {"officers": officers}),
        ("inspect", {"findings": "a minor admitted"}),
        ("respond_notice", {}),
        ("legal_review", {"opinion": "facts clear"}),
        ("decide", {"decision": "fine", "basis": "art. 58", "fine_yuan": 5000}),
    ):
        r = ct.post(f"/api/cases/{case}/actions", json={"action": action, **body})
        assert r.status_code == 200, r.text
    with served(hub) as url:
        yield hub, url, ids, case
    hub.engine.dispose()


@pytest.fixture(scope="module")
def browser(hub_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def start(browser, url: str, user: str, lang: str, size: str = "desktop", **ctx):
    page = browser.new_context(viewport=SIZES[size], **ctx).new_page()
    panel_sign_in(page, url, user, PASSWORD)
    if lang == "en":
        page.click("#lang")
        page.locator("html[lang=en]").wait_for()
    return page


def contrast_ok(page, name: str) -> int:
    """Every visible text on the page meets AA; how many were measured."""
    page.wait_for_timeout(150)  # the row highlight's fade-in, the toast's
    got = page.evaluate(CONTRAST_JS, None)
    assert not got["failures"], f"{name}: {got['failures']}"
    return got["measured"]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_has_aa_contrast(hub_url, browser, lang):
    from playwright.sync_api import expect

    hub, url, ids, case = hub_url
    measured = {}
    page = start(browser, url, "ct-d1", lang)
    for name, hash_, ready in (
        ("alarms", "#/alarms", "#alarm-rows tr.row"),
        ("detail", f"#/alarms/{ids['ktv1']}", "#alarm-title"),
        ("cases", "#/cases", "#case-list tr.row"),
        ("case", f"#/cases/{case}", "#stepper"),
        ("venues", "#/venues", "main tr.row"),
        ("venue", "#/venues/ktv1", "#idchecks"),
        ("dashboard", "#/dashboard", "#per-day"),
        ("lists", "#/lists", "main .card"),
        ("reports", "#/reports", "#report-form"),
    ):
        page.goto(f"{url}/panel{hash_}")
        page.locator(ready).first.wait_for()
        measured[name] = contrast_ok(page, name)
        shot(page, f"a11y-{lang}-{name}")
    # a toast (a step refused by the hub: its words)
    page.goto(f"{url}/panel#/cases/{case}")
    page.locator("form.step[data-action=close] button").click()
    expect(page.locator("#toast.show")).to_be_visible()
    measured["toast"] = contrast_ok(page, "toast")
    # the selected row and a focused one in the alarm list
    page.goto(f"{url}/panel#/alarms/{ids['ktv1']}")
    page.locator("#alarm-rows tr.sel").wait_for()
    measured["selected row"] = contrast_ok(page, "selected row")
    for user, name, hash_, ready in (
        ("auditor", "audit", "#/audit", "#audit-rows tr"),
        ("admin", "devices", "#/devices", "#enrol-form"),
    ):
        other = start(browser, url, user, lang)
        other.goto(f"{url}/panel{hash_}")
        other.locator(ready).first.wait_for()
        measured[name] = contrast_ok(other, name)
        shot(other, f"a11y-{lang}-{name}")
        other.context.close()
    # the banner when the hub's lists do not load
    ctx = browser.new_context(viewport=SIZES["desktop"])
    ctx.route("**/api/meta", lambda route: route.fulfill(status=503, json={"detail": "hub busy"}))
    banner = ctx.new_page()
    panel_sign_in(banner, url, "police-d1", PASSWORD)
    expect(banner.locator("#banner")).to_be_visible()
    measured["banner"] = contrast_ok(banner, "banner")
    ctx.close()
    # the alarm sheet on a tablet
    tablet = start(browser, url, "ct-d1", lang, "tablet")
    tablet.goto(f"{url}/panel#/alarms/{ids['ktv1']}")
    tablet.locator("#alarm-title").wait_for()
    measured["sheet"] = contrast_ok(tablet, "sheet")
    tablet.context.close()
    assert all(n >= 3 for n in measured.values()), measured  # each page had texts to measure
    page.context.close()


def test_the_measure_finds_weak_contrast(hub_url, browser):
    """The measuring itself: light grey on white, white on the white stripes of a gradient, dark text through a faded
    parent, a light placeholder, each found; large text is held to 3:1 (#777 on white, 4.48:1, passes)."""
    _, url, _, _ = hub_url
    page = start(browser, url, "ct-d1", "en")
    page.evaluate(
        """() => document.getElementById("main").insertAdjacentHTML("afterbegin", `<div id="probe">
          <p style="color:#999">light grey</p>
          <div style="background:repeating-linear-gradient(45deg,#175cd3,#175cd3 5px,#fff 5px,#fff 10px)">
            <span style="color:#fff">on stripes</span></div>
          <div style="opacity:.4"><span style="color:#1d2433">faded</span></div>
          <style>#probe input::placeholder { color:#bbb; }</style><input placeholder="hint" style="color:#000">
          <p style="color:#aaa;font-size:26px">large grey</p>
          <p style="color:#777;font-size:26px">large enough</p></div>`)"""
    )
    got = page.evaluate(CONTRAST_JS, page.query_selector("#probe"))
    found = {f["text"] for f in got["failures"]}
    assert {"light grey", "on stripes", "faded", "placeholder hint", "large grey"} <= found, got["failures"]
    assert "large enough" not in found
    page.context.close()


@pytest.mark.parametrize(("lang", "size"), [("zh", "tablet"), ("en", "desktop")])
def test_the_keyboard_reaches_everything_and_sees_where_it_is(hub_url, browser, lang, size):
    from playwright.sync_api import expect

    hub, url, ids, case = hub_url
    page = start(browser, url, "ct-d1", lang, size)
    rows = page.locator("#alarm-rows tr.row")
    rows.first.wait_for()

    # -- from the top: the skip link first (shown when focused), it takes the keyboard to the content
    page.reload()  # the keyboard starts at the top of the page
    rows.first.wait_for()
    page.keyboard.press("Tab")
    skip = page.locator("#skip")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["width"] > 20
    ring = page.evaluate(FOCUS_RING_JS)
    assert ring["style"] != "none" and ring["width"] >= 2 and ring["ratio"] >= 3, ring
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    assert page.url.endswith("#/alarms")  # the address (the router's) untouched

    # -- Tab reaches every menu entry, the language switch, the filters and the rows, each with a visible ring
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('filters').contains(document.activeElement)")  # past the menu
    page.reload()
    rows.first.wait_for()
    page.keyboard.press("Tab")  # the skip link
    reached, rings = [], []
    for _ in range(40):
        page.keyboard.press("Tab")
        el = page.evaluate("(e => e.getAttribute('href') || e.name || e.id || e.tagName)(document.activeElement)")
        if el not in reached:  # (a date field's inner stops, day, month, year, picker, are one element's)
            rings.append(page.evaluate(FOCUS_RING_JS))
        reached.append(el)
        if page.evaluate("document.activeElement.matches('#alarm-rows tr.row')"):
            break
    visible_nav = [a.get_attribute("href") for a in page.locator("#nav a:visible").all()]
    assert visible_nav and all(h in reached for h in visible_nav), reached
    assert {"lang", "logout", "district", "venue_type", "verdict", "active", "since"} <= set(reached), reached
    assert reached[-1] == "TR", reached
    weak = [r for r in rings if r["style"] == "none" or r["width"] < 2 or r["ratio"] < 3]
    assert not weak, weak
    first = rows.first
    expect(first).to_be_focused()

    # -- Enter opens the alarm: its close button has the focus; Escape closes it, the focus back on the row
    alarm_id = first.get_attribute("data-id")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(f"#/alarms/{alarm_id}$"))
    expect(page.locator("#close-alarm")).to_be_focused()
    if size == "tablet":  # a sheet: Tab stays inside it
        for _ in range(6):
            page.keyboard.press("Tab")
            assert page.evaluate("document.getElementById('alarm-detail').contains(document.activeElement)")
    shot(page, f"a11y-{lang}-{size}-keyboard-open")
    page.keyboard.press("Escape")
    expect(page.locator("#alarm-title")).to_have_count(0)
    expect(first).to_be_focused()
    # -- Space opens too, the close button closes, the focus back on the row
    page.keyboard.press(" ")
    expect(page.locator("#close-alarm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#alarm-title")).to_have_count(0)
    expect(first).to_be_focused()

    # -- the case queue: Tab reaches a case's number, Enter opens it; its links and steps are reachable
    page.goto(f"{url}/panel#/cases")
    page.locator("#case-list").wait_for()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches(\"#case-list a[href='#/cases/{case}']\")"):
            break
    page.keyboard.press("Enter")
    page.locator("#stepper").wait_for()
    for selector in (f"#case-links a[href='#/alarms/{ids['ktv1']}']", "form.step[data-action=close] textarea"):
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("(s) => document.activeElement.matches(s)", selector):
                break
        else:
            raise AssertionError(f"Tab never reached {selector}")
        ring = page.evaluate(FOCUS_RING_JS)
        assert ring["style"] != "none" and ring["ratio"] >= 3, ring
    page.context.close()
