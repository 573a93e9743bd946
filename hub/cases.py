"""The joint-enforcement case queue and the administrative-penalty procedure (行政处罚法, RULES.md).

    open ─► assigned (≥ 2 officers with enforcement ids, art. 42) ─► inspected (findings, on-site notes)
         ─► decided (notice of the right to respond art. 44/63 and legal review art. 58 first;
                     warning / fine / suspension / revocation; payment within 15 days, art. 67) ─► closed
    any open state ─► transferred to another department (from, to, why, when; the receiver takes it over)

Every change is appended to ``case_events`` (the database refuses updates and deletes). A case holds
the evidence of its alarms (no retention purge while it is open). The decision deadline is 90 days
from opening (art. 60), with a warning from 15 days before. One act is not fined twice (art. 29):
a fine is refused when another department's case on the same alarm already carries one.
Escalation (娱乐场所管理条例 art. 53, KTV and arcades): 3 warnings or fines in 2 years + a new
violation → suspension 3-6 months; 2 suspensions in 2 years + a new one → licence revocation.
Limitation: 2 years (art. 36).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from humiao.hub import messages
from humiao.hub.access import DEPARTMENTS, Principal
from humiao.hub.rules.statutes import rule_for
from humiao.hub.tables import Alarm, Case, CaseAlarm, CaseEvent, Evidence, Venue, utcnow

DECISION_DAYS, PAYMENT_DAYS, WARN_DAYS, LIMITATION_DAYS = 90, 15, 15, 730
STATUSES = ("open", "assigned", "inspected", "decided", "closed")
DECISIONS = ("no_penalty", "warning", "fine", "suspension", "revocation")
ESCALATING_TYPES = ("ktv", "arcade")
# The procedure, once: each step (action) and the statuses a case may be in for it. The services below check
# it, /api/meta serves it, and the panel offers only what it allows.
TRANSITIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "assign": ("open", "assigned"),
        "inspect": ("assigned", "inspected"),
        "respond_notice": ("inspected",),
        "legal_review": ("inspected",),
        "decide": ("inspected",),
        "pay": ("decided",),
        "close": ("decided",),
        "transfer": ("open", "assigned", "inspected"),
    }
)


def allowed_actions(status: str) -> list[str]:
    """The steps a case in ``status`` may take, in the procedure's order."""
    return [action for action, statuses in TRANSITIONS.items() if status in statuses]


def steps_for(case: Case) -> list[str]:
    """The steps this case may take now: its status's, less paying when there is no unpaid fine."""
    return [a for a in allowed_actions(case.status) if a != "pay" or (case.decision == "fine" and not case.paid_at)]


class CaseError(ValueError):
    """A step the procedure refuses: a catalogue key (``error.case.…``) and its parameters, so that the API
    answers in the caller's language (``messages.Problem``); ``str()`` is the English words."""

    def __init__(self, code: str, **params) -> None:
        super().__init__(messages.text(code, "en", **params))
        self.code, self.params = code, params


def _log(session: Session, case: Case, actor: str, action: str, **detail) -> None:
    session.add(
        CaseEvent(
            case_id=case.id,
            at=utcnow(),
            actor=actor,
            action=action,
            detail={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in detail.items()},
        )
    )


def _need(case: Case, action: str) -> None:
    statuses = TRANSITIONS[action]
    if case.status not in statuses:
        raise CaseError(
            "error.case.needs_status",
            number=case.number,
            state=messages.msg(f"cs.{case.status}"),
            statuses=[messages.msg(f"cs.{s}") for s in statuses],
        )


def check_known(alarm_ids: list[int], found: Sequence[Alarm]) -> None:
    """CaseError naming the ids not among ``found`` (HTTP: the alarms the caller may see, so that one
    outside its scope reads exactly as one that does not exist)."""
    missing = set(alarm_ids) - {a.id for a in found}
    if missing:
        raise CaseError("error.case.unknown_alarms", ids=sorted(missing))


def open_case(
    session: Session, who: Principal, alarm_ids: list[int], source: str = "alert", facts: dict | None = None
) -> Case:
    if who.department is None:
        raise CaseError("error.case.not_department")
    if not alarm_ids:
        raise CaseError("error.case.no_alarms")
    found = session.scalars(select(Alarm).where(Alarm.id.in_(alarm_ids))).all()
    check_known(alarm_ids, found)
    venues = {a.venue_id for a in found}
    if len(venues) != 1:
        raise CaseError("error.case.one_venue", venues=sorted(venues))
    first = min(found, key=lambda a: a.raised_at)
    now = utcnow()
    if (now - first.raised_at).days > LIMITATION_DAYS:
        raise CaseError("error.case.limitation", day=f"{first.raised_at:%Y-%m-%d}")
    rule = rule_for(first.venue_type)
    year = now.year
    seq = (
        session.execute(
            select(func.count())
            .select_from(Case)
            .where(Case.district_id == first.district_id, Case.number.like(f"%-{year}-%"))
        ).scalar_one()
        + 1
    )
    case = Case(
        number=f"{first.district_id.upper()}-{who.department[:2].upper()}-{year}-{seq:04d}",
        district_id=first.district_id,
        venue_id=first.venue_id,
        venue_type=first.venue_type,
        department=who.department,
        status="open",
        source=source,
        rule=rule.forbidden,
        opened_at=now,
        opened_by=who.user_id,
        decision_deadline=now + timedelta(days=DECISION_DAYS),
        officers=[],
        facts={"first_alarm_at": first.raised_at.isoformat(), "calendar": first.calendar, **(facts or {})},
        updated_at=now,
    )
    session.add(case)
    session.flush()
    for a in found:
        session.add(CaseAlarm(case_id=case.id, alarm_id=a.id))
    session.execute(update(Evidence).where(Evidence.event_id.in_([a.event_id for a in found])).values(held=True))
    _log(session, case, who.user_id, "opened", alarms=sorted(alarm_ids), source=source)
    return case


def get(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise CaseError("error.case.no_case", id=case_id)
    return case


def assign_officers(session: Session, case: Case, who: Principal, officers: list[dict]) -> Case:
    _need(case, "assign")
    clean = [
        {"user": str(o["user"]), "enforcement_id": str(o["enforcement_id"])}
        for o in officers
        if o.get("user") and o.get("enforcement_id")
    ]
    if len({o["user"] for o in clean}) < 2:
        raise CaseError("error.case.two_officers")
    case.officers, case.status, case.updated_at = clean, "assigned", utcnow()
    _log(session, case, who.user_id, "assigned", officers=clean)
    return case


def record_inspection(
    session: Session, case: Case, who: Principal, findings: str, evidence_notes: str = "", minor: dict | None = None
) -> Case:
    _need(case, "inspect")
    if not findings.strip():
        raise CaseError("error.case.findings")
    case.findings, case.evidence_notes, case.status, case.updated_at = (
        findings.strip(),
        evidence_notes.strip(),
        "inspected",
        utcnow(),
    )
    if minor:  # minimised: age, under 14, guardian notified — never a name
        allowed = {k: minor[k] for k in ("age", "under_14", "guardian_notified_at") if k in minor}
        case.facts = {**case.facts, "minor": allowed}
    _log(session, case, who.user_id, "inspected", findings=case.findings, evidence_notes=case.evidence_notes)
    return case


def notify_right_to_respond(session: Session, case: Case, who: Principal, hearing_requested: bool = False) -> Case:
    _need(case, "respond_notice")
    case.respond_notice_at, case.hearing_requested, case.updated_at = utcnow(), hearing_requested, utcnow()
    _log(session, case, who.user_id, "respond_notice", hearing_requested=hearing_requested)
    return case


def legal_review(session: Session, case: Case, who: Principal, opinion: str) -> Case:
    _need(case, "legal_review")
    if not opinion.strip():
        raise CaseError("error.case.opinion")
    case.legal_review_at, case.legal_review_by, case.legal_review_opinion = utcnow(), who.user_id, opinion.strip()
    case.updated_at = utcnow()
    _log(session, case, who.user_id, "legal_review", opinion=case.legal_review_opinion)
    return case


def other_actions(session: Session, case: Case) -> list[Case]:
    """Other departments' cases on the same alarms (the same act)."""
    mine = select(CaseAlarm.alarm_id).where(CaseAlarm.case_id == case.id)
    others = select(CaseAlarm.case_id).where(CaseAlarm.alarm_id.in_(mine), CaseAlarm.case_id != case.id)
    return list(session.scalars(select(Case).where(Case.id.in_(others)).order_by(Case.id)))


def decide(
    session: Session,
    case: Case,
    who: Principal,
    decision: str,
    basis: str,
    fine_yuan: float | None = None,
    suspension_months: int | None = None,
) -> Case:
    _need(case, "decide")
    if decision not in DECISIONS:
        raise CaseError("error.case.decision", decisions=[messages.msg(f"dec.{d}") for d in DECISIONS])
    if decision != "no_penalty":
        if case.respond_notice_at is None:
            raise CaseError("error.case.respond_first")
        if case.legal_review_at is None:
            raise CaseError("error.case.review_first")
    if decision == "fine":
        if not fine_yuan or fine_yuan <= 0:
            raise CaseError("error.case.fine_amount")
        fined = [c for c in other_actions(session, case) if c.decision == "fine"]
        if fined:
            raise CaseError(
                "error.case.fined_twice", department=messages.msg(f"dept.{fined[0].department}"), number=fined[0].number
            )
    if decision == "suspension" and not suspension_months:
        raise CaseError("error.case.suspension_months")
    now = utcnow()
    case.decision, case.decision_basis, case.decided_at, case.status = decision, basis.strip(), now, "decided"
    case.fine_yuan = fine_yuan if decision == "fine" else None
    case.suspension_months = suspension_months if decision == "suspension" else None
    case.payment_due = now + timedelta(days=PAYMENT_DAYS) if decision == "fine" else None
    case.updated_at = now
    _log(
        session,
        case,
        who.user_id,
        "decided",
        decision=decision,
        fine_yuan=case.fine_yuan,
        suspension_months=case.suspension_months,
        basis=case.decision_basis,
    )
    return case


def record_payment(session: Session, case: Case, who: Principal) -> Case:
    _need(case, "pay")
    if case.decision != "fine":
        raise CaseError("error.case.only_fine_paid")
    if case.payment_due is None:  # decide() sets it with every fine
        raise CaseError("error.case.no_payment_due")
    case.paid_at, case.updated_at = utcnow(), utcnow()
    _log(session, case, who.user_id, "paid", late=case.paid_at > case.payment_due)
    return case


def close(session: Session, case: Case, who: Principal, note: str = "") -> Case:
    _need(case, "close")
    if case.decision == "fine" and case.paid_at is None and not note.strip():
        raise CaseError("error.case.unpaid_close")
    case.status, case.closed_at, case.updated_at = "closed", utcnow(), utcnow()
    _log(session, case, who.user_id, "closed", note=note.strip())
    return case


def transfer(session: Session, case: Case, who: Principal, to_department: str, reason: str) -> Case:
    _need(case, "transfer")
    if to_department not in DEPARTMENTS or to_department == case.department:
        raise CaseError(
            "error.case.transfer_to",
            departments=[messages.msg(f"dept.{d}") for d in DEPARTMENTS if d != case.department],
        )
    if not reason.strip():
        raise CaseError("error.case.transfer_reason")
    _log(
        session,
        case,
        who.user_id,
        "transferred",
        from_department=case.department,
        to_department=to_department,
        reason=reason.strip(),
    )
    case.department, case.status, case.officers, case.updated_at = to_department, "open", [], utcnow()
    return case


def deadline_state(case: Case, now: datetime | None = None) -> str:
    if case.status in ("decided", "closed"):
        return "met"
    left = (case.decision_deadline - (now or utcnow())).days
    return "overdue" if left < 0 else "due_soon" if left <= WARN_DAYS else "ok"


def escalation(session: Session, venue_id: str, now: datetime | None = None) -> dict:
    """What the venue's record suggests for a new violation (KTV and arcades, art. 53): ``advice`` a code
    (``per_facts``, ``suspension``, ``revocation``), ``suggestion`` and ``basis`` messages (``escalation_words``
    renders them for a reader)."""
    now = now or utcnow()
    venue = session.get(Venue, venue_id)
    venue_type = venue.venue_type if venue else None
    since = now - timedelta(days=LIMITATION_DAYS)
    decided = session.scalars(select(Case).where(Case.venue_id == venue_id, Case.decided_at >= since)).all()
    warnings_fines = sum(c.decision in ("warning", "fine") for c in decided)
    suspensions = sum(c.decision == "suspension" for c in decided)
    advice, basis = "per_facts", None
    if venue_type in ESCALATING_TYPES:
        if suspensions >= 2:
            advice, basis = "revocation", messages.msg("esc.basis.two_suspensions")
        elif warnings_fines >= 3:
            advice, basis = "suspension", messages.msg("esc.basis.three_warnings_or_fines")
    return {
        "venue_id": venue_id,
        "venue_type": venue_type,
        "window_days": LIMITATION_DAYS,
        "warnings_or_fines": warnings_fines,
        "suspensions": suspensions,
        "advice": advice,
        "suggestion": messages.msg(f"esc.{advice}"),
        "basis": basis,
    }


def escalation_words(esc: dict, lang: str) -> dict:
    """An escalation as a reader gets it: its suggestion and basis in ``lang``."""
    return {**esc, "suggestion": messages.render(esc["suggestion"], lang), "basis": messages.render(esc["basis"], lang)}


def history(session: Session, case_id: int) -> list[CaseEvent]:
    return list(session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)))
