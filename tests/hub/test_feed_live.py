"""The live feed (SSE) on a real server with a streaming client: it ends with the viewer's session
(signed out, expired) and delivers nothing after; a venue operator's events carry no inspector's notes."""

from __future__ import annotations

import json
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from sqlalchemy import update

from humiao.hub import alarms
from humiao.hub.app import create_app
from humiao.hub.tables import WebSession

from tests.support.hubapi import PASSWORD, make_hub, seed
from tests.support.mosquitto import free_port

pytestmark = pytest.mark.services
READ_S = 6.0  # silence on the stream longer than this reads as "still open, nothing sent" (keep-alive: 15 s)
END_S = 5.0  # a stream whose session has ended closes within this


def serve(hub):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    return f"http://127.0.0.1:{port}", server, thread


@pytest.fixture
def base_url(seeded_hub):
    url, server, thread = serve(seeded_hub)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def signed_in(base_url: str, user: str) -> httpx.Client:
    c = httpx.Client(base_url=base_url, timeout=httpx.Timeout(5, read=READ_S))
    r = c.post("/api/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return c


def sse(lines):
    """(event, data) of each server-sent event; ("<end>", None) when the server closes the stream,
    ("<silent>", None) when it sends nothing for READ_S seconds."""
    event, data = "message", []
    try:
        for line in lines:
            if line == "":
                if data:
                    yield event, json.loads("\n".join(data))
                event, data = "message", []
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
    except httpx.ReadTimeout:
        yield "<silent>", None
        return
    yield "<end>", None


def next_alarm(events) -> dict:
    for event, data in events:
        assert event == "alarm", (event, data)
        return data
    raise AssertionError("the stream ended")


def touch(hub, alarm_id: int) -> None:
    """A change to an alarm the feed must carry (acknowledging moves its ``updated_at``)."""
    with hub.sessions() as s:
        alarms.acknowledge(s, alarm_id, "police-d1", "seen")
        s.commit()


def rest_of(events) -> tuple[list[tuple[str, object]], float]:
    """Everything still sent, until the stream ends or falls silent; and how long that took."""
    t0, got = time.monotonic(), []
    for event, data in events:
        got.append((event, data))
        if event in ("<end>", "<silent>"):
            break
    return got, time.monotonic() - t0


def assert_ended_without_alarms(got, took):
    assert not [d for e, d in got if e == "alarm"], got  # nothing after the session ended
    assert [e for e, _ in got] == ["signed-out", "<end>"] and took < END_S, (got, took)  # the panel signs in again


def test_the_feed_ends_when_the_viewer_signs_out(seeded_hub, base_url):
    ktv, hotel = seeded_hub.alarm_ids["ktv1"], seeded_hub.alarm_ids["hotel1"]
    c = signed_in(base_url, "police-d1")
    with closing(c), c.stream("GET", "/api/stream") as r:
        assert r.status_code == 200
        events = sse(r.iter_lines())
        touch(seeded_hub, ktv)
        assert next_alarm(events)["id"] == ktv  # the feed is live
        assert c.post("/api/logout").status_code == 200  # another tab of the same browser signs out
        touch(seeded_hub, hotel)
        assert_ended_without_alarms(*rest_of(events))
    with httpx.Client(base_url=base_url, cookies={"humiao_session": "gone"}) as anon:
        assert anon.get("/api/stream").status_code == 401


def test_the_feed_ends_when_the_session_expires(seeded_hub, base_url):
    ktv, hotel = seeded_hub.alarm_ids["ktv1"], seeded_hub.alarm_ids["hotel1"]
    c = signed_in(base_url, "police-d1")
    with closing(c), c.stream("GET", "/api/stream") as r:
        events = sse(r.iter_lines())
        touch(seeded_hub, ktv)
        assert next_alarm(events)["id"] == ktv
        with seeded_hub.sessions() as s:  # the session runs out while the feed is open
            s.execute(
                update(WebSession)
                .where(WebSession.user_id == "police-d1")
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            s.commit()
        touch(seeded_hub, hotel)
        assert_ended_without_alarms(*rest_of(events))


def test_the_feed_ends_with_a_short_session_lifetime(tmp_path, db_url):
    """The configured lifetime (here 3.6 s), no hand on the database: the idle feed closes on its own."""
    hub = make_hub(tmp_path, db_url, auth={"session_hours": 0.001})
    hub.alarm_ids = seed(hub)
    url, server, thread = serve(hub)
    try:
        c = signed_in(url, "police-d1")
        signed_at = time.monotonic()
        with closing(c), c.stream("GET", "/api/stream") as r:
            events = sse(r.iter_lines())
            touch(hub, hub.alarm_ids["ktv1"])
            assert next_alarm(events)["id"] == hub.alarm_ids["ktv1"]
            while time.monotonic() - signed_at < 3.7:  # past the lifetime, then a change
                time.sleep(0.1)
            touch(hub, hub.alarm_ids["hotel1"])
            got, took = rest_of(events)
            assert not [d for e, d in got if e == "alarm"], got
            assert got[-1][0] == "<end>" and time.monotonic() - signed_at < 3.6 + END_S, (got, took)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        hub.engine.dispose()


def test_a_venue_operators_feed_carries_no_inspector_notes(seeded_hub, base_url):
    ktv = seeded_hub.alarm_ids["ktv1"]
    with seeded_hub.sessions() as s:
        alarms.assign(s, ktv, "police-d1", "police-d1")
        alarms.comment(s, ktv, "police-d1", "the manager looked nervous")
        s.commit()
    touch(seeded_hub, ktv)
    after = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    seen = {}
    for user in ("op-ktv", "police-d1"):
        c = signed_in(base_url, user)
        with closing(c), c.stream("GET", "/api/stream", params={"after": after}) as r:
            for event, data in sse(r.iter_lines()):
                if event == "alarm" and data["id"] == ktv:
                    seen[user] = data
                    break
    assert seen["police-d1"]["assignee"] == "police-d1" and seen["police-d1"]["acknowledged_by"] == "police-d1"
    op = seen["op-ktv"]
    assert op["venue_id"] == "ktv1" and op["acknowledged"] is True  # what happened to its alarm, yes
    for field in ("assignee", "acknowledged_by", "cleared_by", "departments", "history"):
        assert field not in op, field  # who did it, and the inspectors' notes, no
    assert "police-d1" not in json.dumps(op) and "nervous" not in json.dumps(op)
