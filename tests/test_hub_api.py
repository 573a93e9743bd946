"""The inspectors' API through HTTP: sign-in, lockout, CSRF, the access matrix on real routes,
evidence views audited — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.hubapi import Browser, make_hub, seed

pytestmark = pytest.mark.services


@pytest.fixture
def hub(tmp_path, db_url):
    h = make_hub(tmp_path, db_url)
    h.alarm_ids = seed(h)
    yield h
    h.engine.dispose()


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
    assert r.status_code == 401 and "wrong name or password" in r.text  # the fifth failure locks
    r = anon.client.post("/api/login", json={"username": "ct-d1", "password": "correct horse battery"})
    assert r.status_code == 401 and "locked" in r.text  # even with the right password, for now
    b = Browser(hub, "police-d1")
    alarm = hub.alarm_ids["ktv1"]
    assert b.post(f"/api/alarms/{alarm}/actions", csrf=False, json={"action": "acknowledge"}).status_code == 403
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
    assert Browser(hub, "proc-d1").get(f"/api/alarms/{hotel}/evidence", params={"why": "litigation file 3"}).status_code == 200
    audit = Browser(hub, "auditor").get("/api/audit", params={"action": "evidence.view"}).json()["events"]
    assert [(e["user"], e["why"]) for e in audit] == [("proc-d1", "litigation file 3"),
                                                      ("ct-d1", "case 12: confirm the person")]
    assert ct.get("/api/audit").status_code == 403
    with pytest.raises(Exception, match="append-only"):
        from sqlalchemy import text

        with hub.sessions() as s:
            s.execute(text("DELETE FROM audit_events"))
            s.commit()
