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
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from humiao.hub import access, audit, auth
from humiao.hub.access import Principal
from humiao.hub.deps import PrincipalDep, client, hub_of, require
from humiao.hub.tables import AuditEvent

router = APIRouter(prefix="/api")


class Login(BaseModel):
    username: str
    password: str


_guards: weakref.WeakKeyDictionary[object, auth.LoginGuard] = weakref.WeakKeyDictionary()
_guards_lock = threading.Lock()


def guard_for(hub) -> auth.LoginGuard:
    """The hub's sign-in throttle and hashing cap (one per hub object, so per process)."""
    with _guards_lock:
        guard = _guards.get(hub)
        if guard is None:
            guard = _guards[hub] = auth.LoginGuard(hub.cfg.auth)
        return guard


def _refusal(err: auth.AuthError) -> HTTPException:
    if isinstance(err, (auth.Throttled, auth.Busy)):
        return HTTPException(429, str(err), headers={"Retry-After": str(max(1, math.ceil(err.retry_after)))})
    return HTTPException(401, str(err))


@router.post("/login")
async def login(body: Login, request: Request, response: Response) -> dict:
    """Refusals that need no work (throttled; no hashing slot within ``hash_wait_seconds``) are
    decided here on the event loop, holding no worker thread; the sign-in itself runs in one."""
    hub = hub_of(request)
    guard, address = guard_for(hub), client(request)
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


@router.post("/logout")
def logout(request: Request, response: Response, who: PrincipalDep) -> dict:
    with hub_of(request).sessions() as s:
        auth.logout(s, request.cookies.get(auth.COOKIE, ""))
    response.delete_cookie(auth.COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
    return {"ok": True}


@router.get("/me")
def me(request: Request, who: PrincipalDep) -> dict:
    with hub_of(request).sessions() as s:
        _p, csrf = _signed_in(s, request.cookies.get(auth.COOKIE))
    return {"csrf_token": csrf, **_me(who)}


def _signed_in(session: Session, token: str | None) -> tuple[Principal, str]:
    """(who, their CSRF token) for a session token; 401 when the session has ended meanwhile."""
    found = auth.principal_for(session, token)
    if found is None:
        raise HTTPException(401, "sign in first")
    return found


def _me(who: Principal) -> dict:
    return {
        "user": who.user_id,
        "role": who.role,
        "district": who.district_id,
        "venues": sorted(who.venue_ids),
        "permissions": {p: access.scope(who, p) for p in access.PERMISSIONS},
    }


@router.get("/audit")
def audit_log(
    request: Request,
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
    tz = ZoneInfo(hub_of(request).cfg.rules.violations.timezone)
    if since:
        q = q.where(AuditEvent.at >= datetime.combine(since, day_time(), tz))
    if until:
        q = q.where(AuditEvent.at < datetime.combine(until + timedelta(days=1), day_time(), tz))
    with hub_of(request).sessions() as s:
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
