"""Several hub workers: one ingest worker (broker, rules, outbox) and two web workers (API and panel) as
real processes on one database, nginx in front with deploy/nginx/humiao-hub.conf (TLS, round robin, the
live feed unbuffered). A session made on one web worker holds on the other; an alarm the ingest worker
raises from a device's alert reaches a live feed served by the other web worker; an evidence request
asked through a web worker (no broker connection) goes through the outbox to the ingest worker, which
publishes it to the device. And, without processes: the feed's race (a change committed late, with an
``updated_at`` behind the feed's cursor, is still sent, once), the web worker's outbox and the ingest
worker's routes."""

from __future__ import annotations

import getpass
import json
import os
import queue
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from humiao.hub import auth
from humiao.hub.api_alarms import FEED_LATE_S, Feed
from humiao.hub.app import Hub
from humiao.hub.config import HubConfig
from humiao.hub.db import make_engine, migrate, sessions
from humiao.hub.tables import Alarm, Outbox
from humiao.proto import humiao_v1_pb2 as pb

from tests.support.devices import enroll_device
from tests.support.hubapi import PASSWORD, Browser, make_hub, seed
from tests.support.hubproc import wait_for
from tests.support.services import ROOT, free_port, hub_config, sample_alert

NGINX_CONF = ROOT / "deploy" / "nginx" / "humiao-hub.conf"


# -- the feed's race, in this process ---------------------------------------------------------------------


def test_feed_sends_a_change_committed_late_exactly_once(tmp_path):
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    ids = seed(hub)
    a, b, c = ids["ktv1"], ids["hotel1"], ids["ktv9"]
    t0 = datetime.now(UTC) + timedelta(seconds=1)  # the seeded alarms are the client's (its list)

    def touch(alarm_id: int, at: datetime) -> None:  # a change committed now, stamped ``at``
        with hub.sessions() as s, s.begin():
            s.execute(update(Alarm).where(Alarm.id == alarm_id).values(updated_at=at))

    feed = Feed(t0)

    def poll() -> list[int]:
        with hub.sessions() as s:
            return [alarm.id for alarm, _alert, _venue in feed.poll(s)]

    try:
        assert poll() == []  # what the client has is not sent again
        touch(a, t0 + timedelta(seconds=2))
        assert poll() == [a]
        touch(b, t0 + timedelta(seconds=4))
        assert poll() == [b]  # the cursor is at t0 + 4 s now
        touch(c, t0 + timedelta(seconds=3))  # stamped before the cursor, committed after: a late commit
        assert poll() == [c]  # a feed reading only ahead of its cursor never sends it
        assert poll() == []  # once
        touch(a, t0 + timedelta(seconds=3.5))  # a new version of a row already sent, late as well
        assert poll() == [a]
        assert poll() == []
        touch(b, t0 + timedelta(seconds=5))
        touch(c, t0 + timedelta(seconds=5))  # two rows at the same instant: by id
        assert poll() == sorted([b, c])
        touch(a, t0 + timedelta(seconds=5) - timedelta(seconds=FEED_LATE_S + 1))  # beyond the window: the bound
        assert poll() == []
    finally:
        hub.stop()


def test_web_worker_leaves_hub_messages_in_the_outbox_and_ingest_serves_probes_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    web = Hub(HubConfig(data_dir=tmp_path / "hub", database={"url": url}, role="web", http={"worker_name": "w-a"}))
    try:
        assert web.start() is web and not web._rules.is_alive() and not web._outbox.is_alive()
        web.publish("humiao/v1/d1/v1/e1/evidence_request", "m-1", b"body")
        with web.sessions() as s:
            row = s.scalars(select(Outbox)).one()
            assert (row.topic, row.message_id, row.body) == ("humiao/v1/d1/v1/e1/evidence_request", "m-1", b"body")
        r = Browser(web).get("/readyz")
        assert r.status_code == 200 and r.headers["x-humiao-worker"] == "w-a"
        # no broker session, and the probes say so rather than claim one
        assert r.json() == {"ready": True, "role": "web", "database": True, "broker_connected": None, "not_ready": []}
        assert Browser(web).get("/healthz").json() == {"ok": True, "role": "web", "broker_connected": None}
        assert Browser(web).get("/panel").status_code == 200
    finally:
        web.stop()
    ingest = Hub(HubConfig(data_dir=tmp_path / "hub", database={"url": url}, role="ingest"))
    try:
        client = Browser(ingest)
        assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200
        assert "x-humiao-worker" not in client.get("/healthz").headers
        for path in ("/panel", "/api/alarms", "/api/stream", "/"):
            assert client.get(path).status_code == 404, path
    finally:
        ingest.stop()


# -- real processes behind nginx ---------------------------------------------------------------------------


class Worker:
    """``humiao hub run --role ROLE`` in its own process."""

    def __init__(self, workdir: Path, config: dict, role: str, name: str):
        self.port = free_port()
        cfg = {**config, "role": role, "http": {"port": self.port, "worker_name": name}}
        self.config = workdir / f"hub-{name}.yaml"
        self.config.write_text(yaml.safe_dump(cfg))
        self.log = workdir / f"hub-{name}.log"
        self.name = name
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "humiao.cli", "-v", "hub", "run", "--config", str(self.config)],
                cwd=str(ROOT),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait(self, ready: str | None = None, timeout: float = 30) -> Worker:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            if ready is not None and ready in self.log.read_text():
                return self
            if ready is None:
                try:
                    if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def nginx_in_front(tmp: Path, upstreams: list[int]) -> tuple[subprocess.Popen, int, Path]:
    """nginx running deploy/nginx/humiao-hub.conf (the workers' ports, a free port, a certificate of our
    own) as the current user with its pid, logs and temporary files in ``tmp``: (process, port, CA)."""
    exe = _nginx()
    tmp.mkdir(parents=True, exist_ok=True)
    cert, key = _certificate(tmp)
    port = free_port()
    site = NGINX_CONF.read_text()
    site = re.sub(r"upstream humiao_hub_web \{.*?\n\}", "", site, flags=re.S)  # ours below
    site = re.sub(r"server \{\n    listen 80;.*?\n\}\n", "", site, flags=re.S)  # no redirect from port 80
    site = re.sub(r"\n    listen \[::\]:443 ssl http2;", "", site)
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    site = site.replace("/etc/ssl/humiao/hub.crt", str(cert)).replace("/etc/ssl/humiao/hub.key", str(key))
    assert str(cert) in site and f"127.0.0.1:{port}" in site and "proxy_buffering off" in site
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in upstreams)
    (tmp / "humiao-hub.conf").write_text(f"upstream humiao_hub_web {{\n{servers}    keepalive 8;\n}}\n{site}")
    temps = "".join(
        f"    {what}_temp_path {tmp}/{what};\n" for what in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp / "nginx.conf").write_text(
        f"user {getpass.getuser()};\nworker_processes 1;\ndaemon off;\npid {tmp}/nginx.pid;\n"
        f"error_log {tmp}/error.log warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log {tmp}/access.log;\n{temps}    include {tmp}/humiao-hub.conf;\n}}\n"
    )
    proc = subprocess.Popen(
        [exe, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(tmp / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {(tmp / 'error.log').read_text(errors='replace')[-1500:]}")
        try:
            trust = ssl.create_default_context(cafile=str(cert))
            httpx.get(f"https://127.0.0.1:{port}/healthz", verify=trust, timeout=1)
            return proc, port, cert
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("nginx did not start listening")


def _nginx() -> str:
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("nginx is not installed (apt-get install -y nginx)")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    return exe


def _certificate(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "hub.crt", tmp / "hub.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.services
def test_the_shipped_nginx_site_passes_nginx_t_as_it_is(tmp_path):
    """deploy/nginx/humiao-hub.conf in an http{} context, only the certificate's paths replaced."""
    exe = _nginx()
    cert, key = _certificate(tmp_path)
    site = (
        NGINX_CONF.read_text()
        .replace("/etc/ssl/humiao/hub.crt", str(cert))
        .replace("/etc/ssl/humiao/hub.key", str(key))
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run(
        [exe, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def outbox_rows(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with Session(engine) as s:
            return s.scalar(select(func.count()).select_from(Outbox)) or 0
    finally:
        engine.dispose()


def read_events(response: httpx.Response, into: queue.Queue) -> None:
    """Each server-sent event's (event, data) into ``into``, until the stream ends."""
    event, data = "message", []
    try:
        for line in response.iter_lines():
            if line == "":
                if data:
                    into.put((event, "\n".join(data)))
                event, data = "message", []
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
    except httpx.HTTPError:
        pass
    into.put(("<end>", ""))


@pytest.mark.services
@pytest.mark.slow
def test_web_workers_behind_nginx_share_sessions_feed_and_outbox(broker, tmp_path):
    db_url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = hub_config(tmp_path, db_url, broker.port, broker=broker)
    device = enroll_device(config, broker)  # the database made, the venue d1/venue1 (an internet café)
    engine = make_engine(db_url)
    migrate(engine)
    with sessions(engine)() as s, s.begin():
        auth.create_user(s, "ct-d1", PASSWORD, "culture_tourism", "d1")
    edge = device.client()
    asked: queue.Queue = queue.Queue()
    edge.on_message = lambda _c, _u, msg: asked.put((msg.topic, msg.payload))
    edge.subscribe(device.topic("evidence_request"), qos=1)

    workers: list[Worker] = []
    nginx = None
    stream = None
    try:
        ingest = Worker(tmp_path, config, "ingest", "ingest")
        workers.append(ingest)
        ingest.wait("subscribed to")  # it made the keys; the web workers read them
        web = [Worker(tmp_path, config, "web", name) for name in ("web-a", "web-b")]
        workers += web
        for w in web:
            w.wait()
        assert "subscribed to" not in web[0].log.read_text()  # no broker for a web worker
        nginx, port, ca = nginx_in_front(tmp_path / "nginx", [w.port for w in web])

        trust = ssl.create_default_context(cafile=str(ca))
        client = httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust, timeout=10)
        r = client.post("/api/login", json={"username": "ct-d1", "password": PASSWORD})
        assert r.status_code == 200, r.text
        signed_in_at = r.headers["x-humiao-worker"]
        assert signed_in_at in ("web-a", "web-b")
        assert (
            r.headers["strict-transport-security"] and "frame-ancestors 'none'" in r.headers["content-security-policy"]
        )
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        answered = {}
        for _ in range(4):  # round robin: both workers answer, both know the session
            r = client.get("/api/alarms")
            assert r.status_code == 200, r.text
            answered[r.headers["x-humiao-worker"]] = r.json()["alarms"]
        assert set(answered) == {"web-a", "web-b"} and answered["web-a"] == answered["web-b"] == []
        assert client.get("/healthz").status_code == 404  # probes are not for the internet

        events: queue.Queue = queue.Queue()
        for _ in range(4):  # the live feed, from the worker the session was NOT made on
            request = client.build_request("GET", "/api/stream", timeout=httpx.Timeout(10, read=30))
            stream = client.send(request, stream=True)
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            if stream.headers["x-humiao-worker"] != signed_in_at:
                break
            stream.close()
            stream = None
        assert stream is not None, "nginx never sent the stream to the other worker"
        feed_worker = stream.headers["x-humiao-worker"]
        threading.Thread(target=read_events, args=(stream, events), daemon=True).start()
        time.sleep(0.7)  # the stream has polled once: what follows is news

        topic, plain, eid = sample_alert(device.ids)
        alert = pb.Alert()  # an alert whose edge kept the crop, so its evidence can be asked for
        alert.ParseFromString(plain)
        alert.evidence_available = True
        assert edge.publish(topic, device.sign(topic, alert.SerializeToString(), eid), qos=1).rc == 0
        deadline = time.time() + 15
        got = None
        while got is None and time.time() < deadline:
            event, data = events.get(timeout=max(0.1, deadline - time.time()))
            assert event == "alarm", (event, data)
            got = json.loads(data) if json.loads(data)["event_id"] == eid else None
        assert got, "the alarm the ingest worker raised did not reach the feed"
        assert stream.headers["x-humiao-worker"] == feed_worker != signed_in_at

        # an evidence request through a web worker: the outbox, then the ingest worker publishes it
        r = client.post(f"/api/alarms/{got['id']}/evidence-request", json={"why": "inspection at the cafe"})
        assert r.status_code == 200, r.text
        request_id = r.json()["request_id"]
        at, payload = asked.get(timeout=10)
        assert at == device.topic("evidence_request") and request_id.encode() in payload
        assert wait_for(lambda: outbox_rows(db_url) == 0, 10), "the outbox was not drained"
        assert wait_for(lambda: "from the outbox" in ingest.log.read_text(), 5)
        for w in web:  # a web worker never published anything itself
            assert "from the outbox" not in w.log.read_text() and "subscribed to" not in w.log.read_text()

        # guessing passwords through several workers: nginx's sign-in zone, shared by all of them, says 429
        # after its burst (each worker alone counts only the guesses that reach it)
        guesser = httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust, timeout=10)
        codes = [guesser.post("/api/login", json={"username": "ct-d1", "password": "wrong"}) for _ in range(8)]
        assert [c.status_code for c in codes[:5]] == [401] * 5, [c.status_code for c in codes]
        assert codes[-1].status_code == 429 and "x-humiao-worker" not in codes[-1].headers  # nginx's own answer
        guesser.close()
    finally:
        if stream is not None:
            stream.close()
        if nginx is not None:
            nginx.terminate()
            nginx.wait(10)
        for w in workers:
            w.stop()
        edge.disconnect()
        edge.loop_stop()
        engine.dispose()
