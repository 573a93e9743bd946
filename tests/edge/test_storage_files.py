"""The edge's state on disk is this user's only, and a deleted sealed crop leaves no bytes behind:
spool.db and evidence.db (with their -wal and -shm) are created 0600 in a state directory created
0700, and a crop deleted on the hub's ack or at expiry is in neither the database file nor its WAL."""

from __future__ import annotations

import os
import time

import pytest

from humiao.edge.evidence import EvidenceConfig, EvidenceStore
from humiao.edge.spool import Spool
from humiao.proto import sealed

from tests.support.files import mode, usual_umask  # noqa: F401 (usual_umask: a fixture)

pytestmark = pytest.mark.usefixtures("usual_umask")


@pytest.fixture
def pub(tmp_path):
    sealed.generate_keypair(tmp_path / "keys" / "hub.key", tmp_path / "keys" / "hub.pub")
    return tmp_path / "keys" / "hub.pub"


def test_state_dir_is_created_private_and_an_existing_one_is_left(tmp_path):
    from humiao.files import private_dir

    made = private_dir(tmp_path / "a" / "state")
    assert made == tmp_path / "a" / "state" and mode(made) == 0o700
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    private_dir(existing)
    assert mode(existing) == 0o755  # not Humiao's to change


def test_spool_files_are_private(tmp_path):
    spool = Spool(tmp_path / "state" / "spool.db")
    spool.put("k1", "alert", "t", b"x" * 100)
    state = tmp_path / "state"
    assert mode(state) == 0o700
    for name in ("spool.db", "spool.db-wal", "spool.db-shm"):
        assert (state / name).exists(), name
        assert mode(state / name) == 0o600, name
    spool.close()


def test_an_older_spool_left_world_readable_is_tightened(tmp_path):
    Spool(tmp_path / "spool.db").close()
    os.chmod(tmp_path / "spool.db", 0o644)
    spool = Spool(tmp_path / "spool.db")
    spool.put("k1", "alert", "t", b"x")
    assert mode(tmp_path / "spool.db") == 0o600 and mode(tmp_path / "spool.db-wal") == 0o600
    spool.close()


def test_evidence_files_are_private(tmp_path, pub, astronaut):
    store = EvidenceStore(tmp_path / "state" / "evidence.db", EvidenceConfig(), sealed.load_public(pub))
    assert store.keep("e1", astronaut[100:300, 150:330])
    state = tmp_path / "state"
    assert mode(state) == 0o700
    for name in ("evidence.db", "evidence.db-wal", "evidence.db-shm"):
        assert (state / name).exists(), name
        assert mode(state / name) == 0o600, name
    store.close()


def test_the_hub_key_pair_files(tmp_path):
    key = tmp_path / "fresh" / "evidence.key"
    sealed.generate_keypair(key, key.with_suffix(".pub"))
    assert mode(key) == 0o600 and mode(key.parent) == 0o700
    assert mode(key.with_suffix(".pub")) == 0o644  # public: edges are given it
    key.chmod(0o644)  # a key file left readable (older release, operator copy): rewritten private
    sealed.generate_keypair(key, key.with_suffix(".pub"))
    assert mode(key) == 0o600


def _files(path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


@pytest.mark.parametrize("how", ["delete", "expire"])
def test_a_deleted_crop_leaves_no_bytes_in_the_database_or_its_wal(tmp_path, pub, astronaut, how):
    db = tmp_path / "evidence.db"
    store = EvidenceStore(db, EvidenceConfig(retention_h=1), sealed.load_public(pub))
    assert store.keep("e1", astronaut[100:300, 150:330], captured_at=time.time() - 7200)
    assert store.keep("e2", astronaut[0:200, 0:200])  # stays
    gone, kept = store.get("e1").box, store.get("e2").box
    assert len(gone) > 4096  # spans overflow pages too
    patterns = [gone[i : i + 48] for i in (60, len(gone) // 2, len(gone) - 60)]
    assert all(p in _files(db) for p in patterns)  # stored: the test can see it
    if how == "delete":
        assert store.delete("e1")
    else:
        assert store.expire() == 1
    raw = _files(db)
    assert not any(p in raw for p in patterns), "the deleted crop's bytes are still on disk"
    assert kept[60:108] in raw or store.get("e2").box == kept
    store.close()
    raw = _files(db)
    assert not any(p in raw for p in patterns)


def test_spool_evidence_payload_leaves_no_bytes_once_acknowledged(tmp_path):
    db = tmp_path / "spool.db"
    spool = Spool(db)
    crop = os.urandom(20000)
    spool.put("ev1", "evidence", "t/evidence", crop)
    spool.put("al1", "alert", "t/alert", b"alert")
    assert crop[100:148] in _files(db)
    (entry,) = [e for e in spool.pending() if e.key == "ev1"]
    spool.ack(entry.seq)
    raw = _files(db)
    assert not any(crop[i : i + 48] in raw for i in (100, 10000, 19900))
    spool.close()
