"""The live alarms as their users need them, in real headless Chromium (Debian's, driven by Playwright), at desktop
(1366×800) and tablet (820×1180) size, in Chinese and English: on a tablet an alarm opens as a full-screen sheet
over a long list (closed by its button, Escape or the browser's Back, the focus back on its row); on a desktop the
open alarm stays in view while the list scrolls; alarms the feed brings wait in an "N new alarms" bar and the rows
stay put until it is clicked; an open alarm follows the feed (acknowledged by another user, a new verdict) and is
not fetched again for other alarms' changes; the rows open from the keyboard; the menu is hidden until sign-in.

The hub runs without a broker; alarms are made directly in its database and the feed announces them.
Screenshots: artifacts/screenshots/layout-*.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from humiao.hub import alarms
from humiao.hub.tables import Alarm, Alert

from tests.hub.outcomes import add_alert, add_check
from tests.support.browser import ARGS, CHROMIUM, SHOTS, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, Browser, make_hub, seed, served

pytestmark = [pytest.mark.slow]
SIZES = {"desktop": {"width": 1366, "height": 800}, "tablet": {"width": 820, "height": 1180}}
KTV = ("d1", "ktv1", "edge1")
LONG = 60  # alarms beyond the seeded ones: a list several screens long
# a catalogue key shown instead of its words (t() falls back to the key itself)
UNTRANSLATED = re.compile(r"\b(?:new|detail|nav|vt)\.[a-z_]+\b|\{n\}")
WORDS = {
    "zh": {"new": "{n} 条新预警 · 点击显示", "back": "返回预警列表", "acknowledged": "已确认", "confirmed": "确认违法"},
    "en": {
        "new": "{n} new alarms · show them",
        "back": "Back to the alarms",
        "acknowledged": "Acknowledged",
        "confirmed": "confirmed",
    },
}


@pytest.fixture
def panel(tmp_path):
    """A hub (no broker) serving the panel, seeded (tests/support/hubapi.py) and with LONG more alarms at the
    KTV in d1 over the last day and a half; (hub, url)."""

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    seed(hub)
    now = datetime.now(UTC)
    with hub.sessions() as s, s.begin():
        for i in range(LONG):
            add_alert(s, KTV, now - timedelta(minutes=30 * (LONG - i)))
        s.flush()
        alarms.evaluate(s, now=now)
    with served(hub) as url:
        yield hub, url
    hub.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module (each test has its own hub and its own contexts)."""
    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _fresh_contexts(browser, panel):
    """Each test's pages are closed after it, before its hub stops (an open live feed would hold the hub's
    server until its shutdown timeout)."""
    yield
    for ctx in browser.contexts:
        ctx.close()


def raise_alarms(hub, n: int) -> list[int]:
    """``n`` new alarms at the KTV, raised as the hub's rules raise them (the feed announces them); their ids."""
    with hub.sessions() as s, s.begin():
        events = [add_alert(s, KTV, datetime.now(UTC)) for _ in range(n)]
        s.flush()
        alarms.evaluate(s, now=datetime.now(UTC))
        return sorted(s.scalars(select(Alarm.id).where(Alarm.event_id.in_(events))))


def screen(page, name: str) -> None:
    """What the user sees (the viewport, not the whole page): artifacts/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def start(browser, url: str, size: str, lang: str):
    page = browser.new_context(viewport=SIZES[size]).new_page()
    panel_sign_in(page, url, "police-d1", PASSWORD)
    if lang == "en":
        page.click("#lang")
        # the page drawn again in English, and its list loaded again: an alarm raised before that reload would be
        # in the list rather than in the "N new" bar the tests expect it in
        page.locator("h1", has_text="Live alarms").wait_for()
    page.locator("#alarm-rows tr.row").nth(LONG).wait_for()
    return page


def in_view(page, selector: str) -> bool:
    """The element's top and its first 40 px are inside the window."""
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + 40 <= page.viewport_size["height"]


def row_ids(page) -> list[int]:
    return [int(i) for i in page.eval_on_selector_all("#alarm-rows tr.row", "rs => rs.map(r => r.dataset.id)")]


def no_codes(page) -> None:
    shown = page.locator("body").inner_text()
    assert not UNTRANSLATED.search(shown), UNTRANSLATED.search(shown)


def fits(page) -> None:
    """Nothing wider than the window (no sideways scrolling, no text running out of its box)."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("size", ["tablet", "desktop"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_alarm_detail_and_new_alarms_bar(panel, browser, lang, size):
    from playwright.sync_api import expect

    hub, url = panel
    words = WORDS[lang]
    page = start(browser, url, size, lang)
    rows = page.locator("#alarm-rows tr.row")
    expect(rows).to_have_count(LONG + 2)
    fits(page)
    no_codes(page)
    shot(page, f"layout-{lang}-{size}-list")

    # -- an alarm far down the list opens where the user is looking
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    row = rows.nth(40)
    row.scroll_into_view_if_needed()
    alarm_id = int(row.get_attribute("data-id"))
    row.click()
    detail = page.locator("#alarm-detail")
    expect(detail.locator("#alarm-title")).to_be_visible()
    expect(page).to_have_url(re.compile(f"#/alarms/{alarm_id}$"))
    expect(page.locator("#close-alarm")).to_be_focused()
    assert in_view(page, "#alarm-detail") and in_view(page, "#close-alarm")
    if size == "tablet":  # a sheet over the whole window, its way back in words
        box = detail.bounding_box()
        assert box["y"] == 0 and box["height"] == SIZES[size]["height"], box
        expect(page.locator("#close-alarm")).to_have_accessible_name(f"← {words['back']}")
        assert page.evaluate("document.querySelector('header').inert && document.getElementById('alarm-list').inert")
        screen(page, f"layout-{lang}-{size}-sheet")
    else:  # a side panel that stays in view while the list scrolls to its end and back
        for y in ("document.body.scrollHeight", "0", "document.body.scrollHeight"):
            page.evaluate(f"window.scrollTo(0, {y})")
            page.wait_for_timeout(100)
            assert in_view(page, "#alarm-detail") and in_view(page, "#close-alarm"), y
        assert not page.evaluate("document.querySelector('header').inert")
        screen(page, f"layout-{lang}-{size}-detail")
    no_codes(page)
    page.click("#close-alarm")
    expect(detail.locator("#alarm-title")).to_have_count(0)
    expect(page).to_have_url(re.compile("#/alarms$"))
    expect(page.locator(f"#alarm-rows tr[data-id='{alarm_id}']")).to_be_focused()  # back on its row
    if size == "tablet":
        expect(detail).to_be_hidden()

    # -- new alarms wait in a bar; the rows under the pointer stay where they are until it is clicked
    page.evaluate("window.scrollTo(0, 0)")
    hovered = rows.nth(4)
    hovered.hover()
    first, before = row_ids(page)[0], hovered.bounding_box()
    new = raise_alarms(hub, 3)
    bar = page.locator("#new-alarms")
    expect(bar).to_have_text(words["new"].replace("{n}", "3"))
    assert in_view(page, "#new-alarms")
    assert row_ids(page)[0] == first and hovered.bounding_box() == before
    expect(rows).to_have_count(LONG + 2)
    fits(page)
    no_codes(page)
    screen(page, f"layout-{lang}-{size}-new-bar")
    new += raise_alarms(hub, 1)  # one more while waiting: the count follows
    expect(bar).to_have_text(words["new"].replace("{n}", "4"))
    assert row_ids(page)[0] == first
    bar.click()
    expect(rows).to_have_count(LONG + 6)
    expect(bar).to_be_hidden()
    assert row_ids(page)[:4] == sorted(new, reverse=True)
    expect(rows.first).to_be_focused()
    # -- further down the list the bar is still in sight, and the click brings the new rows into view
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    one = raise_alarms(hub, 1)
    expect(bar).to_have_text("1 条新预警 · 点击显示" if lang == "zh" else "1 new alarm · show it")
    assert in_view(page, "#new-alarms")
    bar.click()
    expect(rows.first).to_have_attribute("data-id", str(one[0]))
    assert in_view(page, "#alarm-rows tr.row:first-child")


def test_keyboard_escape_and_back_at_tablet_size(panel, browser):
    from playwright.sync_api import expect

    hub, url = panel
    page = start(browser, url, "tablet", "zh")
    rows = page.locator("#alarm-rows tr.row")

    # -- Tab from the filters reaches the first row, then the next; Enter opens it
    page.focus("#filters select[name=active]")
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('tr.row')"):
            break
    expect(rows.first).to_be_focused()
    page.keyboard.press("Tab")
    expect(rows.nth(1)).to_be_focused()
    second = int(rows.nth(1).get_attribute("data-id"))
    page.keyboard.press("Enter")
    expect(page.locator("#close-alarm")).to_be_focused()
    assert in_view(page, "#alarm-detail")
    # Tab moves within the sheet, not into the list hidden under it
    for _ in range(4):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('alarm-detail').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(page.locator("#alarm-detail")).to_be_hidden()
    expect(rows.nth(1)).to_be_focused()
    expect(page).to_have_url(re.compile("#/alarms$"))
    assert not page.evaluate("document.querySelector('header').inert")

    # -- Space opens too; the browser's Back closes the sheet
    page.keyboard.press("Tab")
    expect(rows.nth(2)).to_be_focused()
    page.keyboard.press(" ")
    expect(page.locator("#alarm-title")).to_be_visible()
    page.go_back()
    expect(page.locator("#alarm-detail")).to_be_hidden()
    expect(rows.nth(2)).to_be_focused()

    # -- a link to an alarm opens it as a sheet; its button then returns to the list
    page.goto(f"{url}/panel#/alarms/{second}")
    expect(page.locator("#alarm-title")).to_be_visible()
    assert in_view(page, "#alarm-detail")
    page.click("#close-alarm")
    expect(page.locator("#alarm-detail")).to_be_hidden()
    expect(page).to_have_url(re.compile("#/alarms$"))
    expect(page.locator(f"#alarm-rows tr[data-id='{second}']")).to_be_focused()


@pytest.mark.parametrize(("lang", "size"), [("zh", "tablet"), ("en", "desktop")])
def test_an_open_alarm_follows_the_feed(panel, browser, lang, size):
    from playwright.sync_api import expect

    hub, url = panel
    words = WORDS[lang]
    page = start(browser, url, size, lang)
    (fresh,) = raise_alarms(hub, 1)  # pending: within its ID-check window
    page.click("#new-alarms")
    page.click(f"#alarm-rows tr[data-id='{fresh}']")
    detail = page.locator("#alarm-detail")
    expect(detail.locator("[data-act=acknowledge]")).to_be_enabled()
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if re.search(r"/api/alarms/\d+$", r.url) else None)

    # -- another alarm changes: its row follows, the open one is not fetched again
    other = int(page.locator("#alarm-rows tr.row").nth(3).get_attribute("data-id"))
    with hub.sessions() as s:
        alarms.acknowledge(s, other, "ct-d1", "seen")
        s.commit()
    expect(page.locator(f"#alarm-rows tr[data-id='{other}']")).to_contain_text(words["acknowledged"])
    page.wait_for_timeout(500)
    assert fetched == [], fetched

    # -- another inspector acknowledges the open alarm through the API: the detail says so at once
    ct = Browser(hub, "ct-d1")
    assert (
        ct.post(f"/api/alarms/{fresh}/actions", json={"action": "acknowledge", "text": "on my way"}).status_code == 200
    )
    expect(detail.locator("#alarm-status")).to_contain_text(words["acknowledged"])
    expect(detail.locator("[data-act=acknowledge]")).to_be_disabled()
    expect(detail.locator(".history")).to_contain_text("ct-d1")
    assert len(fetched) == 1, fetched

    # -- the venue's staff record a minor admitted: the verdict changes in the open detail and its row
    with hub.sessions() as s, s.begin():
        event = s.scalar(select(Alert.event_id).join(Alarm, Alarm.event_id == Alert.event_id).where(Alarm.id == fresh))
        add_check(s, KTV, event, "minor_admitted", datetime.now(UTC) + timedelta(seconds=1))
        s.flush()
        alarms.evaluate(s, now=datetime.now(UTC) + timedelta(seconds=2))
    expect(detail.locator("#alarm-title .badge")).to_have_text(words["confirmed"])
    expect(page.locator(f"#alarm-rows tr[data-id='{fresh}'] .badge")).to_have_text(words["confirmed"])
    assert in_view(page, "#alarm-detail")
    no_codes(page)
    screen(page, f"layout-{lang}-{size}-live-detail")


def test_the_menu_is_hidden_until_sign_in(panel, browser):
    from playwright.sync_api import expect

    _hub, url = panel
    for size in SIZES:
        page = browser.new_context(viewport=SIZES[size]).new_page()
        page.goto(f"{url}/panel")
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator("#nav")).to_be_hidden()
        expect(page.locator("#logout")).to_be_hidden()
        shot(page, f"layout-zh-{size}-sign-in")
        panel_sign_in(page, url, "police-d1", PASSWORD)
        expect(page.locator("#nav a[href='#/alarms']")).to_be_visible()
        page.click("#logout")
        expect(page.locator("#login-form")).to_be_visible()
        expect(page.locator("#nav")).to_be_hidden()
        expect(page.locator("#who")).to_have_text("")


def test_a_page_left_before_its_answer_is_not_drawn(panel, browser):
    """The case list is asked for, the viewer goes on to the venues before the hub answers: the venues stay on the
    screen when the case list's answer comes (it once drew over whichever page the viewer had gone to)."""
    from playwright.sync_api import expect

    _hub, url = panel
    page = browser.new_context(viewport=SIZES["desktop"]).new_page()
    panel_sign_in(page, url, "police-d1", PASSWORD)
    held = []
    page.route("**/api/cases", lambda route: held.append(route))
    page.goto(f"{url}/panel#/cases")
    for _ in range(200):  # the request reaches the route (handlers run while Playwright waits)
        if held:
            break
        page.wait_for_timeout(25)
    assert len(held) == 1
    page.goto(f"{url}/panel#/venues")
    page.locator("main a[href^='#/venues/']").first.wait_for()
    venues = page.locator("main").inner_text()
    with page.expect_response("**/api/cases"):
        held[0].continue_()
    page.wait_for_timeout(300)  # the answer read and (before the mend) drawn
    assert page.locator("main").inner_text() == venues
    expect(page.locator("#toast.show")).to_have_count(0)
