"""Cases over HTTP: the scoped queue, one case with its history and the other departments' actions,
opening from alarms, and each procedure step as an action (one request model per step, hub/schemas.py).
What an audience sees of a case is ``access.mask``'s (hub/access.py VIEWS), once, in ``as_dict``."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from humiao.hub import cases, messages, schemas
from humiao.hub.access import Principal, Target, allowed, mask, scope_filter
from humiao.hub.api_alarms import target as alarm_target
from humiao.hub.deps import HubDep, PageLimit, PrincipalDep, RowId, iso, load_scoped, require
from humiao.hub.schemas import CaseAction, OpenCase, errors
from humiao.hub.tables import Alarm, Case, CaseAlarm, Venue

router = APIRouter(prefix="/api", tags=["cases"])

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
    (``access.mask``): the queue, one case and the venue page all answer through here."""
    out = {f: iso(getattr(case, f)) for f in FIELDS}
    out["venue_name"] = venue.name if venue else case.venue_id
    out["deadline_state"] = cases.deadline_state(case)
    return mask(who, "case", out | extra)


def refusal(err: cases.CaseError) -> messages.Problem:
    """409: the procedure refuses the step, in the caller's words."""
    return messages.Problem(409, err.code, **err.params)


@router.get(
    "/cases",
    summary="The case queue",
    response_model=schemas.CasesOut,
    responses=errors(401, 403, 422),
)
def list_cases(
    hub: HubDep,
    who: PrincipalDep,
    status: str | None = None,
    venue: str | None = None,
    limit: PageLimit = 200,
) -> dict:
    """The cases the caller may read (``cases.read``), newest first; optionally of one status or venue."""
    require(who, "cases.read")
    q = select(Case, Venue).outerjoin(Venue, Venue.id == Case.venue_id).order_by(Case.id.desc()).limit(limit)
    clause = scope_filter(who, "cases.read", Case.district_id, Case.venue_id, lambda d: Case.department == d)
    if clause is not None:
        q = q.where(clause)
    if status:
        q = q.where(Case.status == status)
    if venue:
        q = q.where(Case.venue_id == venue)
    with hub.sessions() as s:
        return {"cases": [as_dict(c, v, who) for c, v in s.execute(q).all()]}


def _load(s, who, case_id: int, permission: str | None = None) -> Case:
    return load_scoped(s, who, Case, case_id, "cases.read", target, permission)


def _case(hub: HubDep, who: Principal, case_id: int) -> dict:
    with hub.sessions() as s:
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
            escalation=cases.escalation_words(cases.escalation(s, case.venue_id), messages.current()),
            # the steps this viewer may take now: the procedure's (cases.TRANSITIONS), if it may act at all
            allowed_actions=cases.steps_for(case) if allowed(who, "cases.act", target(case)) else [],
        )


@router.get(
    "/cases/{case_id}",
    summary="One case",
    response_model=schemas.CaseOut,
    responses=errors(401, 403, 404, 422),
)
def get_case(case_id: RowId, hub: HubDep, who: PrincipalDep) -> dict:
    """A case with its alarms, history, the other departments' actions on the same act, the escalation its
    venue's record suggests and the steps the caller may take now. 404 outside the caller's scope."""
    return _case(hub, who, case_id)


@router.post(
    "/cases",
    summary="Open a case from alarms",
    response_model=schemas.CaseOut,
    responses=errors(401, 403, 409, 422),
)
def open_case(body: OpenCase, hub: HubDep, who: PrincipalDep) -> dict:
    """403 for a role that opens no cases (whatever the ids); an alarm outside the caller's read scope
    answers exactly as one that does not exist (409, its existence is not the caller's business); one
    the caller reads but may not act on, 403."""
    require(who, "cases.act")
    with hub.sessions() as s:
        try:
            found = s.scalars(select(Alarm).where(Alarm.id.in_(body.alarm_ids))).all()
            cases.check_known(body.alarm_ids, [a for a in found if allowed(who, "alarms.read", alarm_target(a))])
            for alarm in found:
                require(who, "cases.act", alarm_target(alarm))
            case = cases.open_case(s, who, body.alarm_ids, body.source)
        except cases.CaseError as err:
            raise refusal(err) from None
        s.commit()
        case_id = case.id
    return _case(hub, who, case_id)


@router.post(
    "/cases/{case_id}/actions",
    summary="Take a step of the procedure",
    response_model=schemas.CaseOut | schemas.TransferredOut,
    responses=errors(401, 403, 404, 409, 422),
)
def step(case_id: RowId, body: CaseAction, hub: HubDep, who: PrincipalDep) -> dict:
    """One step (``action``) with its own fields (hub/schemas.py: one model per step); 422 naming a missing
    or wrong field, 409 when the procedure refuses it now (the case's status, art. 29, …). Answers the case,
    or after a transfer (it may have left the caller's scope) only where it went."""
    with hub.sessions() as s:
        case = _load(s, who, case_id, "cases.act")
        try:
            match body:
                case schemas.Assign():
                    cases.assign_officers(s, case, who, [o.model_dump() for o in body.officers])
                case schemas.Inspect():
                    minor = body.minor.model_dump(mode="json", exclude_none=True) if body.minor else None
                    cases.record_inspection(s, case, who, body.findings, body.evidence_notes, minor)
                case schemas.RespondNotice():
                    cases.notify_right_to_respond(s, case, who, body.hearing_requested)
                case schemas.LegalReview():
                    cases.legal_review(s, case, who, body.opinion)
                case schemas.Decide():
                    cases.decide(s, case, who, body.decision, body.basis, body.fine_yuan, body.suspension_months)
                case schemas.Pay():
                    cases.record_payment(s, case, who)
                case schemas.Close():
                    cases.close(s, case, who, body.note)
                case schemas.Transfer():
                    cases.transfer(s, case, who, body.to_department, body.reason)
        except cases.CaseError as err:
            raise refusal(err) from None
        s.commit()
    if isinstance(body, schemas.Transfer):  # it may have left the caller's scope
        return {"transferred": True, "to": body.to_department}
    return _case(hub, who, case_id)
