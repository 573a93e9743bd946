"""`humiao hub request-evidence` beside a running hub worker, on real Mosquitto: the request reaches
the device, and the worker keeps its session and its shared subscription (the command once took the
worker's client id, so the broker dropped the worker while it ran)."""

from __future__ import annotations

import subprocess
import sys
import threading

import paho.mqtt.client as mqtt
import pytest

from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.topics import topic

from tests.support import wire
from tests.support.hubproc import HubProcess, hub_config, stored_ids, wait_for
from tests.support.services import ROOT

pytestmark = pytest.mark.services


def _client(port: int, client_id: str) -> mqtt.Client:
    c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_the_cli_asks_the_edge_without_displacing_the_hub_worker(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = HubProcess(tmp_path, hub_config(tmp_path, db_url, broker.port)).start()
    requests: list[bytes] = []
    got = threading.Event()
    device = _client(broker.port, "edge1-device")
    device.on_message = lambda _c, _u, m: (requests.append(m.payload), got.set())
    device.subscribe(topic(*wire.ORIGIN, "evidence_request"), qos=1)
    edge = _client(broker.port, "edge1-publisher")
    try:
        t, payload, first = wire.alert()
        msg = pb.Alert.FromString(payload)
        msg.evidence_available = True
        edge.publish(t, msg.SerializeToString(), qos=1).wait_for_publish(5)
        assert wait_for(lambda: first in stored_ids(db_url), 30)

        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "humiao.cli",
                "hub",
                "request-evidence",
                first,
                "--reason",
                "inspector_request",
                "--by",
                "ct-1",
                "--config",
                str(hub.config_path),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert got.wait(10), "the device never got the request"
        req = pb.EvidenceRequest.FromString(requests[0])
        assert req.event_id == first and req.requested_by == "ct-1" and req.request_id in done.stdout

        # the worker was not displaced: it still holds its session and takes the next alert
        t2, p2, second = wire.alert()
        edge.publish(t2, p2, qos=1).wait_for_publish(5)
        assert wait_for(lambda: second in stored_ids(db_url), 30)
        log = hub.log.read_text()
        assert "disconnected" not in log, log[-2000:]
        assert hub.proc.poll() is None
    finally:
        for c in (device, edge):
            c.disconnect()
            c.loop_stop()
        hub.stop()


def test_the_cli_refuses_an_unknown_alert_with_a_clear_error(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = HubProcess(tmp_path, hub_config(tmp_path, db_url, broker.port))  # not started: the CLI needs the broker only
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "humiao.cli",
            "hub",
            "request-evidence",
            "01a2089c-0000-7000-8000-000000000000",
            "--reason",
            "inspector_request",
            "--by",
            "ct-1",
            "--config",
            str(hub.config_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2 and "error: no alert 01a2089c-0000-7000-8000-000000000000" in done.stderr
