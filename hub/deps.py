"""Request plumbing shared by the routers: the signed-in principal (``PrincipalDep``), CSRF on state
changes, the client address for the audit log, the query parameters several routes share, and access
checks that answer 403 (or 404 when even the existence of the object is not the caller's business)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Path, Query, Request

from humiao.hub import access, auth
from humiao.hub.access import Principal, Target

if TYPE_CHECKING:
    from humiao.hub.app import Hub


def iso(value):
    """JSON for a value that may be a datetime or date."""
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def hub_of(request: Request) -> Hub:
    return request.app.state.hub


def client(request: Request) -> str:
    return request.client.host if request.client else ""


def principal(request: Request) -> Principal:
    """The signed-in user; 401 without a valid session; 403 on a state change without its CSRF token."""
    hub = hub_of(request)
    with hub.sessions() as s:
        found = auth.principal_for(s, request.cookies.get(auth.COOKIE))
    if found is None:
        raise HTTPException(401, "sign in first")
    who, csrf = found
    if request.method not in ("GET", "HEAD", "OPTIONS") and not auth.csrf_ok(csrf, request.headers.get("x-csrf-token")):
        raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token header)")
    return who


def still_signed_in(session, request: Request, who: Principal) -> bool:
    """Whether the request's session still stands for ``who``: not signed out, not expired, the account
    active and its role, district and venues unchanged. Long-lived responses (the live feed) ask as they go."""
    found = auth.principal_for(session, request.cookies.get(auth.COOKIE))
    return found is not None and found[0] == who


# Route parameters (FastAPI ``Annotated`` dependencies and query constraints), declared once:
PrincipalDep = Annotated[Principal, Depends(principal)]
"""The signed-in user (401 without a session; 403 on a state change without its CSRF token)."""
PageLimit = Annotated[int, Query(ge=1, le=1000)]
"""``limit`` of a list: 1 … 1000 rows (each route gives its own default)."""
MAX_ROW_ID = 2**63 - 1  # PostgreSQL's bigint, SQLite's integer: a larger id is a 422, not a database error
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
"""A row id in a path (an alarm, a case)."""
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
"""``before_id`` of a list page: rows with smaller ids."""


def require(who: Principal, permission: str, target: Target | None = None, hide: bool = False) -> None:
    if not access.allowed(who, permission, target):
        raise HTTPException(404 if hide else 403, "not found" if hide else f"{who.role} may not {permission} here")


def load_scoped(session, who: Principal, model, key, read_permission: str, target_of, permission: str | None = None):
    """An object the caller may read (else 404: its existence is not their business) and, when
    ``permission`` is given, act on (else 403)."""
    obj = session.get(model, key)
    if obj is None or not access.allowed(who, read_permission, target_of(obj)):
        raise HTTPException(404, "not found")
    if permission:
        require(who, permission, target_of(obj))
    return obj
