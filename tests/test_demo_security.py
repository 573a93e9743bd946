"""The demo's embedded broker enforces what Mosquitto does in production: TLS only, a password per
identity, client id = user name, topic rights from proto/acl.py, and revocation that cuts a client
off. Set up as ``humiao demo`` sets it up (humiao/demo.py), without the video."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from humiao import demo
from humiao.broker import read_password, secure, tls_context
from humiao.edge import identity
from humiao.proto import acl

from tests.support.mosquitto import free_port

DISTRICT, VENUE = "demo-district", "demo-venue"
OTHER = acl.device_username(DISTRICT, VENUE, "edge-2")


class Conn:
    """A paho-mqtt 2 client (MQTT 3.1.1, clean session) recording what happens to it."""

    def __init__(self, port: int, client_id: str, ca: Path | None = None, username: str | None = None, password=None):
        self.port = port
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if ca is not None:
            self.client.tls_set_context(tls_context(ca))
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connacks: queue.Queue[mqtt.ReasonCode] = queue.Queue()
        self.subacks: queue.Queue[list] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda _c, _u, _f, rc, _p=None: self.connacks.put(rc)
        self.client.on_subscribe = lambda _c, _u, _mid, rcs, _p=None: self.subacks.put(list(rcs))
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.client.on_disconnect = lambda *_a: self.disconnected.set()

    def connect(self, timeout_s: float = 5.0) -> mqtt.ReasonCode | None:
        """The broker's CONNACK (None: none came)."""
        self.client.connect_async("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        try:
            return self.connacks.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def subscribe(self, topic_filter: str) -> mqtt.ReasonCode:
        self.client.subscribe(topic_filter, qos=1)
        return self.subacks.get(timeout=5)[0]

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def received(self, wait_s: float) -> list[tuple[str, bytes]]:
        out, deadline = [], time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Demo:
    state: Path
    port: int
    hub_cfg: object
    broker: object
    hub: object
    edge_cfg: object
    device: str  # the enrolled edge's user name
    opened: list[Conn]

    @property
    def ca(self) -> Path:
        return self.hub_cfg.ca_file()

    def conn(self, client_id: str, username: str | None = None, password=None, tls: bool = True) -> Conn:
        c = Conn(self.port, client_id, self.ca if tls else None, username, password)
        self.opened.append(c)
        return c

    def edge(self) -> Conn:
        """The enrolled demo edge, with the password its enrolment made (kept in its state directory)."""
        where = identity.identity_dir(self.edge_cfg)
        return self.conn(self.device, self.device, read_password(where / identity.PASSWORD))

    def hub_worker(self) -> Conn:
        c = Conn(self.port, demo.HUB_WORKER)
        secure(c.client, self.ca, demo.HUB_WORKER, self.hub_cfg.broker_password_file())  # TLS, host name checked
        self.opened.append(c)
        return c


def demo_run_setup(state: Path) -> Demo:
    """What ``humiao demo`` sets up before it plays the video: the secure broker with the hub's
    identities, the hub (not started: the tests play the hub worker), the edge enrolled through it."""
    from humiao.edge.config import EdgeConfig
    from humiao.hub.app import Hub

    port = free_port()
    hub_cfg = demo.hub_config(state, port, free_port())
    broker = demo.secure_broker(state, hub_cfg, port)
    try:
        hub = Hub(hub_cfg)
        demo.seed_demo(hub)
        edge_cfg = demo.edge_config(EdgeConfig(), state, port, once=True)
        request = demo.enroll_edge(hub, broker, edge_cfg, port)
    except BaseException:
        broker.stop()
        raise
    return Demo(state, port, hub_cfg, broker, hub, edge_cfg, request.username, [])


def stop(run: Demo) -> None:
    for c in run.opened:
        c.close()
    run.broker.stop()
    run.hub.engine.dispose()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    run = demo_run_setup(tmp_path_factory.mktemp("demo-state"))
    run.broker.add_device(OTHER, "edge-2-password", acl.device_rules(DISTRICT, VENUE, "edge-2"))
    yield run
    stop(run)


@pytest.fixture
def d(setup):
    setup.opened = []
    yield setup
    for c in setup.opened:
        c.close()


def test_the_demo_makes_every_credential_private(d):
    assert d.device == acl.device_username(DISTRICT, VENUE, "edge-1")
    for path in (d.hub_cfg.broker_password_file(), d.hub_cfg.broker_password_file(acl.CLI)):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert d.hub_cfg.ca_file().read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_anonymous_refused(d):
    rc = d.conn("anonymous-probe").connect()
    assert rc is not None and rc.is_failure


def test_wrong_password_refused(d):
    rc = d.conn(d.device, d.device, "not-the-password").connect()
    assert rc is not None and rc.is_failure
    rc = d.conn(demo.HUB_WORKER, demo.HUB_WORKER, "guess").connect()
    assert rc is not None and rc.is_failure


def test_plaintext_to_the_tls_port_fails(d):
    c = d.conn(d.device, d.device, read_password(identity.identity_dir(d.edge_cfg) / identity.PASSWORD), tls=False)
    assert c.connect(timeout_s=3) is None
    assert c.disconnected.wait(2)


def test_client_id_must_equal_the_user_name(d):
    password = read_password(identity.identity_dir(d.edge_cfg) / identity.PASSWORD)
    rc = d.conn("someone-else", d.device, password).connect()
    assert rc is not None and rc.is_failure
    rc = d.conn(OTHER, d.device, password).connect()  # nor may it take another device's session
    assert rc is not None and rc.is_failure


def test_the_demo_identities_connect(d):
    assert d.hub_worker().connect() == 0
    assert d.edge().connect() == 0
    cli = d.conn(acl.CLI, acl.CLI, read_password(d.hub_cfg.broker_password_file(acl.CLI)))
    assert cli.connect() == 0


def test_a_device_publishes_to_its_own_topics_only(d):
    hub = d.hub_worker()
    assert hub.connect() == 0
    for f in acl.hub_subscriptions(None):
        assert not hub.subscribe(f).is_failure, f
    edge = d.edge()
    assert edge.connect() == 0
    foreign = f"humiao/v1/{DISTRICT}/{VENUE}/edge-2/alert"
    own = f"humiao/v1/{DISTRICT}/{VENUE}/edge-1/alert"
    edge.publish(foreign, b"pretending to be edge-2")
    edge.publish(f"humiao/v1/{DISTRICT}/{VENUE}/edge-1/receipt", b"a hub kind")
    edge.publish(own, b"mine")
    got = hub.received(1.5)
    assert got == [(own, b"mine")]


def test_a_device_cannot_subscribe_beyond_its_own_hub_topics(d):
    edge = d.edge()
    assert edge.connect() == 0
    assert edge.subscribe("humiao/#").is_failure
    assert edge.subscribe("#").is_failure
    assert edge.subscribe(f"humiao/v1/{DISTRICT}/{VENUE}/+/receipt").is_failure
    assert edge.subscribe(f"humiao/v1/{DISTRICT}/{VENUE}/edge-2/receipt").is_failure
    own = f"humiao/v1/{DISTRICT}/{VENUE}/edge-1/receipt"
    assert not edge.subscribe(own).is_failure

    hub = d.hub_worker()
    assert hub.connect() == 0
    hub.publish(f"humiao/v1/{DISTRICT}/{VENUE}/edge-2/receipt", b"for edge-2")
    hub.publish(own, b"for edge-1")
    assert edge.received(1.5) == [(own, b"for edge-1")]


def test_retained_messages_reach_only_those_allowed_to_receive_them(d):
    hub = d.hub_worker()
    assert hub.connect() == 0
    assert not hub.subscribe("humiao/v1/+/+/+/status").is_failure  # a filter edge-2's retained status matches
    other = d.conn(OTHER, OTHER, "edge-2-password")
    assert other.connect() == 0
    other.publish(f"humiao/v1/{DISTRICT}/{VENUE}/edge-2/status", b"edge-2 online", retain=True)
    assert hub.received(1.0) == [(f"humiao/v1/{DISTRICT}/{VENUE}/edge-2/status", b"edge-2 online")]
    edge = d.edge()  # (stock amqtt replays every client's filters to a connecting client)
    assert edge.connect() == 0
    assert edge.received(1.0) == []
    other.publish(f"humiao/v1/{DISTRICT}/{VENUE}/edge-2/status", b"", retain=True)  # clear it


def test_a_last_will_on_a_foreign_topic_is_refused(d):
    edge = d.edge()
    edge.client.will_set(f"humiao/v1/{DISTRICT}/{VENUE}/edge-2/status", b"edge-2 offline", qos=1, retain=True)
    rc = edge.connect()
    assert rc is not None and rc.is_failure


def test_a_refused_login_with_a_taken_client_id_leaves_the_session_alone(d):
    hub = d.hub_worker()
    assert hub.connect() == 0
    assert not hub.subscribe("humiao/v1/+/+/+/alert").is_failure
    rc = d.conn(demo.HUB_WORKER, demo.HUB_WORKER, "wrong").connect()  # amqtt would take the session over
    assert rc is not None and rc.is_failure
    assert not hub.disconnected.is_set()
    edge = d.edge()
    assert edge.connect() == 0
    edge.publish(f"humiao/v1/{DISTRICT}/{VENUE}/edge-1/alert", b"still delivered")
    assert hub.received(1.5) == [(f"humiao/v1/{DISTRICT}/{VENUE}/edge-1/alert", b"still delivered")]


def test_disable_cuts_a_connected_device_off(d):
    name = acl.device_username(DISTRICT, VENUE, "edge-3")
    d.broker.add_device(name, "edge-3-password", acl.device_rules(DISTRICT, VENUE, "edge-3"))
    c = d.conn(name, name, "edge-3-password")
    assert c.connect() == 0
    d.broker.disable(name)
    assert c.disconnected.wait(1.0), "the disabled device is still connected"
    rc = c.connacks.get(timeout=5)  # paho reconnects on its own: refused now
    assert rc.is_failure
    again = d.conn(name, name, "edge-3-password")
    rc = again.connect()
    assert rc is not None and rc.is_failure


def test_a_demo_rerun_finds_the_edge_enrolled(tmp_path):
    """The broker keeps identities in memory only; the next run (same state directory) registers the
    same enrolled key and password again: no second enrolment, no error."""
    from humiao.hub import devices

    first = demo_run_setup(tmp_path)
    key = (identity.identity_dir(first.edge_cfg) / identity.KEY).read_text()
    stop(first)
    second = demo_run_setup(tmp_path)
    try:
        assert (identity.identity_dir(second.edge_cfg) / identity.KEY).read_text() == key
        with second.hub.sessions() as s:
            assert len(devices.listing(s)) == 1
        assert second.edge().connect() == 0
        assert second.hub_worker().connect() == 0  # the hub's new passwords are where the hub reads them
    finally:
        stop(second)
