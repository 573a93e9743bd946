"""The inspectors' API through HTTP: sign-in, lockout, CSRF, the access matrix on real routes,
evidence views audited — on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC

import pytest

from tests.support.hubapi import Browser

pytestmark = pytest.mark.services


@pytest.fixture
def hub(seeded_hub):
    return seeded_hub


def venues_seen(browser) -> set[str]:
    r = browser.get("/api/alarms")
    assert r.status_code == 200, r.text
    return {a["venue_id"] for a in r.json()["alarms"]}


def test_sign_in_lockout_and_csrf(hub):
    anon = Browser(hub)
    assert anon.get("/api/alarms").status_code == 401
    for _ in range(4):
        assert anon.client.post("/api/login", json={"username": "ct-d1", "password": "wrong"}).status_code == 401
    r = anon.client.post("/api/login", json={"username": "ct-d1", "password": "wrong"})
    assert r.status_code == 401 and r.json()["code"] == "error.sign_in.failed"  # the fifth failure throttles
    assert r.json()["detail"] == "用户名或密码错误"  # in Chinese unless the caller asks otherwise
    r = anon.client.post("/api/login", json={"username": "ct-d1", "password": "correct horse battery"})
    assert r.status_code == 429 and r.json()["code"] == "error.sign_in.failed"  # the same words (test_auth.py)
    b = Browser(hub, "police-d1")
    alarm = hub.alarm_ids["ktv1"]
    r = b.post(f"/api/alarms/{alarm}/actions", csrf=False, json={"action": "acknowledge"})
    assert r.status_code == 403 and r.json()["code"] == "error.csrf"
    r = b.post(f"/api/alarms/{alarm}/actions", json={"action": "acknowledge", "text": "seen"})
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "police-d1"
    assert r.json()["history"][-1]["action"] == "acknowledged"
    assert b.post("/api/logout").status_code == 200 and b.get("/api/alarms").status_code == 401


def test_scopes_on_the_alarm_list(hub):
    assert venues_seen(Browser(hub, "ct-d1")) == {"ktv1"}  # KTV is culture's; the hotel is police's and market's
    assert venues_seen(Browser(hub, "police-d1")) == {"ktv1", "hotel1"}
    assert venues_seen(Browser(hub, "mr-d1")) == {"hotel1"}
    assert venues_seen(Browser(hub, "ct-d2")) == {"ktv9"}  # another district's venues never show
    assert venues_seen(Browser(hub, "proc-d1")) == {"ktv1", "hotel1"}
    assert venues_seen(Browser(hub, "op-ktv")) == {"ktv1"}
    assert Browser(hub, "admin").get("/api/alarms").status_code == 403
    assert Browser(hub, "auditor").get("/api/alarms").status_code == 403
    # one object outside the read scope is not found, not forbidden
    assert Browser(hub, "ct-d1").get(f"/api/alarms/{hub.alarm_ids['hotel1']}").status_code == 404
    assert Browser(hub, "ct-d2").get(f"/api/alarms/{hub.alarm_ids['ktv1']}").status_code == 404


def test_evidence_views_are_audited_and_scoped(hub):
    ktv, hotel = hub.alarm_ids["ktv1"], hub.alarm_ids["hotel1"]
    ct = Browser(hub, "ct-d1")
    assert ct.get(f"/api/alarms/{ktv}/evidence").status_code == 422  # no reason given
    r = ct.get(f"/api/alarms/{ktv}/evidence", params={"why": "case 12: confirm the person"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert r.headers["cache-control"] == "no-store" and len(r.headers["x-evidence-sha256"]) == 64
    assert ct.get(f"/api/alarms/{hotel}/evidence", params={"why": "curious"}).status_code == 404  # police's
    op = Browser(hub, "op-ktv")
    assert op.get(f"/api/alarms/{ktv}/evidence", params={"why": "my venue"}).status_code == 403
    assert (
        Browser(hub, "proc-d1").get(f"/api/alarms/{hotel}/evidence", params={"why": "litigation file 3"}).status_code
        == 200
    )
    audit = Browser(hub, "auditor").get("/api/audit", params={"action": "evidence.view"}).json()["events"]
    assert [(e["user"], e["why"]) for e in audit] == [
        ("proc-d1", "litigation file 3"),
        ("ct-d1", "case 12: confirm the person"),
    ]
    assert ct.get("/api/audit").status_code == 403
    with pytest.raises(Exception, match="append-only"):
        from sqlalchemy import text

        with hub.sessions() as s:
            s.execute(text("DELETE FROM audit_events"))
            s.commit()


def test_case_queue_over_http(hub):
    ct, police, op = Browser(hub, "ct-d1"), Browser(hub, "police-d1"), Browser(hub, "op-ktv")
    r = ct.post("/api/cases", json={"alarm_ids": [hub.alarm_ids["hotel1"]]})  # police's: not culture's to see
    assert (r.status_code, r.json()["code"]) == (409, "error.case.unknown_alarms")
    assert r.json()["params"] == {"ids": [hub.alarm_ids["hotel1"]]}
    assert r.json()["detail"] == f"未知的警报：{hub.alarm_ids['hotel1']}"
    assert Browser(hub, "proc-d1").post("/api/cases", json={"alarm_ids": [hub.alarm_ids["ktv1"]]}).status_code == 403
    r = ct.post("/api/cases", json={"alarm_ids": [hub.alarm_ids["ktv1"]]})
    assert r.status_code == 200, r.text
    case = r.json()
    cid = case["id"]
    steps = [
        {
            "action": "assign",
            "officers": [{"user": "ct-d1", "enforcement_id": "1"}, {"user": "ct-x", "enforcement_id": "2"}],
        },
        {"action": "inspect", "findings": "minor in room 2", "minor": {"age": 15, "under_14": False}},
        {"action": "respond_notice"},
        {"action": "legal_review", "opinion": "ok"},
        {"action": "decide", "decision": "warning", "basis": "art. 48"},
    ]
    for body in steps:
        r = ct.post(f"/api/cases/{cid}/actions", json=body)
        assert r.status_code == 200, (body, r.text)
    assert r.json()["status"] == "decided" and [h["action"] for h in r.json()["history"]][-1] == "decided"
    r = ct.post(
        f"/api/cases/{cid}/actions", json={"action": "decide", "decision": "fine", "basis": "x", "fine_yuan": 1}
    )
    assert r.status_code == 409 and r.json()["code"] == "error.case.needs_status"
    assert "已决定" in r.json()["detail"] and "已检查" in r.json()["detail"]  # it is decided; the step needs inspected
    assert police.get(f"/api/cases/{cid}").status_code == 404  # culture's case, not police's
    mine = op.get(f"/api/cases/{cid}")
    assert mine.status_code == 200 and "officers" not in mine.json() and mine.json()["history"] == []
    assert [c["id"] for c in Browser(hub, "proc-d1").get("/api/cases").json()["cases"]] == [cid]
    assert Browser(hub, "ct-d2").get("/api/cases").json()["cases"] == []
    venue = ct.get("/api/venues/ktv1").json()
    assert [c["id"] for c in venue["cases"]] == [cid] and len(venue["alarms"]) == 1
    assert ct.get("/api/venues/ktv9").status_code == 404
    lst = ct.get("/api/inspection-list", params={"district": "d1"}).json()
    assert {v["venue_id"] for v in lst["venues"]} == {"ktv1", "hotel1"}
    assert ct.get("/api/inspection-list", params={"district": "d2"}).status_code == 403


def test_registry_csv_over_http(hub):
    admin, ct = Browser(hub, "admin"), Browser(hub, "ct-d1")
    csv_text = admin.get("/api/registry/venues.csv").text
    assert csv_text.startswith("id,name,venue_type") and csv_text.count("\n") == 4
    assert ct.get("/api/registry/venues.csv").status_code == 403
    r = admin.post("/api/registry/schools.csv", content="id,name,district_id,lat,lon\ns1,一中,d1,31.2,121.4\n".encode())
    assert r.status_code == 200 and r.json() == {"imported": 1}
    bad = b"id,name,district_id,lat,lon\nS!,x,d1,1,1\n"
    r = admin.post("/api/registry/schools.csv?lang=en", content=bad)
    assert r.status_code == 400 and r.json()["code"] == "registry.rows" and "row 2, id" in r.json()["detail"]
    r = admin.post("/api/registry/schools.csv", content=bad)  # Chinese by default
    assert r.status_code == 400 and "第 2 行，id" in r.json()["detail"]
    r = admin.post("/api/registry/schools.csv", content="id,name\ns2,一中\n".encode("gbk"))  # not UTF-8
    assert r.status_code == 400 and r.json()["code"] == "error.csv.not_utf8" and "UTF-8" in r.json()["detail"]
    assert [s["id"] for s in ct.get("/api/schools").json()["schools"]] == ["s1"]
    assert {v["id"] for v in ct.get("/api/venues").json()["venues"]} == {"ktv1", "hotel1"}


def test_rules_table_and_calendar_over_http(hub):
    b = Browser(hub, "ct-d1")
    table = b.get("/api/rules").json()["venue_types"]
    by_type = {r["venue_type"]: r for r in table}
    assert set(by_type) == {"ktv", "bar", "internet_cafe", "arcade", "hotel", "esports_hotel", "script_entertainment"}
    assert by_type["ktv"]["minors"] == "never" and by_type["ktv"]["enforcers"][0] == "culture_tourism"
    assert by_type["arcade"]["minors"] == "devices_holidays_only" and by_type["hotel"]["minors"] == "record_guardian"
    assert by_type["hotel"]["enforcers"][0] == "police" and any("art. 57" in s for s in by_type["hotel"]["sources"])
    holiday = b.get("/api/rules", params={"day": "2026-10-02"}).json()["calendar"]
    workday = b.get("/api/rules", params={"day": "2026-11-24", "lang": "en"}).json()["calendar"]
    assert holiday["arcade_devices_allowed_for_minors"] and holiday["statutory_holiday"] == "National Day"
    assert holiday["description"] == "法定节假日（国庆节）"  # in the caller's language, Chinese by default
    assert not workday["arcade_devices_allowed_for_minors"] and workday["description"] == "ordinary working day"
    bad = b.get("/api/rules", params={"day": "24/11/2026", "lang": "en"})
    assert (
        bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["detail"] and bad.json()["code"] == "report.error.bad_day"
    )
    assert Browser(hub).get("/api/rules").status_code == 401


def test_ingest_views_are_for_the_hub_operator(hub):
    for path in ("/api/alerts", "/api/devices", "/api/dead-letters"):
        assert Browser(hub).get(path).status_code == 401
        assert Browser(hub, "ct-d1").get(path).status_code == 403
        assert Browser(hub, "admin").get(path).status_code == 200
    assert Browser(hub, "admin").get("/api/alerts").json()["total"] == 3
    r = Browser(hub, "ct-d1").client.get("/ingest", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/panel"
    assert "alerts stored" in Browser(hub, "admin").get("/ingest").text
    assert Browser(hub).get("/metrics").status_code == 200  # counts only, for monitoring


def test_cli_accounts(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HUMIAO_HUB__DATA_DIR": str(tmp_path / "hub")}

    def cli(*args, stdin=""):
        return subprocess.run(
            [sys.executable, "-m", "humiao.cli", "hub", "users", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    done = cli("add", "ct-9", "--role", "culture_tourism", "--district", "d9", "--password-stdin", stdin="short\n")
    assert done.returncode == 2 and "shorter than 12" in done.stderr
    done = cli("add", "ct-9", "--role", "culture_tourism", "--password-stdin", stdin="a long enough secret\n")
    assert done.returncode == 2 and "needs a district" in done.stderr
    done = cli(
        "add",
        "ct-9",
        "--role",
        "culture_tourism",
        "--district",
        "d9",
        "--password-stdin",
        stdin="a long enough secret\n",
    )
    assert done.returncode == 0, done.stderr
    listed = cli("list").stdout
    assert "ct-9" in listed and "culture_tourism" in listed and "d9" in listed


def test_live_feed_is_scoped(hub):
    """The SSE stream carries only what the viewer's list would (a real server, a streaming client)."""
    import json
    import threading
    from datetime import datetime, timedelta

    import httpx
    import uvicorn

    from humiao.hub.app import create_app

    from tests.support.hubapi import PASSWORD
    from tests.support.mosquitto import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    after = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    try:
        for user, expected in (
            ("ct-d1", {"ktv1"}),
            ("police-d1", {"ktv1", "hotel1"}),
            ("ct-d2", {"ktv9"}),
            ("op-ktv", {"ktv1"}),
        ):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=httpx.Timeout(5, read=1.2)) as c:
                assert c.post("/api/login", json={"username": user, "password": PASSWORD}).status_code == 200
                seen = set()
                with c.stream("GET", "/api/stream", params={"after": after}) as r:
                    assert r.headers["content-type"].startswith("text/event-stream")
                    try:  # everything since ``after`` comes at once; then silence until the keep-alive
                        for line in r.iter_lines():
                            if line.startswith("data: "):
                                seen.add(json.loads(line[6:])["venue_id"])
                    except httpx.ReadTimeout:
                        pass
                assert seen == expected, (user, seen)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            assert c.get("/api/stream").status_code == 401
    finally:
        server.should_exit = True


def test_open_alarms_are_a_metric(hub):
    hub.evaluate()
    text = Browser(hub).get("/metrics").text
    assert 'humiao_hub_open_alarms{verdict="pending"} 3.0' in text


def test_alarm_filters(hub):
    b = Browser(hub, "police-d1")
    assert {a["venue_id"] for a in b.get("/api/alarms", params={"venue_type": "hotel"}).json()["alarms"]} == {"hotel1"}
    assert b.get("/api/alarms", params={"since": "2000-01-01T00:00:00"}).json()["alarms"]  # naive: read as UTC
    assert b.get("/api/alarms", params={"until": "2000-01-01T00:00:00Z"}).json()["alarms"] == []
    assert b.get("/api/alarms", params={"verdict": "confirmed"}).json()["alarms"] == []
    assert all(a["evidence"] == "stored" for a in b.get("/api/alarms").json()["alarms"])


def test_security_headers(hub):
    r = Browser(hub).get("/panel")
    assert r.status_code == 200 and "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"


def test_a_venue_operator_gets_no_inspector_notes_on_any_alarm_route(hub):
    """List, detail and venue page: the operator sees what happened to its alarm (raised, verdicts,
    acknowledged, cleared), not who on the inspectors' side did it, their comments or the assignee."""
    ktv = hub.alarm_ids["ktv1"]
    police = Browser(hub, "police-d1")
    for body in (
        {"action": "acknowledge", "text": "on my way"},
        {"action": "assign", "text": "police-d1"},
        {"action": "comment", "text": "the manager looked nervous"},
        {"action": "clear", "text": "left before we arrived"},
    ):
        assert police.post(f"/api/alarms/{ktv}/actions", json=body).status_code == 200, body
    inspector = police.get(f"/api/alarms/{ktv}").json()
    assert inspector["assignee"] == "police-d1" and inspector["cleared_by"] == "police-d1"
    assert [h["action"] for h in inspector["history"]][-4:] == ["acknowledged", "assigned", "commented", "cleared"]
    assert "nervous" in str(inspector["history"])
    op = Browser(hub, "op-ktv")
    detail = op.get(f"/api/alarms/{ktv}")
    listed = [a for a in op.get("/api/alarms").json()["alarms"] if a["id"] == ktv]
    on_venue = [a for a in op.get("/api/venues/ktv1").json()["alarms"] if a["id"] == ktv]
    assert detail.status_code == 200 and len(listed) == len(on_venue) == 1
    for shown in (detail.json(), listed[0], on_venue[0]):
        assert shown["acknowledged"] is True and shown["active"] is False  # its alarm's state: yes
        for field in ("assignee", "acknowledged_by", "cleared_by", "departments"):
            assert field not in shown, field
        assert "police-d1" not in str(shown) and "nervous" not in str(shown) and "arrived" not in str(shown)
    assert [h["action"] for h in detail.json()["history"]] == ["raised", "verdict"]  # the hub's own entries only
    assert {h["actor"] for h in detail.json()["history"]} == {"rules"}


def test_a_venue_operator_gets_no_inspector_notes_on_case_views(hub):
    ct, op = Browser(hub, "ct-d1"), Browser(hub, "op-ktv")
    cid = ct.post("/api/cases", json={"alarm_ids": [hub.alarm_ids["ktv1"]]}).json()["id"]
    for body in (
        {
            "action": "assign",
            "officers": [{"user": "ct-d1", "enforcement_id": "1"}, {"user": "ct-x", "enforcement_id": "2"}],
        },
        {"action": "inspect", "findings": "a minor in room 2", "evidence_notes": "photos 1-4, owner uncooperative"},
        {"action": "legal_review", "opinion": "the owner's statement is doubtful"},
    ):
        assert ct.post(f"/api/cases/{cid}/actions", json=body).status_code == 200, body
    inspector = ct.get(f"/api/cases/{cid}").json()
    assert inspector["opened_by"] == "ct-d1" and inspector["legal_review_by"] == "ct-d1"
    assert inspector["evidence_notes"] and [h["action"] for h in inspector["history"]][-1] == "legal_review"
    detail = op.get(f"/api/cases/{cid}").json()
    listed = op.get("/api/cases").json()["cases"]
    on_venue = op.get("/api/venues/ktv1").json()["cases"]
    assert len(listed) == len(on_venue) == 1
    for shown in (detail, listed[0], on_venue[0]):
        assert shown["status"] == "inspected" and shown["findings"] == "a minor in room 2"  # the procedure: yes
        for field in ("officers", "evidence_notes", "legal_review_opinion", "facts", "opened_by", "legal_review_by"):
            assert field not in shown, field
        assert "ct-d1" not in str(shown) and "uncooperative" not in str(shown) and "doubtful" not in str(shown)
    assert detail["history"] == []  # the case's internal history: no
