"""The edge acts on a message from the hub only when the hub signed it, for this topic, recently
(edge/publisher.py ``from_hub``); anything else is ignored and counted."""

from __future__ import annotations

import time

import pytest

from humiao.edge.publisher import MqttConfig, Publisher
from humiao.edge.spool import Spool
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import signing

from tests.support.devices import enroll_device


@pytest.fixture
def edge(tmp_path):
    from humiao.hub.config import HubConfig

    cfg = HubConfig(data_dir=tmp_path / "hub")
    device = enroll_device(cfg, None)
    hub = signing.Signer.load(cfg.signing_key_path())
    pub = Publisher(Spool(tmp_path / "spool.db"), device.identity, MqttConfig())
    yield device, hub, pub, tmp_path
    pub.spool.close()


def _receipt() -> bytes:
    r = pb.Receipt(keys=["a"])
    r.stored_at.GetCurrentTime()
    return r.SerializeToString()


def test_a_receipt_signed_by_the_hub_for_this_topic_is_taken(edge):
    device, hub, pub, _ = edge
    t = device.topic("receipt")
    assert isinstance(pub.from_hub(t, hub.sign(t, "r1", _receipt())), pb.Receipt)
    assert pub.refused_from_hub == 0


def test_anything_else_is_ignored_and_counted(edge):
    device, hub, pub, tmp_path = edge
    t = device.topic("receipt")
    other = device.topic("evidence_ack")
    forger = signing.Signer.generate(tmp_path / "forger.key")
    now = time.time()
    cases = {
        "unsigned": _receipt(),
        "another key": forger.sign(t, "r1", _receipt()),
        "the device's own key": device.sign(t, _receipt(), "r1"),
        "signed for another topic": hub.sign(other, "r1", _receipt()),
        "signed 8 days ago": hub.sign(t, "r1", _receipt(), at=now - 8 * 86400),
        "signed an hour ahead": hub.sign(t, "r1", _receipt(), at=now + 3600),
    }
    for why, payload in cases.items():
        assert pub.from_hub(t, payload) is None, why
    assert pub.from_hub(device.topic("alert"), hub.sign(device.topic("alert"), "x", b"")) is None  # not a hub kind
    assert pub.refused_from_hub == len(cases) + 1
    # within the window (a receipt the broker kept for a week-long outage is still taken)
    assert pub.from_hub(t, hub.sign(t, "r1", _receipt(), at=now - 6 * 86400)) is not None
