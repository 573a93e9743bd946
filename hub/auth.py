"""Accounts and sign-in: argon2id password hashes, server-side sessions in an HttpOnly cookie, a
CSRF token required on every state-changing request, and lockout after repeated failures. Sign-ins
and lockouts go to the audit log (hub/audit.py)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from humiao.config import Section
from humiao.hub import audit as audit_log
from humiao.hub.access import ROLES, Principal
from humiao.hub.tables import User, UserVenue, WebSession, utcnow

COOKIE = "humiao_session"
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 second recommendation)


class AuthConfig(Section):
    session_hours: float = Field(8.0, gt=0, le=24 * 7, description="a session ends this long after sign-in")
    max_failed_logins: int = Field(5, ge=1, le=100)
    lockout_minutes: float = Field(15.0, gt=0)
    secure_cookie: bool = Field(False, description="set behind HTTPS (the deployment issue adds TLS)")
    min_password_length: int = Field(12, ge=8)


class AuthError(ValueError):
    pass


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    user_id: str,
    password: str,
    role: str,
    district_id: str | None,
    display_name: str = "",
    venue_ids: tuple[str, ...] = (),
    cfg: AuthConfig | None = None,
) -> User:
    cfg = cfg or AuthConfig()
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if len(password) < cfg.min_password_length:
        raise AuthError(f"password shorter than {cfg.min_password_length} characters")
    if role not in ("admin", "auditor") and not district_id:
        raise AuthError(f"role {role} needs a district")
    if role == "venue_operator" and not venue_ids:
        raise AuthError("a venue operator account needs its venues")
    user = User(
        id=user_id,
        display_name=display_name or user_id,
        role=role,
        district_id=district_id,
        password_hash=_hasher.hash(password),
        active=True,
        failed_logins=0,
        created_at=utcnow(),
    )
    session.merge(user)
    session.execute(delete(UserVenue).where(UserVenue.user_id == user_id))
    for v in venue_ids:
        session.add(UserVenue(user_id=user_id, venue_id=v))
    return user


def login(
    session: Session, user_id: str, password: str, cfg: AuthConfig | None = None, client: str = ""
) -> tuple[str, str]:
    """(session token for the cookie, CSRF token); AuthError with one message for every failure
    except a lockout (which says until when)."""
    cfg = cfg or AuthConfig()
    user = session.get(User, user_id)
    now = utcnow()
    if user is None or not user.active:
        _hasher.hash(password)  # the same work whether or not the account exists
        raise AuthError("wrong name or password")
    if user.locked_until and user.locked_until > now:
        raise AuthError(f"account locked after repeated failures until {user.locked_until:%H:%M} UTC")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= cfg.max_failed_logins:
            user.locked_until, user.failed_logins = now + timedelta(minutes=cfg.lockout_minutes), 0
            audit_log.record(
                session,
                Principal(user.id, user.role, user.district_id),
                "login.locked",
                "user",
                user.id,
                f"{cfg.max_failed_logins} failed sign-ins",
                client,
            )
        session.commit()
        raise AuthError("wrong name or password") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_logins, user.locked_until = 0, None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_sha256=_sha(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + timedelta(hours=cfg.session_hours),
        )
    )
    audit_log.record(session, Principal(user.id, user.role, user.district_id), "login", "user", user.id, "", client)
    session.commit()
    return token, csrf


def principal_for(session: Session, token: str | None) -> tuple[Principal, str] | None:
    """(who, their CSRF token) for a session cookie, or None when absent, unknown or expired."""
    if not token:
        return None
    ws = session.get(WebSession, _sha(token))
    if ws is None or ws.expires_at <= utcnow():
        return None
    user = session.get(User, ws.user_id)
    if user is None or not user.active:
        return None
    venues = frozenset(session.scalars(select(UserVenue.venue_id).where(UserVenue.user_id == user.id)))
    return Principal(user.id, user.role, user.district_id, venues), ws.csrf_token


def logout(session: Session, token: str) -> None:
    session.execute(delete(WebSession).where(WebSession.token_sha256 == _sha(token)))
    session.commit()


def csrf_ok(expected: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(expected, presented)
