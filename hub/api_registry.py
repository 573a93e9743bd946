"""Venues, schools, devices and inspection lists over HTTP (scoped), with CSV import/export (imports
audited). What an audience sees of a venue is ``access.mask``'s (hub/access.py VIEWS)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from humiao.hub import audit, cases, inspections, messages, registry, schemas
from humiao.hub.access import Principal, Target, allowed, mask, scope_filter
from humiao.hub.api_alarms import row as alarm_row
from humiao.hub.api_alarms import visible
from humiao.hub.api_cases import as_dict as case_dict
from humiao.hub.deps import ClientDep, HubDep, PrincipalDep, hub_of, iso, require
from humiao.hub.schemas import errors
from humiao.hub.tables import Alarm, Alert, Case, Device, School, Venue

router = APIRouter(prefix="/api", tags=["registry"])
VENUE_FIELDS = registry.VENUE_COLUMNS + ["near_school", "nearest_school_m"]
REGISTRY_FILES = ("venues", "schools")


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


@router.get("/venues", summary="The venues", response_model=schemas.VenuesOut, responses=errors(401, 403, 422))
def list_venues(
    hub: HubDep,
    who: PrincipalDep,
    district: str | None = None,
    near_school: bool | None = None,
    sign_posted: bool | None = None,
) -> dict:
    """The venues the caller may read, with their devices and their confirmed and suspected alarm counts."""
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
    with hub.sessions() as s:
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
        out.append(mask(who, "venue", d))
    return {"venues": out}


@router.get(
    "/venues/{venue_id}", summary="One venue", response_model=schemas.VenueOut, responses=errors(401, 403, 404, 422)
)
def get_venue(venue_id: str, hub: HubDep, who: PrincipalDep) -> dict:
    """A venue with its devices, the alarms and cases the caller may read, and the escalation its record
    suggests — as the caller's audience sees a venue (hub/access.py VIEWS). 404 outside the caller's scope."""
    with hub.sessions() as s:
        v = s.get(Venue, venue_id)
        if v is None or not allowed(who, "venues.read", Target(v.district_id, v.id)):
            raise messages.Problem(404, "error.not_found")
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
        out["escalation"] = cases.escalation_words(cases.escalation(s, v.id), messages.current())
    return mask(who, "venue", out)


@router.get("/schools", summary="The schools", response_model=schemas.SchoolsOut, responses=errors(401, 403, 422))
def list_schools(hub: HubDep, who: PrincipalDep, district: str | None = None) -> dict:
    """The schools in the caller's scope (a venue operator's scope is its venues: no schools)."""
    require(who, "venues.read")
    q = select(School).order_by(School.id)
    clause = scope_filter(who, "venues.read", School.district_id)
    if clause is not None:
        q = q.where(clause)
    if district:
        q = q.where(School.district_id == district)
    with hub.sessions() as s:
        return {"schools": [{c: getattr(x, c) for c in registry.SCHOOL_COLUMNS} for x in s.scalars(q)]}


@router.get(
    "/registry/{what}.csv",
    summary="Export the venue or school registry (CSV)",
    response_class=PlainTextResponse,
    responses=errors(401, 403, 404, 422, ok={"content": {"text/csv": {}}, "description": "the registry as CSV"}),
)
def export_csv(what: str, hub: HubDep, who: PrincipalDep, district: str | None = None) -> PlainTextResponse:
    """``what``: venues or schools (404 otherwise); the import's own format (``venues.write``)."""
    if what not in REGISTRY_FILES:
        raise messages.Problem(404, "error.not_found")
    require(who, "venues.write")
    with hub.sessions() as s:
        text = (registry.export_venues if what == "venues" else registry.export_schools)(s, district)
    return PlainTextResponse(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{what}.csv"'},
    )


@router.post(
    "/registry/{what}.csv",
    summary="Import the venue or school registry (CSV)",
    response_model=schemas.ImportedOut,
    responses=errors(400, 401, 403, 404, 422),
)
async def import_csv(what: str, request: Request, who: PrincipalDep, address: ClientDep) -> dict:
    """The request's body is the CSV (UTF-8); every row is checked first and nothing changes when one is
    wrong (400 naming row and column). Audited."""
    if what not in REGISTRY_FILES:
        raise messages.Problem(404, "error.not_found")
    require(who, "venues.write")
    try:
        text = (await request.body()).decode("utf-8-sig", errors="strict")
    except UnicodeDecodeError as err:
        raise messages.Problem(400, "error.csv.not_utf8", byte=err.start) from None
    # the database work runs in a worker thread, not on the event loop (it may wait for SQLite's lock)
    return await run_in_threadpool(_import, what, text, hub_of(request), who, address)


def _import(what: str, text: str, hub: HubDep, who: Principal, address: str) -> dict:
    with hub.sessions() as s:
        try:
            n = (registry.import_venues if what == "venues" else registry.import_schools)(s, text)
        except registry.RegistryError as err:
            raise messages.Problem.of(400, err) from None
        audit.record(s, who, "venues.import" if what == "venues" else "schools.import", what, str(n), "", address)
        s.commit()
    return {"imported": n}


@router.get(
    "/inspection-list",
    summary="The key-period inspection list of a district",
    responses=errors(401, 403, 422),
)
def inspection_list(request: Request, district: str, who: PrincipalDep, day: date | None = None) -> dict:
    """The district's venues ranked for inspection on ``day`` (default today), with the key periods it falls in."""
    require(who, "cases.read", Target(district, None, (who.department,) if who.department else ()))
    hub = hub_of(request)
    # a day is the venues' calendar day (the rules' time zone), not UTC's: at 07:00 in Shanghai it is already today
    zone = ZoneInfo(hub.cfg.rules.violations.timezone)
    when = datetime.combine(day, datetime.max.time(), tzinfo=zone) if day else datetime.now(zone)
    with hub.sessions() as s:
        ranked = inspections.inspection_list(s, district, when.astimezone(UTC), hub.cfg.rules.key_periods)
    lang = messages.current()
    return {
        "district": district,
        "day": when.date().isoformat(),
        "key_periods": inspections.key_periods(when.date(), hub.calendar, hub.cfg.rules.key_periods, lang),
        "venues": [{**v, "reasons": [messages.render(r, lang) for r in v["reasons"]]} for v in ranked],
    }
