"""Venues, schools, devices and inspection lists over HTTP (scoped), with CSV import/export (imports
audited)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from humiao.hub import audit, cases, inspections, registry
from humiao.hub.access import Principal, Target, allowed, scope_filter
from humiao.hub.api_alarms import row as alarm_row
from humiao.hub.api_alarms import visible
from humiao.hub.api_cases import as_dict as case_dict
from humiao.hub.deps import PrincipalDep, client, hub_of, iso, require
from humiao.hub.tables import Alarm, Alert, Case, Device, School, Venue

router = APIRouter(prefix="/api")
VENUE_FIELDS = registry.VENUE_COLUMNS + ["near_school", "nearest_school_m"]


def venue_dict(v: Venue, devices: Sequence[Device] = ()) -> dict:
    out = {f: iso(getattr(v, f)) for f in VENUE_FIELDS}
    out["devices"] = [
        {
            "device_id": d.device_id,
            "online": d.online,
            "last_seen": iso(d.last_seen),
            "cameras": (d.status or {}).get("cameras", []),
        }
        for d in devices
    ]
    return out


@router.get("/venues")
def list_venues(
    request: Request,
    who: PrincipalDep,
    district: str | None = None,
    near_school: bool | None = None,
    sign_posted: bool | None = None,
) -> dict:
    require(who, "venues.read")
    q = select(Venue).order_by(Venue.district_id, Venue.id)
    clause = scope_filter(who, "venues.read", Venue.district_id, Venue.id)
    if clause is not None:
        q = q.where(clause)
    for col, value in (
        (Venue.district_id, district),
        (Venue.near_school, near_school),
        (Venue.sign_posted, sign_posted),
    ):
        if value is not None:
            q = q.where(col == value)
    with hub_of(request).sessions() as s:
        venues = s.scalars(q).all()
        devices = s.scalars(select(Device).where(Device.venue_id.in_([v.id for v in venues]))).all()
        counts = {
            (venue_id, verdict): n
            for venue_id, verdict, n in s.execute(
                select(Alarm.venue_id, Alarm.verdict, func.count())
                .where(Alarm.venue_id.in_([v.id for v in venues]), Alarm.verdict.in_(["confirmed", "suspected"]))
                .group_by(Alarm.venue_id, Alarm.verdict)
            ).all()
        }
    out = []
    for v in venues:
        d = venue_dict(v, [x for x in devices if x.venue_id == v.id])
        # confirmed and suspected are never added up into one number (a suspicion is not a violation)
        d["violations"] = {k: counts.get((v.id, k), 0) for k in ("confirmed", "suspected")}
        out.append(d)
    return {"venues": out}


@router.get("/venues/{venue_id}")
def get_venue(venue_id: str, request: Request, who: PrincipalDep) -> dict:
    with hub_of(request).sessions() as s:
        v = s.get(Venue, venue_id)
        if v is None or not allowed(who, "venues.read", Target(v.district_id, v.id)):
            raise HTTPException(404, "not found")
        out = venue_dict(v, s.scalars(select(Device).where(Device.venue_id == v.id)).all())
        q = (
            select(Alarm, Alert)
            .join(Alert, Alert.event_id == Alarm.event_id)
            .where(Alarm.venue_id == v.id)
            .order_by(Alarm.id.desc())
            .limit(100)
        )
        clause = visible(who)
        out["alarms"] = [
            alarm_row(a, al, v, who) for a, al in s.execute(q if clause is None else q.where(clause)).all()
        ]
        cq = select(Case).where(Case.venue_id == v.id).order_by(Case.id.desc())
        cclause = scope_filter(who, "cases.read", Case.district_id, Case.venue_id, lambda d: Case.department == d)
        out["cases"] = [case_dict(c, v, who) for c in s.scalars(cq if cclause is None else cq.where(cclause))]
        out["escalation"] = cases.escalation(s, v.id)
    return out


@router.get("/schools")
def list_schools(request: Request, who: PrincipalDep, district: str | None = None) -> dict:
    require(who, "venues.read")
    if who.role == "venue_operator":  # its scope is its own venues; schools are not among them
        return {"schools": []}
    q = select(School).order_by(School.id)
    clause = scope_filter(who, "venues.read", School.district_id)
    if clause is not None:
        q = q.where(clause)
    if district:
        q = q.where(School.district_id == district)
    with hub_of(request).sessions() as s:
        return {"schools": [{c: getattr(x, c) for c in registry.SCHOOL_COLUMNS} for x in s.scalars(q)]}


@router.get("/registry/{what}.csv", response_class=PlainTextResponse)
def export_csv(what: str, request: Request, who: PrincipalDep, district: str | None = None) -> PlainTextResponse:
    if what not in ("venues", "schools"):
        raise HTTPException(404, "not found")
    require(who, "venues.write")
    with hub_of(request).sessions() as s:
        text = (registry.export_venues if what == "venues" else registry.export_schools)(s, district)
    return PlainTextResponse(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{what}.csv"'},
    )


@router.post("/registry/{what}.csv")
async def import_csv(what: str, request: Request, who: PrincipalDep) -> dict:
    if what not in ("venues", "schools"):
        raise HTTPException(404, "not found")
    require(who, "venues.write")
    try:
        text = (await request.body()).decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError as err:
        raise HTTPException(400, f"the file is not UTF-8 text (byte {err.start})") from None
    # the database work runs in a worker thread, not on the event loop (it may wait for SQLite's lock)
    return await run_in_threadpool(_import, what, text, request, who)


def _import(what: str, text: str, request: Request, who: Principal) -> dict:
    hub = hub_of(request)
    with hub.sessions() as s:
        try:
            n = (registry.import_venues if what == "venues" else registry.import_schools)(s, text)
        except registry.RegistryError as err:
            raise HTTPException(400, str(err)) from None
        audit.record(
            s, who, "venues.import" if what == "venues" else "schools.import", what, str(n), "", client(request)
        )
        s.commit()
    return {"imported": n}


@router.get("/inspection-list")
def inspection_list(request: Request, district: str, who: PrincipalDep, day: date | None = None) -> dict:
    require(who, "cases.read", Target(district, None, (who.department,) if who.department else ()))
    hub = hub_of(request)
    when = datetime.combine(day, datetime.min.time(), tzinfo=UTC) if day else datetime.now(UTC)
    with hub.sessions() as s:
        ranked = inspections.inspection_list(s, district, when, hub.cfg.rules.key_periods)
    return {
        "district": district,
        "day": when.date().isoformat(),
        "key_periods": inspections.key_periods(when.date(), hub.calendar, hub.cfg.rules.key_periods),
        "key_periods_zh": inspections.key_periods(when.date(), hub.calendar, hub.cfg.rules.key_periods, "zh"),
        "venues": ranked,
    }
