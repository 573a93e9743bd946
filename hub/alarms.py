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

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, insert, select
from sqlalchemy.orm import Session

from humiao.hub.access import SYSTEM_ACTOR
from humiao.hub.messages import Message, Refusal, msg
from humiao.hub.rules.calendar import HolidayCalendar
from humiao.hub.rules.violations import Outcome, Status, Verdict, ViolationConfig, decide
from humiao.hub.store import insert_new
from humiao.hub.tables import Alarm, AlarmEvent, Alert, IdCheck, Venue, utcnow

SEVERITY = {Status.CONFIRMED: "critical", Status.SUSPECTED: "major", Status.PENDING: "minor", Status.NONE: "info"}
RULES_ACTOR = SYSTEM_ACTOR  # venue operators see only these history entries (hub/access.py VIEWS)


class AlarmError(Refusal):
    """A change to an alarm that cannot be made (its words in hub/catalogue/*/rules.json, ``alarm.*``)."""


def _log(
    session: Session,
    alarm: Alarm,
    actor: str,
    action: str,
    detail: str = "",
    at: datetime | None = None,
    message: Message | None = None,
) -> None:
    """A history entry: ``detail`` a person's own words (as written), ``message`` the hub's (hub/messages.py)."""
    session.add(
        AlarmEvent(alarm_id=alarm.id, at=at or utcnow(), actor=actor, action=action, detail=detail, message=message)
    )


def verdict_message(v: Verdict) -> Message:
    """The history's words for a verdict: the verdict and its last reason."""
    return msg("history.verdict", verdict=msg(f"verdict.{v.status.value}"), reason=v.reasons[-1])


def _outcomes(session: Session, event_ids: list[str]) -> dict[str, Outcome]:
    """The latest ID-check outcome of each of these alerts, in one query per 500 (several checks of one
    alert count once: the latest, by its time, then by arrival; hub/idchecks.py counts the same way)."""
    out: dict[str, Outcome] = {}
    for i in range(0, len(event_ids), 500):
        rows = session.scalars(
            select(IdCheck).where(IdCheck.event_id.in_(event_ids[i : i + 500])).order_by(IdCheck.checked_at, IdCheck.id)
        )
        for c in rows:  # ordered: the latest check wins
            if c.event_id is not None:
                out[c.event_id] = outcome_of(c)
    return out


def outcome_of(c: IdCheck) -> Outcome:
    """What the rules need of a stored check."""
    return Outcome(
        c.result, c.age_years, c.under_14, c.checked_at, c.guardian_contact_recorded, c.co_occupants_recorded
    )


def verdict_fields(v: Verdict) -> dict:
    """What an alarm stores of a verdict (raising and re-deciding alike)."""
    return {
        "verdict": v.status.value,
        "severity": SEVERITY[v.status],
        "reasons": v.reasons,
        "calendar": v.calendar,
        "departments": [d.value for d in v.departments],
        "sources": v.sources,
    }


def _apply(
    session: Session,
    alarm: Alarm,
    alert: Alert,
    outcome: Outcome | None,
    now: datetime,
    calendar: HolidayCalendar,
    cfg: ViolationConfig,
) -> bool:
    """Bring one alarm's verdict up to date; whether it changed."""
    verdict = decide(alarm.venue_type, alert.decided_at, outcome, now, calendar, cfg)
    changed = alarm.verdict != verdict.status.value
    for name, value in verdict_fields(verdict).items():
        setattr(alarm, name, value)
    alarm.updated_at = now
    if not changed:
        return False
    _log(session, alarm, RULES_ACTOR, "verdict", at=now, message=verdict_message(verdict))
    if verdict.status is Status.NONE and alarm.active:
        alarm.active, alarm.cleared_at, alarm.cleared_by = False, now, RULES_ACTOR
        _log(session, alarm, RULES_ACTOR, "cleared", at=now, message=msg("history.no_violation"))
    elif verdict.status in (Status.SUSPECTED, Status.CONFIRMED) and not alarm.active:
        alarm.active, alarm.acknowledged, alarm.cleared_at, alarm.cleared_by = True, False, None, None
        _log(session, alarm, RULES_ACTOR, "reactivated", at=now, message=msg(f"verdict.{verdict.status.value}"))
    return True


def evaluate(
    session: Session,
    now: datetime | None = None,
    calendar: HolidayCalendar | None = None,
    cfg: ViolationConfig | None = None,
    limit: int = 1000,
) -> int:
    """One round, at most ``limit`` alarms per kind of work (short transactions beside ingest):
    raise alarms for new alerts, settle pending ones whose check window has run out, and re-decide
    those with an ID check newer than their verdict. Only these can change. The number of alarms
    raised or changed; a round that hit ``limit`` leaves work for the next (``pending_work``).
    The venue's registered type wins over the one the edge reported."""
    now, calendar, cfg = now or utcnow(), calendar or HolidayCalendar(), cfg or ViolationConfig()
    touched = 0
    new = session.execute(
        select(Alert, Venue.venue_type)
        .outerjoin(Venue, Venue.id == Alert.venue_id)
        .outerjoin(Alarm, Alarm.event_id == Alert.event_id)
        .where(Alarm.id.is_(None), Alert.decision == "check_id")
        .order_by(Alert.id)
        .limit(limit)
    ).all()
    if new:
        touched += _raise(session, new, now, calendar, cfg)
    window_over = now - timedelta(minutes=cfg.id_check_window_min)
    due = session.execute(
        select(Alarm, Alert)
        .join(Alert, Alert.event_id == Alarm.event_id)
        .where(Alarm.verdict == Status.PENDING.value, Alert.decided_at <= window_over)
        .limit(limit)
    ).all()
    newer_check = (
        select(IdCheck.id).where(IdCheck.event_id == Alarm.event_id, IdCheck.received_at > Alarm.updated_at).exists()
    )
    checked = session.execute(
        select(Alarm, Alert).join(Alert, Alert.event_id == Alarm.event_id).where(newer_check).limit(limit)
    ).all()
    todo = {alarm.id: (alarm, alert) for alarm, alert in [*due, *checked]}
    if todo:
        outcomes = _outcomes(session, [alarm.event_id for alarm, _ in todo.values()])
        for alarm, alert in todo.values():
            touched += _apply(session, alarm, alert, outcomes.get(alarm.event_id), now, calendar, cfg)
    session.info["alarms_more_work"] = len(new) >= limit or len(due) >= limit or len(checked) >= limit
    return touched


def _raise(
    session: Session, new: Sequence[Row[Alert, str]], now: datetime, calendar: HolidayCalendar, cfg: ViolationConfig
) -> int:
    """New alarms in bulk (``new``: each alert with its venue's registered type, None when the venue is
    not registered): verdicts first, then one idempotent insert (a second hub worker raising the
    same alarms inserts nothing) and their history rows in one executemany."""
    outcomes = _outcomes(session, [a.event_id for a, _ in new])
    rows, firsts = [], {}
    for alert, registered in new:
        venue_type = registered or alert.venue_type
        v = decide(venue_type, alert.decided_at, outcomes.get(alert.event_id), now, calendar, cfg)
        cleared = v.status is Status.NONE
        rows.append(
            dict(
                event_id=alert.event_id,
                district_id=alert.district_id,
                venue_id=alert.venue_id,
                venue_type=venue_type,
                **verdict_fields(v),
                active=not cleared,
                acknowledged=False,
                assignee=None,
                raised_at=alert.stored_at,
                acknowledged_at=None,
                acknowledged_by=None,
                cleared_at=now if cleared else None,
                cleared_by=RULES_ACTOR if cleared else None,
                updated_at=now,
            )
        )
        firsts[alert.event_id] = (alert.stored_at, verdict_message(v), cleared)
    inserted = insert_new(session, Alarm, rows, "event_id")
    if not inserted:
        return 0
    ids = dict(session.execute(select(Alarm.event_id, Alarm.id).where(Alarm.event_id.in_(sorted(inserted)))).all())
    events = []
    for event_id in sorted(inserted):
        raised_at, verdict_said, cleared = firsts[event_id]
        alarm_id = ids[event_id]
        events.append(
            {
                "alarm_id": alarm_id,
                "at": raised_at,
                "actor": RULES_ACTOR,
                "action": "raised",
                "detail": "",
                "message": msg("history.raised", event_id=event_id),
            }
        )
        events.append(
            {
                "alarm_id": alarm_id,
                "at": now,
                "actor": RULES_ACTOR,
                "action": "verdict",
                "detail": "",
                "message": verdict_said,
            }
        )
        if cleared:
            events.append(
                {
                    "alarm_id": alarm_id,
                    "at": now,
                    "actor": RULES_ACTOR,
                    "action": "cleared",
                    "detail": "",
                    "message": msg("history.no_violation"),
                }
            )
    session.execute(insert(AlarmEvent), events)
    return len(inserted)


def pending_work(session: Session) -> bool:
    """Whether the last ``evaluate`` on this session stopped at its limit."""
    return bool(session.info.get("alarms_more_work"))


def _get(session: Session, alarm_id: int) -> Alarm:
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise AlarmError("alarm.unknown", alarm=alarm_id)
    return alarm


def acknowledge(session: Session, alarm_id: int, actor: str, comment: str = "") -> Alarm:
    alarm = _get(session, alarm_id)
    if alarm.acknowledged:
        raise AlarmError("alarm.already_acknowledged", alarm=alarm_id, by=alarm.acknowledged_by or "")
    now = utcnow()
    alarm.acknowledged, alarm.acknowledged_at, alarm.acknowledged_by, alarm.updated_at = True, now, actor, now
    _log(session, alarm, actor, "acknowledged", comment, now)
    return alarm


def assign(session: Session, alarm_id: int, actor: str, assignee: str) -> Alarm:
    alarm = _get(session, alarm_id)
    alarm.assignee, alarm.updated_at = assignee, utcnow()
    _log(session, alarm, actor, "assigned", assignee)
    return alarm


def comment(session: Session, alarm_id: int, actor: str, text: str) -> Alarm:
    if not text.strip():
        raise AlarmError("alarm.empty_comment")
    alarm = _get(session, alarm_id)
    _log(session, alarm, actor, "commented", text.strip())
    return alarm


def clear(session: Session, alarm_id: int, actor: str, reason: str) -> Alarm:
    if not reason.strip():
        raise AlarmError("alarm.clear_needs_reason")
    alarm = _get(session, alarm_id)
    if not alarm.active:
        raise AlarmError("alarm.already_cleared", alarm=alarm_id)
    now = utcnow()
    alarm.active, alarm.cleared_at, alarm.cleared_by, alarm.updated_at = False, now, actor, now
    _log(session, alarm, actor, "cleared", reason.strip(), now)
    return alarm


def history(session: Session, alarm_id: int) -> list[AlarmEvent]:
    return list(session.scalars(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id).order_by(AlarmEvent.id)))
