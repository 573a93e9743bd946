"""The venue's staff accounts for the console, and the throttle on signing in.

Accounts live in one JSON file (``console.staff_file``; default ``device.state_dir/staff.json``), 0600 and
replaced whole (a temporary file renamed over it), managed with ``humiao edge staff add|remove|list``:

    {"staff": {"wang-li": {"pin": "$argon2id$v=19$m=32768,t=3,p=1$…", "added": "2026-05-01T09:30:00+00:00"}}}

A name is a slug (lower-case letters, digits, ``-`` and ``_``, up to 32); a PIN is 6 to 12 ASCII digits,
kept only as its argon2id hash (libsodium through PyNaCl; 32 MiB and 3 passes: a few tens of milliseconds on
a small box, and the parameters travel in the hash, so they can change later). At most ``HASHING`` PINs are
hashed at once (a semaphore), so a burst of sign-ins cannot take the box's memory or both cores.

``verify`` does the same work for a name that has no account (it checks the PIN against a hash of nothing),
so the answer and its time say nothing about which names exist. The running console reads the file again
when it changes: an account removed with the CLI cannot sign in, and its open sessions end.

Throttle (``SignInThrottle``): failures are counted per client address (an IPv6 address by its /64, which
one device can change at will) and per account name (existing or not). The first ``FREE_FAILURES`` cost
nothing; after that each attempt must wait a doubling delay, capped at ``ADDRESS_MAX_S`` for an address (one
device guessing) and at ``ACCOUNT_MAX_S`` for an account (many devices guessing one PIN: about a hundred
guesses a day at most, against a million PINs of six digits). So that nobody can keep a member of staff out
that way, an address the account has signed in from in the last ``KNOWN_S`` waits at most
``KNOWN_ACCOUNT_MAX_S`` on the account's count. An attempt is counted as a failure *before* its PIN is checked
(``begin``) and forgiven when it succeeds (``finish``), so a burst of parallel attempts cannot slip past the
count. A success clears the address's and the account's counters; an hour without failures clears them too.
The caller answers every failure with the same words.
"""

from __future__ import annotations

import ipaddress
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
PIN = re.compile(r"[0-9]{6,12}", re.ASCII)
OPSLIMIT = 3
MEMLIMIT = 32 * 1024 * 1024
HASHING = 1  # PINs hashed at once (the box has two cores; the other one keeps the cameras going)
HASH_WAIT_S = 10.0  # how long a sign-in waits for a hashing slot before it is told to try again

FREE_FAILURES = 5
ADDRESS_MAX_S = 300.0
ACCOUNT_MAX_S = 900.0
KNOWN_ACCOUNT_MAX_S = 30.0
KNOWN_S = 30 * 86400.0
FORGET_S = 3600.0
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
        raise StaffError("a PIN is 6 to 12 digits")
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


def address_key(address: str) -> str:
    """The key an address is throttled under: an IPv4 address itself (also when mapped into IPv6), an IPv6
    address by its /64 (one device picks any address in its network)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Failures:
    count: int
    last: float


class SignInThrottle:
    """Backoff on failed sign-ins, per client address and per account name.

    ``begin`` before checking a PIN (0: go on, the attempt already counted as a failure; otherwise the seconds
    to wait), ``finish`` after it; ``wait_s`` says how long the next attempt would wait."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._addresses: OrderedDict[str, _Failures] = OrderedDict()
        self._accounts: OrderedDict[str, _Failures] = OrderedDict()
        self._known: OrderedDict[tuple[str, str], float] = OrderedDict()  # (address, name) → last success

    @staticmethod
    def _delay(f: _Failures | None, cap: float) -> float:
        if f is None or f.count < FREE_FAILURES:
            return 0.0
        return min(cap, 2.0 ** min(f.count - FREE_FAILURES, 30))

    @staticmethod
    def _remember(table: OrderedDict, key, value) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > TRACKED:
            table.popitem(last=False)

    def _get(self, table: OrderedDict[str, _Failures], key: str, now: float) -> _Failures | None:
        f = table.get(key)
        if f is not None and now - f.last > FORGET_S:
            del table[key]
            return None
        return f

    def _wait(self, address: str, name: str, now: float) -> float:
        known = self._known.get((address, name))
        account_cap = KNOWN_ACCOUNT_MAX_S if known is not None and now - known <= KNOWN_S else ACCOUNT_MAX_S
        waits = [0.0]
        for table, key, cap in ((self._addresses, address, ADDRESS_MAX_S), (self._accounts, name, account_cap)):
            f = self._get(table, key, now)
            if f is not None:
                waits.append(f.last + self._delay(f, cap) - now)
        return max(waits)

    def wait_s(self, address: str, name: str) -> float:
        """Seconds before this address may try this name again (0: now)."""
        address = address_key(address)
        with self._lock:
            return self._wait(address, name, self._clock())

    def begin(self, address: str, name: str) -> float:
        """Start an attempt: 0 when it may go on (it is counted as a failure until ``finish`` says otherwise),
        else the seconds to wait (nothing counted)."""
        address = address_key(address)
        now = self._clock()
        with self._lock:
            wait = self._wait(address, name, now)
            if wait > 0:
                return wait
            self._charge(address, name, now)
            return 0.0

    def _charge(self, address: str, name: str, now: float) -> None:
        for table, key in ((self._addresses, address), (self._accounts, name)):
            f = self._get(table, key, now)
            self._remember(table, key, _Failures((f.count if f else 0) + 1, now))

    def finish(self, address: str, name: str, ok: bool | None) -> None:
        """The end of an attempt ``begin`` let through: ``True`` it succeeded (both counters cleared, the address
        known for the account), ``False`` it failed (it stays counted), ``None`` it was never checked (the
        console was busy: not counted after all)."""
        address = address_key(address)
        with self._lock:
            if ok:
                self._addresses.pop(address, None)
                self._accounts.pop(name, None)
                self._remember(self._known, (address, name), self._clock())
            elif ok is None:
                for table, key in ((self._addresses, address), (self._accounts, name)):
                    f = table.get(key)
                    if f is not None:
                        f.count -= 1
                        if f.count <= 0:
                            del table[key]

    def failed(self, address: str, name: str) -> None:
        """Count a failure (what ``begin`` and then ``finish(..., False)`` do)."""
        with self._lock:
            self._charge(address_key(address), name, self._clock())

    def succeeded(self, address: str, name: str) -> None:
        self.finish(address, name, True)
