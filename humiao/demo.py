"""``humiao demo``: the whole system on one machine, in one command.

    embedded broker (amqtt, MQTT 3.1.1, demo only)
      ◄─ edge agent on the sample video (real face photographs walking past a camera)
      ─► hub (SQLite, ingest + HTTP on http://127.0.0.1:8080/)

The edge plays the video in real time, in a loop (``--once``: one pass, then a summary). After
the first alert, the demo asks the edge for its sealed face crop as an inspector would, so the
evidence path runs too. Production runs Mosquitto, PostgreSQL and the services of deploy/.

Every control is on, with credentials made for the demo under its state directory: the broker
speaks TLS only (a CA and a server certificate made here), every client has its own identity and
password (the hub worker ``hub.w1``, the hub's command-line publisher ``hub.cli``, and the edge,
enrolled as a real device is: trust file → ``humiao.edge.identity.enroll`` → the hub enrols the
request), client id = user name, topic rights from proto/acl.py, and every message signed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from humiao.hub.tables import Alert, Evidence, IdCheck
from humiao.proto.vocabulary import RESULTS

if TYPE_CHECKING:
    from humiao.edge.config import EdgeConfig
    from humiao.embedded_broker import EmbeddedBroker
    from humiao.hub.app import Hub
    from humiao.hub.config import HubConfig
    from humiao.proto.enrolment import EnrolmentRequest

BROKER_HOST = "127.0.0.1"
HUB_WORKER = "hub.w1"  # the demo hub's broker identity (one worker: amqtt has no shared subscriptions)
DEMO_PASSWORD = "humiao-demo-2026"
DEMO_STAFF, DEMO_PIN = "counter", "246810"  # the staff console's demo account (demo only)
DEMO_CHECK_WINDOW_S = 50.0  # the edge reports "not checked" after this; the hub's window is one minute
DEMO_ACCOUNTS = (  # user, role, district, venues — demo only; real accounts: humiao hub users add
    ("ct-demo", "culture_tourism", "demo-district", ()),
    ("police-demo", "police", "demo-district", ()),
    ("proc-demo", "procuratorate", "demo-district", ()),
    ("op-demo", "venue_operator", "demo-district", ("demo-venue",)),
    ("admin-demo", "admin", None, ()),
    ("auditor-demo", "auditor", None, ()),
)


def seed_demo(hub) -> None:
    """The demo's venue, a school 150 m away, and one account per role (once)."""

    from humiao.hub import auth, registry
    from humiao.hub.tables import User

    with hub.sessions() as s:
        if s.get(User, "ct-demo") is not None:
            return
        registry.import_schools(
            s, "id,name,district_id,lat,lon\ndemo-school,示范中学 Demo Middle School,demo-district,31.2015,121.4400\n"
        )
        registry.import_venues(
            s,
            "id,name,venue_type,district_id,address,lat,lon,licence_no,operator,sign_posted\n"
            "demo-venue,星空网咖 Starry Net Café,internet_cafe,demo-district,示范路 1 号,31.2000,121.4400,"
            "WB-DEMO-001,星空网络有限公司,false\n",
        )
        for user, role, district, venues in DEMO_ACCOUNTS:
            auth.create_user(s, user, DEMO_PASSWORD, role, district, venue_ids=venues, cfg=hub.cfg.auth)
        s.commit()


def _state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "humiao" / "demo"


@dataclass
class _Web:
    """The hub's HTTP server (panel and API) on a thread of its own."""

    server: uvicorn.Server
    thread: threading.Thread

    @classmethod
    def start(cls, hub: Hub, port: int) -> _Web:
        from humiao.hub.app import create_app

        server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="hub-http", daemon=True)
        thread.start()
        return cls(server, thread)

    def wait_started(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def hub_config(state: Path, broker_port: int, http_port: int) -> HubConfig:
    from humiao.hub.config import HubConfig

    return HubConfig.model_validate(
        {
            "data_dir": state / "hub",
            "http": {"port": http_port},
            "mqtt": {
                "host": BROKER_HOST,
                "port": broker_port,
                "protocol": "3.1.1",
                "share_group": None,
                "client_id": HUB_WORKER,
            },
            # the demo compresses time: a check window of one minute, not ten (the edge's is 50 s)
            "rules": {"violations": {"id_check_window_min": 1}, "evaluate_interval_s": 5},
        }
    )


def write_hub_config(hub_cfg: HubConfig) -> Path:
    """The demo hub's configuration as a file (``<data_dir>/hub.yaml``), so that the hub commands
    (``humiao hub report --config …``) read the demo's database, keys and rules."""
    import yaml

    path = hub_cfg.data_dir / "hub.yaml"
    path.write_text(yaml.safe_dump(hub_cfg.model_dump(mode="json", exclude_defaults=True), sort_keys=False))
    return path


def edge_config(base: EdgeConfig, state: Path, broker_port: int, once: bool, console_port: int = 8810) -> EdgeConfig:
    """The operator's edge configuration, pointed at the demo's broker and state directory (its
    identity and the hub's keys come with its enrolment: ``enroll_edge``)."""
    from humiao.edge.config import EdgeConfig
    from humiao.edge.publisher import MqttConfig

    cfg = base.model_copy(
        update={
            "mqtt": MqttConfig(host=BROKER_HOST, port=broker_port, protocol="3.1.1"),
            "device": base.device.model_copy(update={"state_dir": state / "edge"}),
            "source": base.source.model_copy(update={"on_end": "stop" if once else "loop"}),
            "metrics": base.metrics.model_copy(update={"port": 0}),
            "status": base.status.model_copy(update={"interval_s": 2.0}),
            "idcheck": base.idcheck.model_copy(
                update={
                    "window_s": DEMO_CHECK_WINDOW_S,
                    "console": base.idcheck.console.model_copy(update={"port": console_port}),
                }
            ),
        }
    )
    return EdgeConfig.model_validate(cfg.model_dump())


def secure_broker(state: Path, hub_cfg: HubConfig, broker_port: int) -> EmbeddedBroker:
    """The demo's broker, started, with every control on: TLS only, with a CA and a server
    certificate for 127.0.0.1 and localhost made under ``state``; the hub's identities ``hub.w1``
    (``hub_cfg.mqtt.client_id``) and ``hub.cli`` with new random passwords, written 0600 where
    the hub reads them, and the CA where the hub expects it. The broker keeps identities in memory:
    a run registers them afresh (devices: ``enroll_edge``)."""
    from humiao import pki
    from humiao.embedded_broker import EmbeddedBroker
    from humiao.files import private_dir, write_private_text
    from humiao.proto import acl

    where = private_dir(state / "broker-pki")
    ca_cert, ca_key = pki.make_ca(where)
    cert, key = pki.make_server_cert(where, ca_cert, ca_key, [BROKER_HOST, "localhost"])
    private_dir(hub_cfg.ca_file().parent)
    hub_cfg.ca_file().write_text(ca_cert.read_text())
    broker = EmbeddedBroker(cert, key, port=broker_port)
    for identity, rules in (
        (hub_cfg.mqtt.client_id, acl.hub_worker_rules(hub_cfg.mqtt.share_group)),
        (acl.CLI, acl.hub_cli_rules()),
    ):
        password = secrets.token_urlsafe(32)
        write_private_text(hub_cfg.broker_password_file(identity), password + "\n")
        broker.add_identity(identity, password, rules)
    return broker.start()


def enroll_edge(hub: Hub, broker: EmbeddedBroker, cfg: EdgeConfig, broker_port: int) -> EnrolmentRequest:
    """Enrol the demo's edge as a real device is: the hub's trust file, ``humiao.edge.identity.enroll``
    on the device (its key and broker password, made once and kept in its state directory), then
    the hub enrols the request as ``admin-demo`` (after ``seed_demo``: the venue must be in the
    registry). A re-run finds the same key enrolled and only registers it with the broker again."""
    from humiao.edge import identity
    from humiao.hub import devices
    from humiao.hub.access import Principal
    from humiao.proto import acl
    from humiao.proto.enrolment import EnrolmentError

    trust_path = hub.cfg.data_dir / "hub-trust.json"
    trust_path.write_text(devices.trust_file(hub.cfg, BROKER_HOST, broker_port).dumps())
    _out, request = identity.enroll(cfg, trust_path)
    with hub.sessions() as s:
        active = devices.active_key(s, request.device_key)
        if active is not None and active.key_id == request.key_id:
            rules = acl.device_rules(request.district_id, request.venue_id, request.device_id)
            broker.add_device(request.username, request.broker_password(hub.private_key), rules)
            return request
        try:
            devices.enroll(s, broker, request, hub.cfg, Principal("admin-demo", "admin", None))
        except EnrolmentError as err:
            raise EnrolmentError(
                f"{err} (the demo's hub and edge state disagree: remove {cfg.device.state_dir.parent} to start afresh)"
            ) from None
    return request


def banner(cfg: EdgeConfig, hub_cfg: HubConfig, http_port: int, once: bool, hub_yaml: Path) -> str:
    from datetime import datetime

    from humiao.hub.reports import TZ

    month = datetime.now(TZ).strftime("%Y-%m")
    return f"""
Humiao demo — all on this machine
  inspectors' panel:                     http://127.0.0.1:{http_port}/panel
      sign in as ct-demo (culture & tourism), police-demo, proc-demo (procuratorate), op-demo (the venue),
      admin-demo or auditor-demo; password {DEMO_PASSWORD} (demo accounts only)
  ingest status page (admin-demo):       http://127.0.0.1:{http_port}/ingest
  hub database (SQLite):                 {hub_cfg.database_url()}
  hub data directory:                    {hub_cfg.data_dir} (its evidence key: {hub_cfg.private_key_path().name})
  hub commands on the demo's hub:        --config {hub_yaml}, e.g.
      humiao hub report --config {hub_yaml} --district demo-district --month {month}
  staff console (the counter's tablet):  http://127.0.0.1:{cfg.idcheck.console.port}/
      sign in as {DEMO_STAFF}, PIN {DEMO_PIN} (demo only); a simulated member of staff answers what you leave
  edge: sample video, venue {cfg.policy.venue_type}, "looks under {cfg.policy.challenge_threshold:g} → check ID"
{"" if once else "  Ctrl-C stops."}"""


class AlertWatcher:
    """Prints this run's alerts as the hub stores them, and asks for the first one's face crop as an
    inspector would, so the evidence path runs too."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.done = threading.Event()
        with hub.sessions() as s:  # the demo's hub keeps earlier runs; show this run's alerts only
            self.first_id = s.scalar(select(func.max(Alert.id))) or 0
            self.first_check = s.scalar(select(func.max(IdCheck.id))) or 0
        self._seen = self.first_id
        self._asked: str | None = None  # the alert whose crop was asked for, until it arrives
        self._evidence_done = False
        self._thread = threading.Thread(target=self._loop, name="demo-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.done.set()
        self._thread.join(timeout=5)

    def counts(self) -> tuple[int, int]:
        """(alerts stored during this run, alerts in the database)."""
        with self.hub.sessions() as s:
            stored = s.scalar(select(func.count()).select_from(Alert).where(Alert.id > self.first_id)) or 0
            total = s.scalar(select(func.count()).select_from(Alert)) or 0
        return stored, total

    def checks(self) -> dict[str, int]:
        """ID-check outcomes stored during this run, by outcome."""
        with self.hub.sessions() as s:
            rows = s.execute(
                select(IdCheck.result, func.count()).where(IdCheck.id > self.first_check).group_by(IdCheck.result)
            )
            return dict(rows.tuples().all())

    def _loop(self) -> None:
        while not self.done.wait(0.5):
            with self.hub.sessions() as s:
                for a in s.scalars(select(Alert).where(Alert.id > self._seen).order_by(Alert.id)).all():
                    self._seen = a.id
                    self._show(a)
                    if self._asked is None and not self._evidence_done and a.evidence_available:
                        self._ask_for_crop(s, a.event_id)
                if self._asked is not None:
                    self._show_evidence(s)

    @staticmethod
    def _show(a: Alert) -> None:
        delay = (a.stored_at - a.first_seen).total_seconds()
        print(
            f"hub stored alert {a.event_id[:13]}…  {a.venue_id}/{a.device_id}  age≈{a.age_estimate:4.1f}  "
            f"P(minor)={a.p_minor:.2f}  → {a.decision.upper()}   ({delay:.2f} s after the face was first seen)",
            flush=True,
        )

    def _ask_for_crop(self, s: Session, event_id: str) -> None:
        from humiao.hub.access import Principal

        inspector = Principal("ct-demo", "culture_tourism", "demo-district")
        rid = self.hub.request_evidence(event_id, "inspector_request", inspector, "demo: the first alert's crop")
        print(f"  inspector asks for its face crop (request {rid[:13]}…)", flush=True)
        self._asked = event_id

    def _show_evidence(self, s: Session) -> None:
        asked = self._asked
        ev = s.get(Evidence, asked) if asked else None
        if asked is None or ev is None or ev.ciphertext is None:
            return
        print(
            f"  evidence for {asked[:13]}… stored at the hub, sealed ({len(ev.ciphertext)} bytes, "
            f"sha256 {ev.stored_sha256[:12]}…); the edge deleted its copy",
            flush=True,
        )
        self._asked, self._evidence_done = None, True


def demo_staff_account(cfg: EdgeConfig) -> None:
    """The console's demo account (made once; the staff file is 0600 in the edge's state directory)."""
    from humiao.edge.console.staff import StaffBook

    book = StaffBook(cfg.idcheck.console.staff_file or cfg.device.state_dir / "staff.json")
    if not book.exists(DEMO_STAFF):
        book.add(DEMO_STAFF, DEMO_PIN)


def start_staff(agent, think_s: float = 20.0, leave_one_unchecked: bool = True) -> threading.Event:
    """Start the simulated member of staff once the agent's desk exists (the agent makes it when it starts);
    set the returned event to stop them."""
    from humiao.demo_staff import SimulatedStaff

    stop = threading.Event()

    def wait_then_start() -> None:
        while not stop.wait(0.2):
            link = agent.link
            if link is not None:
                staff = SimulatedStaff(link.desk, think_s, leave_one_unchecked).start()
                stop.wait()
                staff.stop()
                return

    threading.Thread(target=wait_then_start, name="demo-staff-start", daemon=True).start()
    return stop


def run(
    broker_port: int = 18830,
    http_port: int = 8080,
    once: bool = False,
    edge_config_base=None,
    simulated_staff: bool = True,
    console_port: int = 8810,
) -> int:
    """Broker, hub (ingest + panel) and edge agent in this process; the agent plays the sample video
    (in a loop, or once with ``once``) until it ends or Ctrl-C. A simulated member of staff answers the ID
    checks (``demo_staff``) unless ``simulated_staff`` is off."""
    from humiao.edge.agent import EdgeAgent
    from humiao.edge.config import EdgeConfig
    from humiao.hub.app import Hub

    state = _state_home()
    hub_cfg = hub_config(state, broker_port, http_port)
    broker = secure_broker(state, hub_cfg, broker_port)
    try:
        hub = Hub(hub_cfg)
        hub_yaml = write_hub_config(hub_cfg)
        hub.broker_admin = lambda: contextlib.nullcontext(broker)  # the panel's enrol and revoke
        seed_demo(hub)
        cfg = edge_config(edge_config_base or EdgeConfig(), state, broker_port, once, console_port)
        demo_staff_account(cfg)
        enroll_edge(hub, broker, cfg, broker_port)
    except BaseException:
        broker.stop()
        raise
    hub.start()
    web = _Web.start(hub, http_port)
    agent = EdgeAgent(cfg)
    web.wait_started()
    print(banner(cfg, hub_cfg, http_port, once, hub_yaml), flush=True)

    watcher = AlertWatcher(hub)
    watcher.start()
    # one pass (--once) is too short for a window to run out: staff answer at once, every check
    staff = start_staff(agent, 0.0 if once else 20.0, not once) if simulated_staff else threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: agent.stop())
        signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    try:
        summary = agent.run()
    finally:
        staff.set()
        time.sleep(2.0)  # the last alerts and checks reach the hub
        hub.evaluate()  # and their verdicts are decided before the summary (the rules' loop may be mid-wait)
        watcher.stop()
        stored, total = watcher.counts()
        checks = watcher.checks()
        web.stop()
        hub.stop()
        broker.stop()
    print(
        f"\ndemo done: {summary.frames_read} frames, {summary.decided} people decided, "
        f"{summary.alerted} alerts sent, {stored} alerts in the hub database "
        f"({total} with earlier demo runs); ID checks stored: {sum(checks.values())}"
        + (" (" + "; ".join(f"{RESULTS[k]['en']}: {n}" for k, n in sorted(checks.items())) + ")" if checks else ""),
        flush=True,
    )
    return 0
