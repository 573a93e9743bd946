"""The auditor's filters on ``GET /api/audit``: who (``actor``, exactly), what (``action``, one of hub/audit.py's
``ACTIONS``; another is a 422), which object (``object``, part of its id) and which days (``since``/``until``,
calendar days in the venues' zone, Asia/Shanghai, ``until`` inclusive) — each narrows, together they narrow further;
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from humiao.hub import audit
from humiao.hub.access import Principal

from tests.support.hubapi import Browser

pytestmark = pytest.mark.services
SHANGHAI = ZoneInfo("Asia/Shanghai")
CT = Principal("ct-d1", "culture_tourism", "d1")
POLICE = Principal("police-d1", "police", "d1")


def at(*wall) -> datetime:
    """A wall time in Asia/Shanghai, as the UTC instant the hub stores."""
    return datetime(*wall, tzinfo=SHANGHAI).astimezone(UTC)


# (when, who, action, object type, object id): around the day 2026-03-10 in Asia/Shanghai (UTC+8, so its edges are
# 16:00 UTC the evening before)
ROWS = [
    (at(2026, 3, 9, 23, 59, 59, 999999), CT, "evidence.view", "evidence", "ev-aaa-1"),
    (at(2026, 3, 10, 0, 0, 0), CT, "evidence.view", "evidence", "ev-bbb-2"),
    (at(2026, 3, 10, 23, 59, 59, 999999), POLICE, "evidence.request", "alert", "ev-bbb-2"),
    (at(2026, 3, 11, 0, 0, 0), POLICE, "report.download", "report", "d1"),
]


@pytest.fixture
def logged(seeded_hub, monkeypatch):
    """The seeded hub with ROWS in its audit log (written at their times) and the auditor signed in."""
    hub = seeded_hub
    with hub.sessions() as s:
        for when, who, action, otype, oid in ROWS:
            monkeypatch.setattr(audit, "utcnow", lambda when=when: when)
            audit.record(s, who, action, otype, oid, "a reason", "127.0.0.1")
        s.commit()
    monkeypatch.undo()
    return hub, Browser(hub, "auditor")


def shown(auditor: Browser, **params) -> list[tuple[str, str, str]]:
    """(user, action, object id) of each row the filters let through, newest first (the auditor's sign-in aside)."""
    r = auditor.get("/api/audit", params=params)
    assert r.status_code == 200, r.text
    return [(e["user"], e["action"], e["object_id"]) for e in r.json()["events"] if e["action"] != "login"]


def test_each_filter_narrows(logged):
    _hub, auditor = logged
    everything = shown(auditor)
    assert everything == [
        ("police-d1", "report.download", "d1"),
        ("police-d1", "evidence.request", "ev-bbb-2"),
        ("ct-d1", "evidence.view", "ev-bbb-2"),
        ("ct-d1", "evidence.view", "ev-aaa-1"),
    ]
    # who: exactly that user (a part of the name is no one)
    assert [r[2] for r in shown(auditor, actor="ct-d1")] == ["ev-bbb-2", "ev-aaa-1"]
    assert shown(auditor, actor="ct") == []
    # what: one of the actions
    assert shown(auditor, action="evidence.request") == [("police-d1", "evidence.request", "ev-bbb-2")]
    assert [r[0] for r in shown(auditor, action="evidence.view")] == ["ct-d1", "ct-d1"]
    # the auditor's own sign-in is a login row
    logins = auditor.get("/api/audit", params={"action": "login"}).json()["events"]
    assert logins and {e["action"] for e in logins} == {"login"} and logins[0]["user"] == "auditor"
    # which object: the id, whole or in part; a LIKE wildcard is only itself
    assert [r[1] for r in shown(auditor, object="ev-bbb-2")] == ["evidence.request", "evidence.view"]
    assert [r[2] for r in shown(auditor, object="aaa")] == ["ev-aaa-1"]
    assert shown(auditor, object="d1") == [("police-d1", "report.download", "d1")]
    assert shown(auditor, object="%") == shown(auditor, object="ev_") == []


def test_days_are_the_venues_calendar_days_until_inclusive(logged):
    _hub, auditor = logged
    # the day 2026-03-10 in Asia/Shanghai: from its first microsecond to its last, not a moment either side
    day = shown(auditor, since="2026-03-10", until="2026-03-10")
    assert day == [("police-d1", "evidence.request", "ev-bbb-2"), ("ct-d1", "evidence.view", "ev-bbb-2")]
    assert shown(auditor, until="2026-03-09") == [("ct-d1", "evidence.view", "ev-aaa-1")]
    assert [r[2] for r in shown(auditor, since="2026-03-11")] == ["d1"]
    assert [r[2] for r in shown(auditor, until="2026-03-10")] == ["ev-bbb-2", "ev-bbb-2", "ev-aaa-1"]
    assert len(shown(auditor, since="2026-03-09", until="2026-03-11")) == 4
    assert shown(auditor, since="2026-03-12", until="2026-03-31") == []
    assert shown(auditor, since="2026-03-11", until="2026-03-10") == []  # an empty span, not an error
    # the sign-ins of today count on today, in Asia/Shanghai
    today = datetime.now(SHANGHAI).date().isoformat()
    assert auditor.get("/api/audit", params={"since": today, "action": "login"}).json()["events"]


def test_filters_combine(logged):
    _hub, auditor = logged
    assert shown(auditor, actor="police-d1", object="bbb") == [("police-d1", "evidence.request", "ev-bbb-2")]
    assert shown(auditor, actor="ct-d1", action="evidence.view", since="2026-03-10") == [
        ("ct-d1", "evidence.view", "ev-bbb-2")
    ]
    assert shown(auditor, actor="ct-d1", action="evidence.request") == []
    assert shown(auditor, action="evidence.view", object="bbb", until="2026-03-09") == []
    # paging as before: the newest ``limit`` of the filtered rows
    assert shown(auditor, actor="ct-d1", limit=1) == [("ct-d1", "evidence.view", "ev-bbb-2")]


def test_malformed_filters_are_refused(logged):
    hub, auditor = logged
    for params in (
        {"action": "evidence.delete"},  # not an audit action
        {"action": "EVIDENCE.VIEW"},
        {"since": "2026-13-01"},
        {"until": "10/03/2026"},
        {"object": "x" * 65},  # longer than any stored object id
    ):
        r = auditor.get("/api/audit", params=params)
        assert r.status_code == 422, (params, r.text)
    assert "evidence.view" in auditor.get("/api/audit", params={"action": "nope"}).text  # it names the actions
    # only the auditor reads the log, filtered or not
    assert Browser(hub, "ct-d1").get("/api/audit", params={"actor": "ct-d1"}).status_code == 403
