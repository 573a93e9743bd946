"""The attacks of the trust audit, each tried against the real system — Mosquitto with TLS, per-
identity passwords and ACLs (deploy/mosquitto, hub/broker_admin.py), a hub worker process, and an
edge's real publisher, spool and evidence store — and each refused.

Actors: ``victim`` is an enrolled edge at venue1; ``attacker`` is another enrolled edge (a box at
another venue, taken over: it holds its own key and broker password, nothing else); ``insider`` has
reached the broker with a hub worker's password but not the hub's signing key, and so stands for
a dishonest broker too: it may publish to any device's hub topics.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import create_engine, func, select

from humiao.broker import secure
from humiao.edge.evidence import EvidenceConfig, EvidenceStore
from humiao.edge.hub_requests import HubRequests
from humiao.edge.messages import Messages
from humiao.edge.publisher import MqttConfig, Publisher
from humiao.edge.spool import Spool
from humiao.hub import devices
from humiao.hub.config import HubConfig
from humiao.hub.db import make_engine, sessions
from humiao.hub.tables import Alert, DeadLetter, Evidence, IdCheck
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import signing
from humiao.proto.enrolment import EnrolmentError, EnrolmentRequest, TrustFile
from humiao.proto.ids import uuid7

from tests.support.devices import ADMIN, TestDevice, enroll_device
from tests.support.hubproc import HubProcess, hub_config, wait_for
from tests.support.services import sample_alert

pytestmark = pytest.mark.services

VICTIM = ("d1", "venue1", "edge1")
ATTACKER = ("d1", "venue2", "edge2")
NOT_AUTHORISED = 135  # MQTT v5 reason code "Not authorized"


@dataclass
class System:
    broker: object
    db_url: str
    cfg: dict
    hub: HubProcess
    victim: TestDevice
    attacker: TestDevice
    tmp: Path

    def hub_cfg(self) -> HubConfig:
        return HubConfig.model_validate(self.cfg)

    def rows(self, model) -> list:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(select(model)).all())
        finally:
            engine.dispose()

    def count(self, model) -> int:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                return conn.scalar(select(func.count()).select_from(model))
        finally:
            engine.dispose()

    def dead(self) -> list[str]:
        return sorted(r.reason for r in self.rows(DeadLetter))

    def wait_dead(self, n: int, timeout: float = 20) -> list[str]:
        wait_for(lambda: len(self.dead()) >= n, timeout)
        return self.dead()

    def stored(self, event_id: str, timeout: float = 20) -> bool:
        return bool(wait_for(lambda: any(r.event_id == event_id for r in self.rows(Alert)), timeout))

    def insider(self) -> mqtt.Client:
        """Connected as hub worker hub.w2 (its password, not the hub's key)."""
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="hub.w2")
        secure(c, self.broker.ca_file, "hub.w2", self.broker.hub_secrets / "hub.w2.password")
        c.connect("127.0.0.1", self.broker.port)
        c.loop_start()
        return c


@pytest.fixture
def system(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    victim = enroll_device(cfg, broker, VICTIM)
    attacker = enroll_device(cfg, broker, ATTACKER)
    hub = HubProcess(tmp_path, cfg).start()
    for account in (["ct-d1", "--role", "culture_tourism", "--district", "d1"], ["admin-1", "--role", "admin"]):
        added = hub.command("users", "add", *account, "--password-stdin", stdin="a long enough password 2026\n")
        assert added.returncode == 0, added.stderr
    yield System(broker, db_url, cfg, hub, victim, attacker, tmp_path)
    hub.stop()


def _publish(client: mqtt.Client, topic: str, payload: bytes) -> int:
    """Publish QoS 1 and wait for the broker's PUBACK; its reason code (0: accepted)."""
    got: dict[int, int] = {}
    done = threading.Event()

    def on_publish(_c, _u, mid, reason_code, _p=None):
        got[mid] = reason_code.value if hasattr(reason_code, "value") else int(reason_code)
        done.set()

    client.on_publish = on_publish
    info = client.publish(topic, payload, qos=1)
    done.wait(5)
    return got.get(info.mid, -1)


def _subscribe(client: mqtt.Client, topic_filter: str) -> list[int]:
    """Subscribe and wait for the SUBACK; its reason codes (≥ 128: refused)."""
    got: list[int] = []
    done = threading.Event()

    def on_subscribe(_c, _u, _mid, reason_codes, _p=None):
        got.extend(rc.value for rc in reason_codes)
        done.set()

    client.on_subscribe = on_subscribe
    client.subscribe(topic_filter, qos=1)
    done.wait(5)
    return got


class Edge:
    """The victim's real outbox and evidence path: spool, sealed crop store, publisher, answers."""

    def __init__(self, system: System, receipt_timeout_s: float = 30.0):
        device = system.victim
        state = Path(device.edge_config.device.state_dir)
        self.spool = Spool(state / "spool.db")
        self.evidence = EvidenceStore(state / "evidence.db", EvidenceConfig(), device.identity.trust.evidence_public())
        self.messages = Messages(device.edge_config, [])
        cfg = MqttConfig(
            port=system.broker.port, reconnect_min_s=0.1, reconnect_max_s=1.0, receipt_timeout_s=receipt_timeout_s
        )
        self.publisher = Publisher(
            self.spool,
            device.identity,
            cfg,
            subscriptions=[device.topic("evidence_request"), device.topic("evidence_ack")],
            on_message=lambda t, m: self.answers(t, m),
            receipt_topic=device.topic("receipt"),
        )
        self.answers = HubRequests(self.spool, self.evidence, self.messages, self.publisher.wake)
        self.publisher.start()
        assert wait_for(lambda: self.publisher.connected, 10), "the edge did not connect"

    def alert(self, with_crop: bool = False) -> str:
        t, body, eid = sample_alert(VICTIM)
        if with_crop:
            msg = pb.Alert.FromString(body)
            msg.evidence_available = True
            body = msg.SerializeToString()
            face = np.full((120, 100, 3), 90, np.uint8)
            assert self.evidence.keep(eid, face)
        self.spool.put(eid, "alert", t, body)
        self.publisher.wake()
        return eid

    def close(self) -> None:
        self.publisher.stop()
        self.spool.close()
        self.evidence.close()


def _hub_signed_request(system: System, event_id: str) -> str:
    """The hub's own evidence request, as ``humiao hub request-evidence`` sends it."""
    done = system.hub.command(
        "request-evidence", event_id, "--reason", "inspector_request", "--by", "ct-d1", "--why", "attack test"
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[2]


# -- the attacks --------------------------------------------------------------------------------
def test_unenrolled_clients_are_refused_by_the_broker(system):
    for username, password in ((None, None), ("edge.d1.venue9.edge9", "guess"), ("hub.w1", "wrong")):
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=username or "anon")
        c.tls_set(ca_certs=str(system.broker.ca_file))
        if username:
            c.username_pw_set(username, password)
        refused = threading.Event()
        c.on_connect = lambda _c, _u, _f, rc, _p=None, r=refused: r.set() if rc.is_failure else None
        c.connect("127.0.0.1", system.broker.port)
        c.loop_start()
        assert refused.wait(5), f"{username or 'anonymous'} was let in"
        c.loop_stop()
    # and without TLS, not even with a valid password
    plain = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="hub.w1")
    plain.username_pw_set("hub.w1", (system.broker.hub_secrets / "hub.w1.password").read_text().strip())
    with contextlib.suppress(OSError):
        plain.connect("127.0.0.1", system.broker.port)
        plain.loop_start()
    assert not wait_for(plain.is_connected, 3)
    plain.loop_stop()


def test_attack_publish_alerts_as_another_venue_and_device(system):
    c = system.attacker.client()
    # signed with the attacker's own key, published on the victim's topic: the broker refuses it
    t = system.victim.topic("alert")
    _, body, eid = sample_alert(VICTIM)
    assert _publish(c, t, system.attacker.sign(t, body, eid)) == NOT_AUTHORISED
    # a venue that is not in the registry: the broker refuses the topic, and no device can be enrolled there
    ghost = ("d1", "ghost-venue", "edge2")
    t2, body2, eid2 = sample_alert(ghost)
    assert _publish(c, t2, system.attacker.sign(t2, body2, eid2)) == NOT_AUTHORISED
    trust = TrustFile.load(system.hub_cfg().data_dir / "hub-trust.json")
    request = EnrolmentRequest.make(ghost, signing.Signer.generate(system.tmp / "ghost.key"), "pw", trust)
    engine = make_engine(system.db_url)
    with sessions(engine)() as s, pytest.raises(EnrolmentError, match="not in the registry"):
        devices.enroll(s, None, request, system.hub_cfg(), ADMIN)
    engine.dispose()
    # its own alert, on its own topic, is stored: the hub went on, and nothing of the victim's came in
    t3, payload3, eid3 = system.attacker.alert()
    assert _publish(c, t3, payload3) == 0
    assert system.stored(eid3)
    assert {r.device_id for r in system.rows(Alert)} == {"edge2"}
    c.loop_stop()


def test_attack_replay_an_old_alert_under_a_new_id(system):
    # the insider captured the victim's signed alerts off the wire: one 30 days ago, one just now
    t, captured, eid = system.victim.alert(at=time.time() - 30 * 86400)
    _, recent, _ = system.victim.alert()

    def reissued(payload: bytes) -> bytes:  # the same alert under a new id, with its signature
        env = pb.Signed.FromString(payload)
        alert = pb.Alert.FromString(env.body)
        alert.event_id = str(uuid7())
        env.id, env.body = alert.event_id, alert.SerializeToString()
        return env.SerializeToString()

    # the victim's broker password (not its key) is enough to publish on its topic
    thief = system.victim.client()
    assert _publish(thief, t, reissued(recent)) == 0  # a new id under a signature made for another: forged
    assert _publish(thief, t, captured) == 0  # as captured: signed 30 days ago, a replay
    assert _publish(thief, t, reissued(captured)) == 0  # both: the time is checked first, a replay
    assert system.wait_dead(3) == ["forged", "replayed", "replayed"]
    assert system.count(Alert) == 0
    # a recent alert published again verbatim is the edge's own resend: stored once
    t2, fresh, eid2 = system.victim.alert()
    _publish(thief, t2, fresh)
    _publish(thief, t2, fresh)
    assert system.stored(eid2)
    time.sleep(1)
    assert system.count(Alert) == 1 and system.dead() == ["forged", "replayed", "replayed"]
    thief.loop_stop()


def test_attack_id_check_from_another_venue_clears_or_confirms_an_alarm(system):
    victim = system.victim.client()
    t, payload, eid = system.victim.alert()
    _publish(victim, t, payload)
    assert system.stored(eid)
    check = pb.IdCheckOutcome(
        event_id=eid,
        check_id=str(uuid7()),
        origin=pb.Origin(district_id=ATTACKER[0], venue_id=ATTACKER[1], device_id=ATTACKER[2]),
        result=pb.ID_CHECK_RESULT_ADULT_ADMITTED,
        age_years=30,
        age_known=True,  # a well-formed outcome (the hub refuses one without the age read as invalid)
        document=pb.DOCUMENT_TYPE_PASSPORT,
        method=pb.READ_METHOD_MANUAL,
        staff="desk-1",
    )
    check.checked_at.GetCurrentTime()
    attacker = system.attacker.client()
    own = system.attacker.topic("idcheck")
    assert _publish(attacker, own, system.attacker.sign(own, check.SerializeToString(), check.check_id)) == 0
    assert system.wait_dead(1) == ["wrong_device"]
    theirs = system.victim.topic("idcheck")
    check.origin.venue_id, check.origin.device_id = VICTIM[1], VICTIM[2]
    payload2 = system.attacker.sign(theirs, check.SerializeToString(), check.check_id)
    assert _publish(attacker, theirs, payload2) == NOT_AUTHORISED
    time.sleep(1)
    assert system.count(IdCheck) == 0
    for c in (victim, attacker):
        c.loop_stop()


def test_attack_swap_the_evidence_and_forge_the_ack(system):
    edge = Edge(system)
    try:
        eid = edge.alert(with_crop=True)
        assert system.stored(eid)
        # the attacker sends its own image as the victim alert's evidence, on its own topic
        attacker = system.attacker.client()
        fake = pb.Evidence(
            request_id=str(uuid7()), event_id=eid, ciphertext=b"x" * 100, cipher="c", plaintext_sha256="0" * 64
        )
        fake.captured_at.GetCurrentTime()
        own = system.attacker.topic("evidence")
        assert _publish(attacker, own, system.attacker.sign(own, fake.SerializeToString(), fake.request_id)) == 0
        # and on the victim's topic: refused by the broker
        theirs = system.victim.topic("evidence")
        assert (
            _publish(attacker, theirs, system.attacker.sign(theirs, fake.SerializeToString(), fake.request_id))
            == NOT_AUTHORISED
        )
        # a forged ack to make the victim delete its genuine crop: from a device, refused by the broker;
        # from the insider (no hub key), ignored by the edge
        ack = pb.EvidenceAck(request_id=fake.request_id, event_id=eid, stored_sha256="0" * 64)
        ack_topic = system.victim.topic("evidence_ack")
        assert _publish(attacker, ack_topic, system.attacker.sign(ack_topic, ack.SerializeToString())) == NOT_AUTHORISED
        insider = system.insider()
        forger = signing.Signer.generate(system.tmp / "forger.key")
        _publish(insider, ack_topic, forger.sign(ack_topic, fake.request_id, ack.SerializeToString()))
        _publish(insider, ack_topic, ack.SerializeToString())  # unsigned
        assert wait_for(lambda: edge.publisher.refused_from_hub >= 2, 10)
        assert edge.evidence.count() == 1, "the edge deleted its crop on a forged ack"
        assert system.wait_dead(1) == ["no_request"] and system.count(Evidence) == 0
        # the genuine path still works: the hub asks, the edge sends, the hub stores it and acks
        rid = _hub_signed_request(system, eid)
        assert wait_for(lambda: system.count(Evidence) == 1, 20)
        assert wait_for(lambda: edge.evidence.count() == 0, 20), "the genuine ack did not delete the crop"
        (row,) = system.rows(Evidence)
        assert row.request_id == rid and row.signer_key_id == system.victim.signer.key_id
        for c in (attacker, insider):
            c.loop_stop()
    finally:
        edge.close()


def test_attack_forged_evidence_request_makes_the_edge_send_its_crop(system):
    edge = Edge(system)
    try:
        eid = edge.alert(with_crop=True)
        assert system.stored(eid)
        req = pb.EvidenceRequest(request_id=str(uuid7()), event_id=eid, reason=pb.EVIDENCE_REASON_INSPECTOR_REQUEST)
        t = system.victim.topic("evidence_request")
        attacker = system.attacker.client()
        assert _publish(attacker, t, system.attacker.sign(t, req.SerializeToString(), req.request_id)) == NOT_AUTHORISED
        insider = system.insider()
        forger = signing.Signer.generate(system.tmp / "forger.key")
        _publish(insider, t, forger.sign(t, req.request_id, req.SerializeToString()))
        assert wait_for(lambda: edge.publisher.refused_from_hub >= 1, 10)
        time.sleep(1)
        assert edge.spool.depth() == 0 and system.count(Evidence) == 0, "the crop was sent on a forged request"
        assert edge.evidence.get(eid).plaintext_sha256  # still here, unsent
        for c in (attacker, insider):
            c.loop_stop()
    finally:
        edge.close()


def test_attack_forged_receipt_makes_the_edge_drop_unsent_alerts(system):
    system.hub.stop()  # no hub: alerts wait for a receipt that only the hub can give
    edge = Edge(system, receipt_timeout_s=60)
    try:
        ids = [edge.alert() for _ in range(5)]
        assert wait_for(lambda: edge.spool.awaiting_receipt() == 5, 10)
        insider = system.insider()
        receipt = pb.Receipt(keys=ids)
        receipt.stored_at.GetCurrentTime()
        t = system.victim.topic("receipt")
        forger = signing.Signer.generate(system.tmp / "forger.key")
        _publish(insider, t, forger.sign(t, str(uuid7()), receipt.SerializeToString()))
        _publish(insider, t, receipt.SerializeToString())
        assert wait_for(lambda: edge.publisher.refused_from_hub >= 2, 10)
        assert edge.spool.depth() == 5, "a forged receipt removed alerts the hub never stored"
        insider.loop_stop()
        system.hub.start()  # the real hub stores them and its receipts empty the spool
        assert wait_for(lambda: edge.spool.depth() == 0, 60)
        assert {r.event_id for r in system.rows(Alert)} == set(ids)
    finally:
        edge.close()


def test_attack_divert_the_hubs_messages(system):
    attacker = system.attacker.client()
    for stolen in ("$share/hub/humiao/v1/+/+/+/alert", "$share/hub/humiao/#", "humiao/#", "humiao/v1/+/+/+/alert"):
        assert all(rc >= 128 for rc in _subscribe(attacker, stolen)), stolen
    # connecting with a hub worker's client id under its own identity does not displace the worker
    taker = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="hub.w1")
    secure(
        taker,
        system.attacker.identity.ca_file,
        system.attacker.identity.username,
        system.attacker.identity.password_file,
    )
    taker.connect("127.0.0.1", system.broker.port)
    taker.loop_start()
    _subscribe(taker, "$share/hub/humiao/v1/+/+/+/alert")
    victim = system.victim.client()
    sent = []
    for _ in range(200):
        t, payload, eid = system.victim.alert()
        victim.publish(t, payload, qos=1)
        sent.append(eid)
    assert wait_for(lambda: system.count(Alert) >= 200, 30), f"the hub stored {system.count(Alert)} of 200"
    assert "disconnected" not in system.hub.log.read_text().split("subscribed to")[-1]
    for c in (attacker, taker, victim):
        c.loop_stop()


def test_a_revoked_device_is_cut_off_at_the_broker_and_the_hub(system):
    victim = system.victim.client()
    gone = threading.Event()
    victim.on_disconnect = lambda *_a: gone.set()
    t, payload, eid = system.victim.alert()
    _publish(victim, t, payload)
    assert system.stored(eid)
    done = system.hub.command("devices", "revoke", "/".join(VICTIM), "--by", "admin-1", "--reason", "box stolen")
    assert done.returncode == 0, done.stderr
    started = time.monotonic()
    assert gone.wait(5), "the broker kept the revoked device connected"
    assert time.monotonic() - started < 5
    victim.loop_stop()
    again = system.victim.client(connect=False)
    refused = threading.Event()
    again.on_connect = lambda _c, _u, _f, rc, _p=None: refused.set() if rc.is_failure else None
    again.connect("127.0.0.1", system.broker.port)
    again.loop_start()
    assert refused.wait(5), "the revoked device could connect again"
    again.loop_stop()
    # and at the hub: were the broker to let it in again (its identity re-enabled by mistake), what
    # its key signs is refused as revoked, once the workers have re-read the keys (security.key_refresh_s)
    time.sleep(system.hub_cfg().security.key_refresh_s + 0.5)
    with system.broker.admin() as admin:
        admin.enable(system.victim.identity.username)
    back = system.victim.client()
    t2, payload2, _ = system.victim.alert()
    assert _publish(back, t2, payload2) == 0
    assert system.wait_dead(1) == ["revoked"] and system.count(Alert) == 1
    back.loop_stop()
