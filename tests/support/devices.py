"""Enrolled devices for tests and benchmarks, made the way a real one is: the hub's trust file, the
device's own key and password (``humiao.edge.identity.enroll``), and the hub enrolling the request
(``humiao.hub.devices.enroll``: the registry, the key, the broker identity and its rights).

A ``TestDevice`` then speaks for itself only: it signs what it publishes, and its MQTT clients
connect with TLS as its broker identity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from humiao.broker import secure
from humiao.edge.config import EdgeConfig
from humiao.edge.identity import DeviceIdentity, enroll
from humiao.hub import devices
from humiao.hub.access import Principal
from humiao.hub.config import HubConfig
from humiao.hub.db import make_engine, migrate, sessions
from humiao.hub.tables import DeviceKey, Venue
from humiao.proto import signing
from humiao.proto.ids import uuid7
from humiao.proto.topics import topic as make_topic

ORIGIN = ("d1", "venue1", "edge1")
ADMIN = Principal("test-admin", "admin", None)
# a trust file needs a CA; tests without a broker never connect, so any well-formed PEM serves
STAND_IN_CA = "-----BEGIN CERTIFICATE-----\nstand-in: no broker in this test\n-----END CERTIFICATE-----\n"


@dataclass
class TestDevice:
    __test__ = False  # not a pytest test class

    ids: tuple[str, str, str]
    identity: DeviceIdentity
    edge_config: EdgeConfig
    broker_port: int

    @property
    def signer(self) -> signing.Signer:
        return self.identity.signer

    def topic(self, kind: str) -> str:
        return make_topic(*self.ids, kind)

    def sign(self, topic: str, body: bytes, message_id: str | None = None, at: float | None = None) -> bytes:
        return self.signer.sign(topic, message_id or str(uuid7()), body, at)

    def alert(self, event_id: str | None = None, age: float = 15.0, at: float | None = None) -> tuple[str, bytes, str]:
        """(topic, signed payload, event id) of a valid CHECK ID alert from this device."""
        from tests.support.services import sample_alert

        t, body, eid = sample_alert(self.ids, event_id, age, None if at is None else at - 0.5)
        return t, self.sign(t, body, eid, at), eid

    def client(self, protocol: str = "5", connect: bool = True) -> mqtt.Client:
        """A paho client connected (loop started) as this device."""
        c = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.identity.username,
            protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311,
        )
        secure(c, self.identity.ca_file, self.identity.username, self.identity.password_file)
        if connect:
            c.connect("127.0.0.1", self.broker_port)
            c.loop_start()
        return c


def ensure_venue(hub_cfg: HubConfig, district: str, venue: str, venue_type: str = "internet_cafe") -> None:
    engine = make_engine(hub_cfg.database_url())
    try:
        migrate(engine)
        with sessions(engine)() as s, s.begin():
            if s.get(Venue, venue) is None:
                s.add(
                    Venue(
                        id=venue,
                        name=f"{venue_type} {venue}",
                        venue_type=venue_type,
                        district_id=district,
                        updated_at=datetime.now(UTC),
                    )
                )
    finally:
        engine.dispose()


def enroll_device(
    hub_cfg: HubConfig | dict,
    broker,
    ids: tuple[str, str, str] = ORIGIN,
    state_dir: Path | None = None,
    venue_type: str = "internet_cafe",
    **edge_settings,
) -> TestDevice:
    """Enrol a device at the hub whose configuration is ``hub_cfg`` and at ``broker`` (a
    tests.support.services.Mosquitto, or anything with ``port`` and a ``BrokerRights`` ``admin()``;
    None: at the hub only, for tests that hand messages to ingest directly)."""
    cfg = hub_cfg if isinstance(hub_cfg, HubConfig) else HubConfig.model_validate(hub_cfg)
    ensure_venue(cfg, ids[0], ids[1], venue_type)
    trust_path = cfg.data_dir / "hub-trust.json"
    trust_path.parent.mkdir(parents=True, exist_ok=True)
    port = broker.port if broker is not None else 8883
    if broker is None and not cfg.ca_file().exists():  # no broker: a stand-in CA certificate for the trust file
        cfg.ca_file().parent.mkdir(parents=True, exist_ok=True)
        cfg.ca_file().write_text(STAND_IN_CA)
    trust_path.write_text(devices.trust_file(cfg, "127.0.0.1", port).dumps())
    state = state_dir or cfg.data_dir.parent / f"edge-{'-'.join(ids)}"
    edge_cfg = EdgeConfig.model_validate(
        {
            "device": {"district_id": ids[0], "venue_id": ids[1], "device_id": ids[2], "state_dir": str(state)},
            "mqtt": {"port": port, **edge_settings.pop("mqtt", {})},
            **edge_settings,
        }
    )
    _path, request = enroll(edge_cfg, trust_path)
    engine = make_engine(cfg.database_url())
    try:
        with sessions(engine)() as s:
            existing = s.get(DeviceKey, request.key_id)
            if existing is None or existing.revoked_at is not None:
                if broker is None:
                    devices.enroll(s, None, request, cfg, ADMIN, replace=True)
                else:
                    with broker.admin() as admin:
                        devices.enroll(s, admin, request, cfg, ADMIN, replace=True)
    finally:
        engine.dispose()
    return TestDevice(ids, DeviceIdentity.load(edge_cfg), edge_cfg, port)


def wait_connected(client: mqtt.Client, timeout: float = 10.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.is_connected():
            return True
        time.sleep(0.05)
    return False
