"""The case page as a procedure, in real headless Chromium (Debian's, driven by Playwright), at desktop (1366×800) and
tablet (820×1180) size, in Chinese and English: a stepper lists the procedure's statuses in the hub's order
(``GET /api/meta``), each done, current (``aria-current="step"``) or to come, with when each was reached and by whom
(the case's history); the deadlines that apply, overdue and due soon said in words; what comes next (the steps the
hub's transitions allow); only the steps the hub allows this viewer are offered, none to the procuratorate; the case
links to its alarms (which open with their evidence) and its venue; and a step taken from the keyboard alone moves the
stepper on. One hub and one browser for the module. Screenshots: artifacts/screenshots/cases-*.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from humiao.hub import alarms, messages
from humiao.hub.tables import Alarm, Case

from tests.hub.outcomes import add_alert
from tests.hub.test_panel_layout import SIZES, fits, no_codes
from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, Browser, make_hub, seed, served

pytestmark = [pytest.mark.slow]
SHANGHAI = ZoneInfo("Asia/Shanghai")
LANGS = {"zh": "zh-CN", "en": "en"}
STATUSES = ("open", "assigned", "inspected", "decided", "closed")
BOTH = [(lang, size) for lang in LANGS for size in SIZES]
OFFICERS = [{"user": "ct-d1", "enforcement_id": "31010001"}, {"user": "ct-d1b", "enforcement_id": "31010002"}]
# a stored code (a step, decision, event, department …: snake_case) or a catalogue key where words belong
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b(?:step|a11y|cs|ev|dec|dept)\.[a-z_]+\b")


def words(key: str, lang: str, **params) -> str:
    return messages.text(key, LANGS[lang], **params)


def wall(iso: str) -> str:
    """A hub time as the panel shows it: in Asia/Shanghai, to the second."""
    at = datetime.fromisoformat(iso)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture(scope="module")
def hub_url(tmp_path_factory):
    """A hub (no broker) serving the panel, seeded (tests/support/hubapi.py), with culture & tourism cases in each
    status, made through the API: on the KTV's alarm open (its decision deadline passed), assigned, inspected (the right
    to respond notified, a hearing asked for; its decision deadline in 5 days), decided (a fine whose payment is late);
    on its other alarm, closed (a fine paid); (hub, url, {status: case id}, alarm ids)."""
    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("cases")
    hub = make_hub(tmp, f"sqlite:///{tmp / 'hub.db'}")
    alarm_ids = seed(hub)
    with hub.sessions() as s, s.begin():  # a second alarm at the KTV, for the closed case
        event = add_alert(s, ("d1", "ktv1", "edge1"), datetime.now(UTC) - timedelta(hours=2))
        s.flush()
        alarms.evaluate(s, now=datetime.now(UTC))
        alarm_ids["second"] = s.scalar(select(Alarm.id).where(Alarm.event_id == event))
    ct = Browser(hub, "ct-d1")

    def act(case_id: int, action: str, **body) -> None:
        r = ct.post(f"/api/cases/{case_id}/actions", json={"action": action, **body})
        assert r.status_code == 200, r.text

    def new(venue: str) -> int:
        r = ct.post("/api/cases", json={"alarm_ids": [alarm_ids[venue]]})
        assert r.status_code == 200, r.text
        return r.json()["id"]

    # (one act is fined once: the closed case, fined too, is about the KTV's other alarm)
    cases = {name: new("second" if name == "closed" else "ktv1") for name in STATUSES}
    for name in ("assigned", "inspected", "decided", "closed"):
        act(cases[name], "assign", officers=OFFICERS)
    for name in ("inspected", "decided", "closed"):
        act(cases[name], "inspect", findings="a minor of 15 admitted without an ID check")
        act(cases[name], "respond_notice", hearing_requested=name == "inspected")
    for name in ("decided", "closed"):
        act(cases[name], "legal_review", opinion="facts clear, basis correct")
        act(cases[name], "decide", decision="fine", basis="未成年人保护法 art. 58", fine_yuan=5000)
    act(cases["closed"], "pay")
    act(cases["closed"], "close")
    now = datetime.now(UTC)
    with hub.sessions() as s, s.begin():
        s.get(Case, cases["open"]).decision_deadline = now - timedelta(days=2, hours=1)
        s.get(Case, cases["inspected"]).decision_deadline = now + timedelta(days=5, hours=1)
        s.get(Case, cases["decided"]).payment_due = now - timedelta(days=1, hours=1)
    with served(hub) as url:
        yield hub, url, cases, alarm_ids
    hub.engine.dispose()


@pytest.fixture(scope="module")
def browser(hub_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def start(browser, url: str, user: str, size: str, lang: str):
    page = browser.new_context(viewport=SIZES[size]).new_page()
    panel_sign_in(page, url, user, PASSWORD)
    if lang == "en":
        page.click("#lang")
        page.locator("html[lang=en]").wait_for()
    return page


def case_json(hub, user: str, case_id: int) -> dict:
    r = Browser(hub, user).get(f"/api/cases/{case_id}")
    assert r.status_code == 200, r.text
    return r.json()


def meta_of(hub) -> dict:
    return Browser(hub, "ct-d1").get("/api/meta").json()


def words_only(page) -> None:
    no_codes(page)
    shown = page.locator("main").inner_text()
    assert not SNAKE.search(shown), SNAKE.search(shown)


def check_stepper(page, case: dict, meta: dict, lang: str) -> None:
    """The stepper says where ``case`` stands: the statuses in meta's order and words, those before its own done (with
    the time and the user of the history entry that reached them), its own current, those after to come."""
    from playwright.sync_api import expect

    statuses = meta["case_statuses"]
    steps = page.locator("#stepper ol.stepper > li")
    expect(steps).to_have_count(len(statuses))
    assert [li.get_attribute("data-status") for li in steps.all()] == statuses
    for li, status in zip(steps.all(), statuses, strict=True):
        expect(li.locator(".name")).to_have_text(words(f"cs.{status}", lang))
    current = page.locator("#stepper li[aria-current=step]")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-status", case["status"])
    here = statuses.index(case["status"])
    last = here == len(statuses) - 1
    for i, li in enumerate(steps.all()):
        state = "done" if i < here or last else "current" if i == here else "todo"
        expect(li).to_have_class(re.compile(rf"\b{state}\b"))
        expect(li.locator(".state")).to_have_text(words(f"step.{state}", lang))
    # each status reached: when and by whom, from the history entry that reached it
    reached = {"opened": statuses[0], **{s: s for s in statuses}}
    for h in case["history"]:
        if h["action"] in reached:
            entry = page.locator(f"#stepper li[data-status={reached[h['action']]}] .entry")
            expect(entry).to_contain_text(wall(h["at"]))
            expect(entry).to_contain_text(h["actor"])
            expect(entry).to_contain_text(words(f"ev.{h['action']}", lang))
    for li in steps.all()[here + 1 :]:
        expect(li.locator(".entry")).to_have_count(0)


@pytest.mark.parametrize(("lang", "size"), BOTH)
def test_the_stepper_as_the_inspector_sees_it(hub_url, browser, lang, size):
    from playwright.sync_api import expect

    hub, url, cases, alarm_ids = hub_url
    meta = meta_of(hub)
    page = start(browser, url, "ct-d1", size, lang)
    for name in STATUSES:
        case = case_json(hub, "ct-d1", cases[name])
        page.goto(f"{url}/panel#/cases/{cases[name]}")
        expect(page.locator("h1")).to_contain_text(case["number"])
        check_stepper(page, case, meta, lang)

        # -- only the steps the hub allows, as forms, in its order; what comes next names the same steps in words
        allowed = case["allowed_actions"]
        assert allowed == [a for a in meta["case_transitions"][case["status"]] if a != "pay" or name == "decided"]
        forms = page.locator("#case-steps form.step")
        expect(forms).to_have_count(len(allowed))
        assert [f.get_attribute("data-action") for f in forms.all()] == allowed
        nxt = page.locator("#next .next-steps li")
        assert [li.get_attribute("data-action") for li in nxt.all()] == allowed
        assert nxt.all_inner_texts() == [words(a, lang) for a in allowed]
        if not allowed:
            expect(page.locator("#next")).to_contain_text(words("step.next_none", lang))
            expect(page.locator("#no-steps")).to_be_visible()

        # -- the deadlines that apply, their state in words
        dl = page.locator("#deadlines")
        deadline = f"{words('step.decision_deadline', lang)}"
        if name == "open":
            expect(dl).to_contain_text(deadline)
            expect(dl).to_contain_text(words("deadline.overdue", lang))
            expect(dl).to_contain_text(words("step.days_over", lang, n=2))
            expect(page.locator("#deadlines .badge.overdue")).to_have_count(1)
        elif name == "inspected":
            expect(dl).to_contain_text(words("deadline.due_soon", lang))
            expect(dl).to_contain_text(words("step.days_left", lang, n=5))
            expect(dl).to_contain_text(words("step.hearing_yes", lang))
            # the right to respond was notified at this stage: said under it, with its time
            notice = next(h for h in case["history"] if h["action"] == "respond_notice")
            within = page.locator("#stepper li[data-status=inspected] .within")
            expect(within).to_contain_text(words("ev.respond_notice", lang))
            expect(within).to_contain_text(wall(notice["at"]))
        elif name == "decided":
            expect(dl).to_contain_text(words("step.payment_due", lang))
            expect(dl).to_contain_text(wall(case["payment_due"]))
            expect(page.locator("#deadlines .badge.overdue")).to_have_count(1)
            expect(dl).to_contain_text(words("step.days_over_one", lang, n=1))
            expect(dl).to_contain_text(words("step.decided_on", lang, when=wall(case["decided_at"])))
        elif name == "closed":
            expect(dl).to_contain_text(words("step.paid_on", lang, when=wall(case["paid_at"])))
            expect(page.locator("#deadlines .badge.overdue")).to_have_count(0)
            expect(page.locator("#stepper li[data-status=decided] .within")).to_contain_text(words("ev.paid", lang))

        # -- links to its alarm and its venue
        (alarm_id,) = case["alarms"]
        assert alarm_id == alarm_ids["second" if name == "closed" else "ktv1"]
        alarm = page.locator(f"#case-links a[href='#/alarms/{alarm_id}']")
        expect(alarm).to_have_text(words("step.alarm", lang, id=alarm_id))
        expect(page.locator(f"#case-links a[href='#/venues/{case['venue_id']}']")).to_have_count(1)
        words_only(page)
        fits(page)
        shot(page, f"cases-{lang}-{size}-{name}")

    # -- the alarm link opens the alarm with its evidence; the venue link the venue
    page.goto(f"{url}/panel#/cases/{cases['decided']}")
    page.click(f"#case-links a[href='#/alarms/{alarm_ids['ktv1']}']")
    expect(page).to_have_url(re.compile(f"#/alarms/{alarm_ids['ktv1']}$"))
    expect(page.locator("#alarm-title")).to_be_visible()
    expect(page.locator("#alarm-detail #evidence")).to_be_visible()
    page.go_back()
    page.locator("#case-links a[href='#/venues/ktv1']").click()
    expect(page).to_have_url(re.compile("#/venues/ktv1$"))
    expect(page.locator("h1")).to_have_text("ktv ktv1")
    page.context.close()


@pytest.mark.parametrize(("lang", "size"), [("zh", "tablet"), ("en", "desktop")])
def test_the_procuratorate_reads_the_procedure_and_takes_no_step(hub_url, browser, lang, size):
    from playwright.sync_api import expect

    hub, url, cases, alarm_ids = hub_url
    meta = meta_of(hub)
    page = start(browser, url, "proc-d1", size, lang)
    for name in ("assigned", "decided"):
        case = case_json(hub, "proc-d1", cases[name])
        assert case["allowed_actions"] == []
        page.goto(f"{url}/panel#/cases/{cases[name]}")
        check_stepper(page, case, meta, lang)
        # no step offered; what comes next is the stage's, taken by the handling department
        expect(page.locator("form.step")).to_have_count(0)
        expect(page.locator("main button, main textarea, main select")).to_have_count(0)
        expect(page.locator("#no-steps")).to_be_visible()
        stage = [a for a in meta["case_transitions"][case["status"]] if a != "pay" or name == "decided"]
        assert page.locator("#next .next-steps li").all_inner_texts() == [words(a, lang) for a in stage]
        expect(page.locator("#next")).to_contain_text(
            words("step.next_by", lang, dept=words("dept.culture_tourism", lang))
        )
        expect(page.locator(f"#case-links a[href='#/alarms/{alarm_ids['ktv1']}']")).to_have_count(1)
        words_only(page)
        fits(page)
        shot(page, f"cases-{lang}-{size}-read-only-{name}")
    page.context.close()


def test_the_venue_operator_sees_the_procedure_without_its_people(hub_url, browser):
    """The venue's operator reads its case's procedure (no history: access.VIEWS) — the stepper still says where the
    case stands and when it was opened and decided (the case's own times), and names no inspector."""
    from playwright.sync_api import expect

    hub, url, cases, _ = hub_url
    case = case_json(hub, "op-ktv", cases["decided"])
    assert case["history"] == [] and case["allowed_actions"] == []
    page = start(browser, url, "op-ktv", "tablet", "zh")
    page.goto(f"{url}/panel#/cases/{cases['decided']}")
    expect(page.locator("#stepper li[aria-current=step]")).to_have_attribute("data-status", "decided")
    expect(page.locator("#stepper li[data-status=open] .entry")).to_contain_text(wall(case["opened_at"]))
    expect(page.locator("#stepper li[data-status=decided] .entry")).to_contain_text(wall(case["decided_at"]))
    assert "ct-d1" not in page.locator("#stepper").inner_text()
    expect(page.locator("form.step")).to_have_count(0)
    words_only(page)
    shot(page, "cases-zh-tablet-operator")
    page.context.close()


def focus_by_tab(page, selector: str, limit: int = 80) -> None:
    """Press Tab until ``selector`` has the focus (the keyboard's way, not a click)."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.parametrize(("lang", "size"), [("en", "tablet"), ("zh", "desktop")])
def test_a_step_taken_from_the_keyboard_moves_the_stepper_on(hub_url, browser, lang, size):
    from playwright.sync_api import expect

    hub, url, _, alarm_ids = hub_url
    fresh = Browser(hub, "ct-d1").post("/api/cases", json={"alarm_ids": [alarm_ids["ktv1"]]})
    assert fresh.status_code == 200, fresh.text
    case_id = fresh.json()["id"]
    page = start(browser, url, "ct-d1", size, lang)

    # -- from the case queue: Tab to the case's number, Enter opens it
    page.goto(f"{url}/panel#/cases")
    page.locator("#case-list").wait_for()
    page.locator("body").focus()
    focus_by_tab(page, f"#case-list a[href='#/cases/{case_id}']")
    page.keyboard.press("Enter")
    current = page.locator("#stepper li[aria-current=step]")
    expect(current).to_have_attribute("data-status", "open")

    # -- assign two officers: Tab into the form, type, Tab to its button, Enter
    focus_by_tab(page, "form.step[data-action=assign] textarea[name=officers]")
    page.keyboard.type("ct-d1:31010001")
    page.keyboard.press("Enter")  # a new line in the text area
    page.keyboard.type("ct-d1b:31010002")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('form.step[data-action=assign] button[type=submit]')")
    page.keyboard.press("Enter")
    expect(current).to_have_attribute("data-status", "assigned")
    expect(page.locator("#stepper-title")).to_be_focused()  # the keyboard lands where the news is
    expect(page.locator("#stepper li[data-status=open]")).to_have_class(re.compile(r"\bdone\b"))
    expect(page.locator("#stepper li[data-status=assigned] .entry")).to_contain_text("ct-d1")

    # -- record the inspection the same way
    focus_by_tab(page, "form.step[data-action=inspect] textarea[name=findings]")
    page.keyboard.type("adult, ID checked on site")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # past the evidence notes, to the button
    assert page.evaluate("document.activeElement.matches('form.step[data-action=inspect] button[type=submit]')")
    page.keyboard.press("Enter")
    expect(current).to_have_attribute("data-status", "inspected")
    assert Browser(hub, "ct-d1").get(f"/api/cases/{case_id}").json()["status"] == "inspected"
    expect(page.locator("#case-steps form.step")).to_have_count(len(meta_of(hub)["case_transitions"]["inspected"]))
    shot(page, f"cases-{lang}-{size}-keyboard-step")
    page.context.close()


def test_stepper_statuses_come_from_meta(hub_url, browser):
    """The stepper draws the statuses meta serves, not a list of its own: a changed list changes the stepper."""
    from playwright.sync_api import expect

    hub, url, cases, _ = hub_url
    meta = meta_of(hub)
    ctx = browser.new_context(viewport=SIZES["desktop"])
    statuses = meta["case_statuses"][:2] + ["reviewed"] + meta["case_statuses"][2:]
    ctx.route("**/api/meta", lambda route: route.fulfill(json={**meta, "case_statuses": statuses}))
    page = ctx.new_page()
    panel_sign_in(page, url, "ct-d1", PASSWORD)
    page.goto(f"{url}/panel#/cases/{cases['decided']}")
    steps = page.locator("#stepper ol.stepper > li")
    expect(steps).to_have_count(len(statuses))
    assert [li.get_attribute("data-status") for li in steps.all()] == statuses
    expect(page.locator("#stepper li[data-status=reviewed]")).to_have_class(re.compile(r"\bdone\b"))
    ctx.close()


def test_no_status_is_written_in_the_panel():
    """The procedure's statuses and steps are not listed in panel.js (they come from /api/meta)."""
    from humiao.hub import cases

    js = (Path(__file__).parents[2] / "hub" / "static" / "panel.js").read_text()
    section = js[js.index("// -- the procedure stepper") : js.index("// -- venues")]
    for status in cases.STATUSES:
        assert f'"{status}"' not in section, status
