"""Hub ingest throughput: alerts/s sustained through Mosquitto into SQLite and into PostgreSQL.

    python -m benchmarks.hub_ingest --json OUT.json [--alerts 30000] [--stores sqlite,postgresql]
                                    [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Per store: a private Mosquitto on a free loopback port (Debian's binary, deploy/mosquitto
settings), one hub worker as its own process (``humiao hub run``, the production path: manual
PUBACK after each committed batch), and a bounded load generator in this process: several
simulated edges (distinct device ids) publishing valid alerts with QoS 1, at most ``--window``
unacknowledged at a time. The clock runs from the first publish to the moment the last alert is
committed (polled from the database). Reported: alerts_per_s, sent, stored (distinct event ids),
lost (sent − stored; must be 0), duplicates (rows beyond distinct ids; must be 0, the unique
constraint), redeliveries the hub absorbed (its own counter), and when the hub's rules had turned
every stored alert into an alarm (the same process does both). PostgreSQL gets a fresh
database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import create_engine, func, select

from benchmarks.report import write_json
from hub.models import Alarm, Alert
from humiao.localsvc import PG_ADMIN_URL, HubProcess, Mosquitto, free_port, hub_config, sample_alert, scratch_database
from proto import humiao_v1_pb2 as pb



def make_alerts(n: int, devices: int) -> list[tuple[str, bytes, str]]:
    return [sample_alert(("bench", f"venue{i % devices}", f"edge{i % devices}"), venue_type=pb.VENUE_TYPE_KTV,
                         track_id=i, policy_version="bench") for i in range(n)]


class Generator:
    """QoS 1 publisher with a bounded window of unacknowledged messages."""

    def __init__(self, port: int, window: int):
        self.client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="bench-load",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(window)
        self.window = window
        self.acked = 0
        self._cond = threading.Condition()
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, *args) -> None:
        with self._cond:
            self.acked += 1
            self._cond.notify_all()

    def send(self, alerts) -> float:
        start = time.perf_counter()
        for i, (t, payload, _eid) in enumerate(alerts):
            with self._cond:
                while i - self.acked >= self.window:
                    self._cond.wait(0.5)
            self.client.publish(t, payload, qos=1)
        with self._cond:
            while self.acked < len(alerts):
                self._cond.wait(0.5)
        return start

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def hub_counter(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in body.splitlines() if line.startswith(name + " ")
               or line.startswith(name + "{"))


def run_store(store: str, url: str, n: int, devices: int, window: int, workdir: Path) -> dict:
    broker = Mosquitto(workdir / "mosquitto").start()
    http_port = free_port()
    cfg = hub_config(workdir, url, broker.port, client_id="bench-hub", http_port=http_port)
    cfg["ingest"] = {}  # production batching
    hub = HubProcess(workdir, cfg)
    engine = create_engine(url)
    try:
        hub.start()
        alerts = make_alerts(n, devices)
        if os.environ.get("HUMIAO_BENCH_PROFILE"):  # py-spy on the hub while it ingests (development aid)
            import subprocess

            subprocess.Popen(["py-spy", "record", "-o", os.environ["HUMIAO_BENCH_PROFILE"] + f".{store}.txt", "-f",
                              "raw", "-d", "6", "-p", str(hub.proc.pid)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
            time.sleep(1)
        gen = Generator(broker.port, window)
        start = gen.send(alerts)
        sent_s = time.perf_counter() - start
        gen.close()
        with engine.connect() as conn:
            stored = 0
            last_change, last = time.perf_counter(), -1
            while stored < n and time.perf_counter() - last_change < 30:
                stored = conn.execute(select(func.count()).select_from(Alert)).scalar()
                if stored != last:
                    last, last_change = stored, time.perf_counter()
                time.sleep(0.02)
            done = time.perf_counter()
            distinct = conn.execute(select(func.count(func.distinct(Alert.event_id)))).scalar()
            rows = conn.execute(select(func.count()).select_from(Alert)).scalar()
            raised = 0  # the hub's rules keep up? time until every alert is an alarm
            while time.perf_counter() - done < 120:
                raised = conn.execute(select(func.count()).select_from(Alarm)).scalar()
                if raised >= distinct:
                    break
                time.sleep(0.05)
            alarms_done = time.perf_counter()
        redelivered = hub_counter(http_port, "humiao_hub_duplicates_total")
        elapsed = done - start
        return {"alerts_per_s": round(distinct / elapsed, 1), "sent": n, "stored": distinct, "lost": n - distinct,
                "duplicates": rows - distinct, "redeliveries_absorbed": int(redelivered), "seconds": round(elapsed, 2),
                "alarms_raised": raised, "alarms_done_seconds": round(alarms_done - start, 2),
                "publish_seconds": round(sent_s, 2), "devices": devices, "window": window}
    finally:
        hub.stop()
        engine.dispose()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--alerts", type=int, default=30000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--window", type=int, default=2000, help="unacknowledged publishes at most")
    ap.add_argument("--stores", default="sqlite,postgresql")
    ap.add_argument("--pg-url", default=os.environ.get("HUMIAO_TEST_PG_URL", PG_ADMIN_URL),
                    help="a server where a scratch database may be created")
    args = ap.parse_args(argv)

    results: dict = {}
    for store in args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if store == "sqlite":
                results["sqlite"] = run_store(store, f"sqlite:///{work / 'hub.db'}", args.alerts, args.devices,
                                              args.window, work)
            elif store == "postgresql":
                with scratch_database(args.pg_url, "humiao_bench") as url:
                    results["postgresql"] = run_store(store, url, args.alerts, args.devices, args.window, work)
            else:
                raise SystemExit(f"unknown store {store!r}")
            print(store, results[store], flush=True)
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    results["targets"] = {"postgresql_alerts_per_s": 5000, "sqlite_alerts_per_s": 1000, "lost": 0, "duplicates": 0}
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
