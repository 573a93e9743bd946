"""The administrators' Devices view of the panel in real headless Chromium (Debian's, driven by
Playwright): enrolling a device from the enrolment request it wrote (``humiao edge enroll``),
refusing and then replacing a new key, revoking with a reason; an inspector sees none of it.

The hub runs without a broker: ``hub.broker_admin`` is a fake that records what enrolment and
revocation asked of the broker (the broker side is tested in test_broker_setup.py and the API tests).
Screenshots: artifacts/screenshots/devices-*.png."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.browser import ARGS, CHROMIUM, panel_sign_in, shot
from tests.support.hubapi import PASSWORD, make_hub, served

pytestmark = [pytest.mark.slow]
IDS = ("d1", "cafe-dev", "door-1")
DEVICE = "/".join(IDS)
# a catalogue key shown instead of its words (t() falls back to the key itself)
UNTRANSLATED = re.compile(r"\b(?:nav|dev|devices)\.[a-z_]+\b")


class FakeBroker:
    """Records what the hub asked of the broker's administration."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []

    def add_device(self, username, password, rules) -> None:
        assert password and rules
        self.calls.append(("add_device", username))

    def disable(self, username) -> None:
        self.calls.append(("disable", username))


@pytest.fixture
def panel(tmp_path):
    """A hub (no broker, no ingest) serving the panel on a free port, with an admin, an inspector,
    the venue of ``IDS`` in its registry, and the device's trust file; (hub, url, fake broker, edge
    configuration, trust file)."""

    from humiao.edge.config import EdgeConfig
    from humiao.hub import auth, devices
    from humiao.hub.tables import Venue

    from tests.support.devices import STAND_IN_CA

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    with hub.sessions() as s, s.begin():
        auth.create_user(s, "admin", PASSWORD, "admin", None)
        auth.create_user(s, "ct-d1", PASSWORD, "culture_tourism", "d1")
        s.add(
            Venue(
                id=IDS[1], name="设备网咖", venue_type="internet_cafe", district_id=IDS[0], updated_at=datetime.now(UTC)
            )
        )
    fake = FakeBroker()

    @contextmanager
    def broker_rights():
        yield fake

    hub.broker_admin = broker_rights
    hub.cfg.ca_file().parent.mkdir(parents=True, exist_ok=True)
    hub.cfg.ca_file().write_text(STAND_IN_CA)  # no broker here: any well-formed PEM for the trust file
    trust = tmp_path / "hub-trust.json"
    trust.write_text(devices.trust_file(hub.cfg, "127.0.0.1", 8883).dumps())
    edge_cfg = EdgeConfig.model_validate(
        {
            "device": {
                "district_id": IDS[0],
                "venue_id": IDS[1],
                "device_id": IDS[2],
                "state_dir": str(tmp_path / "edge"),
            }
        }
    )
    with served(hub) as url:
        yield hub, url, fake, edge_cfg, trust
    hub.engine.dispose()


def sign_in(page, url: str, user: str) -> None:
    panel_sign_in(page, url, user, PASSWORD)


def request_file(edge_cfg, trust: Path, out: Path, new_key: bool = False):
    """The device's enrolment request, copied aside (the device rewrites the same file for a new key)."""
    from humiao.edge.identity import enroll
    from humiao.proto import signing

    path, request = enroll(edge_cfg, trust, new_key=new_key)
    out.write_bytes(path.read_bytes())
    return out, request, signing.fingerprint(request.public())


def no_untranslated_keys(page) -> None:
    shown = page.locator("body").inner_text()
    assert not UNTRANSLATED.search(shown), UNTRANSLATED.search(shown)


def test_admin_enrols_replaces_and_revokes_devices(panel, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    hub, url, fake, edge_cfg, trust = panel
    first, req1, fp1 = request_file(edge_cfg, trust, tmp_path / "request-1.json")
    second, req2, fp2 = request_file(edge_cfg, trust, tmp_path / "request-2.json", new_key=True)
    assert req1.key_id != req2.key_id and fp1 != fp2
    not_json = tmp_path / "enrolment-request.json"
    not_json.write_text("this is not JSON {")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        reasons = ["设备丢失，已报警"]
        page.on("dialog", lambda d: d.accept(reasons[0]))

        # -- as admin, in Chinese (the default) at desktop width
        sign_in(page, url, "admin")
        nav = page.locator("#nav a[href='#/devices']")
        expect(nav).to_be_visible()
        expect(nav).to_have_text("设备")
        nav.click()
        expect(page.locator("h1")).to_have_text("设备管理")
        expect(page.locator("#key-rows")).to_contain_text("尚无已登记的设备")

        # a file that is not JSON: said in words, nothing sent
        page.set_input_files("#enrol-form input[type=file]", str(not_json))
        page.click("#enrol-form button[type=submit]")
        expect(page.locator("#enrol-result")).to_contain_text("所选文件不是 JSON 文件")
        assert fake.calls == []

        # the device's request: enrolled, its fingerprint shown to be compared with the device's
        page.set_input_files("#enrol-form input[type=file]", str(first))
        expect(page.locator("#file-name")).to_have_text("request-1.json")  # our words, not the browser's button
        page.click("#enrol-form button[type=submit]")
        result = page.locator("#enrol-result")
        expect(result).to_contain_text("设备已登记")
        expect(result).to_contain_text(DEVICE)
        expect(result.locator("#enrolled-fp")).to_have_text(fp1)
        expect(result).to_contain_text("逐组核对")
        row1 = page.locator(f"#key-rows tr[data-key='{req1.key_id}']")
        expect(row1).to_contain_text(DEVICE)
        expect(row1.locator("td.fp")).to_have_text(fp1)
        expect(row1).to_contain_text("有效")
        expect(row1).to_contain_text("admin")
        assert fake.calls == [("add_device", req1.username)]
        assert req1.username == "edge.d1.cafe-dev.door-1"

        # a new key for the same device, without "replace": the hub's refusal under our lead-in
        page.set_input_files("#enrol-form input[type=file]", str(second))
        page.click("#enrol-form button[type=submit]")
        expect(result.locator(".notice.bad")).to_contain_text("中心未登记该设备")
        expect(result.locator(".notice.bad .detail")).to_contain_text(f"is enrolled with key {req1.key_id}")
        expect(page.locator(f"#key-rows tr[data-key='{req2.key_id}']")).to_have_count(0)
        assert len(fake.calls) == 1

        # with "replace": enrolled, the old key revoked
        page.set_input_files("#enrol-form input[type=file]", str(second))
        page.check("#enrol-form input[name=replace]")
        page.click("#enrol-form button[type=submit]")
        expect(result.locator("#enrolled-fp")).to_have_text(fp2)
        row2 = page.locator(f"#key-rows tr[data-key='{req2.key_id}']")
        expect(row2.locator("td.key-state")).to_contain_text("有效")
        expect(row1.locator("td.key-state")).to_contain_text("已撤销")
        expect(row1.locator("td.key-state")).to_contain_text("replaced by a new key")
        expect(row1.locator("button.revoke")).to_have_count(0)
        expect(page.locator("#enrol-form input[name=replace]")).not_to_be_checked()
        assert fake.calls[-1] == ("add_device", req2.username)
        no_untranslated_keys(page)
        shot(page, "devices-zh-desktop")

        # revoke the active key with a reason (asked as the panel asks for reasons elsewhere)
        row2.locator("button.revoke").click()
        expect(row2.locator("td.key-state")).to_contain_text("已撤销")
        expect(row2.locator("td.key-state")).to_contain_text("设备丢失，已报警")
        expect(page.locator("#key-rows button.revoke")).to_have_count(0)
        assert fake.calls[-1] == ("disable", req2.username)

        # -- in English, at tablet width: the same view, words and all; a third key, then revoked
        page.set_viewport_size({"width": 768, "height": 1024})
        page.click("#lang")
        expect(nav).to_have_text("Devices")
        expect(page.locator("h1")).to_have_text("Devices")
        third, req3, fp3 = request_file(edge_cfg, trust, tmp_path / "request-3.json", new_key=True)
        page.set_input_files("#enrol-form input[type=file]", str(third))
        page.click("#enrol-form button[type=submit]")
        expect(result).to_contain_text("Device enrolled")
        expect(result.locator("#enrolled-fp")).to_have_text(fp3)
        expect(result).to_contain_text("Compare this fingerprint")
        row3 = page.locator(f"#key-rows tr[data-key='{req3.key_id}']")
        expect(row3.locator("td.key-state")).to_contain_text("active")
        expect(row2.locator("td.key-state")).to_contain_text("revoked")
        expect(page.locator("#key-rows tr")).to_have_count(3)
        reasons[0] = "decommissioned"
        row3.locator("button.revoke").click()
        expect(row3.locator("td.key-state")).to_contain_text("revoked")
        expect(row3.locator("td.key-state")).to_contain_text("Reason: decommissioned")
        assert fake.calls[-1] == ("disable", req3.username)
        page.set_input_files("#enrol-form input[type=file]", str(not_json))
        page.click("#enrol-form button[type=submit]")
        expect(result).to_contain_text("The chosen file is not JSON")
        no_untranslated_keys(page)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # the fingerprint wraps inside its cell rather than widening the page
        fp_box = row3.locator("td.fp").bounding_box()
        assert fp_box and fp_box["x"] + fp_box["width"] <= 768
        shot(page, "devices-en-tablet")

        # -- an inspector: no Devices link, the view not reachable, the API refuses
        inspector = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        sign_in(inspector, url, "ct-d1")
        expect(inspector.locator("#nav a[href='#/alarms']")).to_be_visible()
        expect(inspector.locator("#nav a[href='#/devices']")).to_be_hidden()
        inspector.goto(f"{url}/panel#/devices")
        inspector.reload()
        expect(inspector.locator("#enrol-form")).to_have_count(0)
        assert inspector.evaluate("fetch('/api/devices/keys').then((r) => r.status)") == 403
        browser.close()
    assert [c[0] for c in fake.calls] == ["add_device", "add_device", "disable", "add_device", "disable"]
