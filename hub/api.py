"""The ingest side of the HTTP API: health, readiness and metrics (for monitoring, no session), the panel
page, and the operators' ingest views — raw alerts, devices, dead letters and a status page at
/ingest — for a signed-in admin (``ingest.read``). The inspectors' routes are in api_*.py."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from humiao.hub import messages, schemas
from humiao.hub.access import Principal
from humiao.hub.deps import BeforeId, HubDep, PageLimit, PrincipalDep, iso, principal, require
from humiao.hub.schemas import errors
from humiao.hub.tables import Alarm, Alert, DeadLetter, Device, Evidence

log = logging.getLogger("humiao.hub.api")
router = APIRouter()
STATIC = Path(__file__).with_name("static")

ALERT_FIELDS = (
    "event_id",
    "district_id",
    "venue_id",
    "device_id",
    "camera_id",
    "track_id",
    "first_seen",
    "decided_at",
    "received_at",
    "stored_at",
    "age_estimate",
    "p_minor",
    "p_under_threshold",
    "threshold",
    "decision",
    "venue_type",
    "frames_used",
    "models",
    "policy_version",
    "evidence_available",
    "calibration",
)


def _row(obj, fields) -> dict:
    return {f: iso(getattr(obj, f)) for f in fields}


@router.get("/healthz", summary="Liveness", response_model=schemas.HealthOut, tags=["monitoring"])
def healthz(hub: HubDep) -> dict:
    """Liveness: the process answers and its database does (restart the worker when this fails). No session."""
    with hub.sessions() as s:
        s.execute(select(1))
    web = hub.role == "web"  # a web worker has no broker session: none to report
    return {"ok": True, "role": hub.role, "broker_connected": None if web else hub.ingestor.connected.is_set()}


@router.get(
    "/readyz",
    summary="Readiness",
    response_model=schemas.ReadyOut,
    responses={503: {"model": schemas.ReadyOut, "description": "not ready: `not_ready` says what, in plain words"}},
    tags=["monitoring"],
)
def readyz(hub: HubDep) -> JSONResponse:
    """Readiness: 200 when the database answers and (except in a web worker, which has none) the ingest is
    connected to its broker; otherwise 503, with what is not ready and why in ``not_ready`` (the worker itself
    keeps retrying). No session."""
    not_ready = []
    try:
        with hub.sessions() as s:
            s.execute(select(1))
        database = True
    except SQLAlchemyError as err:  # the error's text (hosts, paths) goes to the log, not to a public route
        database = False
        why = str(getattr(err, "orig", None) or err).strip().splitlines() or [type(err).__name__]
        log.error("readiness: the database is not answering: %s", why[0])
        not_ready.append("database not answering (the hub's log says why)")
    broker: bool | None = None  # a web worker: ready when its database is
    if hub.role != "web":
        broker = hub.ingestor.connected.is_set()
        if not broker:
            not_ready.append(hub.ingestor.problem or "broker not connected")
    body = {
        "ready": not not_ready,
        "role": hub.role,
        "database": database,
        "broker_connected": broker,
        "not_ready": not_ready,
    }
    return JSONResponse(body, status_code=503 if not_ready else 200)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus' text format"}},
    tags=["monitoring"],
)
def metrics(hub: HubDep) -> Response:
    """Counts only, for monitoring (no session)."""
    return Response(generate_latest(hub.registry), media_type=CONTENT_TYPE_LATEST)


def _operator(who: PrincipalDep) -> Principal:
    """The ingest views are for the hub's operators (admin): raw alerts, devices, dead letters."""
    require(who, "ingest.read")
    return who


@router.get(
    "/api/alerts",
    dependencies=[Depends(_operator)],
    summary="Raw alerts (operators)",
    response_model=schemas.AlertsOut,
    responses=errors(401, 403, 422),
    tags=["ingest"],
)
def alerts(
    hub: HubDep,
    district: str | None = None,
    venue: str | None = None,
    device: str | None = None,
    limit: PageLimit = 100,
    before_id: BeforeId = None,
) -> dict:
    """The newest alerts as the edges sent them (metadata only), with the total stored (``ingest.read``)."""
    q = select(Alert).order_by(Alert.id.desc()).limit(limit)
    for col, value in ((Alert.district_id, district), (Alert.venue_id, venue), (Alert.device_id, device)):
        if value:
            q = q.where(col == value)
    if before_id:
        q = q.where(Alert.id < before_id)
    with hub.sessions() as s:
        rows = s.scalars(q).all()
        total = s.scalar(select(func.count()).select_from(Alert))
    return {"total": total, "alerts": [{"id": a.id, **_row(a, ALERT_FIELDS)} for a in rows]}


@router.get(
    "/api/alerts/{event_id}",
    dependencies=[Depends(_operator)],
    summary="One raw alert (operators)",
    response_model=schemas.AlertOut,
    responses=errors(401, 403, 404),
    tags=["ingest"],
)
def alert(hub: HubDep, event_id: str) -> dict:
    """One alert by its event id (``ingest.read``)."""
    with hub.sessions() as s:
        a = s.scalars(select(Alert).where(Alert.event_id == event_id)).one_or_none()
    if a is None:
        raise messages.Problem(404, "error.alert.unknown", event_id=event_id)
    return {"id": a.id, **_row(a, ALERT_FIELDS)}


@router.get(
    "/api/devices",
    dependencies=[Depends(_operator)],
    summary="Devices and their last status (operators)",
    response_model=schemas.IngestDevicesOut,
    responses=errors(401, 403),
    tags=["ingest"],
)
def devices(hub: HubDep) -> dict:
    """Every device that sent a status: online or not, last seen, its cameras (``ingest.read``)."""
    with hub.sessions() as s:
        rows = s.scalars(select(Device).order_by(Device.key)).all()
    fields = (
        "district_id",
        "venue_id",
        "device_id",
        "online",
        "last_seen",
        "status_sent_at",
        "status",
        "software_version",
        "venue_type",
        "started_at",
        "availability_changed",
    )
    return {"devices": [_row(d, fields) for d in rows]}


@router.get(
    "/api/dead-letters",
    dependencies=[Depends(_operator)],
    summary="Dead letters (operators)",
    response_model=schemas.DeadLettersOut,
    responses=errors(401, 403, 422),
    tags=["ingest"],
)
def dead_letters(hub: HubDep, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    """Messages that could not be decoded or validated: counts by reason and the newest (``ingest.read``)."""
    with hub.sessions() as s:
        counts = dict(s.execute(select(DeadLetter.reason, func.count()).group_by(DeadLetter.reason)).all())
        rows = s.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)).all()
    return {
        "counts": counts,
        "recent": [_row(d, ("id", "received_at", "topic", "reason", "detail", "size")) for d in rows],
    }


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/panel")


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/panel", include_in_schema=False)
def panel() -> FileResponse:
    return FileResponse(STATIC / "panel.html", headers={"Cache-Control": "no-cache"})


@router.get(
    "/ingest",
    summary="The operators' ingest status page",
    response_class=HTMLResponse,
    responses={307: {"description": "not signed in as an operator: to the panel, to sign in"}},
    tags=["ingest"],
)
def status_page(request: Request, hub: HubDep):
    """An HTML page for the hub's operators (``ingest.read``); anyone else is sent to the panel."""
    try:
        _operator(principal(request))
    except messages.Problem:
        return RedirectResponse("/panel")
    with hub.sessions() as s:
        recent = s.scalars(select(Alert).order_by(Alert.id.desc()).limit(30)).all()
        verdicts = dict(
            s.execute(
                select(Alarm.event_id, Alarm.verdict).where(Alarm.event_id.in_([a.event_id for a in recent]))
            ).all()
        )
        at_hub = set(
            s.scalars(
                select(Evidence.event_id).where(
                    Evidence.event_id.in_([a.event_id for a in recent]), Evidence.ciphertext.is_not(None)
                )
            )
        )
        total = s.scalar(select(func.count()).select_from(Alert))
        devs = s.scalars(select(Device).order_by(Device.key)).all()
        dead = s.scalar(select(func.count()).select_from(DeadLetter))
    e = html.escape

    def crop(a) -> str:
        return "at hub (sealed)" if a.event_id in at_hub else ("on edge (sealed)" if a.evidence_available else "none")

    rows = "".join(
        f"<tr><td>{e(a.decided_at.strftime('%Y-%m-%d %H:%M:%S'))}</td><td>{e(a.district_id)}/{e(a.venue_id)}</td>"
        f"<td>{e(a.device_id)}</td><td>{e(a.venue_type)}</td><td>{a.age_estimate:.1f}</td><td>{a.p_minor:.2f}</td>"
        f"<td>{e(a.decision)}</td><td>{e(verdicts.get(a.event_id, '…'))}</td><td>{crop(a)}</td></tr>"
        for a in recent
    )

    def cameras(d) -> str:
        return ", ".join(
            c.get("camera_id", "") + ": " + c.get("state", "").removeprefix("CAMERA_STATE_").lower()
            for c in (d.status or {}).get("cameras", [])
        )

    devrows = "".join(
        f"<tr><td>{e(d.key)}</td><td class={'on' if d.online else 'off'}>{'online' if d.online else 'offline'}</td>"
        f"<td>{e(d.last_seen.strftime('%H:%M:%S') if d.last_seen else '-')}</td><td>{e(cameras(d))}</td></tr>"
        for d in devs
    )
    broker = (
        "connected" if hub.ingestor.connected.is_set() else f"<b>not connected</b> ({e(hub.ingestor.problem or '')})"
    )
    links = " · ".join(f"<a href={path}>{path}</a>" for path in ("/api/alerts", "/api/devices", "/api/dead-letters"))
    devhead = "<tr><th>device</th><th>availability</th><th>last seen (UTC)</th><th>cameras</th></tr>"
    note = "Metadata only: face crops stay sealed until an inspector asks (in the <a href=/panel>panel</a>, audited)."
    return f"""<!doctype html><html lang=en><meta charset=utf-8><meta http-equiv=refresh content=2>
<title>Humiao hub — ingest</title><style>body{{font:14px system-ui;margin:2em}}table{{border-collapse:collapse}}
td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}}.on{{color:#070}}.off{{color:#a00}}</style>
<h1>Humiao hub · 护苗 — ingest</h1><p>{total} alerts stored · {dead} dead letters ·
broker {broker} ·
{links} ·
<a href=/metrics>/metrics</a></p>
<h2>Devices</h2><table>{devhead}{devrows}</table>
<h2>Latest alerts</h2><table><tr><th>decided (UTC)</th><th>district/venue</th><th>device</th><th>venue type</th>
<th>age≈</th><th>P(minor)</th><th>decision</th><th>verdict</th><th>face crop</th></tr>{rows}</table>
<p><small>{note}</small></p></html>"""
