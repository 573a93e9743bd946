"""Hub ingest throughput, security on: alerts/s sustained through Mosquitto (TLS, a password and
ACL per identity) into SQLite and into PostgreSQL, every alert signed by its device and verified by
the hub; and what a signature costs on either side.

    python -m benchmarks.hub_ingest --json OUT.json [--alerts 30000] [--devices 50] [--generators 1]
                                    [--runs sqlite:1,postgresql:2,postgresql:1] [--presign]
                                    [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Per run (``store:workers``): a private Mosquitto on a free loopback port, secured as in production
(tests/support/services.py: TLS, dynamic security, client id = user name); ``--devices`` simulated
edges (``bench/venue<i>/edge<i>``) enrolled as a real one is (tests/support/devices.py: its own
Ed25519 key, broker identity and rights, the key registered at the hub) BEFORE the hub starts; then
that many hub workers (identities hub.w1…), each its own process (``humiao hub run``, the
production path: verify each signature against the enrolled keys, manual PUBACK after each
committed batch) sharing the ``$share/hub/...`` subscription and the one data directory the devices
were enrolled against. The load generator (``--generators`` processes, devices split among them)
opens one TLS connection per device as that device and publishes valid alerts with QoS 1, each
signed with the device's key at publish time (as an edge signs when it sends; ``--presign`` signs
them all before the clock starts instead; ``generator_sign_us_per_alert`` is the generator's wall time
for it, inflated when the cores are busy), at most ``--window`` unacknowledged at a time over all
devices and processes. The clock runs from the first publish to the moment the last alert is
committed (polled from the database). Reported: alerts_per_s, sent, stored (distinct event ids),
lost (sent − stored; must be 0), duplicates (rows beyond distinct ids; must be 0, the unique
constraint), redeliveries the hub absorbed (its counters), messages the hub kept aside (its dead
letters: must be 0), when the hub's rules had turned every stored alert into an alarm (one worker at
a time evaluates them), and the CPU each party used while the clock ran (``cpu``: cores busy, that
is CPU seconds / elapsed; ``idle`` is the machine's idle cores, ``iowait`` idle while waiting for the
disk, ``others`` what the rest of the machine used) to tell whether the hub, the broker, the database
or the generator set the pace. PostgreSQL gets a fresh database per run, dropped afterwards.

``signature_cost`` (measured once, no broker): per message of alert size, over ``--sig-messages``
messages, median and p95 µs of the device's ``Signer.sign`` (signing input, Ed25519, envelope) and
of the hub's side: ``unwrap``, ``verify`` and the hub verifier's whole ``Verifier.check`` (topic,
enrolled key lookup in a ``KeyRing`` over a SQLite hub database, time window, signature, body
decode).

JSON keys: the first run of a store under the store's name (``sqlite``, ``postgresql``), further
runs of it as ``<store>_<N>_worker(s)``. The default runs the embedded SQLite with its one worker,
PostgreSQL as deployed for load (two workers on this 2-core box) and, for comparison, PostgreSQL
with one worker.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import queue
import selectors
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from sqlalchemy import create_engine, func, select

from humiao.hub.tables import Alarm, Alert
from humiao.proto import humiao_v1_pb2 as pb

from benchmarks.report import machine, write_json
from tests.support.services import PG_ADMIN_URL, HubProcess, Mosquitto, hub_config, sample_alert, scratch_database

SIGNING_NOTE = "each alert signed by its device's Ed25519 key in the load generator at publish time (timed)"
PRESIGNED_NOTE = "each alert signed by its device's Ed25519 key before the clock starts (signing not timed)"


def device_ids(i: int) -> tuple[str, str, str]:
    return ("bench", f"venue{i}", f"edge{i}")


def alert_body(ids: tuple[str, str, str], track_id: int) -> tuple[str, bytes, str]:
    """(topic, unsigned body, event id) of an alert the size an edge sends (ensemble: two models, calibration)."""
    t, body, eid = sample_alert(ids, venue_type=pb.VENUE_TYPE_KTV, track_id=track_id, policy_version="bench")
    msg = pb.Alert.FromString(body)
    msg.models.append(pb.ModelRef(id="faceapi-agegender", graph_sha256="1" * 64))
    msg.calibration = "ensemble/default"
    return t, msg.SerializeToString(), eid


# -- load generator (its own process) ----------------------------------------------------------


def _generate(
    devices: list[tuple[int, tuple[str, str, str], object, int]],
    n_total: int,
    n_devices: int,
    window,
    ready,
    go,
    results,
    presign: bool,
) -> None:
    """Publish every alert of ``devices`` (index, ids, edge config, broker port): one TLS client per
    device, all driven by this one thread (no paho loop threads: one process, one GIL, one select)."""
    from humiao.edge.identity import DeviceIdentity

    from tests.support.devices import TestDevice

    try:
        sel = selectors.DefaultSelector()
        clients = []
        acked = [0]

        progress = [time.monotonic()]

        def on_publish(*_args) -> None:
            window.release()
            acked[0] += 1
            progress[0] = time.monotonic()

        work = []  # (client index, topic, body or signed payload, event id), round robin over devices
        signers = []
        for _i, ids, edge_cfg, port in devices:
            dev = TestDevice(ids, DeviceIdentity.load(edge_cfg), edge_cfg, port)
            signers.append(dev.signer)
            c = dev.client(connect=False)
            # the window is kept here; paho's own limit would rescan its whole outbox on every PUBACK
            c.max_inflight_messages_set(0)
            c.on_publish = on_publish
            c.connect("127.0.0.1", port)
            sel.register(c.socket(), selectors.EVENT_READ, c)
            clients.append(c)
        per_device = [list(range(i, n_total, n_devices)) for i, *_ in devices]
        for j in range(max((len(p) for p in per_device), default=0)):
            for k, track_ids in enumerate(per_device):
                if j < len(track_ids):
                    t, body, eid = alert_body(devices[k][1], track_ids[j])
                    work.append((k, t, signers[k].sign(t, eid, body) if presign else body, eid))

        def service(timeout: float) -> None:
            for key, _ in sel.select(timeout):
                key.data.loop_read()
            for c in clients:
                if c.want_write():
                    c.loop_write()
            if acked[0] < len(work) and time.monotonic() - progress[0] > 60:
                down = sum(not c.is_connected() for c in clients)
                raise RuntimeError(f"no PUBACK for 60 s ({acked[0]} of {len(work)} acknowledged, {down} devices down)")

        deadline = progress[0] = time.monotonic() + 30
        while not all(c.is_connected() for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("devices could not connect to the broker")
            service(0.05)
        ready.put(os.getpid())
        go.wait()
        first = progress[0] = time.monotonic()
        sign_s = 0.0
        last_misc = first
        for n, (k, t, body, eid) in enumerate(work):
            while not window.acquire(False):
                service(0.002)
            if presign:
                payload = body
            else:
                t0 = time.perf_counter()
                payload = signers[k].sign(t, eid, body)
                sign_s += time.perf_counter() - t0
            clients[k].publish(t, payload, qos=1)
            if n % 64 == 63:
                service(0)
                now = time.monotonic()
                if now - last_misc > 1:
                    for c in clients:
                        c.loop_misc()
                    last_misc = now
        while acked[0] < len(work):
            service(0.01)
        last_ack = time.monotonic()
        for c in clients:
            c.disconnect()
            c.loop_write()
        results.put({"sent": len(work), "first": first, "last_ack": last_ack, "sign_s": sign_s})
    except BaseException as err:  # the parent must not wait for a generator that died
        results.put({"error": f"{type(err).__name__}: {err}"})
        raise


class Generators:
    """``count`` generator processes sharing one window of unacknowledged publishes (a semaphore)."""

    def __init__(self, devices, n: int, window: int, count: int, presign: bool):
        ctx = mp.get_context("spawn")  # a fresh interpreter: no threads or connections of ours inherited
        self.window = ctx.BoundedSemaphore(window)
        self.ready, self.results, self.go = ctx.Queue(), ctx.Queue(), ctx.Event()
        count = max(1, min(count, len(devices)))
        self.procs = [
            ctx.Process(
                target=_generate,
                args=(devices[g::count], n, len(devices), self.window, self.ready, self.go, self.results, presign),
                name=f"bench-load-{g}",
                daemon=True,
            )
            for g in range(count)
        ]

    def start(self, timeout: float = 120) -> list[int]:
        """Start them; once every device is connected, their pids."""
        for p in self.procs:
            p.start()
        pids = []
        deadline = time.monotonic() + timeout
        while len(pids) < len(self.procs):
            try:
                pids.append(self.ready.get(timeout=1))
            except queue.Empty:
                if time.monotonic() > deadline or any(p.exitcode not in (None, 0) for p in self.procs):
                    raise RuntimeError(f"load generator did not get ready: {self._errors()}") from None
        return pids

    def _errors(self) -> list:
        out = []
        while True:
            try:
                out.append(self.results.get_nowait())
            except queue.Empty:
                return out

    def finish(self, timeout: float = 600) -> list[dict]:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < len(self.procs):
            r = self.results.get(timeout=max(1, deadline - time.monotonic()))
            if "error" in r:
                raise RuntimeError(f"load generator failed: {r['error']}")
            out.append(r)
        for p in self.procs:
            p.join(10)
        return out

    def kill(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.kill()
                p.join(5)


# -- measuring -----------------------------------------------------------------------------------


def hub_counter(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return sum(float(line.split()[-1]) for line in body.splitlines() if line.startswith((name + " ", name + "{")))


class CpuMeter:
    """CPU seconds of named groups of processes, and the machine's idle time, between two readings."""

    def __init__(self, groups: dict[str, list[int]]):
        self.procs: dict[str, list[psutil.Process]] = {}
        for name, pids in groups.items():
            self.procs[name] = []
            for pid in pids:
                with contextlib.suppress(psutil.NoSuchProcess):
                    self.procs[name].append(psutil.Process(pid))
        self.procs["postgres"] = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]
        self.start = self._read()

    def _read(self) -> dict:
        t = psutil.cpu_times()
        out: dict = {"wall": time.monotonic(), "idle": t.idle, "iowait": getattr(t, "iowait", 0.0)}
        for name, procs in self.procs.items():
            out[name] = []
            for p in procs:
                try:
                    t = p.cpu_times()
                    out[name].append(t.user + t.system)
                except psutil.NoSuchProcess:
                    out[name].append(None)
        return out

    def stop(self) -> dict:
        """Cores busy (CPU s / elapsed s) per group (per process for the hub workers), and idle."""
        known = {p.pid for p in self.procs["postgres"]}
        born = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres" and p.pid not in known]
        self.procs["postgres"] += born  # connections opened while the clock ran: all their time is in it
        self.start["postgres"] += [0.0] * len(born)
        end = self._read()
        wall = end["wall"] - self.start["wall"]
        cores: dict = {"elapsed_s": round(wall, 2)}
        for k in ("idle", "iowait"):
            cores[k] = round((end[k] - self.start[k]) / wall, 2)
        for name in self.procs:
            used = [
                (b - a) / wall
                for a, b in zip(self.start[name], end[name], strict=True)
                if a is not None and b is not None
            ]
            cores[name] = [round(u, 2) for u in used] if name == "hub_workers" else round(sum(used), 2)
        groups = [v for k, v in cores.items() if k not in ("elapsed_s", "idle", "iowait")]
        ours = sum(sum(v) if isinstance(v, list) else v for v in groups)
        idle = cores["idle"] + cores["iowait"]
        cores["others"] = round(max(0.0, (psutil.cpu_count() or 1) - idle - ours), 2)  # not this benchmark's
        return cores


def quantiles_us(ns: list[int]) -> dict:
    us = sorted(v / 1000 for v in ns)
    return {"median": round(statistics.median(us), 1), "p95": round(us[int(0.95 * (len(us) - 1))], 1)}


def signature_cost(n: int, workdir: Path) -> dict:
    """µs per alert-sized message: the device signing it, the hub unwrapping, verifying and checking it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from humiao.hub.config import HubConfig
    from humiao.hub.db import make_engine, sessions
    from humiao.hub.devices import KeyRing
    from humiao.hub.verify import Verifier
    from humiao.proto import signing

    from tests.support.devices import enroll_device

    cfg = HubConfig(data_dir=workdir / "hub")
    device = enroll_device(cfg, None, device_ids(0))
    engine = make_engine(cfg.database_url())
    try:
        verifier = Verifier(KeyRing(sessions(engine), cfg.security.key_refresh_s), cfg.security)
        bodies = [alert_body(device.ids, i) for i in range(n)]
        warm = 200
        for t, body, eid in bodies[:warm]:  # warm up (imports, the key ring's first read)
            verifier.check(t, device.sign(t, body, eid))
        clock = time.perf_counter_ns
        sign, unwrap, verify, check, payloads = [], [], [], [], []
        for t, body, eid in bodies:
            t0 = clock()
            p = device.signer.sign(t, eid, body)
            sign.append(clock() - t0)
            payloads.append(p)
        public = device.signer.public
        for (t, _body, _eid), p in zip(bodies, payloads, strict=True):
            t0 = clock()
            env = signing.unwrap(p)
            t1 = clock()
            signing.verify(env, t, public)
            t2 = clock()
            unwrap.append(t1 - t0)
            verify.append(t2 - t1)
        for (t, _body, _eid), p in zip(bodies, payloads, strict=True):
            t0 = clock()
            verifier.check(t, p)
            check.append(clock() - t0)
        raw_key = Ed25519PrivateKey.generate()
        raw_pub, data = raw_key.public_key(), os.urandom(200)
        raw_sign, raw_verify = [], []
        for _ in range(n):
            t0 = clock()
            s = raw_key.sign(data)
            t1 = clock()
            raw_pub.verify(s, data)
            t2 = clock()
            raw_sign.append(t1 - t0)
            raw_verify.append(t2 - t1)
        return {
            "messages": n,
            "body_bytes": round(statistics.mean(len(b) for _t, b, _e in bodies)),
            "signed_payload_bytes": round(statistics.mean(len(p) for p in payloads)),
            "device_sign_us": quantiles_us(sign),
            "hub_unwrap_us": quantiles_us(unwrap),
            "hub_verify_us": quantiles_us(verify),
            "hub_check_us": quantiles_us(check),
            "ed25519_alone_us": {"sign": quantiles_us(raw_sign), "verify": quantiles_us(raw_verify)},
            "what": "Signer.sign (device); signing.unwrap, signing.verify and Verifier.check (topic, KeyRing "
            "lookup over a SQLite hub DB, time window, Ed25519 verify, Alert decode) at the hub; one core, "
            "one message at a time; ed25519_alone: cryptography's sign/verify of 200 bytes",
        }
    finally:
        engine.dispose()


# -- a run -----------------------------------------------------------------------------------------


def run_store(
    store: str,
    url: str,
    n: int,
    devices: int,
    window: int,
    workdir: Path,
    workers: int = 1,
    generators: int = 1,
    presign: bool = False,
) -> dict:
    from tests.support.devices import enroll_device

    broker = Mosquitto(workdir / "mosquitto").start()
    hubs: list[HubProcess] = []
    gen: Generators | None = None
    engine = create_engine(url)
    try:
        # workers share the subscription and, as in production, one data dir: the one devices enrol against
        configs = []
        for w in range(workers):
            cfg = hub_config(workdir, url, broker.port, client_id=f"hub.w{w + 1}", broker=broker)
            cfg["ingest"] = {}  # production batching
            configs.append(cfg)
        t0 = time.perf_counter()
        enrolled = [enroll_device(configs[0], broker, device_ids(i)) for i in range(devices)]
        enrol_s = time.perf_counter() - t0
        hubs = [HubProcess(workdir / f"worker{w}", cfg) for w, cfg in enumerate(configs)]
        for hub in hubs:
            hub.start()
        gen = Generators(
            [(i, d.ids, d.edge_config, broker.port) for i, d in enumerate(enrolled)], n, window, generators, presign
        )
        gen_pids = gen.start()
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
        meter = CpuMeter(
            {
                "hub_workers": [h.proc.pid for h in hubs],
                "mosquitto": [broker.proc.pid],
                "generator": gen_pids,
                "benchmark": [os.getpid()],
            }
        )
        gen.go.set()
        with engine.connect() as conn:
            stored = 0
            last_change, last = time.perf_counter(), -1
            while stored < n and time.perf_counter() - last_change < 30:
                stored = conn.execute(select(func.count()).select_from(Alert)).scalar()
                if stored != last:
                    last, last_change = stored, time.perf_counter()
                time.sleep(0.02)
            done = time.monotonic()
            cpu = meter.stop()
            published = gen.finish()
            start = min(r["first"] for r in published)
            distinct = conn.execute(select(func.count(func.distinct(Alert.event_id)))).scalar()
            rows = conn.execute(select(func.count()).select_from(Alert)).scalar()
            raised = 0  # the hub's rules keep up? time until every alert is an alarm
            while time.monotonic() - done < 120:
                raised = conn.execute(select(func.count()).select_from(Alarm)).scalar()
                if raised >= distinct:
                    break
                time.sleep(0.05)
            alarms_done = time.monotonic()
        redelivered = sum(hub_counter(h.config["http"]["port"], "humiao_hub_duplicates_total") for h in hubs)
        dead = sum(hub_counter(h.config["http"]["port"], "humiao_hub_dead_letters_total") for h in hubs)
        elapsed = done - start
        sent = sum(r["sent"] for r in published)
        sign_s = sum(r["sign_s"] for r in published)
        return {
            "alerts_per_s": round(distinct / elapsed, 1),
            "sent": sent,
            "stored": distinct,
            "lost": sent - distinct,
            "duplicates": rows - distinct,
            "redeliveries_absorbed": int(redelivered),
            "dead_letters": int(dead),
            "seconds": round(elapsed, 2),
            "alarms_raised": raised,
            "alarms_done_seconds": round(alarms_done - start, 2),
            "publish_seconds": round(max(r["last_ack"] for r in published) - start, 2),
            "devices": devices,
            "window": window,
            "hub_workers": workers,
            "generator_processes": len(published),
            "signing": PRESIGNED_NOTE if presign else SIGNING_NOTE,
            "generator_sign_us_per_alert": None if presign else round(sign_s / sent * 1e6, 1),
            "hub_cpu_us_per_alert": round(sum(cpu["hub_workers"]) * cpu["elapsed_s"] / max(distinct, 1) * 1e6, 1),
            "cpu": cpu,
            "enrol_seconds": round(enrol_s, 1),
            "security": {"tls": True, "signatures": True, "acl": True},
        }
    finally:
        if gen is not None:
            gen.kill()
        for hub in hubs:
            hub.stop()
        engine.dispose()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--alerts", type=int, default=30000)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--window", type=int, default=2000, help="unacknowledged publishes at most, over all devices")
    ap.add_argument("--generators", type=int, default=1, help="load generator processes (devices split among them)")
    ap.add_argument("--presign", action="store_true", help="sign every alert before the clock starts")
    ap.add_argument("--sig-messages", type=int, default=10000, help="messages for signature_cost (0: skip)")
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
    for spec in filter(None, (s.strip() for s in args.runs.split(","))):
        store, _, workers = spec.partition(":")
        workers = workers or "1"
        if store not in ("sqlite", "postgresql") or not workers.isdigit() or not 1 <= int(workers) <= 4:
            ap.error(f"--runs: {spec!r} is not store:workers (store sqlite or postgresql, 1 to 4 workers)")
        runs.append((store, int(workers)))

    results: dict = {}
    if args.sig_messages:
        with tempfile.TemporaryDirectory() as tmp:
            results["signature_cost"] = signature_cost(args.sig_messages, Path(tmp))
        print("signature_cost", results["signature_cost"], flush=True)
    for store, workers in runs:
        key = store if store not in results else f"{store}_{workers}_worker" + ("s" if workers > 1 else "")
        opts = (args.alerts, args.devices, args.window)
        more = {"workers": workers, "generators": args.generators, "presign": args.presign}
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if store == "sqlite":
                results[key] = run_store(store, f"sqlite:///{work / 'hub.db'}", *opts, work, **more)
            else:
                with scratch_database(args.pg_url, "humiao_bench") as url:
                    results[key] = run_store(store, url, *opts, work, **more)
            print(key, results[key], flush=True)
    results["security"] = {"tls": True, "signatures": True, "acl": True}
    results["machine"] = machine()
    results["targets"] = {"postgresql_alerts_per_s": 5000, "sqlite_alerts_per_s": 1000, "lost": 0, "duplicates": 0}
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
