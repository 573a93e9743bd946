"""Accounts and sign-in: argon2id password hashes, server-side sessions in an HttpOnly cookie, a
CSRF token required on every state-changing request, and throttling of failed sign-ins. Sign-ins and
failures (with their precise reason) go to the audit log (hub/audit.py).

**One answer.** Every failed sign-in — unknown name, wrong password, disabled account, an account an
administrator locked (``users.locked_until``, which this module no longer sets) — is the same 401
"wrong name or password"; a throttled one is 429 with the same text and a ``Retry-After``. Only the
audit log says which it was. An unknown name is verified against a dummy hash, so it costs the same
argon2 work as a known one (the known one adds a small audit write).

**Throttling, not lockout** (``LoginGuard``). A hard lock after N failures lets anyone who knows a
user's name keep that user out. Instead, failures are counted in memory over a window
(``lockout_minutes``) and a sign-in is refused (429, before any database read or argon2 work):

- per client address and account (a *pair*): after ``max_failed_logins`` failures from that address
  on that name, each further try must wait ``backoff_seconds`` × 2^k after the pair's last failure
  (k = failures beyond the free ones), capped at the window; a success forgets the pair, and so does
  a quiet window after the last delay ran out;
- per account: when a name has had ``account_max_failures`` failures in the window from all
  addresses together (a distributed guess), every address *that has itself failed on it* gets only
  one free failure before its delays start; an address that has not failed is never held up there,
  so the real user, from their own machine, signs in with the right password however hard the name
  is hammered from elsewhere;
- per client address: ``client_max_failures`` failures on any names in the window and the address
  is refused until the oldest of them leaves the window (password spraying).

Attempts in flight count as failures until they end, so concurrent guesses cannot slip past a
limit. The address is ``deps.client()``: the TCP peer as uvicorn reports it (uvicorn believes
X-Forwarded-For only from the proxies it trusts, 127.0.0.1 unless FORWARDED_ALLOW_IPS says more);
behind a proxy it does not trust, everyone shares the proxy's address and these limits apply to all
together. The state is in memory, per hub process (no table: a restart forgets it; several hub
processes each count their own); its maps are LRU-bounded so a flood of names cannot grow it.

**Hashing is capped.** Argon2 takes 64 MiB and a core per hash: at most ``max_concurrent_hashes``
run at once (``LoginGuard.slots``); a sign-in that cannot get a slot within ``hash_wait_seconds`` is
refused 429 "busy" (Retry-After 1), not queued. The HTTP route waits for a slot on the event loop,
so waiting sign-ins hold no worker thread and ``/healthz`` stays prompt.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import itertools
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from humiao.config import Section
from humiao.hub import audit as audit_log
from humiao.hub.access import ROLES, SYSTEM_ACTOR, Principal
from humiao.hub.tables import User, UserVenue, WebSession, utcnow

log = logging.getLogger(__name__)

COOKIE = "humiao_session"
FAILED = "wrong name or password"  # every failed or throttled sign-in says this, and only this
BUSY = "the hub is busy signing others in; try again in a moment"
_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 second recommendation)
_MAX_TRACKED = 100_000  # entries per map of LoginGuard; the least recently touched go first


class AuthConfig(Section):
    session_hours: float = Field(8.0, gt=0, le=24 * 7, description="a session ends this long after sign-in")
    max_failed_logins: int = Field(
        5,
        ge=1,
        le=100,
        description="failures one client address may make on one account within the window before each "
        "further try from there waits a delay that doubles per failure (429 until then)",
    )
    lockout_minutes: float = Field(
        15.0,
        gt=0,
        le=24 * 60,
        description="the window failures are counted in, and the longest delay; nothing is locked",
    )
    backoff_seconds: float = Field(1.0, gt=0, le=3600, description="the first delay; it doubles per failure")
    client_max_failures: int = Field(
        20,
        ge=1,
        le=100_000,
        description="failures from one address on any names within the window; then it is refused until "
        "the oldest leaves the window",
    )
    account_max_failures: int = Field(
        10,
        ge=1,
        le=100_000,
        description="failures on one account from all addresses within the window; then each address that "
        "failed on it waits after its first failure (addresses that did not fail are never held up)",
    )
    max_concurrent_hashes: int = Field(
        2, ge=1, le=64, description="argon2 hashes at once (64 MiB and a core each): about the number of cores"
    )
    hash_wait_seconds: float = Field(
        1.0, ge=0, le=30, description="how long a sign-in waits for a hashing slot before 429 busy"
    )
    secure_cookie: bool | None = Field(
        None,
        description="null: the session cookie is Secure whenever the sign-in came over HTTPS (behind a proxy, "
        "run uvicorn with proxy headers trusted from it); true / false to force",
    )
    min_password_length: int = Field(12, ge=8)


UNKNOWN = Principal("-", "none", None)  # the actor of a failed sign-in with a name no account has


class AuthError(ValueError):
    pass


class Throttled(AuthError):
    """A sign-in refused before any work: too many recent failures (the same text as every failure)."""

    def __init__(self, retry_after: float):
        super().__init__(FAILED)
        self.retry_after = retry_after


class Busy(AuthError):
    """No password-hashing slot came free in time."""

    def __init__(self, retry_after: float = 1.0):
        super().__init__(BUSY)
        self.retry_after = retry_after


class Slots:
    """A bounded semaphore that can also say whether a slot is free (so that the HTTP route can wait
    for one on the event loop, without a thread)."""

    def __init__(self, n: int):
        self.n, self._used, self._cond = n, 0, threading.Condition()

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            if not self._cond.wait_for(lambda: self._used < self.n, timeout):
                return False
            self._used += 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._used == 0:
                raise ValueError("slot released more often than acquired")
            self._used -= 1
            self._cond.notify()

    def free(self) -> bool:
        return self._used < self.n


@dataclass
class _Pair:
    failures: int = 0
    last: float = 0.0  # the clock at the last failure
    pending: int = 0  # attempts in flight


@dataclass
class _Client:
    times: deque[float] = field(default_factory=deque)  # failures within the window, oldest first
    pending: int = 0


def _lru_put(d: OrderedDict, key, value) -> None:
    d[key] = value
    d.move_to_end(key)
    while len(d) > _MAX_TRACKED:
        d.popitem(last=False)


class LoginGuard:
    """Failed-sign-in throttling and the hashing cap for one hub process (see the module docstring).
    ``begin`` before a sign-in (0: go ahead, counted in flight; else seconds to wait), ``end`` after
    it (``ok`` True, False, or None when it never got to a verdict), ``hashing`` around argon2 work."""

    def __init__(self, cfg: AuthConfig, clock: Callable[[], float] = time.monotonic):
        self.cfg, self.clock = cfg, clock
        self.window = cfg.lockout_minutes * 60
        self.slots = Slots(cfg.max_concurrent_hashes)
        self.hashes = 0  # argon2 operations done (sign-ins that got a slot): a hook for tests and metrics
        self._lock = threading.Lock()
        self._pairs: OrderedDict[tuple[str, str], _Pair] = OrderedDict()
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._accounts: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def client_key(client: str) -> str:
        """What the per-client limit counts: an IPv4 address, or an IPv6 address's /64 (one subscriber's
        network hands out addresses from a /64 at will)."""
        try:
            ip = ipaddress.ip_address(client)
        except ValueError:
            return client
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    @staticmethod
    def _name(user: str) -> str:
        """The key for a typed name (no account name is longer than 64 characters)."""
        return user if len(user) <= 64 else "#" + hashlib.sha256(user.encode()).hexdigest()

    def _delay(self, k: int) -> float:
        return min(self.cfg.backoff_seconds * 2 ** min(k, 60), self.window)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()

    def _prune(self, now: float) -> None:
        """Drop the stale entries at the old end of each map (cheap: it stops at the first live one)."""

        def drop(d: OrderedDict, stale: Callable[[Any], bool]) -> None:
            keys = []
            for key, entry in itertools.islice(d.items(), 64):
                if not stale(entry):
                    break
                keys.append(key)
            for key in keys:
                del d[key]

        def client_stale(c: _Client) -> bool:
            self._expire(c.times, now)
            return not (c.pending or c.times)

        def account_stale(times: deque[float]) -> bool:
            self._expire(times, now)
            return not times

        drop(self._pairs, lambda p: not p.pending and now > p.last + self._delay(p.failures) + self.window)
        drop(self._clients, client_stale)
        drop(self._accounts, account_stale)

    def _wait(self, name: str, client: str, now: float) -> float:
        cfg = self.cfg
        c = self._clients.get(client)
        if c is not None:
            self._expire(c.times, now)
            if len(c.times) >= cfg.client_max_failures:
                return c.times[0] + self.window - now
            if len(c.times) + c.pending >= cfg.client_max_failures:
                return 1.0  # the rest is in flight
        pair = self._pairs.get((name, client))
        if pair is None:
            return 0.0
        if pair.failures and not pair.pending and now > pair.last + self._delay(pair.failures) + self.window:
            del self._pairs[(name, client)]  # quiet for a window after its delay: forgotten
            return 0.0
        account = self._accounts.get(name)
        if account is not None:
            self._expire(account, now)
        under_attack = account is not None and len(account) >= cfg.account_max_failures
        free = 1 if under_attack else cfg.max_failed_logins
        if pair.failures + pair.pending < free:
            return 0.0
        if pair.pending:
            return 1.0
        return max(0.0, pair.last + self._delay(pair.failures - free) - now)

    def retry_after(self, user: str, client: str) -> float:
        """Seconds before ``client`` may try ``user`` again (0: now); changes nothing."""
        with self._lock:
            return self._wait(self._name(user), self.client_key(client), self.clock())

    def begin(self, user: str, client: str) -> float:
        """0 and the attempt is counted in flight, or the seconds to wait (nothing counted)."""
        name, client = self._name(user), self.client_key(client)
        with self._lock:
            now = self.clock()
            self._prune(now)
            wait = self._wait(name, client, now)
            if wait > 0:
                return wait
            pair = self._pairs.get((name, client)) or _Pair()
            pair.pending += 1
            _lru_put(self._pairs, (name, client), pair)
            c = self._clients.get(client) or _Client()
            c.pending += 1
            _lru_put(self._clients, client, c)
            return 0.0

    def end(self, user: str, client: str, ok: bool | None) -> None:
        name, client = self._name(user), self.client_key(client)
        with self._lock:
            now = self.clock()
            pair = self._pairs.get((name, client)) or _Pair(pending=1)
            c = self._clients.get(client) or _Client(pending=1)
            pair.pending, c.pending = max(0, pair.pending - 1), max(0, c.pending - 1)
            if ok:
                if pair.pending:
                    pair.failures = 0
                else:
                    self._pairs.pop((name, client), None)
                return
            if ok is None:
                return
            pair.failures, pair.last = pair.failures + 1, now
            _lru_put(self._pairs, (name, client), pair)
            c.times.append(now)
            while len(c.times) > self.cfg.client_max_failures:
                c.times.popleft()
            _lru_put(self._clients, client, c)
            account = self._accounts.get(name) or deque()
            account.append(now)
            while len(account) > self.cfg.account_max_failures:
                account.popleft()
            _lru_put(self._accounts, name, account)
            if pair.failures == self.cfg.max_failed_logins or len(c.times) == self.cfg.client_max_failures:
                log.warning("sign-in failures from %s (last on %r): throttling it", client, user[:64])

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """A hashing slot for the block, or ``Busy`` when none comes free in ``hash_wait_seconds``."""
        if not self.slots.acquire(self.cfg.hash_wait_seconds):
            raise Busy()
        try:
            with self._lock:
                self.hashes += 1
            yield
        finally:
            self.slots.release()


@functools.cache
def _dummy_hash() -> str:
    """What an unknown name is verified against (made once per process, with the hasher's parameters)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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
    if user_id.strip().lower() == SYSTEM_ACTOR:
        raise AuthError(f"{user_id!r} is reserved: the hub's own entries (the rules) go by that name")
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
    session: Session,
    user_id: str,
    password: str,
    cfg: AuthConfig | None = None,
    client: str = "",
    guard: LoginGuard | None = None,
) -> tuple[str, str]:
    """(session token for the cookie, CSRF token). ``AuthError(FAILED)`` for every failure,
    ``Throttled`` (the same text) when ``client`` must wait first, ``Busy`` when no hashing slot came
    free. Without a ``guard`` (one per hub process) nothing is remembered between calls."""
    cfg = cfg or AuthConfig()
    guard = guard or LoginGuard(cfg)
    wait = guard.begin(user_id, client)
    if wait > 0:
        raise Throttled(wait)
    verdict: bool | None = None
    try:
        user = session.get(User, user_id) if len(user_id) <= 64 else None
        now = utcnow()
        with guard.hashing():
            dummy = _dummy_hash()  # made in the process's first sign-in, whichever name it is for
            right = _verify(user.password_hash if user is not None else dummy, password)
            if user is None:
                reason = "unknown user"
            elif not user.active:
                reason = "account disabled"
            elif user.locked_until and user.locked_until > now:
                reason = "account locked"
            else:
                reason = "" if right else "wrong password"
            if not reason and user is not None and _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
        if reason:
            verdict = False
            if user is not None:
                user.failed_logins += 1  # informational: the throttle is LoginGuard's
                who = Principal(user.id, user.role, user.district_id)
                audit_log.record(session, who, "login.failed", "user", user.id, reason, client)
            else:  # recorded too (and so as slow as a known name): the typed name only as a hash
                typed = "#" + hashlib.sha256(user_id.encode()).hexdigest()[:16]
                audit_log.record(session, UNKNOWN, "login.failed", "user", typed, reason, client)
            session.commit()
            raise AuthError(FAILED)
        assert user is not None
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
        verdict = True
        return token, csrf
    finally:
        guard.end(user_id, client, verdict)


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
