"""Sign-in, sign-out, who am I, and the audit log for the auditor (``audit.read``).

Sign-in answers 401 for every failure and 429 (with ``Retry-After``) when throttled or when no
password-hashing slot came free; the throttle and the cap are one ``auth.LoginGuard`` per hub
(``guard_for``), in memory (hub/auth.py explains the design)."""

from __future__ import annotations

import math
import threading
import time
import weakref

import anyio
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from humiao.hub import access, auth
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
    request: Request, who: PrincipalDep, action: str | None = None, user: str | None = None, limit: int = 200
) -> dict:
    require(who, "audit.read")
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(min(max(limit, 1), 1000))
    if action:
        q = q.where(AuditEvent.action == action)
    if user:
        q = q.where(AuditEvent.user_id == user)
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
