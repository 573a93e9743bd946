"""The hub's state on disk is this user's only, and a purged crop leaves no bytes behind: the SQLite
database (with its -wal and -shm) is created 0600 and the data directory 0700, the evidence private
key 0600 (its public half may be read by anyone); a crop purged after its retention is in neither
the database file nor its WAL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from humiao.hub import evidence, store
from humiao.hub.app import Hub
from humiao.hub.config import HubConfig
from humiao.hub.db import make_engine, migrate, sessions
from humiao.hub.tables import Evidence
from humiao.hub.validate import alert_row
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.topics import parse

from tests.support import wire
from tests.support.files import mode, usual_umask  # noqa: F401 (usual_umask: a fixture)

pytestmark = pytest.mark.usefixtures("usual_umask")


def test_a_new_hub_writes_its_state_private(tmp_path):
    data = tmp_path / "srv" / "hub"
    hub = Hub(HubConfig(data_dir=data))
    try:
        with hub.sessions() as s, s.begin():
            letter = {"received_at": datetime.now(UTC), "topic": "t", "reason": "topic", "detail": "d", "size": 1}
            store.dead_letters(s, [{**letter, "payload_head": b"x"}])
        assert mode(data) == 0o700
        for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
            assert (data / name).exists(), name
            assert mode(data / name) == 0o600, name
        assert mode(data / "evidence.key") == 0o600
        assert mode(data / "evidence.pub") == 0o644
    finally:
        hub.engine.dispose()


def test_an_existing_database_left_readable_is_tightened_and_its_directory_left(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    url = f"sqlite:///{shared / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    os.chmod(shared / "hub.db", 0o644)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    assert mode(shared / "hub.db") == 0o600
    assert mode(shared) == 0o755  # not created by Humiao: not Humiao's to change


def _files(db) -> bytes:
    return b"".join(p.read_bytes() for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_a_purged_crop_leaves_no_bytes_in_the_database_or_its_wal(tmp_path):
    db = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    make = sessions(engine)
    now = datetime.now(UTC)
    pattern = b"HUMIAO-SEALED-CROP-PATTERN-"
    crops = {}
    with make() as s:
        for i, size in enumerate((300, 20000)):  # inline in its page, and across overflow pages
            t, payload, eid = wire.alert()
            msg = pb.Alert.FromString(payload)
            msg.evidence_available = True
            store.alerts(s, [{**alert_row(msg, parse(t), now), "stored_at": now}])
            crops[eid] = (pattern + bytes([65 + i])) * (size // 28)
            s.add(
                Evidence(
                    event_id=eid,
                    request_id=f"r{i}",
                    ciphertext=crops[eid],
                    cipher="x",
                    plaintext_sha256="a" * 64,
                    stored_sha256="b" * 64,
                    captured_at=now,
                    received_at=now,
                    purge_after=now - timedelta(days=1),
                )
            )
        s.commit()
    assert pattern in _files(db)  # stored: the test can see it
    with make() as s:
        assert evidence.purge_expired(s) == 2
        assert list(s.scalars(select(Evidence.ciphertext))) == [None, None]
    raw = _files(db)
    assert pattern not in raw, "a purged crop's bytes are still in the database or its WAL"
    engine.dispose()
    assert pattern not in _files(db)


def test_an_evidence_key_copied_in_readable_is_made_0600(tmp_path):
    from humiao.hub.app import Hub
    from humiao.hub.config import HubConfig
    from humiao.proto import sealed

    key = tmp_path / "hub" / "evidence.key"
    key.parent.mkdir(parents=True)
    sealed.generate_keypair(key, key.with_suffix(".pub"))
    key.chmod(0o644)
    hub = Hub(HubConfig(data_dir=tmp_path / "hub"))
    try:
        assert (key.stat().st_mode & 0o777) == 0o600
    finally:
        hub.engine.dispose()
