"""The venue's staff accounts for the console, and the throttle on signing in.

Accounts live in one JSON file (``console.staff_file``; default ``device.state_dir/staff.json``), 0600 and
replaced whole (a temporary file renamed over it), managed with ``humiao edge staff add|remove|list``:

    {"staff": {"wang-li": {"pin": "$argon2id$v=19$m=32768,t=3,p=1$…", "added": "2026-05-01T09:30:00+00:00"}}}

A name is a slug (lower-case letters, digits, ``-`` and ``_``, up to 32); a PIN is 4 to 12 ASCII digits,
kept only as its argon2id hash (libsodium through PyNaCl; 32 MiB and 3 passes: a few tens of milliseconds on
a small box, and the parameters travel in the hash, so they can change later). At most ``HASHING`` PINs are
hashed at once (a semaphore), so a burst of sign-ins cannot take the box's memory or both cores.

``verify`` does the same work for a name that has no account (it checks the PIN against a hash of nothing),
so the answer and its time say nothing about which names exist. The running console reads the file again
when it changes: an account removed with the CLI cannot sign in, and its open sessions end.

Throttle (``SignInThrottle``): failures are counted per client address and per account name (existing or
not). The first ``FREE_FAILURES`` cost nothing; after that each attempt must wait a doubling delay, capped at
``ADDRESS_MAX_S`` for an address (one device guessing) and at only ``ACCOUNT_MAX_S`` for an account (many
devices guessing one PIN), so that nobody can lock a member of staff out for long. A success clears both
counters; a quiet ``FORGET_S`` clears them too. The caller answers every failure with the same words.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id

from humiao.files import private_dir, read_private_text, write_private_text

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}", re.ASCII)
PIN = re.compile(r"[0-9]{4,12}", re.ASCII)
OPSLIMIT = 3
MEMLIMIT = 32 * 1024 * 1024
HASHING = 2  # PINs hashed at once (the box has two cores)
HASH_WAIT_S = 10.0  # how long a sign-in waits for a hashing slot before it is told to try again

FREE_FAILURES = 5
ADDRESS_MAX_S = 300.0
ACCOUNT_MAX_S = 30.0
FORGET_S = 15 * 60.0
TRACKED = 10_000  # addresses and names remembered at most (the oldest are forgotten first)


class StaffError(ValueError):
    """A name, PIN or staff file that cannot be used; the message never contains a PIN."""


class Busy(RuntimeError):
    """Too many PINs are being checked right now: try again in a moment."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise StaffError("a staff name is 1-32 lower-case letters, digits, '-' or '_', starting with a letter or digit")
    return name


def check_pin(pin: str) -> str:
    if not isinstance(pin, str) or not PIN.fullmatch(pin):
        raise StaffError("a PIN is 4 to 12 digits")
    return pin


@dataclass(frozen=True)
class StaffMember:
    name: str
    added: str  # ISO time


class StaffBook:
    """The staff file: add (or change a PIN), remove, list, verify. Safe to share between threads."""

    def __init__(self, path: Path, hashing: int = HASHING) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._hashing = threading.BoundedSemaphore(hashing)
        self._cache: tuple[tuple[int, int, int], dict[str, dict[str, str]]] | None = None
        # checked instead of a real hash when the name has no account: the same work, the same answer
        self._nobody = argon2id.str(secrets.token_bytes(16), opslimit=OPSLIMIT, memlimit=MEMLIMIT)

    # -- the file ---------------------------------------------------------------------------------
    def _load(self) -> dict[str, dict[str, str]]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
        try:
            data = json.loads(read_private_text(self.path, "staff file"))
            staff = data["staff"]
            if not isinstance(staff, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("pin"), str) for v in staff.values()
            ):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise StaffError(f"staff file {self.path}: not a staff file (humiao edge staff add writes one)") from None
        with self._lock:
            self._cache = (stamp, staff)
        return staff

    def _save(self, staff: dict[str, dict[str, str]]) -> None:
        private_dir(self.path.parent)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        try:
            write_private_text(tmp, json.dumps({"staff": staff}, indent=2, sort_keys=True) + "\n")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    # -- managing ---------------------------------------------------------------------------------
    def add(self, name: str, pin: str) -> bool:
        """Add an account, or give an existing one a new PIN; whether it is new."""
        check_name(name)
        hashed = self._hash(check_pin(pin))
        staff = dict(self._load())
        new = name not in staff
        added = staff[name].get("added", "") if not new else datetime.now(UTC).isoformat(timespec="seconds")
        staff[name] = {"pin": hashed, "added": added}
        self._save(staff)
        return new

    def remove(self, name: str) -> bool:
        """Remove an account; whether there was one."""
        staff = dict(self._load())
        if staff.pop(name, None) is None:
            return False
        self._save(staff)
        return True

    def members(self) -> list[StaffMember]:
        return [StaffMember(n, v.get("added", "")) for n, v in sorted(self._load().items())]

    def exists(self, name: str) -> bool:
        try:
            return name in self._load()
        except StaffError:
            return False

    # -- signing in -------------------------------------------------------------------------------
    def _hash(self, pin: str) -> str:
        with self._slot():
            return argon2id.str(pin.encode("ascii"), opslimit=OPSLIMIT, memlimit=MEMLIMIT).decode("ascii")

    def _slot(self) -> _Slot:
        return _Slot(self._hashing)

    def verify(self, name: str, pin: str) -> bool:
        """Whether ``pin`` is the PIN of the account ``name``; the same work when there is no such account
        or the name or PIN is malformed. ``Busy`` when every hashing slot stays taken for ``HASH_WAIT_S``."""
        try:
            staff = self._load()
        except StaffError:
            staff = {}
        entry = staff.get(name) if isinstance(name, str) else None
        well_formed = isinstance(pin, str) and PIN.fullmatch(pin) is not None
        hashed = entry["pin"].encode("ascii") if entry else self._nobody
        candidate = pin.encode("ascii") if well_formed else b"-"
        with self._slot():
            try:
                ok = argon2id.verify(hashed, candidate)
            except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError):
                ok = False
        return bool(ok and entry is not None and well_formed)


class _Slot:
    def __init__(self, sem: threading.BoundedSemaphore) -> None:
        self._sem = sem

    def __enter__(self) -> None:
        if not self._sem.acquire(timeout=HASH_WAIT_S):
            raise Busy("the console is busy checking PINs")

    def __exit__(self, *exc: object) -> None:
        self._sem.release()


@dataclass
class _Failures:
    count: int
    last: float


class SignInThrottle:
    """Backoff on failed sign-ins, per client address and per account name."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._addresses: OrderedDict[str, _Failures] = OrderedDict()
        self._accounts: OrderedDict[str, _Failures] = OrderedDict()

    @staticmethod
    def _delay(f: _Failures | None, cap: float) -> float:
        if f is None or f.count < FREE_FAILURES:
            return 0.0
        return min(cap, 2.0 ** (f.count - FREE_FAILURES))

    def _get(self, table: OrderedDict[str, _Failures], key: str, now: float) -> _Failures | None:
        f = table.get(key)
        if f is not None and now - f.last > FORGET_S:
            del table[key]
            return None
        return f

    def wait_s(self, address: str, name: str) -> float:
        """Seconds before this address may try this name again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = []
            for table, key, cap in ((self._addresses, address, ADDRESS_MAX_S), (self._accounts, name, ACCOUNT_MAX_S)):
                f = self._get(table, key, now)
                if f is not None:
                    waits.append(f.last + self._delay(f, cap) - now)
            return max([0.0, *waits])

    def failed(self, address: str, name: str) -> None:
        now = self._clock()
        with self._lock:
            for table, key in ((self._addresses, address), (self._accounts, name)):
                f = self._get(table, key, now)
                table[key] = _Failures((f.count if f else 0) + 1, now)
                table.move_to_end(key)
                while len(table) > TRACKED:
                    table.popitem(last=False)

    def succeeded(self, address: str, name: str) -> None:
        with self._lock:
            self._addresses.pop(address, None)
            self._accounts.pop(name, None)
