"""Alarms for inspectors: the scoped list with filters, one alarm with its history, the lifecycle
actions, evidence (request from the edge; view, audited, with a reason) and the live feed (SSE)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import String, cast, func, select
from starlette.concurrency import run_in_threadpool

from humiao.hub import alarms as alarm_service
from humiao.hub import evidence, messages
from humiao.hub.access import Principal, Target, mask, scope_filter
from humiao.hub.api_meta import venue_types
from humiao.hub.deps import (
    BeforeId,
    PageLimit,
    PrincipalDep,
    RowId,
    client,
    hub_of,
    iso,
    load_scoped,
    require,
    still_signed_in,
)
from humiao.hub.rules.violations import Status
from humiao.hub.schemas import AlarmOut, AlarmsOut, EvidenceRequested, errors
from humiao.hub.tables import Alarm, AlarmEvent, Alert, Evidence, EvidenceRequest, Venue

router = APIRouter(prefix="/api")


def target(alarm: Alarm) -> Target:
    return Target(alarm.district_id, alarm.venue_id, tuple(alarm.departments or ()))


def visible(who: Principal, permission: str = "alarms.read"):
    return scope_filter(
        who,
        permission,
        Alarm.district_id,
        Alarm.venue_id,
        lambda dept: cast(Alarm.departments, String).like(f'%"{dept}"%'),
    )


def row(
    alarm: Alarm,
    alert: Alert | None,
    venue: Venue | None,
    who: Principal,
    evidence_state: str = "",
    history: list[AlarmEvent] | None = None,
) -> dict:
    """An alarm's JSON (with its ``history`` when given) as ``who`` may see it (``access.mask``): the
    list, one alarm, the live feed and the venue page all answer through here."""
    out = {
        k: iso(getattr(alarm, k))
        for k in (
            "id",
            "event_id",
            "district_id",
            "venue_id",
            "venue_type",
            "verdict",
            "severity",
            "active",
            "acknowledged",
            "assignee",
            "raised_at",
            "acknowledged_at",
            "acknowledged_by",
            "cleared_at",
            "cleared_by",
            "updated_at",
            "departments",
        )
    }
    lang = messages.current()  # the caller's language: the rules' words are stored as messages
    out["reasons"] = [messages.render(r, lang) for r in alarm.reasons or []]
    out["calendar"] = messages.render(alarm.calendar, lang)
    out["venue_name"] = venue.name if venue else alarm.venue_id
    if alert is not None:
        out.update(
            age_estimate=round(alert.age_estimate, 1),
            p_minor=round(alert.p_minor, 3),
            device_id=alert.device_id,
            camera_id=alert.camera_id,
            evidence_available=alert.evidence_available,
        )
    out["evidence"] = evidence_state
    if history is not None:
        out["history"] = [
            {
                "at": iso(e.at),
                "actor": e.actor,
                "action": e.action,
                "detail": messages.render(e.message, lang) if e.message else e.detail,
            }
            for e in history
        ]
    return mask(who, "alarm", out)


def _evidence_states(s, event_ids: list[str]) -> dict[str, str]:
    """For each alert: "stored", "purged", "requested" or "" (two queries for a whole list)."""
    if not event_ids:
        return {}
    out = dict.fromkeys(
        s.scalars(select(EvidenceRequest.event_id).where(EvidenceRequest.event_id.in_(event_ids))), "requested"
    )
    for e, purged in s.execute(
        select(Evidence.event_id, Evidence.ciphertext.is_(None)).where(Evidence.event_id.in_(event_ids))
    ).all():
        out[e] = "purged" if purged else "stored"
    return out


def _evidence_state(s, event_id: str) -> str:
    return _evidence_states(s, [event_id]).get(event_id, "")


VERDICTS = tuple(v.value for v in Status)
COUNT_CAP = 100_000
"""``count``: the matching rows are counted up to this many (a count never reads more; "100,000+" beyond)."""


def _list_conditions(who: Principal, **given) -> list:
    """The list's WHERE clauses: the viewer's scope, then each filter given; unknown venue types and
    verdicts are a 422 that names the choices (not an empty list that looks like "nothing happened")."""
    if given["venue_type"] is not None and given["venue_type"] not in venue_types():
        raise messages.Problem(422, "alist.bad_venue_type", value=given["venue_type"], allowed=", ".join(venue_types()))
    if given["verdict"] is not None and given["verdict"] not in VERDICTS:
        raise messages.Problem(422, "alist.bad_verdict", value=given["verdict"], allowed=", ".join(VERDICTS))
    conds = []
    clause = visible(who)
    if clause is not None:
        conds.append(clause)
    for col, name in (
        (Alarm.district_id, "district"),
        (Alarm.venue_id, "venue"),
        (Alarm.venue_type, "venue_type"),
        (Alarm.verdict, "verdict"),
        (Alarm.active, "active"),
        (Alarm.acknowledged, "acknowledged"),
    ):
        if given[name] is not None:
            conds.append(col == given[name])
    since, until = given["since"], given["until"]
    if since:
        conds.append(Alarm.raised_at >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
    if until:
        conds.append(Alarm.raised_at < (until if until.tzinfo else until.replace(tzinfo=UTC)))
    return conds


def list_page(conds: list, rows: int):
    """The list's query: a page of ``rows`` alarms (newest first) with their alerts and venues."""
    return (
        select(Alarm, Alert, Venue)
        .join(Alert, Alert.event_id == Alarm.event_id)
        .outerjoin(Venue, Venue.id == Alarm.venue_id)
        .where(*conds)
        .order_by(Alarm.id.desc())
        .limit(rows)
    )


def list_count(conds: list):
    """The rows matching the list's conditions, counted up to ``COUNT_CAP`` + 1 (a count never reads more)."""
    return select(func.count()).select_from(select(Alarm.id).where(*conds).limit(COUNT_CAP + 1).subquery())


@router.get(
    "/alarms",
    response_model=AlarmsOut,
    summary="The alarm list",
    responses=errors(401, 403, 422),
)
def list_alarms(
    request: Request,
    who: PrincipalDep,
    district: str | None = None,
    venue: str | None = None,
    venue_type: str | None = None,
    verdict: str | None = None,
    active: bool | None = None,
    acknowledged: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: PageLimit = 100,
    before_id: BeforeId = None,
    count: bool = False,
) -> dict:  # AlarmsOut
    """The viewer's alarms, newest first, ``limit`` at a time: the next page is ``before_id`` = the last
    row's id (keyset paging: no row is skipped or repeated across pages, however many there are).
    ``more``: whether older rows match. ``count``: also ``total``, the rows matching the filters
    (all pages; at most ``COUNT_CAP``, ``total_capped`` when there are more)."""
    require(who, "alarms.read")
    conds = _list_conditions(
        who,
        district=district,
        venue=venue,
        venue_type=venue_type,
        verdict=verdict,
        active=active,
        acknowledged=acknowledged,
        since=since,
        until=until,
    )
    q = list_page(conds, limit + 1)
    if before_id:
        q = q.where(Alarm.id < before_id)
    with hub_of(request).sessions() as s:
        found = s.execute(q).all()
        more = len(found) > limit
        found = found[:limit]
        states = _evidence_states(s, [a.event_id for a, _al, _v in found])
        out: dict = {"alarms": [row(a, al, v, who, states.get(a.event_id, "")) for a, al, v in found], "more": more}
        if count:
            total = s.scalar(list_count(conds)) or 0
            out.update(total=min(total, COUNT_CAP), total_capped=total > COUNT_CAP)
    return out


def _load(s, who: Principal, alarm_id: int, permission: str | None = None) -> Alarm:
    return load_scoped(s, who, Alarm, alarm_id, "alarms.read", target, permission)


@router.get(
    "/alarms/{alarm_id}",
    response_model=AlarmOut,
    summary="One alarm, with its history",
    responses=errors(401, 403, 404, 422),
)
def get_alarm(alarm_id: RowId, request: Request, who: PrincipalDep) -> dict:
    with hub_of(request).sessions() as s:
        alarm = _load(s, who, alarm_id)
        return row(
            alarm,
            s.scalars(select(Alert).where(Alert.event_id == alarm.event_id)).one(),
            s.get(Venue, alarm.venue_id),
            who,
            _evidence_state(s, alarm.event_id),
            alarm_service.history(s, alarm_id),
        )


class Action(BaseModel):
    action: str = Field(pattern="^(acknowledge|assign|comment|clear)$")
    text: str = ""


@router.post(
    "/alarms/{alarm_id}/actions",
    response_model=AlarmOut,
    summary="Acknowledge, assign, comment on or clear an alarm",
    description="The alarm as changed. 409 when the change cannot be made (already acknowledged or cleared, a "
    "comment or a reason to clear left empty), in the caller's words.",
    responses=errors(401, 403, 404, 409, 422),
)
def act(alarm_id: RowId, body: Action, request: Request, who: PrincipalDep) -> dict:
    with hub_of(request).sessions() as s:
        _load(s, who, alarm_id, "alarms.act")
        try:
            if body.action == "acknowledge":
                alarm_service.acknowledge(s, alarm_id, who.user_id, body.text)
            elif body.action == "assign":
                alarm_service.assign(s, alarm_id, who.user_id, body.text or who.user_id)
            elif body.action == "comment":
                alarm_service.comment(s, alarm_id, who.user_id, body.text)
            else:
                alarm_service.clear(s, alarm_id, who.user_id, body.text)
        except alarm_service.AlarmError as err:
            raise messages.Problem.of(409, err) from None
        s.commit()
    return get_alarm(alarm_id, request, who)


class Why(BaseModel):
    why: str = Field(min_length=3, max_length=500, description="recorded in the audit log")


@router.post(
    "/alarms/{alarm_id}/evidence-request",
    response_model=EvidenceRequested,
    summary="Ask the alarm's edge for its face crop (audited)",
    description="409 when there is nothing to ask for (the edge kept no crop).",
    responses=errors(401, 403, 404, 409, 422),
)
def request_evidence(alarm_id: RowId, body: Why, request: Request, who: PrincipalDep) -> dict:
    hub = hub_of(request)
    with hub.sessions() as s:
        alarm = _load(s, who, alarm_id, "evidence.request")
        reason = "violation_confirmed" if alarm.verdict == "confirmed" else "inspector_request"
        try:
            rid = evidence.request(s, hub.publish, alarm.event_id, reason, who, body.why, client(request))
        except evidence.EvidenceError as err:
            raise messages.Problem.of(409, err) from None
    return {"request_id": rid, "reason": reason}


@router.get(
    "/alarms/{alarm_id}/evidence",
    response_class=Response,
    summary="The alarm's face crop, decrypted for this viewer (audited)",
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the crop (JPEG), its sha256 and capture time in headers"},
        **errors(401, 403, 404, 422),
    },
)
def view_evidence(
    alarm_id: RowId, request: Request, why: Annotated[str, Query(min_length=3, max_length=500)], who: PrincipalDep
) -> Response:
    """The face crop, decrypted for this viewer; every view is written to the audit log first."""
    hub = hub_of(request)
    with hub.sessions() as s:
        alarm = _load(s, who, alarm_id, "evidence.view")
        try:
            ev, jpeg = evidence.open_for(s, hub.private_key, alarm.event_id, who, why, client(request))
        except evidence.EvidenceMissing as err:
            raise messages.Problem.of(404, err) from None
    return Response(
        jpeg,
        media_type="image/jpeg",
        headers={
            "Cache-Control": "no-store",
            "X-Evidence-SHA256": ev.plaintext_sha256,
            "X-Evidence-Stored-SHA256": ev.stored_sha256,
            "X-Evidence-Captured-At": ev.captured_at.isoformat(),
        },
    )


FEED_LATE_S = 10.0
"""How far behind its cursor the live feed looks again for changes committed late (module docstring of ``Feed``)."""
FEED_PAGE = 200


class Feed:
    """What one live-feed stream has sent, and what to send next.

    An alarm's ``updated_at`` is taken when its change is made, not when it is committed: a transaction that
    commits late (a long rules round, a slow disk; or another worker whose clock is a little behind) makes rows
    appear *behind* a cursor that has already moved past them. A feed that only reads ahead of its cursor
    ``(updated_at, id)`` would skip them for good. So every poll reads two things, both walks of an index
    (migration 0013: ``ix_alarms_feed_district`` for a district's viewer, ``ix_alarms_updated`` for the city's):

    - ahead: the next ``FEED_PAGE`` rows after the cursor, in order (the cursor then moves to the last);
    - behind: the keys ``(id, updated_at)`` of the rows in the trailing window of ``FEED_LATE_S`` seconds before
      the cursor, of which those not already sent *in that version* (``sent``: id → updated_at, for the rows in
      the window) are late commits, sent now (and at most ``FEED_PAGE`` at a time).

    Every change is thus sent exactly once if it commits within ``FEED_LATE_S`` of its ``updated_at`` (keep the
    workers' clocks in step, NTP); a later version of a row already sent is a new change and is sent again. The
    window costs reading the keys of the rows changed in its last seconds again at every poll (the stream's own
    recent traffic, index only), and ``sent`` holds the same ids in memory. The rows the window holds when the
    stream opens are the client's already (the list it loaded; ``after``), so they prime ``sent``.
    """

    def __init__(self, start: datetime, clause=None):
        self.cursor: tuple[datetime, int] = (start, 2**62)  # rows updated exactly at ``start`` are the client's
        self.clause = clause
        self.sent: dict[int, datetime] = {}
        self.primed = False

    def _rows(self, *conds):
        q = (
            select(Alarm, Alert, Venue)
            .join(Alert, Alert.event_id == Alarm.event_id)
            .outerjoin(Venue, Venue.id == Alarm.venue_id)
            .where(*conds)
            .order_by(Alarm.updated_at, Alarm.id)
        )
        return q if self.clause is None else q.where(self.clause)

    def poll(self, s) -> list:
        """The (Alarm, Alert, Venue) rows to send now, in (updated_at, id) order; remembers them as sent."""
        at, last = self.cursor
        low = at - timedelta(seconds=FEED_LATE_S)
        behind = (  # written as ranges on updated_at, so each is a walk of the index
            select(Alarm.id, Alarm.updated_at)
            .where(Alarm.updated_at > low, Alarm.updated_at <= at)
            .where((Alarm.updated_at < at) | (Alarm.id <= last))
        )
        if self.clause is not None:
            behind = behind.where(self.clause)
        window = s.execute(behind).all()
        if not self.primed:  # what the window holds now the client has (its list, ``after``)
            self.sent = dict(window)
            self.primed = True
            late = []
        else:
            late = [i for i, u in window if self.sent.get(i) != u][:FEED_PAGE]
        ahead = self._rows(Alarm.updated_at >= at, (Alarm.updated_at > at) | (Alarm.id > last)).limit(FEED_PAGE)
        found = {a.id: (a, al, v) for a, al, v in s.execute(ahead).all()}
        if late:
            found.update({a.id: (a, al, v) for a, al, v in s.execute(self._rows(Alarm.id.in_(late))).all()})
        out = sorted(found.values(), key=lambda r: (r[0].updated_at, r[0].id))
        for a, _al, _v in out:
            self.sent[a.id] = a.updated_at
            self.cursor = max(self.cursor, (a.updated_at, a.id))
        low = self.cursor[0] - timedelta(seconds=FEED_LATE_S)
        self.sent = {i: u for i, u in self.sent.items() if u > low}
        return out


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="The live feed (server-sent events): alarms as they are raised and changed",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "one `alarm` event per change"},
        **errors(401),
    },
)
async def stream(request: Request, who: PrincipalDep, after: datetime | None = None) -> StreamingResponse:
    """Server-Sent Events: every alarm the viewer may see, as it is raised or changes (polled from the
    database every 0.5 s, so any web worker serves any viewer whichever worker wrote the change; each change
    once, even one committed late: ``Feed``). ``after``: the newest ``updated_at`` the client already has
    (nothing between its list and its stream is missed; at most an hour back).
    The stream lasts as long as the session: every poll first checks it (so at least every 0.5 s, and
    before any event is sent) and, once it is signed out, expired or changed, sends ``signed-out`` and ends."""
    require(who, "alarms.read")
    hub = hub_of(request)

    now = datetime.now(UTC)
    start = now
    if after is not None:
        after = after if after.tzinfo else after.replace(tzinfo=UTC)
        start = min(now, max(after, now - timedelta(hours=1)))
    feed = Feed(start, visible(who))

    def changed() -> list[dict] | None:
        """The viewer's alarms to send now; None when the session no longer stands."""
        with hub.sessions() as s:
            if not still_signed_in(s, request, who):
                return None
            found = feed.poll(s)
            states = _evidence_states(s, [a.event_id for a, _al, _v in found])
            return [row(a, al, v, who, states.get(a.event_id, "")) for a, al, v in found]

    async def events():
        yield "retry: 2000\n\n"
        idle = 0
        while not await request.is_disconnected():
            rows = await run_in_threadpool(changed)
            if rows is None:  # signed out, expired or changed: the feed ends with the session
                yield "event: signed-out\ndata: {}\n\n"
                return
            for r in rows:
                yield f"event: alarm\nid: {r['id']}\ndata: {json.dumps(r, ensure_ascii=False)}\n\n"
            idle = 0 if rows else idle + 1
            if idle >= 30:  # a comment every 15 s keeps proxies from closing the stream
                yield ": keep-alive\n\n"
                idle = 0
            await asyncio.sleep(0.5)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
