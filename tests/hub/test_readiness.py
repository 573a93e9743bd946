"""Readiness beside liveness, on a real hub worker process and real Mosquitto: a hub whose broker is
not there is alive (``/healthz`` 200) but not ready (``/readyz`` 503, saying why), logs that once
however often it retries, and becomes ready when the broker comes up."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from tests.support.hubproc import HubProcess, hub_config, wait_for
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.services


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_readyz_waits_for_the_broker_and_the_log_says_why_once(tmp_path):
    try:
        broker = Mosquitto(tmp_path / "mosquitto")  # its files and port; not started yet
    except FileNotFoundError as err:
        pytest.skip(str(err))
    cfg = hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker)
    http = cfg["http"]["port"]
    hub = HubProcess(tmp_path / "hub", cfg).start(connected=False)
    try:
        status, body = get(http, "/readyz")
        assert status == 503, body
        not_ready = json.loads(body)
        assert not_ready["ready"] is False and not_ready["database"] is True
        assert not_ready["not_ready"] == [
            f"broker 127.0.0.1:{broker.port} not connected: cannot connect: Connection refused"
        ]

        def failures() -> float:
            text = get(http, "/metrics")[1]
            return float(re.search(r"^humiao_hub_broker_connect_failures_total (\S+)$", text, re.M)[1])

        # paho retries 0.5 s, 1 s, 2 s, 4 s … apart: several tries within ten seconds
        assert wait_for(lambda: failures() >= 4, timeout=20), failures()
        health = get(http, "/healthz")
        assert health[0] == 200 and json.loads(health[1])["broker_connected"] is False

        broker.start()
        deadline = time.time() + 30
        while (ready := get(http, "/readyz"))[0] != 200 and time.time() < deadline:
            assert get(http, "/healthz")[0] == 200  # alive throughout
            time.sleep(0.2)
        assert ready[0] == 200, ready
        assert json.loads(ready[1]) == {
            "ready": True,
            "role": "all",
            "database": True,
            "broker_connected": True,
            "not_ready": [],
        }
        log = hub.log.read_text()
        trouble = [line for line in log.splitlines() if "not connected" in line]
        assert len(trouble) == 1, log[-3000:]
        assert f"broker 127.0.0.1:{broker.port} not connected: cannot connect: Connection refused" in trouble[0]
        assert "is mosquitto running? check mqtt.host/mqtt.port in the hub config" in trouble[0]
        assert f"connected to broker 127.0.0.1:{broker.port} again" in log
    finally:
        hub.stop()
        broker.kill()
