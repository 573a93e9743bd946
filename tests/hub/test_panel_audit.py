"""The audit log in the panel, in real headless Chromium (Debian's, driven by Playwright), at desktop (1366×800) and
tablet (820×1180) size, in Chinese and English: the auditor narrows it by action (a choice of the actions' words, from
``GET /api/meta``) and by who acted, the rows shrink to what ``GET /api/audit`` answers for the same filters, each
action is shown in words (never its code), the filters live in the address (``#/audit?…``) so a reload keeps them,
and the days are the venues' (Asia/Shanghai). Screenshots: artifacts/screenshots/audit-*.png."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from humiao.hub import audit
from humiao.hub.access import Principal

from tests.hub.test_panel_layout import SIZES, fits, no_codes
from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, Browser, make_hub, seed, served

pytestmark = [pytest.mark.slow]
SHANGHAI = ZoneInfo("Asia/Shanghai")
BOTH = [(lang, size) for lang in ("zh", "en") for size in SIZES]
CT = Principal("ct-d1", "culture_tourism", "d1")
POLICE = Principal("police-d1", "police", "d1")
# an audit action's stored code where its words belong
CODES = re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(a) for a in audit.ACTIONS) + r")(?![\w.])")


@pytest.fixture
def panel(tmp_path):
    """A hub (no broker) serving the panel, its audit log holding evidence views by two users, an evidence request
    and a report download, and sign-ins; (hub, url, the auditor's API client)."""

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    ids = seed(hub)
    with hub.sessions() as s:
        for who, action, otype, oid in (
            (CT, "evidence.view", "evidence", ids["ktv1"]),
            (CT, "evidence.view", "evidence", ids["hotel1"]),
            (POLICE, "evidence.request", "alert", ids["ktv1"]),
            (POLICE, "evidence.view", "evidence", ids["ktv1"]),
            (POLICE, "report.download", "report", "d1"),
        ):
            audit.record(s, who, action, otype, oid, "checking the alert on site", "127.0.0.1")
        s.commit()
    auditor = Browser(hub, "auditor")  # signed in once: reading the log writes nothing more
    with served(hub) as url:
        yield hub, url, auditor
    hub.engine.dispose()


def counted(auditor: Browser, **params) -> int:
    r = auditor.get("/api/audit", params=params)
    assert r.status_code == 200, r.text
    return len(r.json()["events"])


def words_only(page) -> None:
    no_codes(page)
    shown = page.locator("main").inner_text()
    assert not CODES.search(shown), CODES.search(shown)


@pytest.mark.parametrize(("lang", "size"), BOTH)
def test_the_auditor_filters_the_log(panel, lang, size):
    from playwright.sync_api import expect, sync_playwright

    hub, url, auditor = panel
    meta = auditor.get("/api/meta").json()
    words = {a["code"]: a["words"][lang] for a in meta["audit_actions"]}
    assert list(words) == list(audit.ACTIONS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport=SIZES[size], timezone_id="America/New_York").new_page()
        panel_sign_in(page, url, "auditor", PASSWORD)
        if lang == "en":
            page.click("#lang")
        page.goto(f"{url}/panel#/audit")
        rows = page.locator("#audit-rows tr.audit-row")
        everything = counted(auditor)
        expect(rows).to_have_count(everything)
        # each row's action in words
        for row in rows.all():
            assert row.locator("td").nth(2).inner_text() in words.values()
        words_only(page)
        fits(page)
        shot(page, f"audit-{lang}-{size}-all")

        # -- the action: a choice of meta's words, in its order (after "all")
        options = page.locator("#audit-filters select[name=action] option")
        assert options.all_inner_texts()[1:] == [words[a] for a in audit.ACTIONS]
        assert [o.get_attribute("value") for o in options.all()] == ["", *audit.ACTIONS]
        page.select_option("#audit-filters select[name=action]", "evidence.view")
        viewed = counted(auditor, action="evidence.view")
        assert viewed == 3 < everything
        expect(rows).to_have_count(viewed)
        expect(rows.locator("td:nth-child(3)")).to_have_text([words["evidence.view"]] * viewed)
        assert re.search(r"#/audit\?action=evidence\.view$", page.url), page.url

        # -- and who acted: the rows shrink to that user's
        page.fill("#audit-filters input[name=actor]", "ct-d1")
        page.press("#audit-filters input[name=actor]", "Enter")
        both = counted(auditor, action="evidence.view", actor="ct-d1")
        assert both == 2 < viewed
        expect(rows).to_have_count(both)
        expect(rows.locator("td:nth-child(2)")).to_contain_text(["ct-d1"] * both)
        assert "actor=ct-d1" in page.url and "action=evidence.view" in page.url
        expect(page.locator("#audit-clear")).to_be_visible()
        words_only(page)
        fits(page)
        shot(page, f"audit-{lang}-{size}-filtered")

        # -- a reload keeps the filters: the same rows, the same choices shown
        page.reload()
        page.locator("#who").filter(has_text="auditor").wait_for()
        expect(rows).to_have_count(both)
        expect(page.locator("#audit-filters select[name=action]")).to_have_value("evidence.view")
        expect(page.locator("#audit-filters input[name=actor]")).to_have_value("ct-d1")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if lang == "zh" else "en")

        # -- the days are the venues': today in Asia/Shanghai keeps them, until yesterday leaves none
        today = datetime.now(SHANGHAI).date()
        page.fill("#audit-filters input[name=since]", today.isoformat())
        page.locator("#audit-filters input[name=since]").dispatch_event("change")
        expect(page.locator("#audit-filters input[name=since]")).to_have_value(today.isoformat())
        expect(rows).to_have_count(both)
        assert f"since={today.isoformat()}" in page.url
        page.fill("#audit-filters input[name=since]", "")
        page.locator("#audit-filters input[name=since]").dispatch_event("change")
        page.wait_for_function("!location.hash.includes('since=')")
        page.fill("#audit-filters input[name=until]", (today - timedelta(days=1)).isoformat())
        page.locator("#audit-filters input[name=until]").dispatch_event("change")
        expect(rows).to_have_count(0)
        expect(page.locator("#audit-rows")).to_contain_text("没有符合" if lang == "zh" else "No entries match")
        words_only(page)
        fits(page)
        if size == "desktop":
            shot(page, f"audit-{lang}-{size}-none")

        # -- Back undoes the last filter; "clear" shows the whole log again
        page.go_back()
        expect(rows).to_have_count(both)
        page.click("#audit-clear")
        expect(rows).to_have_count(counted(auditor))
        assert page.url.endswith("#/audit")
        expect(page.locator("#audit-filters select[name=action]")).to_have_value("")
        browser.close()
