"""Hub ingestion against real Mosquitto, on SQLite and PostgreSQL: every alert stored exactly once
through broker kills, hub kills and an edge cut off from the network; bad messages to dead letters."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from humiao.edge.publisher import MqttConfig, Publisher
from humiao.edge.spool import Spool
from humiao.hub.tables import DeadLetter

from tests.support.devices import enroll_device
from tests.support.hubproc import HubProcess, hub_config, stored_ids, wait_for
from tests.support.netcut import NetCut
from tests.support.services import sample_alert

pytestmark = pytest.mark.services


class Stream:
    """The edge's real outbox (spool + publisher, as an enrolled device) fed a steady stream of alerts
    from a thread."""

    def __init__(self, cfg: dict, broker, port: int | None = None, protocol: str = "5", n: int = 600, rate=300.0):
        workdir = Path(cfg["data_dir"]).parent
        self.device = enroll_device(cfg, broker)
        self.spool = Spool(workdir / "edge-spool.db")
        self.publisher = Publisher(
            self.spool,
            self.device.identity,
            MqttConfig(
                port=port or broker.port,
                protocol=protocol,
                reconnect_min_s=0.1,
                reconnect_max_s=1.0,
                receipt_timeout_s=2.0,
            ),
            receipt_topic=self.device.topic("receipt"),
        )
        self.n, self.rate = n, rate
        self.sent: list[str] = []
        self.thread = threading.Thread(target=self._feed, daemon=True)

    def _feed(self) -> None:
        for _ in range(self.n):
            topic, body, eid = sample_alert(self.device.ids)
            self.spool.put(eid, "alert", topic, body)  # the publisher signs it when it sends it
            self.sent.append(eid)
            self.publisher.wake()
            time.sleep(1 / self.rate)

    def start(self) -> Stream:
        self.publisher.start()
        self.thread.start()
        return self

    def finish(self, timeout: float = 60) -> None:
        self.thread.join(timeout)
        # empty only when the hub's receipts came back for every alert
        assert wait_for(lambda: self.spool.depth() == 0, timeout), f"{self.spool.depth()} alerts still spooled"
        self.publisher.stop()
        self.spool.close()


def assert_exactly_once(db_url: str, sent: list[str], timeout: float = 60) -> None:
    got = wait_for(lambda: (lambda ids: ids if len(set(ids)) >= len(sent) else None)(stored_ids(db_url)), timeout)
    got = stored_ids(db_url)
    assert len(got) == len(set(got)), "duplicates stored"
    missing = set(sent) - set(got)
    assert not missing, f"{len(missing)} of {len(sent)} alerts lost"
    assert len(got) == len(sent)


def test_broker_killed_mid_stream(broker, db_url, tmp_path):
    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    hub = HubProcess(tmp_path, cfg).start()
    try:
        stream = Stream(cfg, broker).start()
        time.sleep(0.7)
        broker.kill()  # SIGKILL: no clean shutdown, persistence only as last saved
        time.sleep(1.0)
        broker.start()
        stream.finish()
        assert_exactly_once(db_url, stream.sent)
        assert stream.publisher.confirmed >= len(stream.sent)  # every alert left the spool on a hub receipt
    finally:
        hub.stop()


def test_an_alert_the_broker_acknowledged_and_lost_is_sent_again(broker, db_url, tmp_path):
    """A broker PUBACKs an alert nobody is subscribed to yet and drops it (as a crashed broker loses
    what it had acknowledged): the edge, with no receipt from the hub, sends it again."""
    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    stream = Stream(cfg, broker, n=20, rate=100).start()
    stream.thread.join(10)
    assert wait_for(lambda: stream.spool.awaiting_receipt() == 20, 10)  # all PUBACKed, none confirmed
    hub = HubProcess(tmp_path, cfg).start()
    try:
        stream.finish(timeout=30)
        assert_exactly_once(db_url, stream.sent)
        assert stream.publisher.resent >= 20
    finally:
        hub.stop()


def test_hub_killed_mid_stream(broker, db_url, tmp_path):
    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    hub = HubProcess(tmp_path, cfg).start()
    try:
        stream = Stream(cfg, broker).start()
        time.sleep(0.7)
        hub.kill()  # mid-batch: what it had not committed was not acknowledged, the broker redelivers
        time.sleep(1.0)
        hub.start()
        stream.finish()
        assert_exactly_once(db_url, stream.sent)
    finally:
        hub.stop()


def test_edge_cut_off_for_a_while(broker, db_url, tmp_path):
    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    hub = HubProcess(tmp_path, cfg).start()
    link = NetCut(broker.port)
    try:
        stream = Stream(cfg, broker, port=link.port).start()
        time.sleep(0.5)
        link.cut()
        time.sleep(2.0)  # the edge keeps deciding; its alerts pile up in the spool
        assert stream.spool.depth() > 0
        link.restore()
        stream.finish()
        assert_exactly_once(db_url, stream.sent)
    finally:
        link.close()
        hub.stop()


def _stored_by(hub: HubProcess) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{hub.config['http']['port']}/metrics", timeout=5).read().decode()
    return sum(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("humiao_hub_alerts_stored_total")
    )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # several workers: the PostgreSQL deployment
def test_two_hub_workers_share_the_load(broker, tmp_path, db_url):
    # the workers of one hub share its data directory (its keys); each has its own broker identity
    cfgs = [hub_config(tmp_path, db_url, broker.port, client_id=f"hub.w{i}", broker=broker) for i in (1, 2)]
    stream = Stream(cfgs[0], broker, n=400, rate=400)
    hubs = [HubProcess(tmp_path / f"w{i}", cfg).start() for i, cfg in enumerate(cfgs, 1)]
    try:
        stream.start()
        stream.finish()
        assert_exactly_once(db_url, stream.sent)
        shares = [_stored_by(h) for h in hubs]
    finally:
        for h in hubs:
            h.stop()
    # Mosquitto hands a shared subscription's messages to its members in turn: both did work
    assert sum(shares) == 400 and min(shares) > 50, shares


def test_bad_messages_go_to_dead_letters_and_ingest_goes_on(broker, db_url, tmp_path):
    """What an enrolled device can get past the broker onto its own topics — garbage, bodies that do
    not decode or validate, an oversized payload, evidence nobody asked for — is kept aside with the
    reason; topics outside its rights never reach the hub (the broker refuses them)."""
    import hashlib
    from collections import Counter

    from humiao.proto import humiao_v1_pb2 as pb
    from humiao.proto import sealed
    from humiao.proto.ids import uuid7

    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    device = enroll_device(cfg, broker)
    hub = HubProcess(tmp_path, cfg).start()
    try:
        c = device.client()
        topic, good, eid0 = sample_alert(device.ids)

        def signed(body: bytes, message_id: str | None = None, kind: str = "alert") -> bytes:
            return device.sign(device.topic(kind), body, message_id or eid0)

        bad_id = sample_alert(device.ids, event_id="not-a-uuid")[1]
        wrong_origin = pb.Alert.FromString(good)
        wrong_origin.origin.venue_id = "venue9"
        long_policy = pb.Alert.FromString(sample_alert(device.ids)[1])
        long_policy.policy_version = "p" * 300  # longer than the column allows
        # well formed and properly sealed, but for an alert nobody requested evidence of
        stray = str(uuid7())
        box, cipher = sealed.seal(sealed.load_public(tmp_path / "hubdata" / "evidence.pub"), b"jpeg", stray)
        orphan = pb.Evidence(
            request_id=str(uuid7()),
            event_id=stray,
            ciphertext=box,
            cipher=cipher,
            plaintext_sha256=hashlib.sha256(b"jpeg").hexdigest(),
        )
        orphan.captured_at.GetCurrentTime()
        cases = [
            (topic, b"\x08\x96\x01\xff\xff\xff", "unsigned"),  # not a signed message
            (topic, signed(b"\x08\x96\x01\xff\xff\xff"), "decode"),  # signed, but the body is no Alert
            (topic, signed(good[: len(good) // 2]), "decode|invalid"),  # truncated: corrupt, or cut at a boundary
            (topic, b"\x00" * (1 << 20) + b"\x00", "oversized"),
            (topic, signed(bad_id, "not-a-uuid"), "invalid"),
            (topic, signed(wrong_origin.SerializeToString()), "invalid"),  # origin ≠ topic
            (topic, signed(long_policy.SerializeToString(), long_policy.event_id), "invalid"),
            (device.topic("evidence"), signed(orphan.SerializeToString(), orphan.request_id, "evidence"), "no_request"),
        ]
        for t, payload, _ in cases:
            c.publish(t, payload, qos=1).wait_for_publish(5)
        # topics outside the device's rights: refused by the broker, never seen by the hub
        for t in (
            "humiao/v2/d1/venue1/edge1/alert",
            "humiao/v1/d1/venue1/edge1/selfie",
            "humiao/v1/D1!/venue1/edge1/alert",
        ):
            c.publish(t, signed(good), qos=1).wait_for_publish(5)
        t2, p2, eid = device.alert()
        c.publish(t2, p2, qos=1).wait_for_publish(5)
        assert wait_for(lambda: eid in stored_ids(db_url), 20), "the hub stopped ingesting after bad messages"
        engine = create_engine(db_url)
        with engine.connect() as conn:
            reasons = sorted(conn.execute(select(DeadLetter.reason)).scalars())
            sizes = dict(
                conn.execute(select(DeadLetter.reason, func.max(DeadLetter.size)).group_by(DeadLetter.reason)).all()
            )
            heads = max(len(h) for h in conn.execute(select(DeadLetter.payload_head)).scalars())
            details = list(conn.execute(select(DeadLetter.detail)).scalars())
        engine.dispose()
        assert len(reasons) == len(cases), reasons
        want = Counter(r for _, _, r in cases if "|" not in r)
        have = Counter(reasons)
        assert all(have[r] >= n for r, n in want.items()), (have, want)
        assert have["decode"] + have["invalid"] == want["decode"] + want["invalid"] + 1
        assert any("policy_version is 300 characters" in d for d in details)
        assert sizes["oversized"] == (1 << 20) + 1 and heads <= 4096  # counted, and only its head kept
        assert hub.proc.poll() is None
        c.disconnect()
        c.loop_stop()
    finally:
        hub.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_mqtt_311_edge_and_hub_with_a_shared_subscription(broker, db_url, tmp_path):
    """MQTT 3.1.1 on both sides (the setting for brokers without v5); Mosquitto still honours the
    shared subscription for 3.1.1 clients, and a hub killed mid-stream loses nothing."""
    cfg = hub_config(tmp_path, db_url, broker.port, protocol="3.1.1", broker=broker)
    hub = HubProcess(tmp_path, cfg).start()
    try:
        stream = Stream(cfg, broker, protocol="3.1.1", n=300).start()
        time.sleep(0.5)
        hub.kill()
        time.sleep(1.0)
        hub.start()
        stream.finish()
        assert_exactly_once(db_url, stream.sent)
        assert "$share/hub/humiao/v1/+/+/+/alert" in hub.log.read_text()
    finally:
        hub.stop()
