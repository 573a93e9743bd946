"""Reports and figures: the district reports for download, /api/reports/<district>/<period>.<csv|xlsx|pdf>
(downloads audited, in the caller's language), the dashboard's figures (/api/dashboard) and charts
(/api/dashboard/charts/<name>.svg, hub/charts.py), the venues' ID-check statistics
(/api/idchecks) and the statute table with what the calendar says of a day (/api/rules)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from humiao.hub import access, audit, charts, idchecks, messages, reports
from humiao.hub.access import Target
from humiao.hub.deps import PrincipalDep, client, hub_of, require
from humiao.hub.messages import LangDep
from humiao.hub.registry import SLUG
from humiao.hub.schemas import DashboardOut, RulesOut, errors

router = APIRouter(prefix="/api")


@router.get(
    "/reports/{district}/{period}.{fmt}",
    response_class=Response,
    summary="A district's monthly or quarterly report (CSV, XLSX, PDF), in the caller's language",
    responses={
        200: {
            "content": {"text/csv": {}, "application/pdf": {}, "application/vnd.ms-excel": {}},
            "description": "the report, as an attachment (the download is audited)",
        },
        **errors(400, 401, 403, 404, 422),
    },
)
def download(district: str, period: str, fmt: str, request: Request, who: PrincipalDep, lang: LangDep) -> Response:
    """A district's report for a month (2026-11) or quarter (2026Q4) as csv, xlsx or pdf, in the caller's
    language (``?lang=``, else ``Accept-Language``, else Chinese). What is wrong with a request is answered in
    that language too: a period or district id that cannot be one (400), a format not offered (404), another
    district's report (403), a district the hub does not know (404)."""
    # the district and period are checked first (400), so only a validated slug and a rebuilt period
    # label reach the query, the audit record and the Content-Disposition header
    try:
        district = reports.check_district(district)
        p = reports.Period.parse(period)
    except reports.ReportError as err:
        raise err.problem(400) from None
    try:
        reports.check_format(fmt)
    except reports.ReportError as err:
        raise err.problem(404) from None
    if not access.allowed(who, "reports.read", Target(district, None, (who.department,) if who.department else ())):
        raise messages.Problem(403, "report.error.not_yours", district=district)
    name = reports.filename(district, p, fmt)
    hub = hub_of(request)
    with hub.sessions() as s:
        if district not in reports.known_districts(s):
            raise messages.Problem(404, "report.error.unknown_district", district=district)
        f = reports.figures(
            s, district, p, hub.calendar, hub.cfg.rules.violations.id_check_window_min, hub.cfg.rules.key_periods
        )
        data, mime = reports.render(f, fmt, lang)
        # the object is the district (≤ 64 characters, like the column); the period and format are the why
        audit.record(s, who, "report.download", "report", district, f"{p.label}.{fmt}", client(request))
        s.commit()
    return Response(
        data,
        media_type=mime,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "Content-Language": lang,
        },
    )


DashboardDays = Annotated[int, Query(description="the last N days, 7 … 366 (outside: the nearest)")]


@dataclass
class _Seen:
    """What the dashboard shows of the last days, over what the viewer may see."""

    days: list[charts.Day]
    by_type: dict[str, Counter[str]]
    by_verdict: Counter[str]
    repeat: list[dict]
    open_cases: Counter[str]


def _seen(request: Request, who, days: int) -> _Seen:
    from sqlalchemy import select

    from humiao.hub import cases as case_service
    from humiao.hub.access import scope_filter
    from humiao.hub.api_alarms import visible
    from humiao.hub.tables import Alarm, Case, Venue

    require(who, "alarms.read")
    hub = hub_of(request)
    days = min(max(days, 7), 366)
    now = datetime.now(UTC)
    since = now - timedelta(days=days)
    q = select(Alarm.raised_at, Alarm.venue_id, Alarm.venue_type, Alarm.verdict).where(Alarm.raised_at >= since)
    clause = visible(who)
    with hub.sessions() as s:
        rows = s.execute(q if clause is None else q.where(clause)).all()
        cq = select(Case).where(Case.status.not_in(["decided", "closed"]))
        cclause = scope_filter(who, "cases.read", Case.district_id, Case.venue_id, lambda d: Case.department == d)
        open_cases = s.scalars(cq if cclause is None else cq.where(cclause)).all()
        names = dict(s.execute(select(Venue.id, Venue.name)).all())
    per_day: dict[date, Counter[str]] = {}
    for r in rows:
        per_day.setdefault(r.raised_at.astimezone(reports.TZ).date(), Counter())[r.verdict] += 1
    start = (now - timedelta(days=days - 1)).astimezone(reports.TZ).date()
    day_list = [start + timedelta(days=k) for k in range(days)]
    # one alarm per alert, one alert per person-visit: each visit counts once, by its alarm's verdict
    # (decided by the alert's latest ID check); confirmed and suspected violations apart
    by_type: dict[str, Counter[str]] = {}
    per_venue: dict[str, Counter[str]] = {}
    for r in rows:
        if r.verdict in reports.VIOLATIONS:
            by_type.setdefault(r.venue_type, Counter())[r.verdict] += 1
            per_venue.setdefault(r.venue_id, Counter())[r.verdict] += 1
    return _Seen(
        days=[
            charts.Day(d, per_day.get(d, Counter()), charts.key_periods(d, hub.calendar, hub.cfg.rules.key_periods))
            for d in day_list
        ],
        by_type=by_type,
        by_verdict=Counter(r.verdict for r in rows),
        repeat=reports.repeat_venues(per_venue, names),
        open_cases=Counter(case_service.deadline_state(c, now) for c in open_cases),
    )


@router.get(
    "/dashboard", response_model=DashboardOut, summary="The dashboard's figures", responses=errors(401, 403, 422)
)
def dashboard(request: Request, who: PrincipalDep, lang: LangDep, days: DashboardDays = 30) -> dict:
    """Figures for the dashboard, over what the viewer may see: alarms per day by verdict (the key periods
    each day is in, in the caller's words), violations (confirmed and suspected apart) in all and by venue
    type, repeat venues (two or more violations, each venue once), open cases by deadline state. The charts
    of the same figures: ``/api/dashboard/charts/<name>.svg``."""
    seen = _seen(request, who, days)
    return {
        "days": [
            {
                "day": d.day.isoformat(),
                "alarms": sum(d.counts.values()),
                **{v: d.counts.get(v, 0) for v in charts.VERDICTS},
                "key": next((p.name for p in d.periods if p.kind != "weekend"), ""),
                "key_periods": [
                    charts.describe_period(p.kind, [charts.period_name(p, lang)] if p.name else [], lang)
                    for p in d.periods
                ],
            }
            for d in seen.days
        ],
        "violations": {v: sum(c[v] for c in seen.by_type.values()) for v in reports.VIOLATIONS},
        "by_venue_type": {t: {v: c[v] for v in reports.VIOLATIONS} for t, c in sorted(seen.by_type.items())},
        "by_verdict": dict(seen.by_verdict),
        "repeat_venues": [{**r, "name": r["venue"]} for r in seen.repeat[:10]],
        "open_cases": dict(seen.open_cases),
        "charts": {name: f"/api/dashboard/charts/{name}.svg?days={len(seen.days)}" for name in charts.NAMES},
    }


@router.get(
    "/dashboard/charts/{name}.svg",
    response_class=Response,
    summary="One of the dashboard's charts, as SVG in the caller's language",
    responses={200: {"content": {"image/svg+xml": {}}, "description": "the chart"}, **errors(401, 403, 404, 422)},
)
def dashboard_chart(
    name: str,
    request: Request,
    who: PrincipalDep,
    lang: LangDep,
    days: DashboardDays = 30,
    title: Annotated[bool, Query(description="the chart's own title (false where the page heads it)")] = True,
) -> Response:
    """One of the dashboard's charts (``alarms-per-day``, ``violations-by-type``) as SVG, over what the viewer may
    see (the same figures as ``/api/dashboard``), its words in the caller's language, its text drawn as
    outlines (no font needed by the browser)."""
    require(who, "alarms.read")
    if name not in charts.NAMES:
        raise messages.Problem(404, "chart.error.unknown", name=name[:40], names=", ".join(charts.NAMES))
    seen = _seen(request, who, days)
    if name == "alarms-per-day":
        svg = charts.alarms_per_day(seen.days, lang, title=title)
    else:
        svg = charts.violations_by_type(seen.by_type, lang, title=title)
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, no-store", "Content-Language": lang, "Vary": "Accept-Language, Cookie"},
    )


class Words(BaseModel):
    zh: str
    en: str


class OutcomeCount(BaseModel):
    result: str = Field(description="the stored key (proto/vocabulary.py RESULTS); show `words`, not this")
    words: Words
    alerts: int = Field(description="alerts whose latest ID check had this outcome")
    walk_ups: int = Field(description="walk-up checks with this outcome")


class VenueIdChecks(BaseModel):
    venue_id: str
    district_id: str
    name: str
    venue_type: str
    alerts: int = Field(description="alerts (CHECK ID) in the period: one per person-visit")
    checked: int = Field(description="alerts answered by staff within the check window")
    checked_share: float | None = Field(description="checked / alerts (none without alerts)")
    no_outcome: int = Field(description="alerts with no ID check at all")
    median_time_to_check_s: float | None = Field(
        description="median seconds from the alert to the staff's check (staff outcomes only)"
    )
    outcomes: list[OutcomeCount] = Field(description="every outcome kind, in the catalogue's order")
    walk_ups: int = Field(description="walk-up checks: staff checked someone the camera did not flag")
    walk_up_minors: int = Field(description="minors among the walk-up checks: what the camera missed")
    minors_refused: int = Field(description="minors refused, at alerts and walk-ups: the venue's successes")


class IdCheckStats(BaseModel):
    since: datetime
    until: datetime
    window_min: float = Field(description="the check window (rules.violations.id_check_window_min)")
    venues: list[VenueIdChecks]


def venue_id_checks(v: idchecks.VenueChecks) -> VenueIdChecks:
    return VenueIdChecks(
        venue_id=v.venue_id,
        district_id=v.district_id,
        name=v.name,
        venue_type=v.venue_type,
        alerts=v.alerts,
        checked=v.checked,
        checked_share=v.checked_share,
        no_outcome=v.no_outcome,
        median_time_to_check_s=v.median_time_to_check_s,
        outcomes=[
            OutcomeCount(result=k, words=Words(**idchecks.words(k)), alerts=v.outcomes[k], walk_ups=v.walk_ups[k])
            for k in idchecks.KINDS
            if k != idchecks.OTHER or v.outcomes[k] or v.walk_ups[k]
        ],
        walk_ups=v.walk_up_checks,
        walk_up_minors=v.walk_up_minors,
        minors_refused=v.minors_refused,
    )


@router.get("/idchecks", response_model=IdCheckStats)
def id_check_stats(
    request: Request,
    who: PrincipalDep,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    period: Annotated[str | None, Query(max_length=16, description="a month (2026-11) or quarter (2026Q4)")] = None,
    venue_id: Annotated[str | None, Query(max_length=64, pattern=SLUG)] = None,
) -> IdCheckStats:
    """Per-venue ID-check statistics over the last ``days`` days, or over ``period``, for the venues the
    viewer may see (``venues.read``: operators their own venues, inspectors their district)."""
    require(who, "venues.read")
    if period is not None:
        try:
            since, until = reports.Period.parse(period).bounds()
        except reports.ReportError as err:
            raise err.problem(400) from None
    else:
        until = datetime.now(UTC)
        since = until - timedelta(days=days)
    hub = hub_of(request)
    window = hub.cfg.rules.violations.id_check_window_min
    with hub.sessions() as s:
        found = idchecks.venue_stats(s, since, until, window, who=who, venue_id=venue_id)
    return IdCheckStats(since=since, until=until, window_min=window, venues=[venue_id_checks(v) for v in found])


@router.get(
    "/rules",
    response_model=RulesOut,
    summary="The statute table and what the calendar says of a day",
    responses=errors(400, 401, 422),
)
def rules_table(request: Request, who: PrincipalDep, lang: LangDep, day: str | None = None) -> dict:
    """The statute table the verdicts come from, and what the calendar says of a day (default today,
    Asia/Shanghai) — for any signed-in user: the law is public."""
    from datetime import date, datetime

    from humiao.hub.rules.statutes import RULES

    hub = hub_of(request)
    try:
        d = date.fromisoformat(day) if day else datetime.now(reports.TZ).date()
    except ValueError:
        raise messages.Problem(400, "report.error.bad_day", day=day[:40] if day else "") from None
    return {
        "venue_types": [
            {
                "venue_type": r.venue_type,
                "name_zh": r.name_zh,
                "name_en": r.name_en,
                "minors": r.minors.value,
                "forbidden": r.forbidden,
                "enforcers": [e.value for e in r.enforcers],
                "penalty": r.penalty,
                "sources": [f"{s.citation} {s.certainty}" for s in r.sources],
                "sign": r.sign,
            }
            for r in RULES.values()
        ],
        "calendar": {
            "day": d.isoformat(),
            "statutory_holiday": hub.calendar.statutory(d),
            "school_vacation": hub.calendar.school_vacation(d),
            "weekend": d.weekday() >= 5,
            "arcade_devices_allowed_for_minors": bool(hub.calendar.statutory(d)),
            "description": hub.calendar.describe(d, lang),
        },
    }
