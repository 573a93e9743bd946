"""The hub process: ``Hub`` (the long-lived parts) and ``create_app`` (the HTTP side).

    config ─► database (Alembic upgrade) ─► evidence key ─► ingest (MQTT ─► validate ─► idempotent insert)
           ─► alarms (verdicts by hub/rules, kept current by ID checks and time; confirmed → evidence requested)
           └► FastAPI app (ingest views, panel, sign-in and audit log, alarms, cases, registry, reports) ─► uvicorn

``Hub`` opens the database (migrated at start) and its sessions, loads the evidence key (generated
with its public half on first start), keeps the Prometheus registry (with the open-alarms gauge), and
runs the MQTT ingestor and three background threads: the alarm loop (``evaluate``: verdicts at once for
newly stored alerts and ID checks, every ``rules.evaluate_interval_s`` for expiring check windows;
then evidence requests for newly confirmed violations; one hub worker at a time on PostgreSQL) and the
evidence purge loop, and the outbox (what web workers leave for edges). ``publish`` and ``request_evidence``
speak to edges through the ingestor's client.

Roles (``cfg.role``, ``humiao hub run --role``), so the panel scales apart from the ingest:

- ``all`` (the default): everything below in one process.
- ``ingest``: the MQTT ingestor, the alarm loop, the purges and the outbox drain; over HTTP only /healthz,
  /readyz and /metrics. Several ingest workers split the broker's load (shared subscription, one identity each).
- ``web``: the API and the panel only, as many workers as wanted behind a reverse proxy
  (deploy/nginx/humiao-hub.conf), any of which may answer any request: everything they need is in the database
  (sign-in sessions and their CSRF tokens, alarms; the live feed polls it). No broker connection, no alarm loop:
  ``publish`` writes the message to the ``outbox`` table, and an ingest worker signs, publishes and deletes it
  (``drain_outbox``). Why an outbox rather than a publish-only broker client per web worker: web workers come
  and go behind a proxy and would each need a broker identity of their own (the broker binds client id and user
  name; one shared identity would have them take the connection from each other); an evidence request asked
  while the broker is away would be lost with the process (paho queues in memory), while a row waits for the
  broker; and only the ingest worker signs hub → edge messages. (A web worker still reaches the broker as
  ``hub.admin``, for the moment an administrator enrols or revokes a device: ``broker_rights``.)

``create_app`` serves a hub: the routers of api.py (health, metrics, panel page, operators' ingest
views), api_auth, api_alarms, api_cases, api_registry and api_reports, the panel's static files, and
security headers on every response; stopping the app stops the hub. ``serve`` starts a hub and runs
its app under uvicorn.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select, text

from humiao.hub import (
    alarms,
    api_alarms,
    api_auth,
    api_cases,
    api_devices,
    api_meta,
    api_registry,
    api_reports,
    devices,
    evidence,
    messages,
    schemas,
    store,
)
from humiao.hub.access import Principal
from humiao.hub.api import router
from humiao.hub.config import HubConfig
from humiao.hub.db import make_engine, migrate, sessions
from humiao.hub.deps import PrincipalDep
from humiao.hub.devices import BrokerRights, KeyRing
from humiao.hub.ingest import Ingestor
from humiao.hub.rules.calendar import HolidayCalendar
from humiao.hub.tables import Alarm, Outbox, utcnow
from humiao.proto import sealed, signing

log = logging.getLogger("humiao.hub")

OUTBOX_POLL_S = 0.5
"""How often an ingest worker looks for hub → edge messages web workers left in the outbox."""
INGEST_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""What an ingest worker answers over HTTP (for probes and Prometheus)."""


class NoBroker:
    """A web worker's stand-in for the ingestor: it has no broker connection and needs none, so its
    readiness is its database's (``connected`` stays set, ``problem`` None); what it sends to edges goes
    to the outbox (``Hub.publish``)."""

    def __init__(self):
        self.connected = threading.Event()
        self.connected.set()
        self.problem: str | None = None

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class Hub:
    def __init__(self, cfg: HubConfig):
        self.cfg = cfg
        self.engine = make_engine(cfg.database_url(), cfg.database.echo)
        migrate(self.engine)
        self.sessions = sessions(self.engine)
        self.private_key = self._evidence_key()
        self.signer = signing.Signer.load_or_generate(cfg.signing_key_path(), "hub signing key")
        self.keys = KeyRing(self.sessions, cfg.security.key_refresh_s)
        self.broker_admin: Callable[[], AbstractContextManager[BrokerRights]] = lambda: devices.broker_rights(cfg)
        self.registry = CollectorRegistry()
        from prometheus_client import Counter as PromCounter
        from prometheus_client import Gauge

        self.open_alarms = Gauge(
            "humiao_hub_open_alarms", "active alarms by verdict", ["verdict"], registry=self.registry
        )
        self.purge_failures = PromCounter(
            "humiao_hub_purge_failures",
            "purge rounds that failed (retried next interval), by what: evidence, dead_letters",
            ["what"],
            registry=self.registry,
        )
        for what in ("evidence", "dead_letters"):
            self.purge_failures.labels(what)  # 0 from the start, so the first failure is an increase
        self._changed = threading.Event()
        self.role = cfg.role
        self.ingestor: Ingestor | NoBroker = (
            NoBroker()
            if self.role == "web"
            else Ingestor(
                cfg,
                self.sessions,
                self.registry,
                self.private_key,
                on_stored=lambda _ids: self._changed.set(),
                signer=self.signer,
                keys=self.keys,
            )
        )
        self.calendar = HolidayCalendar(cfg.rules.calendar)
        self._stop = threading.Event()
        self._purger = threading.Thread(target=self._purge_loop, name="evidence-purge", daemon=True)
        self._rules = threading.Thread(target=self._rules_loop, name="alarms", daemon=True)
        self._outbox = threading.Thread(target=self._outbox_loop, name="outbox", daemon=True)

    def _evidence_key(self):
        path = self.cfg.private_key_path()
        if not path.exists() and sealed.ensure_keypair(path, path.with_suffix(".pub")):
            log.warning("generated the hub evidence key %s (devices get its public half in the trust file)", path)
        elif path.stat().st_mode & 0o077:
            path.chmod(0o600)  # a key copied in by hand: nobody but the hub's user reads it
            log.warning("the hub evidence key %s was readable by others: made 0600", path)
        return sealed.load_private(path)

    def start(self) -> Hub:
        if self.role == "web":
            return self  # the API and the panel only: nothing runs in the background
        self.ingestor.start()
        self._purger.start()
        self._rules.start()
        self._outbox.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self.ingestor.stop()
        for thread in (self._rules, self._outbox):
            if thread.is_alive():
                thread.join(timeout=10)
        self.engine.dispose()

    def publish(self, topic: str, message_id: str, body: bytes) -> None:
        """Send a hub → edge message, signed with the hub's key: at once through the broker, or, on a web
        worker (no broker connection), by way of the outbox, which an ingest worker drains within
        ``OUTBOX_POLL_S`` while it is connected (while it is not, the message waits there)."""
        if isinstance(self.ingestor, NoBroker):
            with self.sessions() as s, s.begin():
                s.add(Outbox(topic=topic, message_id=message_id, body=body, created_at=utcnow()))
            return
        self.ingestor.publish(topic, message_id, body)

    def drain_outbox(self, limit: int = 100, ack_timeout_s: float = 5.0) -> int:
        """Publish what web workers left in the outbox, oldest first, and delete each message the broker
        acknowledged (QoS 1) within ``ack_timeout_s``; the rest are tried again next round (at least once:
        a request repeated after a lost acknowledgement carries the same message id). Several ingest workers
        on PostgreSQL take disjoint rows (``FOR UPDATE SKIP LOCKED``); SQLite has one writer anyway. How
        many were sent."""
        if isinstance(self.ingestor, NoBroker):
            return 0
        with self.sessions() as s, s.begin():
            rows = s.scalars(select(Outbox).order_by(Outbox.id).limit(limit).with_for_update(skip_locked=True)).all()
            infos = [(row, self.ingestor.publish(row.topic, row.message_id, row.body)) for row in rows]
            sent = 0
            for row, info in infos:  # all published first, then their acknowledgements awaited
                try:
                    info.wait_for_publish(ack_timeout_s)
                except (RuntimeError, ValueError):  # refused at once (not connected, queue full)
                    continue
                if info.is_published():
                    s.delete(row)
                    sent += 1
        if sent:
            log.info("published %d hub → edge messages from the outbox", sent)
        return sent

    def _outbox_loop(self) -> None:
        while not self._stop.wait(OUTBOX_POLL_S):
            if not self.ingestor.connected.is_set():
                continue  # the messages wait in the outbox for the broker
            try:
                self.drain_outbox()
            except Exception:
                log.exception("publishing the outbox failed; retrying")
                self._stop.wait(2)

    def broker_rights(self) -> AbstractContextManager[BrokerRights]:
        """The broker's administration, for enrolment and revocation: ``broker_admin`` (Mosquitto's
        dynamic security by default; the demo sets its embedded broker)."""
        return self.broker_admin()

    def request_evidence(self, event_id: str, reason: str, who: Principal, why: str = "") -> str:
        with self.sessions() as s:
            return evidence.request(s, self.publish, event_id, reason, who, why)

    def evaluate(self) -> int:
        """Bring alarms up to date; then fetch the evidence of newly confirmed violations from their edges."""
        with self.sessions() as s, s.begin():
            if self.engine.dialect.name == "postgresql" and not s.scalar(
                text("SELECT pg_try_advisory_xact_lock(4815)")
            ):
                return 0  # another hub worker is evaluating right now; the next round catches up
            touched = alarms.evaluate(s, calendar=self.calendar, cfg=self.cfg.rules.violations)
            if alarms.pending_work(s):
                self._changed.set()  # more to do: another round right after this one
            counts = dict(
                s.execute(
                    select(Alarm.verdict, func.count()).where(Alarm.active.is_(True)).group_by(Alarm.verdict)
                ).all()
            )
        for verdict in ("pending", "suspected", "confirmed"):
            self.open_alarms.labels(verdict).set(counts.get(verdict, 0))
        with self.sessions() as s:
            for event_id in evidence.confirmed_without_request(s):
                try:
                    evidence.request(s, self.publish, event_id, "violation_confirmed", evidence.RULES)
                except evidence.EvidenceError as err:
                    log.warning("evidence for confirmed violation %s not requested: %s", event_id, err)
        return touched

    def _rules_loop(self) -> None:
        """Verdicts for new alerts and ID checks at once, and for expiring check windows periodically."""
        while not self._stop.is_set():
            if self._changed.wait(self.cfg.rules.evaluate_interval_s):
                self._stop.wait(0.1)  # gather a burst of batches into one round
            self._changed.clear()
            if self._stop.is_set():
                return
            try:
                self.evaluate()
            except Exception:
                log.exception("alarm evaluation failed; retrying")
                self._stop.wait(2)
                self._changed.set()

    def _purge_loop(self) -> None:
        """Every ``evidence.purge_interval_s``: crops past retention, then dead letters past
        ``ingest.dead_letter_keep_days`` or beyond ``ingest.dead_letter_max_rows`` (oldest first)."""
        while not self._stop.wait(self.cfg.evidence.purge_interval_s):
            try:
                with self.sessions() as s:
                    n = evidence.purge_expired(s)
                if n:
                    log.info("purged %d evidence crops past retention", n)
            except Exception:
                self.purge_failures.labels("evidence").inc()
                log.exception("evidence purge failed; retrying next interval")
            try:
                ingest = self.cfg.ingest
                before = datetime.now(UTC) - timedelta(days=ingest.dead_letter_keep_days)
                with self.sessions() as s, s.begin():
                    n = store.purge_dead_letters(s, before, ingest.dead_letter_max_rows)
                if n:
                    log.info("purged %d dead letters (past retention or over the cap)", n)
            except Exception:
                self.purge_failures.labels("dead_letters").inc()
                log.exception("dead-letter purge failed; retrying next interval")


def create_app(hub: Hub) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        hub.stop()

    # no public docs: the API's description is for signed-in users (GET /openapi.json with a session)
    app = FastAPI(
        title="Humiao hub", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.hub = hub

    @app.exception_handler(messages.Problem)
    async def problem(request: Request, exc: messages.Problem) -> JSONResponse:
        """An error people read: its words in the caller's language, its key and parameters beside them."""
        lang = messages.language(request)
        body = {"detail": messages.text(exc.code, lang, **exc.params), "code": exc.code, "params": exc.params}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own 422: each field and what it needs, in the caller's language, beside the original
        ``errors`` list (for tools)."""
        code, params = schemas.validation_problem(list(exc.errors()))
        body = {
            "detail": messages.text(code, messages.language(request), **params),
            "code": code,
            "params": params,
            "errors": jsonable_encoder(exc.errors()),
        }
        return JSONResponse(body, status_code=422)

    undocumented_openapi = app.openapi

    def documented_openapi() -> dict:
        """The schema, every operation's error answers documented (``schemas.complete_openapi``)."""
        if app.openapi_schema is None:
            app.openapi_schema = schemas.complete_openapi(undocumented_openapi(), app.routes)
        return app.openapi_schema

    app.openapi = documented_openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_who: PrincipalDep) -> dict:
        return app.openapi()

    worker = hub.cfg.http.worker_name

    @app.middleware("http")
    async def security_headers(request, call_next):
        """The panel runs only its own script; nothing frames it; no referrer leaves; no sniffing. And every word
        rendered while answering is in the caller's language (``messages.current``). With ``http.worker_name``,
        which worker answered (X-Humiao-Worker)."""
        messages.use(messages.language(request))
        response = await call_next(request)
        if worker:
            response.headers["X-Humiao-Worker"] = worker
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    if hub.role == "ingest":  # probes and metrics only: the panel and the API are the web workers'
        monitoring = APIRouter()
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path in INGEST_PATHS:
                monitoring.routes.append(route)
        app.include_router(monitoring)
        return app
    app.include_router(router)
    app.include_router(api_auth.router)
    app.include_router(api_alarms.router)
    app.include_router(api_cases.router)
    app.include_router(api_registry.router)
    app.include_router(api_reports.router)
    app.include_router(api_devices.router)
    app.include_router(api_meta.router)
    from fastapi.staticfiles import StaticFiles

    from humiao.hub.api import STATIC

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve(cfg: HubConfig) -> None:
    import uvicorn

    hub = Hub(cfg).start()
    uvicorn.run(create_app(hub), host=cfg.http.host, port=cfg.http.port, log_level="warning")
