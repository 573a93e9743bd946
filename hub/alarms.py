"""Alarms: every stored alert becomes an alarm carrying the rules' verdict, kept current as ID-check
outcomes arrive and check windows run out; inspectors acknowledge, assign, comment and clear.

    alert ─► verdict (hub.rules) ─► alarm: severity, active/cleared × unacknowledged/acknowledged
                  ▲ id_checks, time                      └► alarm_events (append-only history)

Severity follows the verdict: confirmed → critical, suspected → major, pending → minor, none → info.
An alarm whose verdict becomes "none" is cleared by the rules; one that becomes suspected or
confirmed again after being cleared is re-activated (and unacknowledged). Dedup: the edge sends one
alert per person-visit, and an alarm is unique per alert; the same person seen by two cameras of
one venue are two visits (Humiao never identifies faces to link them).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Alarm, AlarmEvent, Alert, IdCheck, Venue
from hub.rules.calendar import HolidayCalendar
from hub.rules.violations import Outcome, Status, ViolationConfig, decide

SEVERITY = {Status.CONFIRMED: "critical", Status.SUSPECTED: "major", Status.PENDING: "minor", Status.NONE: "info"}
RULES_ACTOR = "rules"


class AlarmError(ValueError):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _log(session: Session, alarm: Alarm, actor: str, action: str, detail: str = "", at: datetime | None = None) -> None:
    session.add(AlarmEvent(alarm_id=alarm.id, at=at or _now(), actor=actor, action=action, detail=detail))


def _outcome(session: Session, event_id: str) -> Outcome | None:
    check = session.scalars(select(IdCheck).where(IdCheck.event_id == event_id)
                            .order_by(IdCheck.checked_at.desc()).limit(1)).first()
    if check is None:
        return None
    return Outcome(check.result, check.age_years, check.under_14, check.checked_at)


def _apply(session: Session, alarm: Alarm, alert: Alert, venue_type: str, now: datetime,
           calendar: HolidayCalendar, cfg: ViolationConfig) -> None:
    verdict = decide(venue_type, alert.decided_at, _outcome(session, alert.event_id), now, calendar, cfg)
    changed = alarm.verdict != verdict.status.value
    alarm.verdict, alarm.severity = verdict.status.value, SEVERITY[verdict.status]
    alarm.reasons, alarm.calendar = verdict.reasons, verdict.calendar
    alarm.reasons_zh, alarm.calendar_zh = verdict.reasons_zh, verdict.calendar_zh
    alarm.departments, alarm.sources = [d.value for d in verdict.departments], verdict.sources
    alarm.updated_at = now
    if not changed:
        return
    _log(session, alarm, RULES_ACTOR, "verdict", f"{verdict.status.value}: {verdict.reasons[-1]}", now)
    if verdict.status is Status.NONE and alarm.active:
        alarm.active, alarm.cleared_at, alarm.cleared_by = False, now, RULES_ACTOR
        _log(session, alarm, RULES_ACTOR, "cleared", "no violation", now)
    elif verdict.status in (Status.SUSPECTED, Status.CONFIRMED) and not alarm.active:
        alarm.active, alarm.acknowledged, alarm.cleared_at, alarm.cleared_by = True, False, None, None
        _log(session, alarm, RULES_ACTOR, "reactivated", verdict.status.value, now)


def evaluate(session: Session, now: datetime | None = None, calendar: HolidayCalendar | None = None,
             cfg: ViolationConfig | None = None) -> int:
    """Raise alarms for new alerts and bring open verdicts up to date; the number of alarms touched.
    The venue's registered type wins over the one the edge reported."""
    now, calendar, cfg = now or _now(), calendar or HolidayCalendar(), cfg or ViolationConfig()
    touched = 0
    new = session.execute(select(Alert, Venue.venue_type).outerjoin(Venue, Venue.id == Alert.venue_id)
                          .outerjoin(Alarm, Alarm.event_id == Alert.event_id)
                          .where(Alarm.id.is_(None), Alert.decision == "check_id").order_by(Alert.id)).all()
    for alert, registered_type in new:
        alarm = Alarm(event_id=alert.event_id, district_id=alert.district_id, venue_id=alert.venue_id,
                      venue_type=registered_type or alert.venue_type, verdict="", severity="info", reasons=[],
                      reasons_zh=[], calendar_zh="",
                      departments=[], sources=[], calendar="", active=True, acknowledged=False,
                      raised_at=alert.stored_at, updated_at=now)
        session.add(alarm)
        session.flush()
        _log(session, alarm, RULES_ACTOR, "raised", f"alert {alert.event_id}", alert.stored_at)
        _apply(session, alarm, alert, alarm.venue_type, now, calendar, cfg)
        touched += 1
    # open verdicts change with an ID check or with time; a recorded check can also settle a closed one
    open_ = session.execute(select(Alarm, Alert).join(Alert, Alert.event_id == Alarm.event_id)
                            .where(Alarm.verdict.in_([Status.PENDING.value, Status.SUSPECTED.value])
                                   | Alarm.event_id.in_(select(IdCheck.event_id).where(IdCheck.received_at > Alarm.updated_at)))
                            ).all()
    for alarm, alert in open_:
        before = alarm.verdict
        _apply(session, alarm, alert, alarm.venue_type, now, calendar, cfg)
        touched += alarm.verdict != before
    return touched


def _get(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise AlarmError(f"no alarm {alarm_id}")
    return alarm


def acknowledge(session: Session, alarm_id: int, actor: str, comment: str = "") -> Alarm:
    alarm = _get(session, alarm_id)
    if alarm.acknowledged:
        raise AlarmError(f"alarm {alarm_id} is already acknowledged by {alarm.acknowledged_by}")
    now = _now()
    alarm.acknowledged, alarm.acknowledged_at, alarm.acknowledged_by, alarm.updated_at = True, now, actor, now
    _log(session, alarm, actor, "acknowledged", comment, now)
    return alarm


def assign(session: Session, alarm_id: int, actor: str, assignee: str) -> Alarm:
    alarm = _get(session, alarm_id)
    alarm.assignee, alarm.updated_at = assignee, _now()
    _log(session, alarm, actor, "assigned", assignee)
    return alarm


def comment(session: Session, alarm_id: int, actor: str, text: str) -> Alarm:
    if not text.strip():
        raise AlarmError("an empty comment")
    alarm = _get(session, alarm_id)
    _log(session, alarm, actor, "commented", text.strip())
    return alarm


def clear(session: Session, alarm_id: int, actor: str, reason: str) -> Alarm:
    if not reason.strip():
        raise AlarmError("clearing an alarm needs a reason")
    alarm = _get(session, alarm_id)
    if not alarm.active:
        raise AlarmError(f"alarm {alarm_id} is already cleared")
    now = _now()
    alarm.active, alarm.cleared_at, alarm.cleared_by, alarm.updated_at = False, now, actor, now
    _log(session, alarm, actor, "cleared", reason.strip(), now)
    return alarm


def history(session: Session, alarm_id: int) -> list[AlarmEvent]:
    return list(session.scalars(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)))
