"""The panel renders from the hub's own lists (``GET /api/meta``), in real headless Chromium (Debian's, driven by
Playwright), at desktop (1366×800) and tablet (820×1180) size, in Chinese and English: the venue types' words in the
alarm list, its filter, the venue page and the dashboard are meta's; a case offers exactly the steps the hub allows
this viewer (``allowed_actions``) and says in words why there are none for one who may only read or for a closed
case; every time is shown in meta's zone (Asia/Shanghai), named on the page, whatever the browser's own zone, and a
date (YYYY-MM-DD) does not shift a day; if the lists do not load, a banner says so and the venue types show as codes.

The hub runs without a broker; its data are made directly in its database and through its API.
Screenshots: artifacts/screenshots/meta-*.png."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from humiao.hub import alarms
from humiao.hub.tables import Alarm, Venue

from tests.hub.outcomes import add_alert
from tests.hub.test_panel_layout import SIZES, fits, no_codes
from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, Browser, make_hub, seed, served

pytestmark = [pytest.mark.slow]
KTV = ("d1", "ktv1", "edge1")
SHANGHAI = ZoneInfo("Asia/Shanghai")
ELSEWHERE = "America/New_York"  # the browser's own zone in the time tests: a day and 12-13 hours behind
SIGN_CHECKED = date(2026, 3, 1)  # a date (no time): shown as it is in every zone
BOTH = [(lang, size) for lang in ("zh", "en") for size in SIZES]
CASE_WORDS = {
    "zh": {"read_only": "您的账号只能查看本案", "done": "没有需要办理的步骤", "closed": "已结案"},
    "en": {"read_only": "Your account may only read it", "done": "there are no steps left to take", "closed": "closed"},
}
# a venue type's code where its words belong (the codes with no word of their own in them)
VT_CODES = re.compile(r"\b(?:internet_cafe|esports_hotel|script_entertainment)\b")
# a stored code (a step, decision, event, department …: snake_case) where its words belong
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A hub (no broker) serving the panel, seeded (tests/support/hubapi.py) with: an alarm at the KTV raised at
    01:30:30 yesterday in Asia/Shanghai (the day before in New York), the KTV's sign checked on SIGN_CHECKED, and two
    culture & tourism cases opened by ct-d1 through the API: one assigned to two officers, one taken to closed.
    (hub, url, facts)."""

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    tmp_path = tmp_path_factory.mktemp("meta")
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    ids = seed(hub)
    yesterday = datetime.now(SHANGHAI).date() - timedelta(days=1)
    known = datetime(yesterday.year, yesterday.month, yesterday.day, 1, 30, 30, tzinfo=SHANGHAI).astimezone(UTC)
    with hub.sessions() as s, s.begin():
        event = add_alert(s, KTV, known)
        s.flush()
        alarms.evaluate(s, now=datetime.now(UTC))
        known_id = s.scalar(select(Alarm.id).where(Alarm.event_id == event))
        venue = s.get(Venue, "ktv1")
        venue.sign_posted, venue.sign_checked_on = True, SIGN_CHECKED

    ct = Browser(hub, "ct-d1")
    officers = [{"user": "ct-d1", "enforcement_id": "31010001"}, {"user": "ct-d1b", "enforcement_id": "31010002"}]

    def act(case_id: int, action: str, **body) -> dict:
        r = ct.post(f"/api/cases/{case_id}/actions", json={"action": action, **body})
        assert r.status_code == 200, r.text
        return r.json()

    def open_case(alarm_id: int) -> int:
        r = ct.post("/api/cases", json={"alarm_ids": [alarm_id]})
        assert r.status_code == 200, r.text
        return r.json()["id"]

    assigned = open_case(ids["ktv1"])
    assert act(assigned, "assign", officers=officers)["status"] == "assigned"
    closed = open_case(known_id)
    act(closed, "assign", officers=officers)
    act(closed, "inspect", findings="adult, ID checked on site")
    act(closed, "respond_notice")
    act(closed, "legal_review", opinion="facts clear")
    act(closed, "decide", decision="no_penalty", basis="no violation found")
    assert act(closed, "close", note="no violation")["status"] == "closed"

    with served(hub) as url:
        facts = {"known": (known_id, known), "assigned": assigned, "closed": closed, "alarms": ids}
        yield hub, url, facts
    hub.engine.dispose()


@pytest.fixture(scope="module")
def browser(panel):
    """One Chromium for the module (each test opens its own contexts)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _fresh_contexts(browser):
    """Each test's pages are closed after it (the browser is the module's)."""
    yield
    for ctx in browser.contexts:
        ctx.close()


def meta_of(hub) -> dict:
    r = Browser(hub, "police-d1").get("/api/meta")
    assert r.status_code == 200, r.text
    return r.json()


def start(browser, url: str, user: str, size: str, lang: str, timezone_id: str | None = None, fetched=None):
    """A page signed in as ``user``, in ``lang``; the addresses of its requests for /api/meta into ``fetched``."""
    page = browser.new_context(viewport=SIZES[size], timezone_id=timezone_id).new_page()
    if fetched is not None:
        page.on("request", lambda r: fetched.append(r.url) if r.url.endswith("/api/meta") else None)
    panel_sign_in(page, url, user, PASSWORD)
    if lang == "en":
        page.click("#lang")
    return page


def wall(at: datetime) -> str:
    """``at`` as the panel shows it: its date and time in Asia/Shanghai."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def words_only(page) -> None:
    no_codes(page)
    shown = page.locator("body").inner_text()
    assert not VT_CODES.search(shown), VT_CODES.search(shown)


def case_words_only(page, *steps: str) -> None:
    """No catalogue key nor stored code on a case page; each step named in words (not its code)."""
    no_codes(page)
    shown = page.locator("main").inner_text()
    assert not SNAKE.search(shown), SNAKE.search(shown)
    for form in page.locator("form.step").all():
        assert form.locator("strong").inner_text() not in steps


@pytest.mark.parametrize(("lang", "size"), BOTH)
def test_venue_types_come_from_meta(panel, browser, lang, size):
    from playwright.sync_api import expect

    hub, url, facts = panel
    meta = meta_of(hub)
    words = {v["code"]: v["words"][lang] for v in meta["venue_types"]}
    fetched: list[str] = []
    page = start(browser, url, "police-d1", size, lang, fetched=fetched)
    rows = page.locator("#alarm-rows tr.row")
    expect(rows).to_have_count(3)  # the KTV's two, the hotel's one (d1)

    # -- the filter offers meta's venue types, in its order and words (after "all")
    options = page.locator("#filters select[name=venue_type] option")
    assert options.all_inner_texts()[1:] == [v["words"][lang] for v in meta["venue_types"]]
    assert [o.get_attribute("value") for o in options.all()] == [""] + [v["code"] for v in meta["venue_types"]]
    # -- each row's type in meta's words
    for venue, code in (("ktv1", "ktv"), ("hotel1", "hotel")):
        row = page.locator(f"#alarm-rows tr[data-id='{facts['alarms'][venue]}']")
        expect(row.locator("td").nth(2)).to_have_text(words[code])
    words_only(page)
    fits(page)
    shot(page, f"meta-{lang}-{size}-alarms")

    # -- choosing a type filters the list
    page.select_option("#filters select[name=venue_type]", "hotel")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td").nth(2)).to_have_text(words["hotel"])
    page.select_option("#filters select[name=venue_type]", "")
    expect(rows).to_have_count(3)

    # -- an alarm's detail, the venue page and the dashboard: the same words
    rows.first.click()
    expect(page.locator("#alarm-detail .kv")).to_contain_text(f"({words['ktv']})")
    page.goto(f"{url}/panel#/venues/ktv1")
    kv = page.locator("main .card.kv")
    expect(kv.locator("div").nth(1)).to_have_text(words["ktv"])
    words_only(page)
    fits(page)
    shot(page, f"meta-{lang}-{size}-venue")
    page.goto(f"{url}/panel#/dashboard")
    expect(page.locator("#by-type")).to_contain_text(words["ktv"])
    words_only(page)
    # the lists came once, at sign-in: the language switch and the pages since asked for them no more
    assert len(fetched) == 1, fetched


@pytest.mark.parametrize(("lang", "size"), BOTH)
def test_a_case_offers_only_its_allowed_steps(panel, browser, lang, size):
    from playwright.sync_api import expect

    hub, url, facts = panel
    meta = meta_of(hub)
    case = facts["assigned"]
    allowed = Browser(hub, "ct-d1").get(f"/api/cases/{case}").json()["allowed_actions"]
    assert allowed == meta["case_transitions"]["assigned"] == ["assign", "inspect", "transfer"]
    assert Browser(hub, "proc-d1").get(f"/api/cases/{case}").json()["allowed_actions"] == []
    said = CASE_WORDS[lang]

    # -- the culture & tourism inspector: exactly the steps the hub allows, each a form
    page = start(browser, url, "ct-d1", size, lang)
    page.goto(f"{url}/panel#/cases/{case}")
    forms = page.locator("form.step")
    expect(forms).to_have_count(len(allowed))
    assert [f.get_attribute("data-action") for f in forms.all()] == allowed
    for form in forms.all():
        expect(form.locator("button[type=submit]")).to_be_enabled()
    expect(page.locator("#no-steps")).to_have_count(0)
    # the transfer goes to another department of meta's, in words
    transfer = page.locator("form.step[data-action=transfer] select[name=to_department] option")
    assert [o.get_attribute("value") for o in transfer.all()] == [
        d for d in meta["departments"] if d != "culture_tourism"
    ]
    case_words_only(page, *allowed)
    fits(page)
    shot(page, f"meta-{lang}-{size}-case-steps")

    # -- a closed case: no step, and the words say why
    page.goto(f"{url}/panel#/cases/{facts['closed']}")
    expect(page.locator("#no-steps")).to_contain_text(said["done"])
    expect(page.locator("#no-steps")).to_contain_text(said["closed"])
    expect(page.locator("form.step")).to_have_count(0)
    expect(page.locator(".history li")).to_have_count(7)
    case_words_only(page)
    shot(page, f"meta-{lang}-{size}-case-closed")

    # -- the procuratorate reads the case and may take no step: no form, and the words say so
    proc = start(browser, url, "proc-d1", size, lang)
    proc.goto(f"{url}/panel#/cases/{case}")
    expect(proc.locator("h1")).to_contain_text("D1-CU-")
    expect(proc.locator("#no-steps")).to_contain_text(said["read_only"])
    expect(proc.locator("form.step")).to_have_count(0)
    expect(proc.locator("main button, main textarea, main select")).to_have_count(0)
    case_words_only(proc)
    fits(proc)
    shot(proc, f"meta-{lang}-{size}-case-read-only")


@pytest.mark.parametrize(("lang", "size"), BOTH)
def test_times_are_the_venues_whatever_the_browsers_zone(panel, browser, lang, size):
    from playwright.sync_api import expect

    hub, url, facts = panel
    alarm_id, known = facts["known"]
    shown = wall(known)  # e.g. 2026-11-24 01:30:30
    elsewhere = known.astimezone(ZoneInfo(ELSEWHERE))
    assert elsewhere.date() != known.astimezone(SHANGHAI).date()  # the test means something
    page = start(browser, url, "police-d1", size, lang, timezone_id=ELSEWHERE)
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == ELSEWHERE

    # -- the list: the alarm at its Asia/Shanghai wall time, the zone named once
    row = page.locator(f"#alarm-rows tr[data-id='{alarm_id}']")
    expect(row.locator("td").first).to_have_text(shown)
    expect(page.locator("#zone-note")).to_have_count(1)
    expect(page.locator("#zone-note")).to_contain_text("Asia/Shanghai")
    no_codes(page)
    fits(page)
    shot(page, f"meta-{lang}-{size}-times-list")

    # -- its detail and history say the same time, as the rules' reasoning does (to the minute)
    row.click()
    detail = page.locator("#alarm-detail")
    expect(detail.locator(".kv")).to_contain_text(shown)
    expect(detail.locator(".history li").first).to_contain_text(shown)
    expect(detail.locator(".reasons")).to_contain_text(shown[:16])
    if size == "desktop":
        shot(page, f"meta-{lang}-{size}-times-detail")
    page.click("#close-alarm")

    # -- "since" a day (the alarm's, in Asia/Shanghai) keeps it; since the next day leaves it out
    day = shown[:10]
    page.fill("#filters input[name=since]", day)
    page.locator("#filters input[name=since]").dispatch_event("change")
    expect(row).to_have_count(1)
    expect(page.locator("#alarm-rows tr.row")).to_have_count(3)
    following = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    page.fill("#filters input[name=since]", following)
    page.locator("#filters input[name=since]").dispatch_event("change")
    expect(page.locator("#alarm-rows tr.row")).to_have_count(2)  # the seeded ones, raised now
    expect(row).to_have_count(0)
    page.fill("#filters input[name=since]", "")
    page.locator("#filters input[name=since]").dispatch_event("change")

    # -- the venue page: the alarm's time, and the day the sign was checked, not a day off
    page.goto(f"{url}/panel#/venues/ktv1")
    expect(page.locator("main")).to_contain_text(shown)
    expect(page.locator("main .card.kv")).to_contain_text(SIGN_CHECKED.isoformat())
    expect(page.locator("#zone-note")).to_have_count(1)

    # -- the dashboard's days end today in Asia/Shanghai
    page.goto(f"{url}/panel#/dashboard")
    today = datetime.now(SHANGHAI).date().isoformat()
    expect(page.locator("#per-day + .muted")).to_contain_text(f"… {today}")

    # -- a case: its history in the same zone
    ct = start(browser, url, "ct-d1", size, lang, timezone_id=ELSEWHERE)
    ct.goto(f"{url}/panel#/cases/{facts['closed']}")
    case = Browser(hub, "ct-d1").get(f"/api/cases/{facts['closed']}").json()
    opened = datetime.fromisoformat(case["history"][0]["at"])
    expect(ct.locator(".history li").first).to_contain_text(wall(opened))
    expect(ct.locator("#zone-note")).to_contain_text("Asia/Shanghai")
    shot(ct, f"meta-{lang}-{size}-times-case")

    # -- the audit log: the auditor's own sign-in at its Asia/Shanghai time
    audit = start(browser, url, "auditor", size, lang, timezone_id=ELSEWHERE)
    signed_in_words = next(a["words"][lang] for a in meta_of(hub)["audit_actions"] if a["code"] == "login")
    expect(audit.locator("main table")).to_contain_text(signed_in_words)
    signed_in = next(
        e
        for e in Browser(hub, "auditor").get("/api/audit").json()["events"]
        if e["action"] == "login" and e["user"] == "auditor" and e["client"] != "testclient"
    )
    first = audit.locator("main table tr").nth(1)  # the newest: the sign-in through the panel
    expect(first.locator("td").nth(1)).to_contain_text("auditor")
    expect(first.locator("td").first).to_have_text(wall(datetime.fromisoformat(signed_in["at"])))
    expect(audit.locator("#zone-note")).to_contain_text("Asia/Shanghai")
    no_codes(audit)
    shot(audit, f"meta-{lang}-{size}-times-audit")


def test_without_meta_a_banner_says_so(panel, browser):
    from playwright.sync_api import expect

    hub, url, facts = panel
    meta = meta_of(hub)
    ctx = browser.new_context(viewport=SIZES["desktop"], timezone_id=ELSEWHERE)
    ctx.route("**/api/meta", lambda route: route.fulfill(status=503, json={"detail": "hub busy"}))
    page = ctx.new_page()
    panel_sign_in(page, url, "police-d1", PASSWORD)
    banner = page.locator("#banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("未能从中心加载")
    expect(banner).to_contain_text("hub busy")
    # the venue types as their codes, the filter out of use, the times in this computer's zone, named as such
    row = page.locator(f"#alarm-rows tr[data-id='{facts['alarms']['hotel1']}']")
    expect(row.locator("td").nth(2)).to_have_text("hotel")
    expect(page.locator("#filters select[name=venue_type]")).to_be_disabled()
    expect(page.locator("#zone-note")).to_contain_text(ELSEWHERE)
    page.click("#lang")
    expect(banner).to_contain_text("Could not load the hub's lists")
    shot(page, "meta-en-desktop-no-meta")

    # -- loaded again once the hub answers: the banner goes, the words and the venues' zone come
    ctx.unroute("**/api/meta")
    page.click("#meta-retry")
    expect(banner).to_be_hidden()
    hotel = next(v["words"]["en"] for v in meta["venue_types"] if v["code"] == "hotel")
    expect(row.locator("td").nth(2)).to_have_text(hotel)
    expect(page.locator("#filters select[name=venue_type]")).to_be_enabled()
    expect(page.locator("#zone-note")).to_contain_text("Asia/Shanghai")
