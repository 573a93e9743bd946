"""The panel end to end in real headless Chromium (Debian's, driven by Playwright): a culture &
tourism inspector signs in, an edge publishes an alert over real Mosquitto, it appears live, the
evidence is fetched from the edge and revealed (and the auditor finds the row), a case is opened
and taken to closed, the month's PDF is exported and read back. Screenshots: artifacts/screenshots/."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from humiao.hub.audit import WORDS

from tests.support.browser import ARGS, CHROMIUM, shot
from tests.support.devices import enroll_device
from tests.support.hubproc import wait_for
from tests.support.mosquitto import free_port
from tests.support.services import hub_config

pytestmark = [pytest.mark.services, pytest.mark.slow]
PASSWORD = "correct horse battery"


@pytest.fixture
def system(broker, tmp_path, astronaut):
    """Hub (ingest + HTTP on a free port) and an edge agent ready to run on a short video."""
    import uvicorn

    from humiao.edge.agent import EdgeAgent
    from humiao.edge.config import EdgeConfig
    from humiao.edge.sample_video import build
    from humiao.hub import auth, registry
    from humiao.hub.app import Hub, create_app
    from humiao.hub.config import HubConfig

    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    hub_cfg = hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker)
    hub = Hub(HubConfig.model_validate({**hub_cfg, "rules": {"evaluate_interval_s": 1}}))
    with hub.sessions() as s:
        registry.import_venues(
            s,
            "id,name,venue_type,district_id,lat,lon,sign_posted\n"
            "cafe-e2e,端到端网咖,internet_cafe,d1,31.2,121.44,true\n",
        )
        auth.create_user(s, "ct-d1", PASSWORD, "culture_tourism", "d1")
        auth.create_user(s, "auditor", PASSWORD, "auditor", None)
        s.commit()
    hub.start()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    assert wait_for(lambda: server.started, 10)
    enroll_device(hub.cfg, broker, ("d1", "cafe-e2e", "door-1"), state_dir=tmp_path / "edge")
    video, _ = build(tmp_path / "door.mp4", seconds_per_person=2.0, photos=[(astronaut, "astronaut", None)])
    cfg = EdgeConfig.model_validate(
        {
            "mqtt": {"port": broker.port},
            "device": {
                "district_id": "d1",
                "venue_id": "cafe-e2e",
                "device_id": "door-1",
                "state_dir": str(tmp_path / "edge"),
            },
            "source": {"uri": str(video), "mode": "offline"},
            "metrics": {"port": None},
            "idcheck": {"console": {"port": 0}},
            # an adult made to "look under 40" so that this one person raises an alert
            "policy": {"challenge_threshold": 40, "use_operating_point": False},
        }
    )
    agent = EdgeAgent(cfg)
    yield hub, f"http://127.0.0.1:{port}", agent
    EdgeAgent.close(agent)
    server.should_exit = True
    hub.stop()


def test_inspector_flow_in_chromium(system, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    hub, url, agent = system
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page = ctx.new_page()
        page.on("dialog", lambda d: d.accept("e2e: checking the alert on site"))
        page.goto(f"{url}/panel")
        page.fill("input[name=username]", "ct-d1")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#who")).to_contain_text(
            "ct-d1 · 文化和旅游 · d1"
        )  # the role in the default language, Chinese
        page.click("#lang")  # English
        expect(page.locator("h1")).to_contain_text("Live alarms")
        assert page.locator("#alarm-rows tr.row").count() == 0

        # the edge sees the person and publishes an alert over Mosquitto; it appears without a reload
        agent.close = lambda reason="": None  # keep the edge connected after the video, to answer the request
        threading.Thread(target=agent.run, daemon=True).start()
        row = page.locator("#alarm-rows tr.row").first
        expect(row).to_be_visible(timeout=30000)
        expect(row).to_contain_text("端到端网咖")
        expect(row).to_contain_text("internet café")  # the venue type as words, not its code
        shot(page, "1-live-alarm")

        # evidence: requested from the edge (audited), stored sealed, revealed with a reason (audited)
        row.click()
        page.click("#request-ev")

        def stored() -> bool:
            with hub.sessions() as s:
                return s.scalar(text("SELECT COUNT(*) FROM evidence")) == 1

        assert wait_for(stored, 20), "the edge did not send the crop"
        row.click()
        page.click("#reveal")
        img = page.locator("#evidence-img")
        expect(img).to_be_visible(timeout=10000)
        assert page.evaluate("document.getElementById('evidence-img').naturalWidth") > 32
        expect(page.locator("#custody")).to_contain_text("sha256")
        shot(page, "2-evidence-revealed")

        # open a case from the alarm and take it through the procedure
        page.click("#open-case")
        expect(page.locator("h1")).to_contain_text("D1-CU-")
        number = page.locator("h1").inner_text().split()[0]

        def step(action: str, **fields):
            form = page.locator(f"form.step[data-action={action}]")
            for name, value in fields.items():
                form.locator(f"[name={name}]").fill(value) if name != "decision" else form.locator(
                    "select"
                ).select_option(value)
            form.locator("button").click()
            page.wait_for_timeout(300)

        step("assign", officers="ct-d1:31010001\nct-d1b:31010002")
        step("inspect", findings="adult confirmed by ID on site; sign posted")
        step("respond_notice")
        step("legal_review", opinion="facts clear")
        step("decide", decision="no_penalty", basis="no violation found")
        expect(page.locator("#case-status")).to_have_text("decided")
        step("close", note="no violation")
        expect(page.locator("#case-status")).to_have_text("closed")
        expect(page.locator(".kv")).to_contain_text("no penalty")
        page.click("#lang")  # 中文: the case in Chinese, codes as words
        expect(page.locator("#case-status")).to_have_text("已结案")
        expect(page.locator(".kv")).to_contain_text("不予处罚")
        expect(page.locator(".history")).to_contain_text("法制审核")
        page.click("#lang")  # back to English
        shot(page, "3-case-closed")

        # the month's PDF, downloaded from the panel
        page.goto(f"{url}/panel#/reports")
        with page.expect_download() as dl:
            page.click("#report-form button[type=submit]")
        pdf_path = tmp_path / "report.pdf"
        dl.value.save_as(pdf_path)
        import pypdf

        pdf = pypdf.PdfReader(str(pdf_path))
        pdf_text = "".join(pg.extract_text() for pg in pdf.pages)
        # in the viewer's language (the panel is in English here): words, not codes; money and case number whole
        assert len(pdf.pages) >= 2 and number in pdf_text and "joint enforcement report" in pdf_text
        assert "no penalty" in pdf_text and "no_penalty" not in pdf_text

        # the auditor finds the evidence view with its reason
        audit = browser.new_context().new_page()
        audit.goto(f"{url}/panel")
        audit.fill("input[name=username]", "auditor")
        audit.fill("input[name=password]", PASSWORD)
        audit.click("#login-form button[type=submit]")
        # in words (hub/audit.py's, the panel's default language), not the stored code
        rows = audit.locator("main table tr").filter(has_text="e2e: checking the alert on site")
        expect(rows.filter(has_text=WORDS["evidence.view"]["zh"])).to_have_count(1, timeout=10000)
        expect(rows.filter(has_text=WORDS["evidence.request"]["zh"])).to_have_count(1)
        assert "evidence.view" not in audit.locator("main").inner_text()
        shot(audit, "4-audit-log")
        browser.close()


def test_admin_imports_the_registry_in_chromium(tmp_path):
    """The admin's registry import/export from the panel's venue page."""
    import threading

    import uvicorn
    from playwright.sync_api import expect, sync_playwright

    from humiao.hub import auth
    from humiao.hub.app import Hub, create_app
    from humiao.hub.config import HubConfig

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    hub = Hub(HubConfig(data_dir=tmp_path / "hub"))
    with hub.sessions() as s:
        auth.create_user(s, "admin", PASSWORD, "admin", None)
        s.commit()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    assert wait_for(lambda: server.started, 10)
    csv_file = tmp_path / "venues.csv"
    csv_file.write_text("id,name,venue_type,district_id\nbar-1,夜色酒吧,bar,d1\n", encoding="utf-8")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(accept_downloads=True)
            page.goto(f"http://127.0.0.1:{port}/panel")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-form button[type=submit]")
            page.goto(f"http://127.0.0.1:{port}/panel#/venues")
            page.set_input_files("#registry input[data-what=venues]", str(csv_file))
            expect(page.locator("main table")).to_contain_text("夜色酒吧", timeout=10000)
            with page.expect_download() as dl:
                page.click("#registry a[href='/api/registry/venues.csv']")
            out = tmp_path / "export.csv"
            dl.value.save_as(out)
            assert "bar-1,夜色酒吧,bar,d1" in out.read_text(encoding="utf-8")
            shot(page, "5-admin-registry")
            browser.close()
    finally:
        server.should_exit = True
