"""The HTTP API's request and response models, in one place (the routers stay thin over the services).

Objects some audiences see less of — a case, a venue — have one response model per audience (``inspector``,
``venue_operator``, ``admin``), made here from the one table of field masks, ``access.VIEWS``: the full model
less the fields that audience's view withholds. An answer names its audience in ``view`` (``access.mask``
sets it), the discriminator of the union the route declares; so the schema says, per audience, which fields
there are, and a field a view withholds is absent from that audience's model (and dropped if ever present).

Errors: every error answer is a ``ProblemOut`` (words in the caller's language in ``detail``, the catalogue
key in ``code`` and its ``params``); FastAPI's own validation errors a ``ValidationProblemOut`` (the same, and
the original ``errors`` list for tools). ``errors(...)`` documents a route's error statuses;
``complete_openapi`` fills in what a route left undocumented (401/403 for a route that needs a session, 404
for one with path parameters, 422 for one that takes input), so that every operation documents its errors.

Request models: ``OpenCase``, one model per case action (``CaseAction``, a union discriminated on
``action``), ``Login``, ``Enrolment``, ``Revocation``."""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, model_validator
from pydantic_core import PydanticCustomError

from humiao.hub import access, cases

# -- errors ------------------------------------------------------------------------------------------------


class ProblemOut(BaseModel):
    """An error answer."""

    detail: str = Field(description="what went wrong, in the caller's language (`?lang=`, else Accept-Language)")
    code: str | None = Field(None, description="the message catalogue's key (`error.…`)")
    params: dict[str, Any] = Field(default_factory=dict, description="the message's parameters")


class ValidationProblemOut(ProblemOut):
    """A request the API could not take (422): ``detail`` names each field and what it needs, in words."""

    errors: list[dict[str, Any]] = Field(
        default_factory=list,
        description="FastAPI's validation errors as they were (loc, msg, type); none when a route refused the input",
    )


ERROR_WORDS: dict[int, str] = {
    400: "the request's content is wrong (what: `detail`)",
    401: "no session: sign in first",
    403: "the role may not do this (its permission, in words), or a state change without the session's CSRF token",
    404: "not found, or outside the caller's scope (its existence is not the caller's business)",
    409: "the service refuses the step (the procedure, the state of the object: `detail`)",
    422: "invalid input: `detail` in words, `errors` for tools",
    429: "too many sign-in failures from here or for this account, or the hub is busy: wait `Retry-After` s",
    502: "the broker's administration did not answer",
}


def errors(*statuses: int, **more: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its words and the problem model (``more``: other answers,
    e.g. ``ok={...}`` for a 200 that is not JSON)."""
    out: dict[int | str, dict[str, Any]] = {200: more["ok"]} if "ok" in more else {}
    return out | {
        s: {"model": ValidationProblemOut if s == 422 else ProblemOut, "description": ERROR_WORDS[s]} for s in statuses
    }


SESSION = (401, 403)
"""A route that needs a session: 401 without one, 403 without the permission (or the CSRF token)."""


def api_routes(routes: list[Any]) -> list[Any]:
    """The app's API routes as served (an included router's with its prefix and dependencies): FastAPI's own
    walk where it has one (routers are no longer flattened into ``app.routes`` since 0.16x)."""
    from fastapi import routing

    walk = getattr(routing, "iter_route_contexts", None)
    if walk is None:
        return [r for r in routes if isinstance(r, routing.APIRoute)]
    return [c for c in walk(routes) if isinstance(c.original_route, routing.APIRoute)]


def complete_openapi(schema: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Every operation documents its errors: 401/403 when it needs a session, 404 when it has path parameters,
    422 (``ValidationProblemOut``, replacing FastAPI's list-shaped one) when it takes input; each with the
    problem models. ``schema`` is changed in place and returned."""
    from humiao.hub import deps

    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ProblemOut, ValidationProblemOut):
        comps[model.__name__] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    comps.pop("HTTPValidationError", None)
    comps.pop("ValidationError", None)

    def ref(model: type[BaseModel]) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}

    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        session = deps.needs_session(route)
        for method in route.methods or ():
            op = schema["paths"].get(route.path_format, {}).get(method.lower())
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            wanted = [401, 403] if session else []
            if route.dependant.path_params:
                wanted.append(404)
            takes_input = any(
                (route.dependant.path_params, route.dependant.query_params, route.dependant.body_params)
            ) or any(d.query_params or d.body_params for d in route.dependant.dependencies)
            if takes_input:
                wanted.append(422)
            for status in wanted:
                if str(status) not in responses:
                    responses[str(status)] = {"description": ERROR_WORDS[status]}
            for status, answer in responses.items():  # a 4xx is a problem; a 5xx too, unless it says otherwise
                if status.isdigit() and int(status) >= 400 and (status.startswith("4") or "content" not in answer):
                    answer["content"] = ref(ValidationProblemOut if status == "422" else ProblemOut)
    return schema


_WHY = {  # pydantic's error types → the catalogue's words (``error.why.…``), with the context they take
    "missing": "missing",
    "string_too_short": "string_too_short",
    "string_too_long": "string_too_long",
    "too_short": "too_short",
    "too_long": "too_long",
    "greater_than_equal": "greater_than_equal",
    "greater_than": "greater_than",
    "less_than_equal": "less_than_equal",
    "less_than": "less_than",
    "int_parsing": "whole_number",
    "int_type": "whole_number",
    "int_from_float": "whole_number",
    "float_parsing": "number",
    "float_type": "number",
    "finite_number": "number",
    "bool_parsing": "bool",
    "bool_type": "bool",
    "string_type": "text",
    "date_parsing": "date",
    "date_type": "date",
    "date_from_datetime_parsing": "date",
    "date_from_datetime_inexact": "date",
    "datetime_parsing": "datetime",
    "datetime_type": "datetime",
    "datetime_from_date_parsing": "datetime",
    "string_pattern_mismatch": "pattern",
    "literal_error": "one_of",
    "enum": "one_of",
    "unknown_venue_type": "one_of",
    "union_tag_invalid": "action",
    "union_tag_not_found": "missing",
    "extra_forbidden": "extra",
    "json_invalid": "json",
    "model_attributes_type": "object",
    "dict_type": "object",
    "model_type": "object",
    "list_type": "list",
    "fine_needs_amount": "fine_needs_amount",
    "suspension_needs_months": "suspension_needs_months",
}
_PARAMS = ("min_length", "max_length", "ge", "gt", "le", "lt", "expected")


def readable(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error (pydantic's, FastAPI's ``loc``) as a message: the field and what it needs."""
    from humiao.hub import messages

    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        why = messages.msg("error.why.blank")
    elif kind in ("union_tag_invalid", "literal_error", "enum", "unknown_venue_type"):
        expected = ctx.get("expected_tags") or ctx.get("expected") or ""
        why = messages.msg(f"error.why.{_WHY[kind]}", expected=str(expected).replace("'", ""))
    elif kind in _WHY:
        why = messages.msg(f"error.why.{_WHY[kind]}", **{k: str(ctx[k]) for k in _PARAMS if k in ctx})
    else:
        why = messages.msg("error.why.other", type=kind or "?")
    loc = [str(part) for part in error.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header", "cookie"):
        loc = loc[1:]
    if kind in ("union_tag_not_found", "union_tag_invalid"):  # the discriminator itself is missing or wrong
        loc.append(str(ctx.get("discriminator", "")).strip("'"))
    if not loc:
        return why
    return messages.msg("error.field", field=" › ".join(loc), reason=why)


def validation_problem(errors_: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(key, params) of the problem for FastAPI's validation errors (the first ten, in words)."""
    return "error.invalid", {"errors": [readable(e) for e in errors_[:10]]}


# -- audiences ---------------------------------------------------------------------------------------------


def _audience_name(audience: str) -> str:
    return "".join(part.title() for part in audience.split("_"))


def per_audience(base: type[BaseModel], kind: str) -> Any:
    """``base`` (every field) as each audience that may read ``kind`` sees it (``access.VIEWS``): one model per
    audience, ``view`` its discriminator."""
    models = []
    for audience in access.readers(kind):
        withheld = access.VIEWS[audience][kind].withheld
        fields: dict[str, Any] = {
            "view": (Literal[audience], Field(description=f"the audience this answer is for: {audience}")),
        }
        fields |= {n: (f.annotation, copy.copy(f)) for n, f in base.model_fields.items() if n not in withheld}
        name = base.__name__.removesuffix("Fields") + _audience_name(audience)
        doc = f"{base.__doc__ or ''} As a(n) {audience.replace('_', ' ')} sees it" + (
            f" (withheld: {', '.join(sorted(withheld))})." if withheld else "."
        )
        models.append(create_model(name, __doc__=doc, __module__=__name__, **fields))
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="view")]  # noqa: UP007 (a runtime tuple)


# -- alarms ------------------------------------------------------------------------------------------------


class AlarmHistoryEntry(BaseModel):
    at: datetime
    actor: str = Field(description="an account, or `rules` for the hub's own entries")
    action: str = Field(description="raised, verdict, acknowledged, assigned, commented, cleared, reactivated")
    detail: str = Field(description="in the caller's words: the hub's own message rendered, or a person's words")


class AlarmFields(BaseModel):
    """An alarm: what an alert became at the hub, with the rules' reasoning in the caller's language."""

    id: int
    event_id: str
    district_id: str
    venue_id: str
    venue_name: str
    venue_type: str
    verdict: Literal["none", "pending", "suspected", "confirmed"]
    severity: Literal["info", "minor", "major", "critical"]
    active: bool
    acknowledged: bool
    assignee: str | None
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    updated_at: datetime
    departments: list[str]
    reasons: list[str] = Field(description="the rules' reasoning, in the caller's words")
    calendar: str = Field(description="what the calendar said of the day, in the caller's words")
    age_estimate: float | None = None
    p_minor: float | None = None
    device_id: str | None = None
    camera_id: str | None = None
    evidence_available: bool | None = None
    evidence: Literal["", "stored", "purged", "requested"] = Field(
        description="the crop at the hub: stored, purged after its retention, requested from the edge, or none"
    )
    history: list[AlarmHistoryEntry] | None = Field(None, description="one alarm: every change (as the viewer may see)")


if TYPE_CHECKING:
    AlarmOut: TypeAlias = Any
else:
    AlarmOut = per_audience(AlarmFields, "alarm")


class AlarmsOut(BaseModel):
    alarms: list[AlarmOut]
    more: bool = Field(description="older rows match the filters (the next page: before_id = the last row's id)")
    total: int | None = Field(None, description="with count=true: the rows matching the filters (at most 100,000)")
    total_capped: bool | None = Field(None, description="with count=true: more than `total` match")


class EvidenceRequested(BaseModel):
    request_id: str
    reason: Literal["violation_confirmed", "inspector_request"]


# -- dashboard and the statute table ----------------------------------------------------------------------


class DashboardDay(BaseModel):
    day: date = Field(description="a calendar day where the venues are")
    alarms: int
    confirmed: int
    suspected: int
    pending: int
    none: int
    key: str = Field(description="the key period's name, if the day is in one (weekends aside)")
    key_periods: list[str] = Field(description="the key periods the day is in, in the caller's words")


class ViolationSplit(BaseModel):
    confirmed: int
    suspected: int


class RepeatVenue(BaseModel):
    venue_id: str
    venue: str
    name: str
    confirmed: int
    suspected: int
    violations: int = Field(description="confirmed + suspected (shown apart everywhere else)")


class DashboardOut(BaseModel):
    """Figures for the dashboard over what the viewer may see; confirmed and suspected never one number."""

    days: list[DashboardDay]
    violations: ViolationSplit
    by_venue_type: dict[str, ViolationSplit]
    by_verdict: dict[str, int]
    repeat_venues: list[RepeatVenue]
    open_cases: dict[str, int] = Field(description="open cases by deadline state: ok, due_soon, overdue")
    charts: dict[str, str] = Field(description="the SVG charts of the same figures: name → path")


class StatuteRow(BaseModel):
    venue_type: str
    name_zh: str
    name_en: str
    minors: str
    forbidden: str
    enforcers: list[str]
    penalty: str
    sources: list[str] = Field(description="citation and certainty: ✔ official text, ~ reports, ◦ interpretation")
    sign: str


class CalendarDay(BaseModel):
    day: date
    statutory_holiday: str | None
    school_vacation: str | None
    weekend: bool
    arcade_devices_allowed_for_minors: bool
    description: str = Field(description="what the calendar says of the day, in the caller's words")


class RulesOut(BaseModel):
    venue_types: list[StatuteRow]
    calendar: CalendarDay


# -- cases -------------------------------------------------------------------------------------------------


class Officer(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    enforcement_id: str = Field(min_length=1, max_length=64, description="the officer's enforcement id (执法证号)")


class HistoryEntry(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: Any


class OtherAction(BaseModel):
    """Another department's case on the same alarms (the same act)."""

    number: str
    department: str
    status: str
    decision: str | None


class Escalation(BaseModel):
    """What the venue's record suggests for a new violation (KTV and arcades, 娱乐场所管理条例 art. 53)."""

    venue_id: str
    venue_type: str | None
    window_days: int
    warnings_or_fines: int
    suspensions: int
    advice: Literal["per_facts", "suspension", "revocation"]
    suggestion: str = Field(description="the advice in the caller's words")
    basis: str = Field(description="the rule the advice rests on, in the caller's words (empty: per the facts)")


class CaseRowFields(BaseModel):
    """A case."""

    id: int
    number: str
    district_id: str
    venue_id: str
    venue_name: str
    venue_type: str
    department: str
    status: str = Field(description="one of hub/cases.py STATUSES")
    source: str
    rule: str
    opened_at: datetime
    opened_by: str
    decision_deadline: datetime
    deadline_state: Literal["ok", "due_soon", "overdue", "met"]
    officers: list[Officer]
    facts: dict[str, Any]
    findings: str
    evidence_notes: str
    respond_notice_at: datetime | None
    hearing_requested: bool
    legal_review_at: datetime | None
    legal_review_by: str | None
    legal_review_opinion: str
    decision: str | None
    fine_yuan: float | None
    suspension_months: int | None
    decision_basis: str
    decided_at: datetime | None
    payment_due: datetime | None
    paid_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


class CaseFields(CaseRowFields):
    """A case with its alarms, history, the other departments' actions, the escalation and the steps open."""

    alarms: list[int]
    history: list[HistoryEntry]
    other_actions: list[OtherAction]
    escalation: Escalation
    allowed_actions: list[str] = Field(description="the steps this viewer may take now (hub/cases.py TRANSITIONS)")


if TYPE_CHECKING:
    CaseRowOut: TypeAlias = Any
    CaseOut: TypeAlias = Any
else:
    CaseRowOut = per_audience(CaseRowFields, "case")
    CaseOut = per_audience(CaseFields, "case")


class CasesOut(BaseModel):
    cases: list[CaseRowOut]


class TransferredOut(BaseModel):
    """A transferred case may have left the caller's scope: only where it went."""

    transferred: Literal[True]
    to: str


class OpenCase(BaseModel):
    alarm_ids: list[int] = Field(min_length=1, description="the alarms of one venue the case is about")
    source: Literal["alert", "inspection", "public_report", "transfer"] = "alert"


NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]
Words = Annotated[str, StringConstraints(max_length=10_000)]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Assign(_Step):
    """Assign the enforcement officers (at least two, each with an enforcement id: 行政处罚法 art. 42)."""

    action: Literal["assign"]
    officers: list[Officer] = Field(min_length=2)


class MinorFacts(BaseModel):
    """What a case keeps of the minor: minimised (never a name)."""

    age: int | None = Field(None, ge=0, le=17)
    under_14: bool | None = None
    guardian_notified_at: datetime | None = None


class Inspect(_Step):
    """Record the inspection: its findings (required) and the on-site evidence notes."""

    action: Literal["inspect"]
    findings: NonBlank
    evidence_notes: Words = ""
    minor: MinorFacts | None = None


class RespondNotice(_Step):
    """Notify the party of its right to respond (art. 44, 63)."""

    action: Literal["respond_notice"]
    hearing_requested: bool = False


class LegalReview(_Step):
    """The legal review (art. 58): its opinion."""

    action: Literal["legal_review"]
    opinion: NonBlank


class Decide(_Step):
    """The decision and its basis; a fine needs its amount, a suspension its months."""

    action: Literal["decide"]
    decision: Literal[cases.DECISIONS]  # type: ignore[valid-type]
    basis: Words = ""
    fine_yuan: float | None = Field(None, gt=0, le=100_000_000)
    suspension_months: int | None = Field(None, ge=1, le=120)

    @model_validator(mode="after")
    def _amounts(self) -> Decide:
        if self.decision == "fine" and self.fine_yuan is None:
            raise PydanticCustomError("fine_needs_amount", "a fine needs its amount (fine_yuan)")
        if self.decision == "suspension" and self.suspension_months is None:
            raise PydanticCustomError("suspension_needs_months", "a suspension needs its length in months")
        return self


class Pay(_Step):
    """Record the fine's payment."""

    action: Literal["pay"]


class Close(_Step):
    """Close the case (an unpaid fine needs a note saying why)."""

    action: Literal["close"]
    note: Words = ""


class Transfer(_Step):
    """Transfer the case to another enforcing department, saying why."""

    action: Literal["transfer"]
    to_department: Literal[access.DEPARTMENTS]  # type: ignore[valid-type]
    reason: NonBlank


STEPS: tuple[type[_Step], ...] = (Assign, Inspect, RespondNotice, LegalReview, Decide, Pay, Close, Transfer)
if TYPE_CHECKING:
    CaseAction: TypeAlias = Assign | Inspect | RespondNotice | LegalReview | Decide | Pay | Close | Transfer
else:
    CaseAction = Annotated[Union[STEPS], Field(discriminator="action")]  # noqa: UP007
"""One case action: its own fields, chosen by ``action`` (hub/cases.py TRANSITIONS)."""

# -- venues and schools ------------------------------------------------------------------------------------


class DeviceSummary(BaseModel):
    device_id: str
    online: bool
    last_seen: datetime | None
    cameras: list[dict[str, Any]]


class Violations(BaseModel):
    """Confirmed and suspected alarms at the venue, never added up (a suspicion is not a violation)."""

    confirmed: int
    suspected: int


class VenueRecordFields(BaseModel):
    """A venue."""

    id: str
    name: str
    venue_type: str
    district_id: str
    address: str
    lat: float | None
    lon: float | None
    licence_no: str
    credit_code: str
    operator: str
    legal_representative: str
    sign_posted: bool
    sign_checked_on: date | None
    dishonest_list: bool
    near_school: bool
    nearest_school_m: float | None
    devices: list[DeviceSummary]


class VenueRowFields(VenueRecordFields):
    """A venue in the list, with its violation counts."""

    violations: Violations


class VenueFields(VenueRecordFields):
    """A venue with its alarms and cases (those the caller may read) and the escalation its record suggests."""

    alarms: list[dict[str, Any]] = Field(description="the venue's alarms the caller may read, newest first (≤ 100)")
    cases: list[CaseRowOut]
    escalation: Escalation


if TYPE_CHECKING:
    VenueRowOut: TypeAlias = Any
    VenueOut: TypeAlias = Any
else:
    VenueRowOut = per_audience(VenueRowFields, "venue")
    VenueOut = per_audience(VenueFields, "venue")


class VenuesOut(BaseModel):
    venues: list[VenueRowOut]


class SchoolOut(BaseModel):
    id: str
    name: str
    district_id: str
    lat: float
    lon: float


class SchoolsOut(BaseModel):
    schools: list[SchoolOut]


class ImportedOut(BaseModel):
    imported: int = Field(description="rows imported (all or none)")


# -- sign-in, accounts, audit ------------------------------------------------------------------------------


class Login(BaseModel):
    username: str
    password: str


class MeOut(BaseModel):
    csrf_token: str = Field(description="send it in X-CSRF-Token with every state change")
    user: str
    role: str
    district: str | None
    venues: list[str]
    permissions: dict[str, str] = Field(description="each permission's scope for this account (hub/access.py)")


class OkOut(BaseModel):
    ok: bool


class AuditEventOut(BaseModel):
    at: datetime
    user: str
    role: str
    action: str
    object_type: str
    object_id: str
    why: str
    client: str


class AuditOut(BaseModel):
    events: list[AuditEventOut]


# -- devices -----------------------------------------------------------------------------------------------


class DeviceKeyOut(BaseModel):
    device: str = Field(description="district/venue/device")
    key_id: str
    fingerprint: str
    username: str
    enrolled_at: datetime
    enrolled_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


class DeviceKeys(BaseModel):
    keys: list[DeviceKeyOut]


class Enrolment(BaseModel):
    request: dict = Field(description="the device's enrolment request, as `humiao edge enroll` wrote it")
    replace: bool = Field(False, description="revoke the device's current key")


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


# -- health and the operators' ingest views ----------------------------------------------------------------


class HealthOut(BaseModel):
    ok: bool
    role: str = Field(description="what this worker runs: all, web or ingest")
    broker_connected: bool | None = Field(description="null in a web worker, which has no broker session")


class ReadyOut(BaseModel):
    ready: bool
    role: str = Field(description="what this worker runs: all, web or ingest")
    database: bool
    broker_connected: bool | None = Field(description="null in a web worker, which has no broker session")
    not_ready: list[str] = Field(description="what is not ready, in plain words")


class AlertOut(BaseModel):
    """An alert as the edge sent it (metadata only: no face, no identity)."""

    id: int
    event_id: str
    district_id: str
    venue_id: str
    device_id: str
    camera_id: str
    track_id: int
    first_seen: datetime
    decided_at: datetime
    received_at: datetime
    stored_at: datetime
    age_estimate: float
    p_minor: float
    p_under_threshold: float
    threshold: float
    decision: str
    venue_type: str
    frames_used: int
    models: list[Any]
    policy_version: str
    evidence_available: bool
    calibration: str | None


class AlertsOut(BaseModel):
    total: int
    alerts: list[AlertOut]


class IngestDeviceOut(BaseModel):
    district_id: str
    venue_id: str
    device_id: str
    online: bool
    last_seen: datetime | None
    status_sent_at: datetime | None
    status: dict[str, Any] | None
    software_version: str | None
    venue_type: str | None
    started_at: datetime | None
    availability_changed: datetime | None


class IngestDevicesOut(BaseModel):
    devices: list[IngestDeviceOut]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    size: int


class DeadLettersOut(BaseModel):
    counts: dict[str, int] = Field(description="dead letters by reason")
    recent: list[DeadLetterOut]
