"""Reports and figures: the district reports for download, /api/reports/<district>/<period>.<csv|xlsx|pdf>
(downloads audited), the dashboard's figures (/api/dashboard) and the statute table with what the
calendar says of a day (/api/rules)."""

from __future__ import annotations

from datetime import UTC

from fastapi import APIRouter, HTTPException, Request, Response

from humiao.hub import audit, reports
from humiao.hub.access import Target
from humiao.hub.deps import PrincipalDep, client, hub_of, require

router = APIRouter(prefix="/api")


@router.get("/reports/{district}/{period}.{fmt}")
def download(district: str, period: str, fmt: str, request: Request, who: PrincipalDep) -> Response:
    # the district and period are checked first (400), so only a validated slug and a rebuilt period
    # label reach the query, the audit record and the Content-Disposition header
    try:
        district = reports.check_district(district)
        p = reports.Period.parse(period)
    except reports.ReportError as err:
        raise HTTPException(400, str(err)) from None
    require(who, "reports.read", Target(district, None, (who.department,) if who.department else ()))
    if fmt not in reports.FORMATS:
        raise HTTPException(404, f"format must be one of {', '.join(reports.FORMATS)}")
    name = reports.filename(district, p, fmt)
    hub = hub_of(request)
    with hub.sessions() as s:
        data, mime = reports.render(reports.figures(s, district, p, hub.calendar), fmt)
        # the object is the district (≤ 64 characters, like the column); the period and format are the why
        audit.record(s, who, "report.download", "report", district, f"{p.label}.{fmt}", client(request))
        s.commit()
    return Response(
        data,
        media_type=mime,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/dashboard")
def dashboard(request: Request, who: PrincipalDep, days: int = 30) -> dict:
    """Figures for the dashboard, over what the viewer may see: alarms per day (key periods marked),
    violations by venue type, repeat venues, open cases by deadline state."""
    from collections import Counter
    from datetime import datetime, timedelta

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
    per_day = Counter(r.raised_at.astimezone(reports.TZ).date() for r in rows)
    start = (now - timedelta(days=days - 1)).astimezone(reports.TZ).date()
    day_list = [start + timedelta(days=k) for k in range(days)]
    violations = [r for r in rows if r.verdict in ("confirmed", "suspected")]
    repeat = Counter(r.venue_id for r in violations)
    return {
        "days": [
            {
                "day": d.isoformat(),
                "alarms": per_day.get(d, 0),
                "key": hub.calendar.statutory(d) or hub.calendar.school_vacation(d) or "",
            }
            for d in day_list
        ],
        "by_venue_type": dict(Counter(r.venue_type for r in violations)),
        "by_verdict": dict(Counter(r.verdict for r in rows)),
        "repeat_venues": [
            {"venue_id": v, "name": names.get(v, v), "violations": n} for v, n in repeat.most_common(10) if n >= 2
        ],
        "open_cases": dict(Counter(case_service.deadline_state(c, now) for c in open_cases)),
    }


@router.get("/rules")
def rules_table(request: Request, who: PrincipalDep, day: str | None = None) -> dict:
    """The statute table the verdicts come from, and what the calendar says of a day (default today,
    Asia/Shanghai) — for any signed-in user: the law is public."""
    from datetime import date, datetime

    from humiao.hub.rules.statutes import RULES

    hub = hub_of(request)
    try:
        d = date.fromisoformat(day) if day else datetime.now(reports.TZ).date()
    except ValueError:
        raise HTTPException(400, "day: YYYY-MM-DD") from None
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
            "description": hub.calendar.describe(d),
        },
    }
