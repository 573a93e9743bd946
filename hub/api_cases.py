"""Cases over HTTP: the scoped queue, one case with its history and the other departments' actions,
opening from alarms, and each procedure step as an action."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from humiao.hub import cases
from humiao.hub.access import Principal, Target, allowed, redact, scope_filter
from humiao.hub.api_alarms import target as alarm_target
from humiao.hub.deps import PageLimit, PrincipalDep, RowId, hub_of, iso, load_scoped, require
from humiao.hub.tables import Alarm, Case, CaseAlarm, Venue

router = APIRouter(prefix="/api")
FIELDS = (
    "id",
    "number",
    "district_id",
    "venue_id",
    "venue_type",
    "department",
    "status",
    "source",
    "rule",
    "opened_at",
    "opened_by",
    "decision_deadline",
    "officers",
    "facts",
    "findings",
    "evidence_notes",
    "respond_notice_at",
    "hearing_requested",
    "legal_review_at",
    "legal_review_by",
    "legal_review_opinion",
    "decision",
    "fine_yuan",
    "suspension_months",
    "decision_basis",
    "decided_at",
    "payment_due",
    "paid_at",
    "closed_at",
    "updated_at",
)


def target(case: Case) -> Target:
    return Target(case.district_id, case.venue_id, (case.department,))


def as_dict(case: Case, venue: Venue | None, who: Principal, **extra) -> dict:
    """A case's JSON (with ``extra`` keys: its alarms, history, …) as ``who`` may see it
    (``access.redact``): the queue, one case and the venue page all answer through here."""
    out = {f: iso(getattr(case, f)) for f in FIELDS}
    out["venue_name"] = venue.name if venue else case.venue_id
    out["deadline_state"] = cases.deadline_state(case)
    return redact(who, "case", out | extra)


@router.get("/cases")
def list_cases(
    request: Request,
    who: PrincipalDep,
    status: str | None = None,
    venue: str | None = None,
    limit: PageLimit = 200,
) -> dict:
    require(who, "cases.read")
    q = select(Case, Venue).outerjoin(Venue, Venue.id == Case.venue_id).order_by(Case.id.desc()).limit(limit)
    clause = scope_filter(who, "cases.read", Case.district_id, Case.venue_id, lambda d: Case.department == d)
    if clause is not None:
        q = q.where(clause)
    if status:
        q = q.where(Case.status == status)
    if venue:
        q = q.where(Case.venue_id == venue)
    with hub_of(request).sessions() as s:
        return {"cases": [as_dict(c, v, who) for c, v in s.execute(q).all()]}


def _load(s, who, case_id: int, permission: str | None = None) -> Case:
    return load_scoped(s, who, Case, case_id, "cases.read", target, permission)


@router.get("/cases/{case_id}")
def get_case(case_id: RowId, request: Request, who: PrincipalDep) -> dict:
    with hub_of(request).sessions() as s:
        case = _load(s, who, case_id)
        return as_dict(
            case,
            s.get(Venue, case.venue_id),
            who,
            alarms=list(s.scalars(select(CaseAlarm.alarm_id).where(CaseAlarm.case_id == case.id))),
            history=[
                {"at": iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
                for e in cases.history(s, case.id)
            ],
            other_actions=[
                {"number": c.number, "department": c.department, "status": c.status, "decision": c.decision}
                for c in cases.other_actions(s, case)
            ],
            escalation=cases.escalation(s, case.venue_id),
            # the steps this viewer may take now: the procedure's (cases.TRANSITIONS), if it may act at all
            allowed_actions=cases.steps_for(case) if allowed(who, "cases.act", target(case)) else [],
        )


class OpenCase(BaseModel):
    alarm_ids: list[int] = Field(min_length=1)
    source: str = Field("alert", pattern="^(alert|inspection|public_report|transfer)$")


@router.post("/cases")
def open_case(body: OpenCase, request: Request, who: PrincipalDep) -> dict:
    """403 for a role that opens no cases (whatever the ids); an alarm outside the caller's read scope
    answers exactly as one that does not exist (409, its existence is not the caller's business); one
    the caller reads but may not act on, 403."""
    require(who, "cases.act")
    with hub_of(request).sessions() as s:
        try:
            found = s.scalars(select(Alarm).where(Alarm.id.in_(body.alarm_ids))).all()
            cases.check_known(body.alarm_ids, [a for a in found if allowed(who, "alarms.read", alarm_target(a))])
            for alarm in found:
                require(who, "cases.act", alarm_target(alarm))
            case = cases.open_case(s, who, body.alarm_ids, body.source)
        except cases.CaseError as err:
            raise HTTPException(409, str(err)) from None
        s.commit()
        case_id = case.id
    return get_case(case_id, request, who)


class Step(BaseModel):
    action: str = Field(pattern=f"^({'|'.join(cases.TRANSITIONS)})$")
    officers: list[dict] = []
    findings: str = ""
    evidence_notes: str = ""
    minor: dict | None = None
    hearing_requested: bool = False
    opinion: str = ""
    decision: str = ""
    basis: str = ""
    fine_yuan: float | None = None
    suspension_months: int | None = None
    note: str = ""
    to_department: str = ""
    reason: str = ""


@router.post("/cases/{case_id}/actions")
def step(case_id: RowId, body: Step, request: Request, who: PrincipalDep) -> dict:
    with hub_of(request).sessions() as s:
        case = _load(s, who, case_id, "cases.act")
        try:
            match body.action:
                case "assign":
                    cases.assign_officers(s, case, who, body.officers)
                case "inspect":
                    cases.record_inspection(s, case, who, body.findings, body.evidence_notes, body.minor)
                case "respond_notice":
                    cases.notify_right_to_respond(s, case, who, body.hearing_requested)
                case "legal_review":
                    cases.legal_review(s, case, who, body.opinion)
                case "decide":
                    cases.decide(s, case, who, body.decision, body.basis, body.fine_yuan, body.suspension_months)
                case "pay":
                    cases.record_payment(s, case, who)
                case "close":
                    cases.close(s, case, who, body.note)
                case "transfer":
                    cases.transfer(s, case, who, body.to_department, body.reason)
        except cases.CaseError as err:
            raise HTTPException(409, str(err)) from None
        s.commit()
    if body.action == "transfer":  # it may have left the caller's scope
        return {"transferred": True, "to": body.to_department}
    return get_case(case_id, request, who)
