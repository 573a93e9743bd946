"""Sealed evidence: the crop is encrypted to the hub before it touches the edge's disk, opens only
with the hub's key for its own event, and is deleted on ack or after retention."""

from __future__ import annotations

import hashlib
import sqlite3
import time

import cv2
import numpy as np
import pytest

from humiao.edge.evidence import EvidenceConfig, EvidenceStore
from humiao.proto import sealed


@pytest.fixture
def keys(tmp_path):
    pub = sealed.generate_keypair(tmp_path / "hub.key", tmp_path / "hub.pub")
    return sealed.load_private(tmp_path / "hub.key"), pub, tmp_path / "hub.pub"


def test_a_box_opens_only_with_the_hub_key_for_its_event(keys):
    private, public, _ = keys
    box, cipher = sealed.seal(public, b"face bytes", "event-a")
    assert cipher.startswith(sealed.CIPHER + ":") and cipher.endswith(sealed.key_id(public))
    assert sealed.open_box(private, box, "event-a") == b"face bytes"
    with pytest.raises(sealed.SealError):
        sealed.open_box(private, box, "event-b")  # bound to its alert
    with pytest.raises(sealed.SealError):
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        sealed.open_box(X25519PrivateKey.generate(), box, "event-a")
    tampered = box[:-1] + bytes([box[-1] ^ 1])
    with pytest.raises(sealed.SealError):
        sealed.open_box(private, tampered, "event-a")


def test_key_files_are_checked(tmp_path, keys):
    assert oct((tmp_path / "hub.key").stat().st_mode & 0o777) == "0o600"
    (tmp_path / "bad.pub").write_text("not base64!")
    with pytest.raises(sealed.SealError, match="not base64"):
        sealed.load_public(tmp_path / "bad.pub")
    with pytest.raises(sealed.SealError, match="no such file"):
        sealed.load_public(tmp_path / "missing.pub")


def test_store_keeps_only_ciphertext_and_expires(tmp_path, keys, astronaut):
    private, _, pub_path = keys
    public = sealed.load_public(pub_path)
    store = EvidenceStore(tmp_path / "evidence.db", EvidenceConfig(retention_h=1), public)
    crop = astronaut[100:300, 150:330]
    assert store.keep("e1", crop, captured_at=time.time())
    assert store.keep("e2", crop, captured_at=time.time() - 7200)  # captured two hours ago
    got = store.get("e1")
    jpeg = sealed.open_box(private, got.box, "e1")
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == crop.shape[:2]
    store.close()
    raw = (tmp_path / "evidence.db").read_bytes()
    assert b"\xff\xd8\xff" not in raw and b"JFIF" not in raw  # no plain JPEG on disk
    store = EvidenceStore(tmp_path / "evidence.db", EvidenceConfig(retention_h=1), public)
    assert store.expire() == 1 and store.get("e2") is None and store.count() == 1  # past retention: gone
    # the hub's ack deletes the crop only if it was sent for that request and stored as sent
    sent = hashlib.sha256(got.box).hexdigest()
    assert not store.delete_acked("e1", "r1", sent)  # never sent
    store.mark_sent("e1", "r1")
    assert not store.delete_acked("e1", "r2", sent)  # another request
    assert not store.delete_acked("e1", "r1", "0" * 64)  # the hub stored something else
    assert store.count() == 1
    assert store.delete_acked("e1", "r1", sent) and store.count() == 0
    store.close()
    with sqlite3.connect(tmp_path / "evidence.db") as db:
        assert db.execute("SELECT COUNT(*) FROM crops").fetchone()[0] == 0


def test_store_set_to_keep_no_crops_keeps_nothing(tmp_path, keys, astronaut):
    store = EvidenceStore(tmp_path / "evidence.db", EvidenceConfig(keep_crops=False), sealed.load_public(keys[2]))
    assert not store.enabled and not store.keep("e1", astronaut) and store.count() == 0
    store.close()
