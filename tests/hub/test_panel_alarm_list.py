"""The alarm list with thousands of rows: keyset paging through GET /api/alarms with each filter (SQLite and
PostgreSQL), the count of matching rows, unknown filter values refused with words (422), the list's queries on
indexes; and in real headless Chromium (Debian's, Playwright): the filters live in the address (a reload keeps them,
Back undoes the last one, an open alarm keeps them), "load older" brings the next page without repeating a row, the
count is the hub's, the filter controls are labelled and work from the keyboard. The hub's data: the mix of
benchmarks/panel_load.py (60 venues of every type in four districts, 30 days, the rules' verdicts). Screenshots:
artifacts/screenshots/alarm-list-*.png (Chinese and English, desktop 1366x800 and tablet 820x1180)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import ViewportSize

from benchmarks.panel_load import PASSWORD, USER, populate
from tests.support.hubapi import Browser, make_hub, served

SIZES: dict[str, ViewportSize] = {"desktop": {"width": 1366, "height": 800}, "tablet": {"width": 820, "height": 1180}}
COUNT = {"zh": "显示 {shown} 条，共 {total} 条", "en": "Showing {shown} of {total} alarms"}


def fetch_all(b: Browser, limit: int, **params) -> tuple[list[dict], list[int]]:
    """Every page of the list for ``params``, ``limit`` rows at a time (keyset: before the last row's id); the rows
    and the ``total`` each first page reported."""
    rows, totals, before = [], [], None
    for _ in range(100):
        q = {**params, "limit": limit} | ({"before_id": before} if before else {"count": "true"})
        r = b.get("/api/alarms", params=q)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["alarms"]) <= limit
        if before is None:
            totals.append(page["total"])
            assert page["total_capped"] is False
        rows += page["alarms"]
        if not page["more"]:
            return rows, totals
        assert len(page["alarms"]) == limit
        before = page["alarms"][-1]["id"]
    raise AssertionError("the pages never ended")


# -- the API, on SQLite and PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture
def loaded_hub(tmp_path, db_url):
    hub = make_hub(tmp_path, db_url)
    populate(hub, 400)
    yield hub
    hub.engine.dispose()


@pytest.mark.services
def test_keyset_paging_with_each_filter(loaded_hub):
    b = Browser(loaded_hub, USER, PASSWORD)
    since = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    everything = b.get("/api/alarms", params={"limit": 1000}).json()["alarms"]
    assert 120 < len(everything) < 400  # a police inspector of d1: d1's alarms at police's venue types
    assert {a["district_id"] for a in everything} == {"d1"}
    for params, keep in (
        ({}, lambda a: True),
        ({"verdict": "suspected"}, lambda a: a["verdict"] == "suspected"),
        ({"verdict": "none"}, lambda a: a["verdict"] == "none"),
        ({"venue_type": "ktv"}, lambda a: a["venue_type"] == "ktv"),
        ({"active": "true"}, lambda a: a["active"]),
        ({"active": "false", "venue_type": "hotel"}, lambda a: not a["active"] and a["venue_type"] == "hotel"),
        ({"district": "d1", "verdict": "confirmed"}, lambda a: a["verdict"] == "confirmed"),
        ({"since": since}, lambda a: a["raised_at"] >= since),
        ({"district": "d2"}, lambda a: False),  # outside the inspector's scope: nothing, not an error
    ):
        expected = [a["id"] for a in everything if keep(a)]
        rows, totals = fetch_all(b, 23, **params)
        ids = [a["id"] for a in rows]
        assert ids == expected, params  # every matching row once, newest first, across the page boundaries
        assert len(set(ids)) == len(ids)
        assert totals == [len(expected)], params
    assert len(fetch_all(b, 23)[0]) > 100  # several pages of 23


@pytest.mark.services
def test_unknown_filter_values_are_refused_in_words(loaded_hub):
    b = Browser(loaded_hub, USER, PASSWORD)
    r = b.get("/api/alarms", params={"verdict": "bogus", "lang": "en"})
    assert r.status_code == 422
    assert r.json()["code"] == "alist.bad_verdict"
    assert r.json()["detail"] == "Unknown verdict “bogus”: choose one of none, pending, suspected, confirmed"
    r = b.get("/api/alarms", params={"venue_type": "spaceship"}, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 422 and r.json()["code"] == "alist.bad_venue_type"
    assert r.json()["detail"].startswith("未知的场所类型“spaceship”") and "ktv" in r.json()["detail"]
    assert b.get("/api/alarms", params={"active": "maybe"}).status_code == 422
    assert b.get("/api/alarms", params={"since": "last week"}).status_code == 422
    assert b.get("/api/alarms", params={"before_id": 0}).status_code == 422


def test_the_list_queries_use_indexes_in_order(tmp_path):
    """On SQLite as the hub runs it (no ANALYZE): each filter state the panel offers reads the alarms through an
    index, in the list's order (no sort) but, at times, with "since" (a time range: the district's time index, then a
    sort of what it found)."""
    from benchmarks.panel_load import plans

    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    populate(hub, 300)
    day = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    found = plans(hub, day)
    hub.engine.dispose()
    assert len(found) >= 10
    for state, plan in found.items():
        for kind in ("list", "count"):
            reads = plan[kind]["alarms_read_by"]
            assert reads and all(re.match(r"SEARCH alarms USING (COVERING )?INDEX ix_alarms_", r) for r in reads), (
                state,
                kind,
                plan[kind]["plan"],
            )
        assert not plan["list"]["sort"] or "since" in state, (state, plan["list"]["plan"])


# -- the panel, in Chromium ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A hub on SQLite with 500 alarms (benchmarks/panel_load.py's mix) serving the panel; (url, the inspector's API
    client)."""
    from tests.support.browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("alarm-list")
    hub = make_hub(tmp, f"sqlite:///{tmp / 'hub.db'}")
    populate(hub, 500)
    with served(hub) as url:
        yield url, Browser(hub, USER, PASSWORD)
    hub.engine.dispose()


def total(api: Browser, **params) -> int:
    return api.get("/api/alarms", params={**params, "count": "true", "limit": 1}).json()["total"]


def row_ids(page) -> list[int]:
    return [int(i) for i in page.eval_on_selector_all("#alarm-rows tr.row", "rs => rs.map(r => r.dataset.id)")]


def settled(page, query: str) -> None:
    """Wait until the rows drawn answer the filters ``query`` (the list's data-query)."""
    page.locator(f"#alarm-rows[data-query='{query}']").wait_for(state="attached")


@pytest.mark.slow
def test_filters_in_the_address_paging_and_the_count(panel):
    from playwright.sync_api import expect, sync_playwright

    from tests.hub.test_panel_layout import fits, no_codes
    from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot

    url, api = panel
    everything = total(api)
    confirmed, suspected_open = total(api, verdict="confirmed"), total(api, verdict="suspected", active="true")
    assert everything > 100 and 0 < suspected_open < everything and 0 < confirmed < everything
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport=SIZES["desktop"]).new_page()
        panel_sign_in(page, url, USER, PASSWORD)
        rows, count = page.locator("#alarm-rows tr.row"), page.locator("#alarm-count")
        settled(page, "")

        # -- the first page, and the count of them all
        expect(rows).to_have_count(100)
        expect(count).to_have_text(COUNT["zh"].format(shown=100, total=everything))
        first = row_ids(page)
        assert first == sorted(first, reverse=True)

        # -- "load older": the next page, after the last row, nothing repeated; the focus on its first row
        more = page.get_by_role("button", name="加载更早的预警")
        more.click()
        expect(rows).to_have_count(min(200, everything))
        both = row_ids(page)
        assert both[:100] == first and len(set(both)) == len(both) and both == sorted(both, reverse=True)
        assert both == [a["id"] for a in api.get("/api/alarms", params={"limit": 200}).json()["alarms"]]
        expect(page.locator(f"#alarm-rows tr[data-id='{both[100]}']")).to_be_focused()
        expect(count).to_have_text(COUNT["zh"].format(shown=len(both), total=everything))
        expect(more).to_be_hidden() if everything <= 200 else expect(more).to_be_visible()

        # -- a filter from the keyboard: the labelled control, its choice, a new address; only matching rows
        verdict = page.get_by_role("combobox", name="结论")
        verdict.focus()
        page.select_option("#filters select[name=verdict]", "confirmed")
        expect(page).to_have_url(re.compile(r"#/alarms\?verdict=confirmed$"))
        settled(page, "verdict=confirmed")
        expect(rows).to_have_count(min(confirmed, 100))
        expect(rows.locator(".badge")).to_have_text(["确认违法"] * min(confirmed, 100))
        expect(count).to_have_text(COUNT["zh"].format(shown=min(confirmed, 100), total=confirmed))
        expect(page.get_by_role("button", name="清除筛选")).to_be_visible()

        # -- two filters; a reload keeps them (the form shows them, the same rows come)
        page.select_option("#filters select[name=verdict]", "suspected")
        settled(page, "verdict=suspected")
        status = page.get_by_role("combobox", name="状态")
        status.focus()
        page.keyboard.press("ArrowDown")  # "all" → "active", from the keyboard
        expect(page).to_have_url(re.compile(r"#/alarms\?verdict=suspected&active=true$"))
        settled(page, "verdict=suspected&active=true")
        shown = row_ids(page)
        assert len(shown) == min(suspected_open, 100)
        shot(page, "alarm-list-zh-desktop-filtered")
        page.reload()
        page.locator("#who").filter(has_text=USER).wait_for()
        settled(page, "verdict=suspected&active=true")
        expect(page.locator("#filters select[name=verdict]")).to_have_value("suspected")
        expect(page.locator("#filters select[name=active]")).to_have_value("true")
        assert row_ids(page) == shown
        expect(count).to_have_text(COUNT["zh"].format(shown=len(shown), total=suspected_open))

        # -- an open alarm keeps the filters in its address; closing it returns to them
        page.click(f"#alarm-rows tr[data-id='{shown[1]}']")
        expect(page).to_have_url(re.compile(rf"#/alarms/{shown[1]}\?verdict=suspected&active=true$"))
        expect(page.locator("#alarm-title")).to_be_visible()
        page.click("#close-alarm")
        expect(page).to_have_url(re.compile(r"#/alarms\?verdict=suspected&active=true$"))
        expect(page.locator(f"#alarm-rows tr[data-id='{shown[1]}']")).to_be_focused()

        # -- Back undoes the last filter (the status), then the one before (the verdict)
        page.go_back()
        settled(page, "verdict=suspected")
        expect(page.locator("#filters select[name=active]")).to_have_value("")
        page.go_back()
        settled(page, "verdict=confirmed")
        expect(page.locator("#filters select[name=verdict]")).to_have_value("confirmed")
        expect(count).to_have_text(COUNT["zh"].format(shown=min(confirmed, 100), total=confirmed))

        # -- "clear": every alarm again
        page.get_by_role("button", name="清除筛选").click()
        expect(page).to_have_url(re.compile(r"#/alarms$"))
        settled(page, "")
        expect(rows).to_have_count(100)

        # -- a shared address with a verdict the hub does not know: the hub's words say so, no rows
        page.goto(f"{url}/panel#/alarms?verdict=bogus")
        settled(page, "verdict=bogus")
        expect(rows).to_have_count(0)
        expect(page.locator("#alarm-rows")).to_contain_text("预警加载失败：未知的结论“bogus”")

        # -- both languages, both sizes: the words, nothing wider than the window
        for lang, size in (("zh", "tablet"), ("en", "desktop"), ("en", "tablet")):
            page.set_viewport_size(SIZES[size])
            page.goto(f"{url}/panel#/alarms?venue_type=ktv")
            page.locator("#who").filter(has_text=USER).wait_for()
            if lang == "en" and page.evaluate("document.documentElement.lang") != "en":
                page.click("#lang")
            settled(page, "venue_type=ktv")
            ktv = total(api, venue_type="ktv")
            expect(count).to_have_text(COUNT[lang].format(shown=min(ktv, 100), total=ktv))
            expect(page.get_by_role("search")).to_be_visible()
            no_codes(page)
            fits(page)
            shot(page, f"alarm-list-{lang}-{size}")
        page.set_viewport_size(SIZES["desktop"])
        page.goto(f"{url}/panel#/alarms")
        settled(page, "")
        page.get_by_role("button", name="Load older alarms").click()
        expect(rows).to_have_count(min(200, everything))
        shot(page, "alarm-list-en-desktop-older")
        browser.close()
