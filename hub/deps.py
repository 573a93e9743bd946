"""Request plumbing shared by the routers, as ``Annotated`` dependencies: the signed-in principal
(``PrincipalDep``), the hub (``HubDep``), the caller's language (``LangDep``), the client address for the audit
log (``ClientDep``), the query and path parameters several routes share; CSRF on state changes; and access
checks that answer 403 (or 404 when even the existence of the object is not the caller's business). Every
refusal is a ``messages.Problem``: in the caller's language, the role and the permission in words."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Path, Query, Request

from humiao.hub import access, auth, messages
from humiao.hub.access import Principal, Target
from humiao.hub.messages import LangDep as LangDep  # re-exported: routers take every dependency from here

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
        raise messages.Problem(401, "error.sign_in_first")
    who, csrf = found
    if request.method not in ("GET", "HEAD", "OPTIONS") and not auth.csrf_ok(csrf, request.headers.get("x-csrf-token")):
        raise messages.Problem(403, "error.csrf")
    return who


def still_signed_in(session, request: Request, who: Principal) -> bool:
    """Whether the request's session still stands for ``who``: not signed out, not expired, the account
    active and its role, district and venues unchanged. Long-lived responses (the live feed) ask as they go."""
    found = auth.principal_for(session, request.cookies.get(auth.COOKIE))
    return found is not None and found[0] == who


# Route parameters (FastAPI ``Annotated`` dependencies and query constraints), declared once:
PrincipalDep = Annotated[Principal, Depends(principal)]
"""The signed-in user (401 without a session; 403 on a state change without its CSRF token)."""
if TYPE_CHECKING:
    HubDep = Hub
else:
    HubDep = Annotated[object, Depends(hub_of)]
"""The hub serving the request (its sessions, configuration, keys)."""
ClientDep = Annotated[str, Depends(client)]
"""The caller's address, for the audit log."""
PageLimit = Annotated[int, Query(ge=1, le=1000)]
"""``limit`` of a list: 1 … 1000 rows (each route gives its own default)."""
MAX_ROW_ID = 2**63 - 1  # PostgreSQL's bigint, SQLite's integer: a larger id is a 422, not a database error
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
"""A row id in a path (an alarm, a case)."""
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)]
"""``before_id`` of a list page: rows with smaller ids."""


def refused(who: Principal, permission: str) -> messages.Problem:
    """403: the role may not (the role and the permission in the caller's words)."""
    return messages.Problem(
        403,
        "error.not_allowed",
        role=messages.msg(f"role.{who.role}"),
        permission=messages.msg(f"error.perm.{permission}"),
    )


def require(who: Principal, permission: str, target: Target | None = None, hide: bool = False) -> None:
    if not access.allowed(who, permission, target):
        raise messages.Problem(404, "error.not_found") if hide else refused(who, permission)


def load_scoped(session, who: Principal, model, key, read_permission: str, target_of, permission: str | None = None):
    """An object the caller may read (else 404: its existence is not their business) and, when
    ``permission`` is given, act on (else 403)."""
    obj = session.get(model, key)
    if obj is None or not access.allowed(who, read_permission, target_of(obj)):
        raise messages.Problem(404, "error.not_found")
    if permission:
        require(who, permission, target_of(obj))
    return obj


def needs_session(route) -> bool:
    """Whether an API route depends on ``principal`` (for the OpenAPI's error statuses)."""
    todo = [route.dependant]
    while todo:
        d = todo.pop()
        if d.call is principal:
            return True
        todo += d.dependencies
    return False
