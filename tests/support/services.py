"""Private instances of the real services, for tests and benchmarks that start, kill and restart
them: Mosquitto (Debian's binary) on a free loopback port, secured as deploy/mosquitto sets it up, a hub
worker as its own process (``humiao hub run``), and a scratch PostgreSQL database."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HUB_WORKERS = ["hub.w1", "hub.w2", "hub.w3", "hub.w4"]
# deploy/mosquitto/humiao.conf's settings but the persistence location (ours) and the listener (the
# generated humiao-tls.conf's, on a free port)
MOSQUITTO_SETTINGS = (
    "per_listener_settings false\nallow_anonymous false\n"
    "persistence true\nautosave_interval 30\nmax_queued_messages 1000000\nmax_queued_bytes 1073741824\n"
    "max_inflight_messages 1000\nmessage_size_limit 2097152\n"
)


class Mosquitto:
    """Mosquitto secured as in production (``humiao hub broker init``: TLS, a password per identity,
    dynamic-security roles from proto/acl.py, client id = user name), on a free loopback port. The
    broker's files are in ``workdir``, the hub's secrets (CA certificate, identities' passwords) in
    ``hub_secrets`` = ``workdir/hubdata/broker``; a restart reuses them."""

    def __init__(self, workdir: Path):
        from humiao.hub.broker_admin import DYNSEC_FILE, TLS_CONF, BrokerInitError, find_plugin, init_broker

        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise FileNotFoundError("mosquitto is not installed: sudo apt-get install -y mosquitto")
        try:
            find_plugin()
        except BrokerInitError as err:
            raise FileNotFoundError(str(err)) from None
        self.exe = exe
        self.port = free_port()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hub_secrets = self.workdir / "hubdata" / "broker"
        made = init_broker(
            self.workdir, self.hub_secrets, ["localhost", "127.0.0.1"], HUB_WORKERS, "hub", None, port=self.port
        )
        self.ca_file = made["CA certificate"]
        self.dynsec = self.workdir / DYNSEC_FILE
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text(
            # run as whoever runs us: as root, Mosquitto would otherwise switch to the ``mosquitto``
            # user, which cannot read its files nor write its persistence file in our private directory
            f"user {getpass.getuser()}\n"
            + MOSQUITTO_SETTINGS
            + f"persistence_location {self.workdir}/\n"
            + (self.workdir / TLS_CONF).read_text()
        )
        self.proc: subprocess.Popen | None = None

    def admin(self, timeout: float = 10.0):
        """The broker's administration as ``hub.admin`` (a ``DynsecAdmin``: use it in ``with``)."""
        from humiao.hub.broker_admin import DynsecAdmin

        return DynsecAdmin("127.0.0.1", self.port, self.ca_file, self.hub_secrets / "hub.admin.password", timeout)

    def start(self) -> Mosquitto:
        with open(self.workdir / "mosquitto.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.exe, "-c", str(self.conf)],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"mosquitto exited: {(self.workdir / 'mosquitto.log').read_text()[-500:]}"
                    ) from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self) -> None:
        """A clean stop: Mosquitto saves its persistent state (sessions, queued messages) first."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
            log = (self.workdir / "mosquitto.log").read_text(errors="replace")
            if "Error saving in-memory database" in log:
                raise RuntimeError(f"mosquitto could not save its persistent state: {log[-300:]}")


def hub_config(
    workdir: Path,
    db_url: str,
    mqtt_port: int,
    protocol: str = "5",
    client_id: str = "hub.w1",
    share_group: str | None = "hub",
    http_port: int | None = None,
    broker: Mosquitto | None = None,
) -> dict:
    """A hub worker's configuration; with ``broker``, the CA and the hub identities' passwords are
    that broker's (``mqtt.secrets_dir``)."""
    mqtt: dict = {"port": mqtt_port, "protocol": protocol, "client_id": client_id, "share_group": share_group}
    if broker is not None:
        mqtt["secrets_dir"] = str(broker.hub_secrets)
    return {
        "data_dir": str(Path(workdir) / "hubdata"),
        "database": {"url": db_url},
        "mqtt": mqtt,
        "http": {"port": http_port or free_port()},
        "ingest": {"batch_wait_ms": 5},
    }


class HubProcess:
    """``humiao hub run`` in its own process, with its log in ``workdir``; ``kill()`` is SIGKILL."""

    def __init__(self, workdir: Path, config: dict):
        import yaml

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / f"hub-{config['mqtt']['client_id']}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.config = config
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "hub.log"

    def start(self, wait_s: float = 60, connected: bool = True) -> HubProcess:
        """Start it and wait until its ingest has subscribed (``connected``) or, without a broker to
        reach, until its HTTP server answers."""
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "humiao.cli", "-v", "hub", "run", "--config", str(self.config_path)],
                cwd=str(ROOT),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.time() + wait_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited: {self.log.read_text()[-2000:]}")
            if "subscribed to" in self.log.read_text() or (not connected and self._answers()):
                return self
            time.sleep(0.1)
        raise RuntimeError(f"hub did not {'connect' if connected else 'start'}: {self.log.read_text()[-2000:]}")

    def _answers(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.config['http']['port']}/healthz", timeout=1):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def command(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """``humiao hub ARGS --config <this hub's configuration>``, as an operator on the hub host runs it."""
        return subprocess.run(
            [sys.executable, "-m", "humiao.cli", "hub", *args, "--config", str(self.config_path)],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def scratch_database(admin_url: str = PG_ADMIN_URL, prefix: str = "humiao_scratch"):
    """A new PostgreSQL database on the server of ``admin_url``; its URL; dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()


def sample_alert(
    origin: tuple[str, str, str],
    event_id: str | None = None,
    age: float = 15.0,
    first_seen: float | None = None,
    venue_type: int | None = None,
    track_id: int = 7,
    policy_version: str = "test",
) -> tuple[str, bytes, str]:
    """(topic, payload, event id) of a valid CHECK ID alert from ``origin`` (district, venue, device),
    as tests and the load benchmarks publish them (the edge builds its own in edge/messages.py)."""
    from humiao.proto import humiao_v1_pb2 as pb
    from humiao.proto.ids import uuid7
    from humiao.proto.topics import topic

    eid = event_id or str(uuid7())
    now = time.time()
    msg = pb.Alert(
        event_id=eid,
        origin=pb.Origin(district_id=origin[0], venue_id=origin[1], device_id=origin[2], camera_id="cam0"),
        track_id=track_id,
        age_estimate=age,
        p_minor=0.9,
        p_under_threshold=0.95,
        threshold=25.0,
        decision=pb.DECISION_CHECK_ID,
        venue_type=venue_type or pb.VENUE_TYPE_INTERNET_CAFE,
        frames_used=5,
        models=[pb.ModelRef(id="cydral-age-v1", graph_sha256="0" * 64)],
        policy_version=policy_version,
    )
    msg.first_seen.FromNanoseconds(int((first_seen or now - 0.5) * 1e9))
    msg.decided_at.FromNanoseconds(int(now * 1e9))
    return topic(*origin, "alert"), msg.SerializeToString(), eid
