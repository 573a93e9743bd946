"""The dashboard's violations and ID-check figures in real headless Chromium (Debian's, driven by
Playwright): confirmed and suspected violations apart, repeat venues once each, and a table per venue of
how its staff answered the alerts — the outcomes in proto/vocabulary.py's words, in Chinese and in
English, at desktop and tablet width; a venue operator sees its own venue only.

The hub runs without a broker, its data made directly (tests/hub/outcomes.py ``add_visits``).
Screenshots: artifacts/screenshots/idchecks-*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from humiao.proto import vocabulary

from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, make_hub, seed, served

pytestmark = [pytest.mark.slow]
# a catalogue key shown instead of its words, or a stored code shown instead of the outcome's words
UNTRANSLATED = re.compile(r"\b(?:idc|unit|nav|vt)\.[a-z_]+\b|\b(?:" + "|".join(vocabulary.RESULTS) + r")\b")


@pytest.fixture
def panel(tmp_path):

    from tests.hub.outcomes import add_visits

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    seed(hub)
    add_visits(hub)
    with served(hub) as url:
        yield hub, url
    hub.engine.dispose()


def sign_in(page, url: str, user: str) -> None:
    panel_sign_in(page, url, user, PASSWORD)


def no_codes(page) -> None:
    shown = page.locator("main").inner_text()
    assert not UNTRANSLATED.search(shown), UNTRANSLATED.search(shown)


def test_dashboard_counts_and_id_checks_in_chromium(panel):
    from playwright.sync_api import expect, sync_playwright

    hub, url = panel
    words = vocabulary.RESULTS
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()

        # -- police in d1 (KTV and hotel alarms), in Chinese at desktop width
        sign_in(page, url, "police-d1")
        page.click("#nav a[href='#/dashboard']")
        expect(page.locator("#violation-totals")).to_have_text("确认违法 2 疑似违法 1")
        expect(page.locator("#by-type .hbar")).to_have_count(2)
        expect(page.locator("#by-type")).to_contain_text("旅馆")
        expect(page.locator("#repeat-venues .repeat")).to_have_count(1)  # ktv1 once; hotel1 has one violation
        expect(page.locator("#repeat-venues")).to_contain_text("ktv ktv1 确认违法 1 疑似违法 1")
        table = page.locator("#idchecks table")
        expect(table.locator("tbody tr")).to_have_count(2)
        ktv = table.locator("tr[data-venue=ktv1]")
        expect(ktv).to_contain_text("1 / 3 33%")  # checked within the window / alerts
        expect(ktv.locator(".chip[data-result=minor_refused]")).to_have_text(f"{words['minor_refused']['zh']} 1")
        expect(ktv.locator(".chip[data-result=minor_admitted]")).to_have_text(f"{words['minor_admitted']['zh']} 1")
        expect(ktv.locator(".chip.none")).to_have_text("无查验记录 1")
        expect(ktv.locator("td").nth(5)).to_have_text("2 (1)")  # walk-ups (the minors among them)
        expect(ktv.locator("td").nth(4)).to_have_text("2")  # minors refused: at an alert and at a walk-up
        hotel = table.locator("tr[data-venue=hotel1]")
        expect(hotel.locator(".chip[data-result=minor_admitted_with_guardian]")).to_have_text(
            f"{words['minor_admitted_with_guardian']['zh']} 1"
        )
        expect(page.locator("#idchecks")).to_contain_text("每条预警按其最后一次查验结果计一次")
        no_codes(page)
        shot(page, "idchecks-zh-desktop")

        # -- English, same width
        page.click("#lang")
        expect(page.locator("#violation-totals")).to_have_text("confirmed 2 suspected 1")
        expect(ktv.locator(".chip[data-result=minor_refused]")).to_have_text(f"{words['minor_refused']['en']} 1")
        expect(page.locator("#idchecks thead")).to_contain_text("Checked in time")
        expect(page.locator("#idchecks")).to_contain_text("within 10 min")
        no_codes(page)
        shot(page, "idchecks-en-desktop")

        # -- tablet: the table scrolls inside its card, the page does not widen
        page.set_viewport_size({"width": 768, "height": 1024})
        page.reload()
        expect(table.locator("tbody tr")).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, "idchecks-en-tablet")
        page.click("#lang")
        expect(ktv.locator(".chip[data-result=minor_refused]")).to_contain_text(words["minor_refused"]["zh"])
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        no_codes(page)
        shot(page, "idchecks-zh-tablet")

        # -- the venue list: confirmed and suspected apart there too
        page.goto(f"{url}/panel#/venues")
        row = page.locator("tr", has_text="ktv1")
        expect(row).to_contain_text("确认违法 1 疑似违法 1")
        expect(page.locator("tr", has_text="hotel1")).to_contain_text("确认违法 1 疑似违法 0")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        no_codes(page)
        shot(page, "venues-zh-tablet")

        # -- the venue page shows the venue's own figures
        page.goto(f"{url}/panel#/venues/hotel1")
        expect(page.locator("#idchecks tbody tr")).to_have_count(1)
        expect(page.locator("#idchecks tr[data-venue=hotel1]")).to_contain_text("2 / 2 100%")
        no_codes(page)
        shot(page, "idchecks-zh-tablet-venue")

        # -- the KTV's operator: its own venue only
        op = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(op, url, "op-ktv")
        op.goto(f"{url}/panel#/dashboard")
        expect(op.locator("#idchecks tbody tr")).to_have_count(1)
        expect(op.locator("#idchecks tbody tr")).to_have_attribute("data-venue", "ktv1")
        expect(op.locator("#violation-totals")).to_have_text("确认违法 1 疑似违法 1")
        assert "5e5e5e" not in op.content()  # the keyed hash is never served
        browser.close()
