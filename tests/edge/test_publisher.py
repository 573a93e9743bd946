"""Spool → real Mosquitto → subscriber: nothing lost across a broker restart and an outage."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from humiao.broker import secure
from humiao.edge.publisher import MqttConfig, Publisher
from humiao.edge.spool import Spool
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import signing
from humiao.proto.ids import uuid7
from humiao.proto.topics import decode, topic

from tests.support.devices import enroll_device
from tests.support.services import hub_config

pytestmark = pytest.mark.services


class Collector:
    """A persistent-session QoS 1 subscriber (the read-only identity hub.tail): the broker queues for
    it while it is away. (The hub's workers share a subscription and rely on receipts as well.)"""

    def __init__(self, broker, protocol: str):
        v5 = protocol == "5"
        self.ids: list[str] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id="hub.tail",
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        secure(self.c, broker.ca_file, "hub.tail", broker.hub_secrets / "hub.tail.password")
        port = broker.port
        self.c.reconnect_delay_set(0.2, 1.0)
        self.c.on_connect = lambda c, u, f, rc, p=None: c.subscribe("humiao/v1/#", qos=1)
        self.c.on_message = self._on_message
        props = None
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.c.connect_async(
            "127.0.0.1",
            port,
            keepalive=5,
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.c.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        _, alert = decode(msg.topic, signing.unwrap(msg.payload).body)
        with self.lock:
            self.ids.append(alert.event_id)

    def wait_for(self, ids: set[str], timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if ids <= set(self.ids):
                    return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def _spool_alerts(spool: Spool, n: int) -> set[str]:
    ids = set()
    name = topic("d1", "venue1", "edge1", "alert")
    for i in range(n):
        a = pb.Alert(event_id=str(uuid7()), track_id=i, decision=pb.DECISION_CHECK_ID)
        spool.put(a.event_id, "alert", name, a.SerializeToString())
        ids.add(a.event_id)
    return ids


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_every_spooled_alert_arrives_across_a_broker_restart_and_outage(broker, tmp_path, protocol):
    device = enroll_device(hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker), broker)
    collector = Collector(broker, protocol)
    time.sleep(0.3)
    spool = Spool(tmp_path / "spool.db")
    sent = _spool_alerts(spool, 300)
    pub = Publisher(
        spool,
        device.identity,
        MqttConfig(port=broker.port, protocol=protocol, reconnect_min_s=0.2, reconnect_max_s=1.0),
    )
    pub.start()
    try:
        deadline = time.time() + 20
        while len(collector.ids) < 50 and time.time() < deadline:
            time.sleep(0.01)
        broker.stop()  # broker goes away mid-stream (clean stop: it saves its persistent state)
        sent |= _spool_alerts(spool, 100)  # the venue keeps working: alerts spool during the outage
        time.sleep(1.0)
        assert not pub.connected
        assert spool.depth() >= 100
        broker.start()  # same port, same persistence file
        pub.wake()
        assert collector.wait_for(sent, timeout=60), f"missing {len(sent - set(collector.ids))} alerts"
        deadline = time.time() + 10
        while spool.depth() and time.time() < deadline:
            time.sleep(0.05)
        assert spool.depth() == 0  # everything acknowledged, so nothing left to replay
    finally:
        pub.stop()
        collector.close()


def test_mqtt_tail_prints_messages_as_json(broker, tmp_path):
    import json
    import os
    import subprocess
    import sys

    import yaml

    cfg = hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker)
    device = enroll_device(cfg, broker)
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(cfg))
    tail = subprocess.Popen(
        [sys.executable, "-m", "humiao.cli", "mqtt", "tail", "--config", str(tmp_path / "hub.yaml"), "--count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert "subscribed" in tail.stderr.readline()
        c = device.client()
        alert = pb.Alert(event_id=str(uuid7()), threshold=25, decision=pb.DECISION_PASS)
        t = device.topic("alert")
        c.publish(t, device.sign(t, alert.SerializeToString(), alert.event_id), qos=1).wait_for_publish(5)
        c.publish(t, b"\xff\xfe not protobuf", qos=1).wait_for_publish(5)
        out, _ = tail.communicate(timeout=20)
        c.loop_stop()
    finally:
        tail.kill()
    good, bad = [json.loads(line) for line in out.strip().splitlines()]
    assert good["kind"] == "alert" and good["message"]["event_id"] == alert.event_id
    assert good["message"]["decision"] == "DECISION_PASS"
    assert good["id"] == alert.event_id and good["key_id"] == device.signer.key_id
    assert "not a signed message" in bad["error"]


def test_mqtt_tail_says_when_the_broker_is_unreachable(tmp_path):
    import subprocess
    import sys

    import yaml

    from tests.support.mosquitto import Mosquitto, free_port

    broker = Mosquitto(tmp_path / "mosquitto")  # its files (CA, passwords), not started
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(hub_config(tmp_path, "sqlite://", free_port(), broker=broker)))
    done = subprocess.run(
        [sys.executable, "-m", "humiao.cli", "mqtt", "tail", "--config", str(tmp_path / "hub.yaml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "cannot reach the broker" in done.stderr
