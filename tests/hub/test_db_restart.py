"""The hub's PostgreSQL server crashes and comes back while alerts keep arriving: the same hub worker
process (never restarted) stores every alert exactly once, says "not ready: database" while it is
away, and is ready again after. The test runs its own PostgreSQL server (Debian's binaries) on a
free loopback port, so it can crash it, and a real Mosquitto; the device publishes with plain QoS 1
and never sends anything twice, so nothing is made up for by the edge's resends: what the database
did not commit the hub did not acknowledge, and the broker delivers it again.

The hub's database URL is the libpq multi-host form deploy/README.md recommends for a primary and its
standby (*PostgreSQL high availability*): a first host that refuses connections (a failed primary), then
the live server, with ``target_session_attrs=read-write``."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import create_engine, text

from tests.support.devices import enroll_device
from tests.support.hubproc import HubProcess, hub_config, stored_ids, wait_for
from tests.support.services import free_port

pytestmark = pytest.mark.services


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(what)
    pytest.skip(what)


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb, pg_ctl) in a temporary directory, on a free loopback
    port with trust authentication, its socket in that directory. As root, run as ``postgres``
    (initdb refuses root), in a directory that user owns."""

    def __init__(self):
        bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
        if bindirs:
            self.bin = bindirs[-1].parent
        elif shutil.which("pg_ctl"):
            self.bin = Path(shutil.which("pg_ctl")).parent
        else:
            raise FileNotFoundError("PostgreSQL's server is not installed: sudo apt-get install -y postgresql")
        self.dir = Path(tempfile.mkdtemp(prefix="humiao-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")  # KeyError: no such user, then nobody can run it here
            os.chown(self.dir, pg.pw_uid, pg.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr or done.stdout}\n{tail}")

    def init(self) -> PrivatePostgres:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        return self

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        return self

    def crash(self) -> None:
        """Stop at once, as a crash does: every backend killed, no shutdown checkpoint (the next start
        replays the WAL)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.crash()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def postgres():
    try:
        pg = PrivatePostgres()
    except (FileNotFoundError, KeyError) as err:
        _missing(f"cannot run a PostgreSQL server of our own: {err}")
    try:
        yield pg.init().start()
    finally:
        pg.remove()


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_hub_rides_out_a_database_crash(postgres, broker, tmp_path):
    admin = create_engine(postgres.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE humiao"))
    admin.dispose()
    dead = free_port()  # a "failed primary": nothing listens there
    db_url = (
        f"postgresql+psycopg://postgres@/humiao?host=127.0.0.1:{dead}&host=127.0.0.1:{postgres.port}"
        "&target_session_attrs=read-write"
    )
    cfg = hub_config(tmp_path, db_url, broker.port, broker=broker)
    http = cfg["http"]["port"]
    device = enroll_device(cfg, broker)
    hub = HubProcess(tmp_path / "hub", cfg).start()
    pid = hub.proc.pid
    client = device.client()
    sent: list[str] = []
    infos: list[mqtt.MQTTMessageInfo] = []

    def feed(n: int = 400, rate: float = 50.0) -> None:  # 8 s of alerts, published once each, QoS 1
        for _ in range(n):
            topic, payload, eid = device.alert()
            infos.append(client.publish(topic, payload, qos=1))
            sent.append(eid)
            time.sleep(1 / rate)

    feeder = threading.Thread(target=feed, daemon=True)
    try:
        assert get(http, "/readyz")[0] == 200
        feeder.start()
        assert wait_for(lambda: len(stored_ids(db_url)) >= 50, 10), "the hub stores nothing before the crash"

        postgres.crash()
        crashed_at = len(sent)
        down = wait_for(lambda: (r := get(http, "/readyz"))[0] == 503 and r, 10)
        assert down, "/readyz did not notice the database was gone"
        body = json.loads(down[1])
        assert body["ready"] is False and body["database"] is False and body["broker_connected"] is True
        assert body["not_ready"] == ["database not answering (the hub's log says why)"]
        assert get(http, "/healthz")[0] == 500  # liveness fails too: the database does not answer
        time.sleep(2.5)  # alerts keep coming: the broker holds them, unacknowledged by the hub
        assert len(sent) >= crashed_at + 50, "no alerts were published during the outage"
        postgres.start()
        restarted_at = len(sent)

        up = wait_for(lambda: (r := get(http, "/readyz"))[0] == 200 and r, 15)
        assert up, "the hub is not ready again after the database came back"
        assert json.loads(up[1]) == {
            "ready": True,
            "role": "all",
            "database": True,
            "broker_connected": True,
            "not_ready": [],
        }
        assert get(http, "/healthz")[0] == 200

        feeder.join(15)
        assert not feeder.is_alive()
        for info in infos:
            info.wait_for_publish(10)  # the broker has every alert (QoS 1 PUBACK)
        assert restarted_at < len(sent) == 400  # alerts before, during and after the outage
        wait_for(lambda: len(stored_ids(db_url)) >= len(sent), 20)
        got = stored_ids(db_url)
        assert len(got) == len(set(got)), f"{len(got) - len(set(got))} alerts stored twice"
        missing = set(sent) - set(got)
        assert not missing, f"{len(missing)} of {len(sent)} alerts lost"
        assert set(got) == set(sent)

        assert hub.proc.poll() is None and hub.proc.pid == pid  # the same worker, never restarted
        log = hub.log.read_text(errors="replace")
        assert "ingest transaction failed; retrying" in log  # the outage did hit the ingest
        assert "readiness: the database is not answering" in log
        metrics = get(http, "/metrics")[1]
        errors = float(re.search(r"^humiao_hub_db_errors_total (\S+)$", metrics, re.M)[1])
        stored = float(re.search(r"^humiao_hub_alerts_stored_total (\S+)$", metrics, re.M)[1])
        assert errors >= 1 and stored == len(sent)
    finally:
        client.disconnect()
        client.loop_stop()
        hub.stop()
