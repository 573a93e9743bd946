"""The broker as ``humiao hub broker init`` sets it up (hub/broker_admin.py, humiao/pki.py), against a
real Mosquitto: TLS only, a password per identity, the client id bound to the user name, the rights
of proto/acl.py through dynamic security, and revocation that cuts a device off at once."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from humiao import pki
from humiao.broker import secure
from humiao.hub.broker_admin import DYNSEC_FILE, TLS_CONF, BrokerAdminError, init_broker, password_matches
from humiao.proto import acl
from humiao.proto.topics import topic

from tests.support.services import Mosquitto

DEVICE = ("d1", "v1", "dev1")
OTHER = ("d1", "v1", "dev2")
SHARED_ALERTS = "$share/hub/humiao/v1/+/+/+/alert"


@pytest.fixture
def mosquitto(tmp_path):
    """A Mosquitto of its own, secured as in production; killed at the end."""
    try:
        b = Mosquitto(tmp_path / "mosquitto").start()
    except FileNotFoundError as err:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(str(err))
        pytest.skip(str(err))
    yield b
    b.kill()


class Peer:
    """A paho client with what the broker said: CONNACK, SUBACKs, messages, disconnection."""

    def __init__(self, client_id: str):
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.connack = threading.Event()
        self.refused: bool | None = None
        self.reason = None
        self.dropped = threading.Event()
        self.subacks: dict[int, list] = {}
        self.messages: list[tuple[str, bytes]] = []
        self._cv = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_a: self.dropped.set()
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        self.refused, self.reason = reason_code.is_failure, reason_code
        self.connack.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        with self._cv:
            self.subacks[mid] = list(reason_codes)
            self._cv.notify_all()

    def _on_message(self, client, userdata, msg):
        with self._cv:
            self.messages.append((msg.topic, msg.payload))
            self._cv.notify_all()

    def connect(self, port: int, timeout: float = 5) -> bool:
        """True when the broker accepted the connection; False when it refused or cut it."""
        try:
            self.client.connect("127.0.0.1", port, keepalive=10)
        except OSError:
            return False
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.connack.is_set() and not self.dropped.is_set():
            time.sleep(0.02)
        return self.connack.is_set() and not self.refused

    def subscribe(self, topic_filter: str, timeout: float = 5) -> bool:
        """True when the broker granted the subscription."""
        _rc, mid = self.client.subscribe(topic_filter, qos=1)
        with self._cv:
            assert self._cv.wait_for(lambda: mid in self.subacks, timeout), f"no SUBACK for {topic_filter}"
            return not any(rc.is_failure for rc in self.subacks[mid])

    def wait_messages(self, n: int, timeout: float = 5) -> list[tuple[str, bytes]]:
        with self._cv:
            self._cv.wait_for(lambda: len(self.messages) >= n, timeout)
            return list(self.messages)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def identity(broker: Mosquitto, username: str, client_id: str | None = None) -> Peer:
    """A hub identity's client, set up as the hub does it (TLS with the CA, its password file)."""
    peer = Peer(client_id or username)
    secure(peer.client, broker.ca_file, username, broker.hub_secrets / f"{username}.password")
    return peer


def with_password(broker: Mosquitto, username: str, password: str, client_id: str | None = None) -> Peer:
    peer = Peer(client_id or username)
    peer.client.tls_set(ca_certs=str(broker.ca_file))
    peer.client.username_pw_set(username, password)
    return peer


@pytest.fixture
def enrolled(mosquitto):
    """The device DEVICE added through the broker's administration; its password."""
    password = "device-password-1234"
    with mosquitto.admin() as admin:
        admin.add_device(acl.device_username(*DEVICE), password, acl.device_rules(*DEVICE))
    return password


def test_anonymous_is_refused(mosquitto):
    peer = Peer("anyone")
    peer.client.tls_set(ca_certs=str(mosquitto.ca_file))
    assert not peer.connect(mosquitto.port)
    assert peer.refused, "anonymous got no refusal"
    peer.stop()


def test_plaintext_to_the_tls_port_fails(mosquitto):
    peer = Peer("hub.w1")
    peer.client.username_pw_set("hub.w1", (mosquitto.hub_secrets / "hub.w1.password").read_text().strip())
    assert not peer.connect(mosquitto.port, timeout=3)
    peer.stop()


def test_hub_worker_connects_with_its_password_not_with_another(mosquitto):
    good = identity(mosquitto, "hub.w1")
    assert good.connect(mosquitto.port)
    good.stop()
    bad = with_password(mosquitto, "hub.w1", "not-the-password")
    assert not bad.connect(mosquitto.port)
    assert bad.refused and bad.reason is not None and bad.reason.value in (134, 135)
    bad.stop()


def test_client_id_is_bound_to_the_user_name(mosquitto):
    victim = identity(mosquitto, "hub.w2")
    assert victim.connect(mosquitto.port)
    intruder = identity(mosquitto, "hub.w1", client_id="hub.w2")  # hub.w1's password, hub.w2's client id
    assert intruder.connect(mosquitto.port)  # let in, as hub.w1
    time.sleep(1.0)
    assert not victim.dropped.is_set() and victim.client.is_connected(), "hub.w2's session was taken over"
    assert "as hub.w1 " in (mosquitto.workdir / "mosquitto.log").read_text()
    intruder.stop()
    victim.stop()


def test_device_publishes_its_own_topics_only(mosquitto, enrolled):
    hub = identity(mosquitto, "hub.w1")
    assert hub.connect(mosquitto.port)
    assert hub.subscribe(SHARED_ALERTS)
    device = with_password(mosquitto, acl.device_username(*DEVICE), enrolled)
    assert device.connect(mosquitto.port)
    # its own hub-bound topic is granted; the hub's shared subscription and wildcards are not
    assert device.subscribe(topic(*DEVICE, "evidence_request"))
    assert not device.subscribe(SHARED_ALERTS)
    assert not device.subscribe("humiao/#")
    assert not device.subscribe(topic(*OTHER, "evidence_request"))
    # as another device: dropped by the broker (the allowed one, sent after it, arrives alone)
    device.client.publish(topic(*OTHER, "alert"), b"forged", qos=1).wait_for_publish(5)
    device.client.publish(topic(*DEVICE, "alert"), b"mine", qos=1).wait_for_publish(5)
    assert hub.wait_messages(1) == [(topic(*DEVICE, "alert"), b"mine")]
    time.sleep(0.5)
    assert hub.messages == [(topic(*DEVICE, "alert"), b"mine")]
    device.stop()
    hub.stop()


def test_disable_cuts_a_connected_device_off_and_refuses_it(mosquitto, enrolled):
    username = acl.device_username(*DEVICE)
    device = with_password(mosquitto, username, enrolled)
    assert device.connect(mosquitto.port)
    device.client.reconnect_delay_set(30, 60)  # no reconnection behind our back
    started = time.monotonic()
    with mosquitto.admin() as admin:
        admin.disable(username)
    assert device.dropped.wait(2), "the disabled device is still connected"
    assert time.monotonic() - started < 2
    device.stop()
    again = with_password(mosquitto, username, enrolled)
    assert not again.connect(mosquitto.port)
    assert again.refused
    again.stop()
    with mosquitto.admin() as admin:  # enabled again: let in again
        admin.enable(username)
    back = with_password(mosquitto, username, enrolled)
    assert back.connect(mosquitto.port)
    back.stop()


def test_enrolling_again_sets_the_new_password(mosquitto, enrolled):
    username = acl.device_username(*DEVICE)
    with mosquitto.admin() as admin:
        admin.disable(username)
        admin.add_device(username, "a-new-password-5678", acl.device_rules(*DEVICE))
        assert admin.get_client(username)["roles"] == [{"rolename": "device.d1.v1.dev1"}]
    old = with_password(mosquitto, username, enrolled)
    assert not old.connect(mosquitto.port)
    old.stop()
    new = with_password(mosquitto, username, "a-new-password-5678")
    assert new.connect(mosquitto.port)
    new.stop()


def test_admin_errors_name_the_command(mosquitto):
    with (
        mosquitto.admin() as admin,
        pytest.raises(BrokerAdminError, match="disableClient edge.x.y.z: Client not found"),
    ):
        admin.disable("edge.x.y.z")
    with mosquitto.admin() as admin, pytest.raises(ValueError):
        admin.add_device("hub.w1", "takeover-password", acl.device_rules(*DEVICE))  # never a hub identity


def test_only_the_admin_administers(mosquitto):
    worker = identity(mosquitto, "hub.w1")
    assert worker.connect(mosquitto.port)
    assert not worker.subscribe("$CONTROL/dynamic-security/v1/response")
    worker.stop()


def test_secrets_are_private(mosquitto):
    private = [mosquitto.workdir / pki.SERVER_KEY, mosquitto.workdir / pki.CA_KEY, mosquitto.dynsec]
    private += sorted(mosquitto.hub_secrets.glob("*.password"))
    assert {p.name for p in mosquitto.hub_secrets.glob("*.password")} >= {
        "hub.admin.password",
        "hub.cli.password",
        "hub.w1.password",
        "hub.w4.password",
    }
    for path in private:
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_certificate_of_another_ca_is_refused(mosquitto, tmp_path):
    other_ca, _key = pki.make_ca(tmp_path / "other")
    peer = Peer("hub.w1")
    peer.client.tls_set_context(ssl.create_default_context(cafile=str(other_ca)))
    peer.client.username_pw_set("hub.w1", (mosquitto.hub_secrets / "hub.w1.password").read_text().strip())
    with pytest.raises(ssl.SSLCertVerificationError):
        peer.client.connect("127.0.0.1", mosquitto.port)
    # and ours is accepted for both of its names
    for host in ("127.0.0.1", "localhost"):
        ok = identity(mosquitto, "hub.w1")
        ok.client.connect(host, mosquitto.port)
        ok.client.loop_start()
        assert ok.connack.wait(5) and not ok.refused
        ok.stop()


def test_init_again_keeps_the_ca_and_passwords_and_adds_workers(tmp_path):
    broker_dir, hub_dir = tmp_path / "broker", tmp_path / "hub"
    args = (["localhost", "127.0.0.1"], ["hub.w1"], "hub", None)
    made = init_broker(broker_dir, hub_dir, *args, plugin=Path("/x.so"))
    ca, w1 = made["CA certificate"].read_bytes(), (hub_dir / "hub.w1.password").read_text()
    server = made["broker certificate"].read_bytes()
    conf = broker_dir / TLS_CONF
    conf.write_text(conf.read_text().replace("listener 8883 127.0.0.1", "listener 8883 10.20.0.5"))
    config = json.loads((broker_dir / DYNSEC_FILE).read_text())
    config["clients"].append({"username": "edge.d1.v1.dev1", "roles": []})  # enrolled since
    (broker_dir / DYNSEC_FILE).write_text(json.dumps(config))

    again = init_broker(broker_dir, hub_dir, args[0], ["hub.w1", "hub.w2"], "hub", None, plugin=Path("/x.so"))
    assert again["CA certificate"].read_bytes() == ca and (hub_dir / "hub.w1.password").read_text() == w1
    assert again["broker certificate"].read_bytes() == server  # same names: kept
    assert (hub_dir / "ca.crt").read_bytes() == ca
    clients = {c["username"]: c for c in json.loads((broker_dir / DYNSEC_FILE).read_text())["clients"]}
    assert set(clients) == {"hub.admin", "hub.cli", "hub.tail", "hub.w1", "hub.w2", "edge.d1.v1.dev1"}
    assert password_matches(clients["hub.w2"], (hub_dir / "hub.w2.password").read_text().strip())
    assert "listener 8883 10.20.0.5" in conf.read_text() and "127.0.0.1" not in conf.read_text()

    renamed = init_broker(broker_dir, hub_dir, ["hub.example.org"], ["hub.w1"], "hub", None, plugin=Path("/x.so"))
    assert pki.cert_names(pki.load_cert(renamed["broker certificate"])) == ["hub.example.org"]
    assert renamed["CA certificate"].read_bytes() == ca
