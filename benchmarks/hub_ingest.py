"""Hub ingest throughput: alerts/s sustained through Mosquitto into SQLite and into PostgreSQL.

    python -m benchmarks.hub_ingest --json OUT.json [--alerts 30000]
                                    [--runs sqlite:1,postgresql:2,postgresql:1]
                                    [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Per run (``store:workers``): a private Mosquitto on a free loopback port (Debian's binary,
deploy/mosquitto settings), that many hub workers, each its own process (``humiao hub run``, the
production path: manual PUBACK after each committed batch) sharing the ``$share/hub/...``
subscription and one data directory, and a bounded load generator in this process: several
simulated edges (distinct device ids) publishing valid alerts with QoS 1, at most ``--window``
unacknowledged at a time. The clock runs from the first publish to the moment the last alert is
committed (polled from the database). Reported: alerts_per_s, sent, stored (distinct event ids),
lost (sent − stored; must be 0), duplicates (rows beyond distinct ids; must be 0, the unique
constraint), redeliveries the hub absorbed (its counters), and when the hub's rules had turned
every stored alert into an alarm (one worker at a time evaluates them). PostgreSQL gets a fresh
database per run, dropped afterwards.

JSON keys: the first run of a store under the store's name (``sqlite``, ``postgresql``), further
runs of it as ``<store>_<N>_worker(s)``. The default runs the embedded SQLite with its one worker,
PostgreSQL as deployed for load (two workers on this 2-core box) and, for comparison, PostgreSQL
with one worker.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
from sqlalchemy import create_engine, func, select

from humiao.hub.tables import Alarm, Alert
from humiao.proto import humiao_v1_pb2 as pb

from benchmarks.report import machine, write_json
from tests.support.services import PG_ADMIN_URL, HubProcess, Mosquitto, hub_config, sample_alert, scratch_database


def make_alerts(n: int, devices: int) -> list[tuple[str, bytes, str]]:
    return [
        sample_alert(
            ("bench", f"venue{i % devices}", f"edge{i % devices}"),
            venue_type=pb.VENUE_TYPE_KTV,
            track_id=i,
            policy_version="bench",
        )
        for i in range(n)
    ]


class Generator:
    """QoS 1 publisher with a bounded window of unacknowledged messages."""

    def __init__(self, port: int, window: int):
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="bench-load", protocol=mqtt.MQTTv5
        )
        # the window is kept here; paho's own limit would rescan its whole outbox on every PUBACK
        self.client.max_inflight_messages_set(0)
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
    return sum(float(line.split()[-1]) for line in body.splitlines() if line.startswith((name + " ", name + "{")))


def run_store(store: str, url: str, n: int, devices: int, window: int, workdir: Path, workers: int = 1) -> dict:
    broker = Mosquitto(workdir / "mosquitto").start()
    hubs = []
    for w in range(workers):  # workers share the subscription (and, as in production, one data dir)
        cfg = hub_config(workdir, url, broker.port, client_id=f"bench-hub-{w}")
        cfg["ingest"] = {}  # production batching
        hubs.append(HubProcess(workdir / f"worker{w}", cfg))
    engine = create_engine(url)
    try:
        for hub in hubs:
            hub.start()
        alerts = make_alerts(n, devices)
        if os.environ.get("HUMIAO_BENCH_PROFILE"):  # py-spy on the hub while it ingests (development aid)
            import subprocess

            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-o",
                    os.environ["HUMIAO_BENCH_PROFILE"] + f".{store}.txt",
                    "-f",
                    "raw",
                    "-d",
                    "6",
                    "-p",
                    str(hubs[0].proc.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
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
        redelivered = sum(hub_counter(h.config["http"]["port"], "humiao_hub_duplicates_total") for h in hubs)
        elapsed = done - start
        return {
            "alerts_per_s": round(distinct / elapsed, 1),
            "sent": n,
            "stored": distinct,
            "lost": n - distinct,
            "duplicates": rows - distinct,
            "redeliveries_absorbed": int(redelivered),
            "seconds": round(elapsed, 2),
            "alarms_raised": raised,
            "alarms_done_seconds": round(alarms_done - start, 2),
            "publish_seconds": round(sent_s, 2),
            "devices": devices,
            "window": window,
            "hub_workers": workers,
        }
    finally:
        for hub in hubs:
            hub.stop()
        engine.dispose()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--alerts", type=int, default=30000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--window", type=int, default=2000, help="unacknowledged publishes at most")
    ap.add_argument(
        "--runs",
        default="sqlite:1,postgresql:2,postgresql:1",
        help="store:hub-workers, comma-separated (store: sqlite or postgresql)",
    )
    ap.add_argument(
        "--pg-url",
        default=os.environ.get("HUMIAO_TEST_PG_URL", PG_ADMIN_URL),
        help="a server where a scratch database may be created",
    )
    args = ap.parse_args(argv)
    runs = []
    for spec in args.runs.split(","):
        store, _, workers = spec.strip().partition(":")
        workers = workers or "1"
        if store not in ("sqlite", "postgresql") or not workers.isdigit() or int(workers) < 1:
            ap.error(f"--runs: {spec!r} is not store:workers (store sqlite or postgresql, workers ≥ 1)")
        runs.append((store, int(workers)))

    results: dict = {}
    for store, workers in runs:
        key = store if store not in results else f"{store}_{workers}_worker" + ("s" if workers > 1 else "")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if store == "sqlite":
                results[key] = run_store(
                    store, f"sqlite:///{work / 'hub.db'}", args.alerts, args.devices, args.window, work, workers
                )
            else:
                with scratch_database(args.pg_url, "humiao_bench") as url:
                    results[key] = run_store(store, url, args.alerts, args.devices, args.window, work, workers)
            print(key, results[key], flush=True)
    results["machine"] = machine()
    results["targets"] = {"postgresql_alerts_per_s": 5000, "sqlite_alerts_per_s": 1000, "lost": 0, "duplicates": 0}
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
