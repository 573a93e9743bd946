"""The lists the panel renders from, served once (``GET /api/meta``, any signed-in user): the venue types (the
wire's enum, in the statute table's words), the roles and enforcing departments (``hub.access``), the case
procedure — statuses, decisions and the steps each status allows (``hub.cases.TRANSITIONS``) — the ID-check
outcomes (``proto.vocabulary``) and the audit log's actions (``hub.audit.ACTIONS``, in its words); and the time zone
the venues' times are shown in (the rules' own, ``rules.violations.timezone``). Nothing here is written twice: each
list comes from its one source."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from humiao.hub import audit, cases, messages
from humiao.hub.access import DEPARTMENTS, ROLES
from humiao.hub.deps import PrincipalDep, hub_of
from humiao.hub.rules.statutes import rule_for
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import vocabulary

router = APIRouter(prefix="/api")


class Words(BaseModel):
    zh: str
    en: str


class Term(BaseModel):
    code: str
    words: Words


class Meta(BaseModel):
    timezone: str  # IANA name: the venues' local time, as the rules reason in it
    venue_types: list[Term]
    roles: list[str]
    departments: list[str]
    case_statuses: list[str]
    case_decisions: list[str]
    case_transitions: dict[str, list[str]]  # a case status → the steps it allows, in the procedure's order
    id_check_results: list[Term]
    audit_actions: list[Term]  # what the audit log records (hub.audit.ACTIONS), in words


class Language(BaseModel):
    code: str  # the catalogue's name: zh-CN, en
    name: str  # the language in its own words ("中文", "EN"), for the switch


class Languages(BaseModel):
    default: str
    languages: list[Language]


@router.get("/catalogue", response_model=Languages)
def catalogue_languages() -> Languages:
    """The languages there are catalogues for (no session: the sign-in page needs its words)."""
    return Languages(
        default=messages.DEFAULT,
        languages=[Language(code=c, name=messages.text("lang.self", c)) for c in messages.languages()],
    )


@router.get(
    "/catalogue/{lang}",
    response_model=dict[str, str],
    responses={404: {"description": "no catalogue for that language"}},
)
def catalogue(lang: str, response: Response) -> dict[str, str]:
    """Every word the panel shows, in one language (a key it lacks filled from English). No session: the
    sign-in page needs its words, and nothing in a catalogue is anyone's data."""
    if lang not in messages.languages():
        raise messages.Problem(404, "error.no_language", lang=lang)
    response.headers["Cache-Control"] = "no-cache"
    return messages.catalogue(messages.FALLBACK) | messages.catalogue(lang)


def venue_types() -> list[str]:
    """The venue types as the wire names them (``VENUE_TYPE_KTV`` → ``ktv``), in the enum's order."""
    return [
        vocabulary.wire_name(v.name, "VENUE_TYPE_")
        for v in pb.VenueType.DESCRIPTOR.values
        if v.number != pb.VENUE_TYPE_UNSPECIFIED
    ]


@router.get("/meta", response_model=Meta)
def meta(request: Request, who: PrincipalDep) -> Meta:
    def venue(code: str) -> Term:
        rule = rule_for(code)
        return Term(code=code, words=Words(zh=rule.name_zh, en=rule.name_en))

    return Meta(
        timezone=hub_of(request).cfg.rules.violations.timezone,
        venue_types=[venue(code) for code in venue_types()],
        roles=list(ROLES),
        departments=list(DEPARTMENTS),
        case_statuses=list(cases.STATUSES),
        case_decisions=list(cases.DECISIONS),
        case_transitions={status: cases.allowed_actions(status) for status in cases.STATUSES},
        id_check_results=[Term(code=k, words=Words(**w)) for k, w in vocabulary.RESULTS.items()],
        audit_actions=[Term(code=a, words=Words(**audit.WORDS[a])) for a in audit.ACTIONS],
    )
