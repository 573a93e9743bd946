"""A hub with its HTTP API for tests: in this process (FastAPI's TestClient), not connected to a
broker unless the test starts one; accounts and data made directly in its database."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
from fastapi.testclient import TestClient

from humiao.hub import alarms, auth, store
from humiao.hub.app import Hub, create_app
from humiao.hub.config import HubConfig
from humiao.hub.tables import Evidence, Venue
from humiao.hub.validate import alert_row
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import sealed
from humiao.proto.topics import parse

from tests.support import wire

PASSWORD = "correct horse battery"
ACCOUNTS = {  # user: (role, district, venues)
    "ct-d1": ("culture_tourism", "d1", ()),
    "police-d1": ("police", "d1", ()),
    "ct-d2": ("culture_tourism", "d2", ()),
    "mr-d1": ("market_regulation", "d1", ()),
    "proc-d1": ("procuratorate", "d1", ()),
    "op-ktv": ("venue_operator", "d1", ("ktv1",)),
    "admin": ("admin", None, ()),
    "auditor": ("auditor", None, ()),
}


def make_hub(tmp_path, db_url: str, **cfg) -> Hub:
    return Hub(HubConfig(data_dir=tmp_path / "hub", database={"url": db_url}, **cfg))


def seed(hub: Hub, now: datetime | None = None) -> dict[str, int]:
    """Accounts, three venues (KTV and hotel in d1, KTV in d2), an alert at each, a stored crop for each."""
    now = now or datetime.now(UTC)
    with hub.sessions() as s, s.begin():
        for user, (role, district, venues) in ACCOUNTS.items():
            auth.create_user(s, user, PASSWORD, role, district, venue_ids=venues)
        for vid, vtype, district in (("ktv1", "ktv", "d1"), ("hotel1", "hotel", "d1"), ("ktv9", "ktv", "d2")):
            s.add(Venue(id=vid, name=f"{vtype} {vid}", venue_type=vtype, district_id=district, updated_at=now))
        ids = {}
        for vid, district in (("ktv1", "d1"), ("hotel1", "d1"), ("ktv9", "d2")):
            t, payload, eid = wire.alert(origin=(district, vid, "edge1"), first_seen=now.timestamp() - 1)
            msg = pb.Alert()
            msg.ParseFromString(payload)
            msg.evidence_available = True
            store.alerts(s, [{**alert_row(msg, parse(t), now), "stored_at": now}])
            ok, jpg = cv2.imencode(".jpg", np.full((80, 60, 3), 128, np.uint8))
            box, cipher = sealed.seal(
                sealed.load_public(hub.cfg.private_key_path().with_suffix(".pub")), jpg.tobytes(), eid
            )
            s.add(
                Evidence(
                    event_id=eid,
                    request_id="r-" + eid[:8],
                    ciphertext=box,
                    cipher=cipher,
                    plaintext_sha256=hashlib.sha256(jpg.tobytes()).hexdigest(),
                    stored_sha256=hashlib.sha256(box).hexdigest(),
                    captured_at=now,
                    received_at=now,
                    purge_after=now + timedelta(days=30),
                    held=False,
                )
            )
            ids[vid] = eid
        s.flush()
        alarms.evaluate(s, now=now)
    with hub.sessions() as s:
        from sqlalchemy import select

        from humiao.hub.tables import Alarm

        return {a.venue_id: a.id for a in s.scalars(select(Alarm))}


class Browser:
    """A signed-in client: keeps the cookie, sends the CSRF token on state changes."""

    def __init__(self, hub: Hub, user: str | None = None, password: str = PASSWORD):
        self.client = TestClient(create_app(hub))
        self.csrf = None
        if user:
            r = self.client.post("/api/login", json={"username": user, "password": password})
            assert r.status_code == 200, r.text
            self.csrf = r.json()["csrf_token"]

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def post(self, url, csrf: bool = True, **kw):
        headers = kw.pop("headers", {})
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        return self.client.post(url, headers=headers, **kw)


@contextmanager
def served(hub: Hub) -> Iterator[str]:
    """The hub's web app (panel and API) on a free loopback port, in a thread of this process: its URL;
    stopped when the block ends."""
    import uvicorn

    from tests.support.hubproc import wait_for
    from tests.support.mosquitto import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert wait_for(lambda: server.started, 10), "the hub's web app did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
