"""Site-to-city MQTT: a venue's Mosquitto bridged to the city's (deploy/mosquitto/bridge.conf.example),
with real processes on loopback: the city broker (TLS, dynamic security, as `humiao hub broker init`
makes it) with a hub worker subscribed, a venue broker whose bridge connects to the city as its own
identity (QoS 1, persistent session, TLS), and an edge's real outbox (spool and publisher) at the venue.
The city broker goes away mid-stream while the edge keeps publishing; afterwards the hub has stored
every alert exactly once and the receipts have come back through the bridge (the edge's spool is empty).
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from pathlib import Path

import pytest

from humiao.broker import read_password
from humiao.edge.publisher import MqttConfig, Publisher
from humiao.edge.spool import Spool
from humiao.hub.broker_admin import dynsec_acls
from humiao.pki import CA_CERT, CA_KEY
from humiao.proto import acl
from humiao.proto.topics import EDGE_KINDS, HUB_KINDS

from tests.support.devices import enroll_device
from tests.support.hubproc import HubProcess, hub_config, stored_ids, wait_for
from tests.support.mosquitto import Mosquitto
from tests.support.services import sample_alert

pytestmark = pytest.mark.services

ORIGIN = ("d1", "venue1", "edge1")
BRIDGE = "bridge.d1.venue1"  # the venue broker's identity at the city broker
EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "mosquitto" / "bridge.conf.example"


def bridge_rules(district: str, venue: str) -> list[acl.Rule]:
    """What the city broker lets a venue's bridge do (deploy/mosquitto/bridge.conf.example): publish
    the edge kinds of any device at its venue, subscribe to and receive the hub kinds sent to them."""
    base = f"humiao/v1/{district}/{venue}/+"
    rules = [acl.Rule("publish", f"{base}/{kind}") for kind in EDGE_KINDS]
    for kind in HUB_KINDS:
        rules += [acl.Rule("subscribe", f"{base}/{kind}"), acl.Rule("receive", f"{base}/{kind}")]
    return rules


def bridge_section(city: Mosquitto, password: str) -> str:
    """The example's bridge section, pointed at the test's city broker (address, CA, password) and
    with a short restart timeout; everything else (topics, QoS, session, TLS) as deployed."""
    text = EXAMPLE.read_text()
    section = text[text.index("connection ") :]
    subs = {
        r"^address .*$": f"address 127.0.0.1:{city.port}",
        r"^bridge_cafile .*$": f"bridge_cafile {city.ca_file}",
        r"^remote_password .*$": f"remote_password {password}",
        r"^restart_timeout .*$": "restart_timeout 1 2",
    }
    for pattern, value in subs.items():
        section, n = re.subn(pattern, value, section, flags=re.M)
        assert n == 1, pattern
    return section


def test_venue_bridge_survives_a_city_broker_outage(tmp_path):
    try:
        city = Mosquitto(tmp_path / "city").start()
    except FileNotFoundError as err:
        pytest.skip(str(err))
    # the venue broker's certificate comes from the same CA, so the edge's trust file serves for it
    venue_dir = tmp_path / "venue"
    venue_dir.mkdir()
    for name in (CA_CERT, CA_KEY):
        shutil.copy2(city.workdir / name, venue_dir / name)
    venue = Mosquitto(venue_dir)
    hub = edge = spool = None
    try:
        db_url = f"sqlite:///{tmp_path / 'hub.db'}"
        cfg = hub_config(tmp_path, db_url, city.port, broker=city)
        device = enroll_device(cfg, city, ORIGIN)
        # the bridge's identity at the city broker; the device's at the venue broker (same password)
        bridge_password = secrets.token_urlsafe(24)
        with city.admin() as admin:
            acls = dynsec_acls(bridge_rules(*ORIGIN[:2]))
            role = {"command": "createRole", "rolename": BRIDGE, "acls": acls}
            client = {
                "command": "createClient",
                "username": BRIDGE,
                "password": bridge_password,
                "roles": [{"rolename": BRIDGE}],
            }
            assert [a.get("error") for a in admin.run([role, client])] == [None, None]
        venue.conf.write_text(venue.conf.read_text() + "\n" + bridge_section(city, bridge_password))
        venue.start()
        with venue.admin() as admin:
            admin.add_device(
                device.identity.username, read_password(device.identity.password_file), acl.device_rules(*ORIGIN)
            )
        hub = HubProcess(tmp_path, cfg).start()
        assert wait_for(lambda: "Connecting bridge" in (venue.workdir / "mosquitto.log").read_text(), 10)

        spool = Spool(Path(device.edge_config.device.state_dir) / "spool.db")
        # a receipt lost in the outage (the hub's publish as the city broker stops) is made good the way
        # the edge always does: it sends the alert again when no receipt comes; the hub stores it once
        # and receipts it again
        mqtt_cfg = MqttConfig(port=venue.port, reconnect_min_s=0.1, reconnect_max_s=1.0, receipt_timeout_s=3.0)
        edge = Publisher(spool, device.identity, mqtt_cfg, receipt_topic=device.topic("receipt"))
        edge.start()
        assert wait_for(lambda: edge.connected, 10), "the edge did not connect to the venue broker"

        sent: list[str] = []

        def publish(n: int) -> None:
            for _ in range(n):
                t, body, eid = sample_alert(ORIGIN)
                spool.put(eid, "alert", t, body)
                sent.append(eid)
                edge.wake()
                time.sleep(0.02)

        publish(20)
        assert wait_for(lambda: len(stored_ids(db_url)) >= 10, 10), "nothing reached the hub through the bridge"
        city.stop()  # the city broker goes away mid-stream: the venue keeps taking the edge's alerts
        publish(20)
        time.sleep(1.5)
        assert edge.connected, "the edge lost its venue broker"
        city.start()
        publish(20)

        n = len(sent)
        assert wait_for(lambda: len(stored_ids(db_url)) >= n and spool.depth() == 0, 15, 0.3), (
            f"stored {len(stored_ids(db_url))}/{n}, spool {spool.depth()} (receipts missing)"
        )
        time.sleep(1)  # anything still in flight (a resend) has time to arrive
        stored = stored_ids(db_url)
        assert sorted(stored) == sorted(sent), "lost or duplicated alerts"
        assert len(set(stored)) == len(stored) == n
        assert spool.depth() == 0 and spool.awaiting_receipt() == 0
        log = (venue.workdir / "mosquitto.log").read_text()
        assert log.count("Connecting bridge") >= 2, "the bridge did not reconnect after the outage"
    finally:
        if edge is not None:
            edge.stop()
        if spool is not None:
            spool.close()
        if hub is not None:
            hub.stop()
        venue.kill()
        city.kill()
