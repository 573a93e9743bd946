"""The dashboard's charts and the reports page in real headless Chromium (Debian's, driven by Playwright), in Chinese
and English, at desktop (1366×800) and tablet (820×1180) size: the charts the hub draws (hub/charts.py) load as
images (drawn, not broken) with their words in the viewer's language and alt text, their figures follow as a table;
a report request the hub refuses (a month 13, another district) shows the hub's explanation in the viewer's
language, and a good one downloads in that language. Screenshots: artifacts/screenshots/dashboard-*.png,
reports-*.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from humiao.hub import reports

from tests.hub.test_panel_layout import SIZES, fits
from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, make_hub, seed, served

pytestmark = [pytest.mark.slow]
# a catalogue key shown instead of its words, or a stored code instead of a word
UNTRANSLATED = re.compile(r"\b(?:chart|report|nav|idc|deadline)\.[a-z_.]+\b|\b(?:culture_tourism|due_soon)\b")
WORDS = {
    "zh-CN": {
        "alt": "柱状图：",
        "by_type_alt": "条形图：",
        "legend": "确认违法",
        "axis": "预警数",
        "month13": "期间“2026-13”无效：没有 13 月",
        "other": "您的账号无权查看辖区“d2”的通报",
        "failed": "未能下载通报：",
        "csv_head": "时间,场所编号,场所,场所类型,结论,案件编号,当日日历",
        "verdict": "确认违法",
        "title": "每日预警（按核查结论分段）",
    },
    "en": {
        "alt": "Bar chart of alarms per day",
        "by_type_alt": "Bar chart of confirmed and suspected violations",
        "legend": "Confirmed violation",
        "axis": "Alarms",
        "month13": "The period “2026-13” is not valid: there is no month 13",
        "other": "Your account may not read the reports of district “d2”",
        "failed": "The report was not downloaded:",
        "csv_head": "Time,Venue ID,Venue,Venue type,Verdict,Case,Calendar",
        "verdict": "Confirmed violation",
        "title": "Alarms per day, by verdict",
    },
}


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    """A hub (no broker) with a month's visits in d1 (tests/hub/outcomes.py), serving the panel."""
    from tests.hub.outcomes import add_visits

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    tmp_path = tmp_path_factory.mktemp("dashboard")
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    seed(hub)
    add_visits(hub)
    with served(hub) as url:
        yield hub, url
    hub.engine.dispose()


def svg_texts(svg: bytes) -> list[str]:
    return [t.strip() for t in re.findall(r"<!-- (.*?) -->", svg.decode("utf-8"), re.S)]


def drawn(page, selector: str) -> None:
    """The image loaded and was drawn (a broken image has no natural width)."""
    img = page.locator(selector)
    img.wait_for()
    page.wait_for_function(
        "(sel) => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth > 0; }",
        arg=selector,
        timeout=30000,
    )
    assert img.evaluate("(i) => i.getBoundingClientRect().width") > 300  # as wide as its card allows


def test_dashboard_charts_and_report_errors_in_chromium(panel):
    from playwright.sync_api import expect, sync_playwright

    hub, url = panel
    month = datetime.now(UTC).astimezone(reports.TZ).strftime("%Y-%m")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for lang in ("zh-CN", "en"):
            w = WORDS[lang]
            for size, viewport in SIZES.items():
                context = browser.new_context(viewport=viewport, accept_downloads=True)
                context.add_init_script(f"localStorage.setItem('humiao.lang', '{lang}')")
                page = context.new_page()
                panel_sign_in(page, url, "police-d1", PASSWORD)

                # -- the dashboard: two charts drawn by the hub, in the viewer's language
                page.goto(f"{url}/panel#/dashboard")
                drawn(page, "#per-day")
                drawn(page, "#by-type-chart")
                per_day = page.locator("#per-day")
                assert w["alt"] in per_day.get_attribute("alt")
                assert "2" in per_day.get_attribute("alt")  # the confirmed violations, in the alt text too
                assert w["by_type_alt"] in page.locator("#by-type-chart").get_attribute("alt")
                src = per_day.evaluate("(i) => i.currentSrc")
                assert f"lang={lang}" in src and "title=false" in src
                svg = page.request.get(src)  # the image as the browser got it (the session's cookie)
                assert svg.ok and svg.headers["content-type"] == "image/svg+xml"
                texts = svg_texts(svg.body())
                assert w["legend"] in texts and w["axis"] in texts and w["title"] not in texts  # the card heads it
                expect(page.locator("main h2").first).to_have_text(w["title"])
                expect(page.locator("#violation-totals")).to_contain_text("2")
                # the same figures as a table: a row per day, the verdicts apart
                page.locator("#per-day-figures summary").click()
                rows = page.locator("#per-day-figures tbody tr")
                expect(rows).to_have_count(30)
                cells = page.locator("#per-day-figures tbody td:nth-child(2)").all_inner_texts()
                assert sum(int(c) for c in cells) == 2  # confirmed: ktv1's and hotel1's
                head = page.locator("#per-day-figures thead").inner_text()
                assert w["verdict"] in head
                shown = page.locator("main").inner_text()
                assert not UNTRANSLATED.search(shown), UNTRANSLATED.search(shown)
                fits(page)
                shot(page, f"dashboard-{lang}-{size}")

                # -- reports: what the hub refuses is explained, in the viewer's language
                page.goto(f"{url}/panel#/reports")
                form = page.locator("#report-form")
                form.locator("input[name=period]").fill("2026-13")
                form.locator("button[type=submit]").click()
                result = page.locator("#report-result .notice.bad")
                expect(result).to_contain_text(w["failed"])
                expect(result.locator(".detail")).to_have_text(w["month13"])
                shot(page, f"reports-error-{lang}-{size}")
                form.locator("input[name=district]").fill("d2")
                form.locator("input[name=period]").fill(month)
                form.locator("button[type=submit]").click()
                expect(result.locator(".detail")).to_have_text(w["other"])
                fits(page)

                # -- a good request downloads the report, in the viewer's language
                form.locator("input[name=district]").fill("d1")
                form.locator("select[name=fmt]").select_option("csv")
                with page.expect_download() as download:
                    form.locator("button[type=submit]").click()
                got = download.value
                assert got.suggested_filename == f"humiao-d1-{month}.csv"
                first = Path(got.path()).read_text(encoding="utf-8-sig").splitlines()[0]
                assert first == w["csv_head"]
                expect(page.locator("#report-result .notice.good")).to_contain_text(f"humiao-d1-{month}.csv")
                expect(page.locator("#report-result .notice.bad")).to_have_count(0)
                shot(page, f"reports-ok-{lang}-{size}")
                context.close()
        browser.close()
