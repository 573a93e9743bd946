"""A district's fleet against the real services: 5,000 edge devices through Mosquitto (TLS, a broker identity
and rights per device) into the hub's workers on PostgreSQL, a day of alerts with its peaks, then a soak with
the broker restarted and a hub worker killed.

    python -m benchmarks.fleet_load [--devices 5000] [--minutes 2] [--soak-minutes 10] [--json OUT.json]
                                    [--workers 2] [--generators N] [--alerts-per-device-day 30] [--holiday-factor 1.8]
                                    [--status-interval 30] [--broker-restarts 2] [--worker-kills 1]
                                    [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

The services, as deployed: a private Mosquitto secured as in production (tests/support/services.py), its file
limit raised (RLIMIT_NOFILE 65,536 where allowed, as the systemd drop-in's LimitNOFILE) and ``max_connections``
set; ``--workers`` hub workers (``humiao hub run``, identities hub.w1…, one shared subscription, one data
directory) on a scratch PostgreSQL database, dropped afterwards.

The devices (benchmarks/fleet_devices.py): ``--generators`` processes, each multiplexing its share of the
devices on one selector (paho, external loop), each device as edge/publisher.py behaves: its own TLS connection
as its own broker identity, persistent session, Last Will, QoS 1, every message signed with its own Ed25519
key when sent, alerts and ID checks kept until the hub's signed receipt (resent when it is overdue), the
outbox replayed on every reconnect. Each sends its retained status every ``--status-interval`` seconds, alerts
at the fleet's rate of the moment, an ID-check outcome for each alert (``--check-delay`` later; how staff
answer: fleet_devices.ANSWERS, 5% minors admitted → confirmed violations) and the sealed crop for every
evidence request the hub's rules send for a confirmed violation.

Enrolment: the first ``--real-enrolments`` devices are enrolled exactly as an operator does (their own key
and password made on the device, the request enrolled at the hub and its rights granted through the broker's
administration API: tests/support/devices.py). The rest are made in bulk with the same pieces, because the
real path saves the broker's whole dynamic-security file on every change (quadratic: hours for 5,000): each
device's own Ed25519 key and random password, its DeviceKey row at the hub as ``devices.enroll`` writes it
(without the audit row), and its broker identity and role (``proto/acl.device_rules``, the same
``broker_admin`` entries the API makes) written into the dynamic-security file while the broker is stopped.
What the hub verifies and the broker enforces is the same for both kinds.

The day (fleet_devices.HOURLY): people let in per hour at a venue entrance, quiet mornings, rising in the
afternoon, the peak at 22:00 (2.9× the day's mean); ``--alerts-per-device-day`` alerts a device on an
ordinary day (30: ~200 visitors, ~15% asked for ID), ``--holiday-factor`` for the day simulated (a public
holiday: 1.8). The day is compressed in time, not in intensity: ``--minutes`` of load walk through 24 hours
(04:00 to 04:00, so 22:00 comes three quarters in), and the fleet's alert rate at each moment is the rate of
that hour of that day (5,000 devices: 3.1 alerts/s on average, 9 at 22:00). Statuses keep their real
period. The soak goes on cycling the same day. A day's database growth is extrapolated from the bytes each
kind added in this run (``pg_total_relation_size`` of each table before and after) to the modelled day's
counts (an ordinary day and the holiday).

The load phase starts once every device is connected and the hub workers have absorbed the connection storm
(every device's Birth and retained Status reach every worker: ``connection_storm_absorbed_s``), so it measures
the fleet's steady state; the workers' ingest queues (``humiao_hub_queue_depth``) are sampled with their RSS.

Measured: connections held (the broker's established TCP connections, from its /proc, and the devices' own
count), CPU (cores: CPU s / elapsed) and RSS of the broker, each hub worker, PostgreSQL and the generators over
the load phase; p50/p95/p99 of alert → alarm (first publish at the device → the alarm row visible in the
database, polled every 50 ms) and alarm → open panel (alarm row visible → the ``alarm`` event on
``/api/stream`` as the first signed-in inspector who may see it gets it: one police, one culture & tourism and
one market-regulation inspector per district, each seeing their department's alarms of their district).
Soak (``--soak-minutes``): ``--broker-restarts`` broker restarts (the first a clean stop and start, the next
SIGKILL, each started again 2 s later as systemd's RestartSec does) and ``--worker-kills`` SIGKILLs of hub
worker hub.w1 (started again 2 s later); then the devices stop making alerts and wait for their receipts.
lost = alerts a device got a PUBACK or receipt for without an alarm; duplicated = alarm (or alert) rows beyond
one per event id; the RSS of the broker and the workers sampled all along, as a series and a slope (MB/min,
least squares over each process's longest life).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import resource
import secrets
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil

from benchmarks.fleet_devices import ANSWERS, HOURLY, MEAN_HOURLY, Params, drain, rate_at, run_process, sim_hour
from benchmarks.hub_ingest import CpuMeter
from benchmarks.report import machine, write_json
from tests.support.services import PG_ADMIN_URL, HubProcess, Mosquitto, hub_config, scratch_database

VENUE_TYPES = ("ktv", "bar", "internet_cafe", "arcade", "hotel", "esports_hotel", "script_entertainment")
PASSWORD = "fleet inspector password"
DEPARTMENTS = ("police", "culture_tourism", "market_regulation")  # an inspector sees their department's alarms
DEVICES_PER_DISTRICT = 1250
TABLES = (
    "alerts",
    "alarms",
    "alarm_events",
    "id_checks",
    "devices",
    "evidence",
    "evidence_requests",
    "audit_events",
    "outbox",
    "dead_letters",
)


def pct(values, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50_s": pct(values, 50),
        "p95_s": pct(values, 95),
        "p99_s": pct(values, 99),
        "max_s": round(max(values), 3) if values else None,
    }


def raise_file_limit() -> int:
    """RLIMIT_NOFILE up to 65,536 (the broker, started from here, inherits it); the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if hard != -1 else hard))
            break
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- enrolment -------------------------------------------------------------------------------------------------------
def fleet_ids(n: int) -> list[tuple[tuple[str, str, str], str]]:
    districts = max(1, -(-n // DEVICES_PER_DISTRICT))
    return [((f"d{1 + i % districts}", f"v{i:05d}", "edge1"), VENUE_TYPES[i % len(VENUE_TYPES)]) for i in range(n)]


def enrol_fleet(n: int, hub_cfg: dict, broker: Mosquitto, real: int) -> tuple[list[tuple], dict]:
    """Every device enrolled (see the module's docstring); (device specs for the generators, what it took)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import insert

    from humiao.broker import read_password
    from humiao.hub import devices
    from humiao.hub.broker_admin import device_role, dynsec_client_entry, dynsec_config
    from humiao.hub.config import HubConfig
    from humiao.hub.db import make_engine, sessions
    from humiao.hub.tables import DeviceKey, Venue
    from humiao.proto import acl, signing
    from humiao.proto import humiao_v1_pb2 as pb

    from tests.support.devices import enroll_device

    cfg = HubConfig.model_validate(hub_cfg)
    fleet = fleet_ids(n)
    vt_code = {v: pb.VenueType.Value(f"VENUE_TYPE_{v.upper()}") for v in VENUE_TYPES}
    specs = []
    t0 = time.perf_counter()
    for i, (ids, vtype) in enumerate(fleet[:real]):  # as an operator does, one by one
        dev = enroll_device(cfg, broker, ids, venue_type=vtype)
        raw = dev.signer._private.private_bytes_raw()  # noqa: SLF001 - the device's own key, handed to its simulator
        specs.append((i, ids, raw, read_password(dev.identity.password_file), vt_code[vtype]))
    real_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    now = datetime.now(UTC)
    venues, keys, clients, roles_for = [], [], [], []
    for i, (ids, vtype) in enumerate(fleet[real:], start=real):
        private = Ed25519PrivateKey.generate()
        password = secrets.token_urlsafe(32)
        username = acl.device_username(*ids)
        venues.append({"id": ids[1], "name": f"{vtype} {ids[1]}", "venue_type": vtype, "district_id": ids[0]})
        venues[-1]["updated_at"] = now
        keys.append(
            {
                "key_id": signing.key_id(private.public_key()),
                "device_key": devices.device_key(*ids),
                "district_id": ids[0],
                "venue_id": ids[1],
                "device_id": ids[2],
                "public_key": signing.public_text(private.public_key()),
                "username": username,
                "enrolled_at": now,
                "enrolled_by": "fleet-bench",
            }
        )
        clients.append(dynsec_client_entry(username, password, [device_role(username)]))
        roles_for.append(ids)
        specs.append((i, ids, private.private_bytes_raw(), password, vt_code[vtype]))
    engine = make_engine(cfg.database_url())
    try:
        with sessions(engine)() as s, s.begin():
            for chunk in range(0, len(venues), 1000):
                s.execute(insert(Venue), venues[chunk : chunk + 1000])
                s.execute(insert(DeviceKey), keys[chunk : chunk + 1000])
    finally:
        engine.dispose()
    broker.stop()  # the broker's own saving of its identities first; then ours added to the file, then it starts
    config = json.loads(broker.dynsec.read_text())
    extra = dynsec_config(clients, cfg.mqtt.share_group, roles_for)
    config["clients"] += extra["clients"]
    hub_role_names = {r["rolename"] for r in config["roles"]}
    config["roles"] += [r for r in extra["roles"] if r["rolename"] not in hub_role_names]
    broker.dynsec.write_text(json.dumps(config))
    broker.start()
    bulk_s = time.perf_counter() - t1
    return specs, {
        "real_path_devices": real,
        "real_path_s_per_device": round(real_s / real, 3) if real else None,
        "bulk_devices": n - real,
        "bulk_s": round(bulk_s, 1),
        "how": "the first devices as an operator enrols them (device-made key and password, the hub's enrol, "
        "rights through the broker's dynamic-security API); the rest in bulk: own Ed25519 key and password, "
        "DeviceKey row, broker identity and role (proto/acl.py) written into the dynamic-security file",
    }


def trust_keys(hub_cfg: dict) -> tuple[str, bytes]:
    """The hub's signing key (text) and evidence key (raw), from the trust file the devices enrolled with."""
    from cryptography.hazmat.primitives import serialization

    from humiao.proto.enrolment import TrustFile

    trust = TrustFile.load(Path(hub_cfg["data_dir"]) / "hub-trust.json")
    raw = trust.evidence_public().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return trust.hub_signing_key, raw


def add_inspectors(db_url: str, districts: list[str]) -> None:
    from humiao.hub import auth
    from humiao.hub.db import make_engine, sessions

    engine = make_engine(db_url)
    try:
        with sessions(engine)() as s, s.begin():
            for d in districts:
                for dept in DEPARTMENTS:
                    auth.create_user(s, f"{dept}-{d}", PASSWORD, dept, d)
    finally:
        engine.dispose()


# -- watching --------------------------------------------------------------------------------------------------------
class AlarmWatch(threading.Thread):
    """Alarm rows as they become visible (polled every 50 ms): event id → (alarm id, wall time first seen)."""

    def __init__(self, db_url: str):
        super().__init__(daemon=True, name="alarm-watch")
        from sqlalchemy import create_engine

        self.engine = create_engine(db_url, pool_size=1)
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        from sqlalchemy import select

        from humiao.hub.tables import Alarm

        last = 0
        while not self.stop.is_set():
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(
                        select(Alarm.id, Alarm.event_id).where(Alarm.id > last).order_by(Alarm.id)
                    ).all()
            except Exception:  # noqa: BLE001 - the database is the one under test; try again
                rows = []
            now = time.time()
            for aid, eid in rows:
                self.seen.setdefault(eid, now)
                last = max(last, aid)
            self.stop.wait(0.05)
        self.engine.dispose()


class PanelFeed(threading.Thread):
    """A signed-in inspector's live feed (``/api/stream``): event id → wall time of its first ``alarm`` event."""

    def __init__(self, base_url: str, user: str):
        super().__init__(daemon=True, name=f"feed-{user}")
        import httpx

        self.client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=None))
        r = self.client.post("/api/login", json={"username": user, "password": PASSWORD})
        r.raise_for_status()
        # the session cookie is marked Secure: a browser sends it to 127.0.0.1 anyway, httpx only when told
        self.client.cookies.clear()
        self.client.headers["Cookie"] = r.headers["set-cookie"].split(";", 1)[0]
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.errors = 0
        self.last_error = ""
        self.events = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with self.client.stream("GET", "/api/stream") as r:
                    if r.status_code != 200:
                        raise RuntimeError(f"the feed answered {r.status_code}")
                    self.connected.set()
                    event = None
                    for line in r.iter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event == "alarm":
                            self.events += 1
                            eid = json.loads(line[5:])["event_id"]
                            self.seen.setdefault(eid, time.time())
                        elif not line:
                            event = None
                        if self.stop.is_set():
                            return
            except Exception as err:  # noqa: BLE001 - the worker went away (a kill): the panel reconnects
                self.errors += 1
                self.last_error = f"{type(err).__name__}: {err}"[:300]
                self.stop.wait(1)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):
            self.client.close()


class Sampler(threading.Thread):
    """RSS (MB) of the broker and each hub worker (whatever process is current) every ``every`` s, with the pid."""

    def __init__(self, procs, every: float, t0: float, metrics=None):
        super().__init__(daemon=True, name="rss-sampler")
        self.procs = procs  # callable: {name: pid}
        self.metrics = metrics or {}  # {worker name: its /metrics URL}: the ingest queue's depth
        self.every = every
        self.t0 = t0
        self.series: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            row: dict = {"t_s": round(time.time() - self.t0, 1)}
            for name, pid in self.procs().items():
                try:
                    row[name] = [pid, round(psutil.Process(pid).memory_info().rss / 2**20, 1)]
                except (psutil.Error, TypeError):
                    row[name] = [pid, None]
            pg = 0
            for p in psutil.process_iter(["name", "memory_info"]):
                if p.info["name"] == "postgres" and p.info["memory_info"] is not None:
                    pg += p.info["memory_info"].rss
            row["postgres_all"] = [None, round(pg / 2**20, 1)]
            for name, url in self.metrics.items():
                row[f"{name} queue"] = [None, queue_depth(url)]
            self.series.append(row)
            self.stop.wait(self.every)


def queue_depth(metrics_url: str) -> float | None:
    """A hub worker's ingest queue (received, not yet committed), from its /metrics; None when it does not answer."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=1) as r:
            text = r.read().decode()
        return next(float(x.split()[-1]) for x in text.splitlines() if x.startswith("humiao_hub_queue_depth"))
    except (OSError, StopIteration, ValueError):
        return None


def slopes(series: list[dict], names: list[str]) -> dict:
    """Per process name: the least-squares RSS slope (MB/min) over the longest life of one pid."""
    out = {}
    for name in names:
        lives: dict[int, list[tuple[float, float]]] = {}
        for row in series:
            pid, mb = row.get(name, [None, None])
            if pid is not None and mb is not None:
                lives.setdefault(pid, []).append((row["t_s"], mb))
        if not lives:
            continue
        pts = max(lives.values(), key=lambda v: v[-1][0] - v[0][0])
        span = pts[-1][0] - pts[0][0]
        slope = float(np.polyfit([t / 60 for t, _ in pts], [m for _, m in pts], 1)[0]) if len(pts) >= 3 else None
        out[name] = {
            "mb_per_min": None if slope is None else round(slope, 3),
            "minutes": round(span / 60, 2),
            "first_mb": pts[0][1],
            "last_mb": pts[-1][1],
            "lives": len(lives),
        }
    return out


def broker_connections(pid: int, port: int) -> int:
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return -1
    return sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


def table_sizes(engine) -> dict:
    from sqlalchemy import text

    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            size = conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar()
            rows = conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
            out[t] = {"bytes": int(size), "rows": int(rows)}
        out["_database"] = {"bytes": int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())}
        # what the hub kept aside, by its reason (and one example of each)
        out["_dead_letters"] = {
            reason: {"count": int(n), "example": str(detail)[:300]}
            for reason, n, detail in conn.execute(
                text("SELECT reason, count(*), min(detail) FROM dead_letters GROUP BY reason ORDER BY reason")
            )
        }
    return out


# -- the run ---------------------------------------------------------------------------------------------------------
class Run:
    def __init__(self, args, work: Path, db_url: str):
        self.args = args
        self.work = work
        self.db_url = db_url
        self.broker: Mosquitto | None = None
        self.hubs: list[HubProcess] = []
        self.hub_cfgs: list[dict] = []
        self.procs: list = []
        self.feeds: list[PanelFeed] = []
        self.watch: AlarmWatch | None = None
        self.sampler: Sampler | None = None
        self.reports: dict[int, dict] = {}
        self.finals: dict[int, dict] = {}
        self.restarts = {"broker_clean": 0, "broker_sigkill": 0, "worker_sigkill": 0}
        self.log: list[str] = []

    def say(self, what: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {what}"
        self.log.append(line)
        print(line, flush=True)

    def pump(self, timeout: float = 0.0) -> None:
        for kind, pid, body in drain(self.out, timeout):
            if kind == "error":
                raise RuntimeError(f"device process {pid} failed: {body}")
            (self.finals if kind == "final" else self.reports)[pid] = body

    def totals(self) -> dict:
        tot: dict = {"connected": 0, "unconfirmed": 0, "outbox": 0, "counts": {}}
        for r in self.reports.values():
            for k in ("connected", "unconfirmed", "outbox"):
                tot[k] += r[k]
            for k, v in r["counts"].items():
                tot["counts"][k] = tot["counts"].get(k, 0) + v
        return tot

    def wait(self, seconds: float, until=None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump(min(0.5, max(0.01, end - time.monotonic())))
            for p in self.procs:
                if p.exitcode not in (None, 0):
                    raise RuntimeError(f"device process {p.pid} exited with {p.exitcode}")
            if until is not None and until():
                return True
        return until is not None and until()

    def pids(self) -> dict:
        out = {"mosquitto": self.broker.proc.pid if self.broker and self.broker.proc else None}
        for h in self.hubs:
            out[h.config["mqtt"]["client_id"]] = h.proc.pid if h.proc else None
        return out

    def start_services(self) -> dict:
        a = self.args
        self.broker = Mosquitto(self.work / "mosquitto")
        with open(self.broker.conf, "a") as f:  # a listener setting: after the TLS listener's lines
            f.write(f"max_connections {max(10000, 2 * a.devices)}\n")
        self.broker.start()
        for w in range(a.workers):
            cfg = hub_config(self.work, self.db_url, self.broker.port, client_id=f"hub.w{w + 1}", broker=self.broker)
            cfg["ingest"] = {}  # production batching
            self.hub_cfgs.append(cfg)
        t0 = time.perf_counter()
        specs, enrol = enrol_fleet(a.devices, self.hub_cfgs[0], self.broker, min(a.real_enrolments, a.devices))
        self.say(f"{a.devices} devices enrolled in {time.perf_counter() - t0:.1f} s")
        self.districts = sorted({ids[0] for _i, ids, *_ in specs}, key=lambda d: int(d[1:]))
        add_inspectors(self.db_url, self.districts)
        self.hubs = [HubProcess(self.work / f"worker{w}", cfg) for w, cfg in enumerate(self.hub_cfgs)]
        self._start_hubs(self.hubs)  # started together: they import and connect side by side
        hub_public, evidence_public = trust_keys(self.hub_cfgs[0])
        lo, hi = (float(x) for x in a.check_delay.split(","))
        day_seconds = a.minutes * 60 if a.minutes > 0 else 86400
        ctx = mp.get_context("spawn")
        self.ctl = {"finish": ctx.Event(), "generate": ctx.Event(), "t0": ctx.Value("d", 0.0)}
        self.out = ctx.Queue()
        self.params = Params(
            host="127.0.0.1",
            port=self.broker.port,
            ca_file=str(self.broker.ca_file),
            hub_public=hub_public,
            evidence_public=evidence_public,
            fleet_devices=a.devices,
            alerts_per_device_day=a.alerts_per_device_day,
            day_factor=a.holiday_factor,
            day_seconds=day_seconds,
            start_hour=4.0,
            status_interval_s=a.status_interval,
            check_delay_s=(lo, hi),
            receipt_timeout_s=a.receipt_timeout,
        )
        n_gen = a.generators or max(1, min(4, -(-a.devices // 1500)))
        for g in range(n_gen):
            p = ctx.Process(
                target=run_process,
                args=(specs[g::n_gen], Params(**{**self.params.__dict__, "seed": g + 1}), self.ctl, self.out),
                name=f"fleet-devices-{g}",
                daemon=True,
            )
            p.start()
            self.procs.append(p)
        t0 = time.perf_counter()
        ok = self.wait(
            max(120, a.devices / 20),
            lambda: len(self.reports) == n_gen and self.totals()["connected"] == a.devices,
        )
        if not ok:
            raise RuntimeError(f"only {self.totals()['connected']} of {a.devices} devices connected")
        connect_s = time.perf_counter() - t0
        self.say(f"{a.devices} devices connected in {connect_s:.1f} s ({n_gen} processes)")
        return {**enrol, "connect_all_s": round(connect_s, 1), "generator_processes": n_gen}

    def _start_hubs(self, hubs: list[HubProcess]) -> None:
        import subprocess
        import sys

        from tests.support.services import ROOT

        for h in hubs:  # HubProcess.start, without waiting for one before starting the next
            with open(h.log, "ab") as out:
                h.proc = subprocess.Popen(
                    [sys.executable, "-m", "humiao.cli", "-v", "hub", "run", "--config", str(h.config_path)],
                    cwd=str(ROOT),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
        deadline = time.time() + 120
        for h in hubs:
            while "subscribed to" not in h.log.read_text(errors="replace"):
                if h.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"hub did not start: {h.log.read_text()[-2000:]}")
                time.sleep(0.1)

    def restart_worker(self, i: int) -> None:
        """SIGKILL, then (2 s later, as systemd's RestartSec) the same worker again."""
        self.hubs[i].kill()
        self.restarts["worker_sigkill"] += 1
        self.say(f"hub worker {self.hub_cfgs[i]['mqtt']['client_id']} killed (SIGKILL)")
        self.wait(2)
        n = self.restarts["worker_sigkill"]
        self.hubs[i] = HubProcess(self.work / f"worker{i}-restart{n}", self.hub_cfgs[i])
        self._start_hubs([self.hubs[i]])
        self.say("  … started again, subscribed")

    def restart_broker(self, hard: bool) -> None:
        if hard:
            self.broker.kill()
            self.restarts["broker_sigkill"] += 1
        else:  # systemctl restart: SIGTERM, Mosquitto saves its sessions and queues (TimeoutStopSec 60)
            self.broker.proc.terminate()
            self.broker.proc.wait(60)
            self.restarts["broker_clean"] += 1
        self.say(f"broker {'killed (SIGKILL)' if hard else 'stopped'}")
        self.wait(2)
        self.broker.start()
        self.say("  … started again")

    def run(self) -> dict:
        from sqlalchemy import create_engine

        a = self.args
        result: dict = {}
        result["file_limit"] = raise_file_limit()
        result["enrolment"] = self.start_services()
        engine = create_engine(self.db_url)
        self.watch = AlarmWatch(self.db_url)
        self.watch.start()
        base = f"http://127.0.0.1:{self.hub_cfgs[-1]['http']['port']}"  # the worker that is never killed
        self.feeds = [PanelFeed(base, f"{dept}-{d}") for d in self.districts for dept in DEPARTMENTS]
        for f in self.feeds:
            f.start()
        for f in self.feeds:
            f.connected.wait(20)
        # the connection storm (every device's birth and retained status, to every worker) absorbed first: the
        # load phase measures the fleet in its steady state
        metrics = {c["mqtt"]["client_id"]: f"http://127.0.0.1:{c['http']['port']}/metrics" for c in self.hub_cfgs}
        t_settle = time.monotonic()
        calm = 0
        while time.monotonic() - t_settle < 300 and calm < 2:
            self.wait(0.5)
            calm = calm + 1 if all(queue_depth(u) == 0 for u in metrics.values()) else 0
        result["enrolment"]["connection_storm_absorbed_s"] = round(time.monotonic() - t_settle, 1)
        self.say(
            f"the hub workers absorbed the connections' births and statuses in {time.monotonic() - t_settle:.0f} s"
        )
        sizes0 = table_sizes(engine)
        total_s = (a.minutes + a.soak_minutes) * 60
        t0 = time.time()
        self.sampler = Sampler(self.pids, max(1.0, min(5.0, total_s / 120)), t0, metrics)
        self.sampler.start()
        # -- load: the day walked through in --minutes
        meter = CpuMeter(
            {
                "hub_workers": [h.proc.pid for h in self.hubs],
                "mosquitto": [self.broker.proc.pid],
                "devices": [p.pid for p in self.procs],
                "benchmark": [os.getpid()],
            }
        )
        before = self.totals()["counts"]
        self.ctl["t0"].value = t0
        self.ctl["generate"].set()
        self.say(f"load: {a.minutes} min, the day from 04:00 compressed {86400 / (a.minutes * 60):.0f}×")
        held_min = a.devices
        end = time.monotonic() + a.minutes * 60
        while time.monotonic() < end:
            self.wait(min(5, end - time.monotonic()))
            held_min = min(held_min, self.totals()["connected"])
        load_end = time.time()
        cpu = meter.stop()
        held_broker = broker_connections(self.broker.proc.pid, self.broker.port)
        rss = {
            name: (psutil.Process(pid).memory_info().rss / 2**20 if pid else None) for name, pid in self.pids().items()
        }
        pg_rss = sum(
            p.info["memory_info"].rss
            for p in psutil.process_iter(["name", "memory_info"])
            if p.info["name"] == "postgres" and p.info["memory_info"]
        )
        gen_rss = sum(psutil.Process(p.pid).memory_info().rss for p in self.procs)
        load_counts = {k: v - before.get(k, 0) for k, v in self.totals()["counts"].items()}
        result["connections"] = {
            "devices": a.devices,
            "held_at_end_of_load_broker_tcp": held_broker,
            "held_at_end_of_load_devices": self.totals()["connected"],
            "min_held_during_load_devices": held_min,
            "hub_workers": a.workers,
        }
        result["processes_load"] = {
            "cpu_cores": cpu,
            "rss_mb": {
                **{k: round(v, 1) for k, v in rss.items() if v is not None},
                "postgres_all": round(pg_rss / 2**20, 1),
                "devices_all": round(gen_rss / 2**20, 1),
            },
        }
        self.say(f"load done: {load_counts.get('alert', 0)} alerts, {load_counts.get('status', 0)} statuses")
        # -- soak: the day goes on; the broker restarted, a worker killed
        soak_start = time.monotonic()
        kinds: list[tuple[str, bool]] = []  # broker, worker, broker …: the first broker restart clean, later ones hard
        b, w = a.broker_restarts, a.worker_kills
        while b or w:
            if b:
                kinds.append(("broker", b < a.broker_restarts or a.broker_restarts == 1))
                b -= 1
            if w:
                kinds.append(("worker", True))
                w -= 1
        plan = [((i + 1) / (len(kinds) + 1), kind, hard) for i, (kind, hard) in enumerate(kinds)]
        if a.soak_minutes > 0:
            self.say(f"soak: {a.soak_minutes} min; {', '.join(f'{k} at {s:.0%}' for s, k, _ in plan)}")
        for spot, kind, hard in plan:
            at = soak_start + spot * a.soak_minutes * 60
            self.wait(max(0.0, at - time.monotonic()))
            if kind == "broker":
                self.restart_broker(hard)
            else:
                self.restart_worker(0)
        self.wait(max(0.0, soak_start + a.soak_minutes * 60 - time.monotonic()))
        # -- drain: no new alerts; every device waits for its receipts
        self.ctl["generate"].clear()
        generated_until = time.time()
        t_drain = time.monotonic()
        drained = self.wait(
            a.drain_timeout, lambda: self.totals()["unconfirmed"] == 0 and self.totals()["connected"] == a.devices
        )
        drain_s = time.monotonic() - t_drain
        self.say(f"drained in {drain_s:.1f} s (unconfirmed {self.totals()['unconfirmed']})")
        t_end = time.monotonic()
        self.ctl["finish"].set()
        deadline = time.monotonic() + 60
        while len(self.finals) < len(self.procs) and time.monotonic() < deadline:
            self.pump(0.5)
        if len(self.finals) < len(self.procs):
            raise RuntimeError("a device process did not report")
        # every stored alert turned into an alarm (the rules' loop) before counting
        acked = {}
        for f in self.finals.values():
            for eid, pub, puback, receipt in f["alerts"]:
                if puback or receipt:
                    acked[eid] = (pub, puback, receipt)
        self.wait(60, lambda: sum(1 for e in acked if e in self.watch.seen) >= len(acked))
        time.sleep(1.5)  # the feeds' next polls
        self.sampler.stop.set()
        self.watch.stop.set()
        for f in self.feeds:
            f.close()
        sizes1 = table_sizes(engine)
        result.update(self.count(engine, acked))
        result["latency"] = self.latencies(acked, t0, load_end)
        result["latency"]["alert_to_alarm_parts"] = self.parts(engine, acked, load_end)
        total_counts = self.totals()["counts"]
        result["messages"] = {
            "load_phase": {k: load_counts.get(k, 0) for k in ("alert", "idcheck", "status", "birth", "evidence")},
            "whole_run": {k: v for k, v in total_counts.items() if v},
            "load_seconds": round(load_end - t0, 1),
            "status_per_s": round(load_counts.get("status", 0) / max(1, load_end - t0), 1),
            "alerts_per_s": round(load_counts.get("alert", 0) / max(1, load_end - t0), 2),
        }
        result["database"] = self.growth(sizes0, sizes1, total_counts)
        series = self.sampler.series
        names = ["mosquitto", *[c["mqtt"]["client_id"] for c in self.hub_cfgs]]
        result["soak"] = {
            "minutes": a.soak_minutes,
            "restarts": dict(self.restarts),
            "lost": result["delivery"]["lost"],
            "duplicated": result["delivery"]["duplicated"],
            "idchecks_lost": result["delivery"]["idchecks_lost"],
            "unconfirmed_at_end": self.totals()["unconfirmed"],
            "drain_s": round(drain_s, 1),
            "drained": drained,
            "generated_until_s": round(generated_until - t0, 1),
            "rss_slope": slopes(series, [*names, "postgres_all"]),
            "rss_series": [{"t_s": r["t_s"], **{k: v[1] for k, v in r.items() if k != "t_s"}} for r in series],
            "rss_series_pids": {n: sorted({r[n][0] for r in series if n in r and r[n][0]}) for n in names},
        }
        result["panel_feeds"] = {
            "inspectors": len(self.feeds),
            "reconnects": sum(f.errors for f in self.feeds),
            "alarm_events": sum(f.events for f in self.feeds),
            "last_error": next((f.last_error for f in self.feeds if f.last_error), ""),
            "worker": self.hub_cfgs[-1]["mqtt"]["client_id"],
        }
        self.say(f"counted in {time.monotonic() - t_end:.1f} s")
        result["events"] = self.log
        engine.dispose()
        return result

    def count(self, engine, acked: dict) -> dict:
        from sqlalchemy import func, select

        from humiao.hub.tables import Alarm, Alert, IdCheck

        checks = set()
        made = 0
        for f in self.finals.values():
            checks.update(f["checks"])
            made += len(f["alerts"])
        with engine.connect() as conn:
            alarm_ids = set(conn.execute(select(Alarm.event_id)).scalars())
            alarm_rows = conn.execute(select(func.count()).select_from(Alarm)).scalar()
            alert_rows = conn.execute(select(func.count()).select_from(Alert)).scalar()
            alert_ids = conn.execute(select(func.count(func.distinct(Alert.event_id)))).scalar()
            check_ids = set(conn.execute(select(IdCheck.check_id)).scalars())
            check_rows = conn.execute(select(func.count()).select_from(IdCheck)).scalar()
        lost = sorted(set(acked) - alarm_ids)
        return {
            "delivery": {
                "alerts_made": made,
                "alerts_acknowledged": len(acked),
                "alarms": len(alarm_ids),
                "lost": len(lost),
                "lost_examples": lost[:5],
                "duplicated": (alarm_rows - len(alarm_ids)) + (alert_rows - alert_ids),
                "not_from_the_fleet": len(alarm_ids - set(acked)),
                "idchecks_acknowledged": len(checks),
                "idchecks_stored": len(check_ids),
                "idchecks_lost": len(checks - check_ids),
                "idchecks_duplicated": check_rows - len(check_ids),
                "left_in_outboxes": {
                    k: sum(f["left_in_outbox"].get(k, 0) for f in self.finals.values())
                    for k in ("alert", "idcheck", "evidence", "birth")
                },
            }
        }

    def latencies(self, acked: dict, t0: float, load_end: float) -> dict:
        seen = self.watch.seen
        panel: dict[str, float] = {}
        for f in self.feeds:
            for eid, t in f.seen.items():
                panel[eid] = min(t, panel.get(eid, t))
        a2a, a2p, peak, soak = [], [], [], []
        missed = 0
        for eid, (pub, _puback, _receipt) in acked.items():
            if pub is None or eid not in seen:
                continue
            d = seen[eid] - pub
            if pub <= load_end:
                a2a.append(d)
                if 20 <= sim_hour(self.params, pub - t0) < 24:
                    peak.append(d)
                if eid in panel:
                    a2p.append(max(0.0, panel[eid] - seen[eid]))
                else:
                    missed += 1
            else:
                soak.append(d)
        return {
            "alert_to_alarm": summary(a2a),
            "alert_to_alarm_peak_20_24h": summary(peak),
            "alarm_to_panel": summary(a2p),
            "alarms_never_on_the_panel_feed": missed,
            "alert_to_alarm_soak_with_faults": summary(soak),
            "how": "alert: first publish at the device (wall clock) → alarm row first visible (polled every 50 ms); "
            "panel: alarm row visible → first `alarm` event for it on /api/stream of the signed-in "
            "inspectors of its district (police, culture & tourism, market regulation: each sees their department's "
            "alarms; the hub polls every 0.5 s); load phase only, unless named",
        }

    def parts(self, engine, acked: dict, load_end: float) -> dict:
        """Where alert → alarm goes (load phase): published → read off the broker by a worker (the broker and the
        worker's queue), → its batch committed, → the alarm row visible (the rules' round)."""
        from sqlalchemy import select

        from humiao.hub.tables import Alert

        ids = [e for e, (pub, _a, _r) in acked.items() if pub is not None and pub <= load_end and e in self.watch.seen]
        wire, batch, rules = [], [], []
        with engine.connect() as conn:
            for chunk in range(0, len(ids), 1000):
                rows = conn.execute(
                    select(Alert.event_id, Alert.received_at, Alert.stored_at).where(
                        Alert.event_id.in_(ids[chunk : chunk + 1000])
                    )
                ).all()
                for eid, received, stored in rows:
                    wire.append(received.timestamp() - acked[eid][0])
                    batch.append((stored - received).total_seconds())
                    rules.append(self.watch.seen[eid] - stored.timestamp())
        return {
            "published_to_received": summary(wire),
            "received_to_stored": summary(batch),
            "stored_to_alarm_visible": summary(rules),
        }

    def growth(self, s0: dict, s1: dict, counts: dict) -> dict:
        a = self.args
        delta = {t: {"bytes": s1[t]["bytes"] - s0[t]["bytes"], "rows": s1[t]["rows"] - s0[t]["rows"]} for t in TABLES}
        n_alerts = max(1, delta["alerts"]["rows"])
        n_checks = max(1, delta["id_checks"]["rows"])
        n_status = max(1, counts.get("status", 0))
        n_evidence = max(1, delta["evidence"]["rows"])
        per = {
            "alert": (delta["alerts"]["bytes"] + delta["alarms"]["bytes"] + delta["alarm_events"]["bytes"]) / n_alerts,
            "idcheck": delta["id_checks"]["bytes"] / n_checks,
            "evidence": (
                delta["evidence"]["bytes"]
                + delta["evidence_requests"]["bytes"]
                + delta["audit_events"]["bytes"]
                + delta["outbox"]["bytes"]
            )
            / n_evidence,
            "status": delta["devices"]["bytes"] / n_status,
        }
        minors_admitted = dict(ANSWERS)["minor_admitted"]

        def day(factor: float) -> dict:
            alerts = a.devices * a.alerts_per_device_day * factor
            n = {
                "alert": alerts,
                "idcheck": alerts,
                "evidence": alerts * minors_admitted,
                "status": a.devices * 86400 / a.status_interval,
            }
            b = {k: n[k] * per[k] for k in n}
            return {
                "messages": {k: round(v) for k, v in n.items()},
                "bytes": {k: round(v) for k, v in b.items()},
                "total_mb": round(sum(b.values()) / 2**20, 1),
                "total_mb_without_status": round((sum(b.values()) - b["status"]) / 2**20, 1),
            }

        return {
            "dead_letters_by_reason": s1["_dead_letters"],
            "tables_delta": delta,
            "database_delta_bytes": s1["_database"]["bytes"] - s0["_database"]["bytes"],
            "bytes_per_message": {k: round(v) for k, v in per.items()},
            "per_day_ordinary": day(1.0),
            "per_day_holiday": day(a.holiday_factor),
            "how": "pg_total_relation_size (tables, indexes, TOAST) before and after the run; an alert counts its "
            "alert, alarm and alarm-history rows; an ID check its row; a confirmed violation's crop its evidence, "
            "request and audit rows; a status is an update of its device's row: what it adds is dead tuples until "
            "autovacuum (bounded, not growth), reported apart. Extrapolated to the modelled day's counts",
        }

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ctl["finish"].set()
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join(5)
        for f in self.feeds:
            f.close()
        for obj in (self.watch, self.sampler):
            if obj is not None:
                obj.stop.set()
        self.say("closing: device processes stopped")
        for h in self.hubs:  # all stopped at once (each commits what it holds), then waited for
            if h.proc is not None and h.proc.poll() is None:
                h.proc.terminate()
        for h in self.hubs:  # the figures are taken: a worker slow to finish its streams is not waited for
            with contextlib.suppress(Exception):
                h.proc.wait(3)
            with contextlib.suppress(Exception):
                h.kill()
        self.say("closing: hub workers stopped")
        if self.broker is not None:
            with contextlib.suppress(Exception):
                self.broker.kill()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/fleet_load.json"))
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--minutes", type=float, default=2.0, help="load phase: the simulated day, compressed into it")
    ap.add_argument("--soak-minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2, help="hub workers")
    ap.add_argument("--generators", type=int, default=0, help="device processes (0: one per 1,500 devices, ≤ 4)")
    ap.add_argument("--alerts-per-device-day", type=float, default=30.0, help="an ordinary day's alerts per device")
    ap.add_argument("--holiday-factor", type=float, default=1.8, help="the simulated day's alerts vs an ordinary day")
    ap.add_argument("--status-interval", type=float, default=30.0, help="seconds between a device's statuses")
    ap.add_argument("--check-delay", default="20,90", help="seconds from an alert to its ID-check outcome: LO,HI")
    ap.add_argument("--receipt-timeout", type=float, default=30.0, help="the devices' receipt timeout (doubling)")
    ap.add_argument("--broker-restarts", type=int, default=2)
    ap.add_argument("--worker-kills", type=int, default=1)
    ap.add_argument("--real-enrolments", type=int, default=3, help="devices enrolled one by one as an operator does")
    ap.add_argument("--drain-timeout", type=float, default=180.0)
    ap.add_argument("--pg-url", default=os.environ.get("HUMIAO_TEST_PG_URL", PG_ADMIN_URL))
    args = ap.parse_args(argv)
    if args.devices < 1 or args.minutes <= 0 or args.soak_minutes < 0 or args.workers < 1:
        ap.error("--devices ≥ 1, --minutes > 0, --soak-minutes ≥ 0, --workers ≥ 1")
    if args.worker_kills and args.workers < 2:
        ap.error("--worker-kills needs --workers ≥ 2 (the panel's feed stays on the last worker)")
    load_before = os.getloadavg()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp, scratch_database(args.pg_url, "humiao_fleet") as url:
        run = Run(args, Path(tmp), url)
        try:
            result = run.run()
        finally:
            run.close()
    out = {
        "what": "a fleet of edge devices through Mosquitto into the hub on PostgreSQL: a compressed day, then a soak",
        "devices": args.devices,
        "hub_workers": args.workers,
        "minutes": args.minutes,
        "soak_minutes": args.soak_minutes,
        "model": {
            "hourly_weights": list(HOURLY),
            "peak_hour": 22,
            "peak_over_mean": round(max(HOURLY) / MEAN_HOURLY, 2),
            "alerts_per_device_day": args.alerts_per_device_day,
            "holiday_factor": args.holiday_factor,
            "compression": round(86400 / (args.minutes * 60)),
            "day_starts_at_hour": 4,
            "fleet_alerts_per_s_mean": round(
                args.devices * args.alerts_per_device_day * args.holiday_factor / 86400, 2
            ),
            "fleet_alerts_per_s_peak": round(rate_at(run.params, (22 - 4 + 0.5) / 24 * run.params.day_seconds), 2),
            "status_interval_s": args.status_interval,
            "check_delay_s": args.check_delay,
            "answers": dict(ANSWERS),
            "receipt_timeout_s": args.receipt_timeout,
        },
        **result,
        "wall_s": round(time.time() - started, 1),
        "machine": machine(loadavg_before=[round(x, 2) for x in load_before]),
        "targets": {"lost": 0, "duplicated": 0},
    }
    print(f"[{time.strftime('%H:%M:%S')}] services stopped, scratch database dropped", flush=True)
    write_json(args.json, out, echo=False)
    brief = {k: out[k] for k in ("devices", "connections", "latency") if k in out}
    print(json.dumps({**brief, "soak": {k: v for k, v in out["soak"].items() if k != "rss_series"}}, indent=1))
    return 0 if out["soak"]["lost"] == 0 and out["soak"]["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
