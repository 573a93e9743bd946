"""Sign-in, sign-out, who am I, and the audit log for the auditor (``audit.read``).

Sign-in answers 401 for every failure and 429 (with ``Retry-After``) when throttled or when no
password-hashing slot came free; the throttle and the cap are one ``auth.LoginGuard`` per hub
(``guard_for``), in memory (hub/auth.py explains the design)."""

from __future__ import annotations

import math
import threading
import time
import weakref
from datetime import date, datetime, timedelta
from datetime import time as day_time
from typing import Annotated
from zoneinfo import ZoneInfo

import anyio
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from humiao.hub import access, audit, auth, messages, schemas
from humiao.hub.access import Principal
from humiao.hub.deps import ClientDep, HubDep, PrincipalDep, hub_of, require
from humiao.hub.schemas import Login, errors
from humiao.hub.tables import AuditEvent

router = APIRouter(prefix="/api", tags=["sign-in"])


_guards: weakref.WeakKeyDictionary[object, auth.LoginGuard] = weakref.WeakKeyDictionary()
_guards_lock = threading.Lock()


def guard_for(hub) -> auth.LoginGuard:
    """The hub's sign-in throttle and hashing cap (one per hub object, so per process)."""
    with _guards_lock:
        guard = _guards.get(hub)
        if guard is None:
            guard = _guards[hub] = auth.LoginGuard(hub.cfg.auth)
        return guard


def _refusal(err: auth.AuthError) -> messages.Problem:
    """Every failed or throttled sign-in says the same (wrong name or password); busy says so."""
    code = "error.sign_in.busy" if isinstance(err, auth.Busy) else "error.sign_in.failed"
    if isinstance(err, (auth.Throttled, auth.Busy)):
        return messages.Problem(429, code, headers={"Retry-After": str(max(1, math.ceil(err.retry_after)))})
    return messages.Problem(401, code)


@router.post("/login", summary="Sign in", response_model=schemas.MeOut, responses=errors(401, 422, 429))
async def login(body: Login, request: Request, response: Response, hub: HubDep, address: ClientDep) -> dict:
    """Sets the session cookie and answers the account with its CSRF token. Every failure answers 401 with the
    same words; 429 (``Retry-After``) when throttled or no password-hashing slot came free. Refusals that need
    no work are decided here on the event loop, holding no worker thread; the sign-in itself runs in one."""
    guard = guard_for(hub)
    wait = guard.retry_after(body.username, address)
    if wait > 0:
        raise _refusal(auth.Throttled(wait))
    deadline = time.monotonic() + hub.cfg.auth.hash_wait_seconds
    while not guard.slots.free():
        if time.monotonic() >= deadline:
            raise _refusal(auth.Busy())
        await anyio.sleep(0.01)

    def sign_in() -> tuple[str, str, Principal]:
        with hub.sessions() as s:
            token, csrf = auth.login(s, body.username, body.password, hub.cfg.auth, address, guard)
            who, _ = _signed_in(s, token)
        return token, csrf, who

    try:
        token, csrf, who = await run_in_threadpool(sign_in)
    except auth.AuthError as err:
        raise _refusal(err) from None
    response.set_cookie(
        auth.COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        max_age=int(hub.cfg.auth.session_hours * 3600),
        path="/",
    )
    return {"csrf_token": csrf, **_me(who)}


def _secure(request: Request) -> bool:
    """The session cookie's Secure flag: as configured, else whether this request came over HTTPS."""
    forced = hub_of(request).cfg.auth.secure_cookie
    return forced if forced is not None else request.url.scheme == "https"


@router.post("/logout", summary="Sign out", response_model=schemas.OkOut, responses=errors(401, 403))
def logout(request: Request, response: Response, hub: HubDep, who: PrincipalDep) -> dict:
    """Ends the session (needs the CSRF token, like every state change)."""
    with hub.sessions() as s:
        auth.logout(s, request.cookies.get(auth.COOKIE, ""))
    response.delete_cookie(auth.COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
    return {"ok": True}


@router.get("/me", summary="Who am I", response_model=schemas.MeOut, responses=errors(401, 403))
def me(request: Request, hub: HubDep, who: PrincipalDep) -> dict:
    """The signed-in account: role, district, venues, each permission's scope, and the session's CSRF token."""
    with hub.sessions() as s:
        _p, csrf = _signed_in(s, request.cookies.get(auth.COOKIE))
    return {"csrf_token": csrf, **_me(who)}


def _signed_in(session: Session, token: str | None) -> tuple[Principal, str]:
    """(who, their CSRF token) for a session token; 401 when the session has ended meanwhile."""
    found = auth.principal_for(session, token)
    if found is None:
        raise messages.Problem(401, "error.sign_in_first")
    return found


def _me(who: Principal) -> dict:
    return {
        "user": who.user_id,
        "role": who.role,
        "district": who.district_id,
        "venues": sorted(who.venue_ids),
        "permissions": {p: access.scope(who, p) for p in access.PERMISSIONS},
    }


@router.get("/audit", summary="The audit log", response_model=schemas.AuditOut, responses=errors(401, 403, 422))
def audit_log(
    hub: HubDep,
    who: PrincipalDep,
    actor: Annotated[str | None, Query(max_length=64, description="who acted: a user id, exactly")] = None,
    action: Annotated[audit.Action | None, Query(description="one of hub/audit.py's actions")] = None,
    object_id: Annotated[
        str | None, Query(alias="object", max_length=64, description="the audited object's id, or part of it")
    ] = None,
    since: Annotated[date | None, Query(description="from this day on (YYYY-MM-DD, the venues' time zone)")] = None,
    until: Annotated[date | None, Query(description="up to and including this day (YYYY-MM-DD, likewise)")] = None,
    limit: int = 200,
) -> dict:
    """The newest audit rows first, narrowed by each filter given; the days are calendar days where the venues
    are (``rules.violations.timezone``), as the panel shows the times."""
    require(who, "audit.read")
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(min(max(limit, 1), 1000))
    if actor:
        q = q.where(AuditEvent.user_id == actor)
    if action:
        q = q.where(AuditEvent.action == action)
    if object_id:
        q = q.where(AuditEvent.object_id.contains(object_id, autoescape=True))
    tz = ZoneInfo(hub.cfg.rules.violations.timezone)
    if since:
        q = q.where(AuditEvent.at >= datetime.combine(since, day_time(), tz))
    if until:
        q = q.where(AuditEvent.at < datetime.combine(until + timedelta(days=1), day_time(), tz))
    with hub.sessions() as s:
        rows = s.scalars(q).all()
    return {
        "events": [
            {
                "at": e.at.isoformat(),
                "user": e.user_id,
                "role": e.role,
                "action": e.action,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "why": e.why,
                "client": e.client,
            }
            for e in rows
        ]
    }
