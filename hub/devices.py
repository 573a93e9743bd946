"""Device identities at the hub: enrolment, revocation, and the key ring ingest checks signatures
against (proto/enrolment.py says how a device asks to be enrolled).

``enroll`` binds a device's public key to one district, venue and device id (the venue must be in
the registry, in that district), gives it its broker identity and topic rights (proto/acl.py,
through a ``BrokerAdmin``) and writes an audit row. ``revoke`` marks the key revoked — ingest
refuses its messages within ``security.key_refresh_s`` — and disables its broker identity, which
cuts a connected device off at once. Both are audited in the same transaction as the change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from nacl.signing import VerifyKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from humiao.hub import audit
from humiao.hub.access import Principal
from humiao.hub.config import HubConfig
from humiao.hub.tables import DeviceKey, Venue
from humiao.proto import acl, sealed, signing
from humiao.proto.enrolment import EnrolmentError, EnrolmentRequest, TrustFile

log = logging.getLogger("humiao.hub.devices")


class BrokerUnavailable(RuntimeError):
    """The broker's administration could not be reached or refused a change (hub/broker_admin.py)."""


class BrokerRights(Protocol):
    """What enrolment needs of the broker (hub/broker_admin.py: Mosquitto's dynamic security; the
    demo's embedded broker)."""

    def add_device(self, username: str, password: str, rules: list[acl.Rule]) -> None: ...
    def disable(self, username: str) -> None: ...


def trust_file(cfg: HubConfig, broker_host: str, broker_port: int) -> TrustFile:
    """The hub's trust file for its devices (public facts only; the hub's keys are made if missing)."""
    evidence_key = cfg.private_key_path()
    if not evidence_key.exists():
        sealed.ensure_keypair(evidence_key, evidence_key.with_suffix(".pub"))
    signer = signing.Signer.load_or_generate(cfg.signing_key_path(), "hub signing key")
    ca = cfg.ca_file()
    if not ca.is_file():
        raise EnrolmentError(f"the broker's CA certificate {ca} is missing: run humiao hub broker init first")
    return TrustFile(
        hub_signing_key=signing.public_text(signer.public),
        hub_evidence_key=sealed.public_text(sealed.load_private(evidence_key).public_key()),
        ca_pem=ca.read_text(),
        broker_host=broker_host,
        broker_port=broker_port,
    )


@contextmanager
def broker_rights(cfg: HubConfig) -> Iterator[BrokerRights]:
    """The broker's administration (Mosquitto's dynamic security, as ``hub.admin``)."""
    from humiao.hub.broker_admin import BrokerAdminError, DynsecAdmin

    try:
        with DynsecAdmin.from_config(cfg) as admin:
            yield admin
    except BrokerAdminError as err:
        raise BrokerUnavailable(str(err)) from err


def device_key(district: str, venue: str, device: str) -> str:
    return f"{district}/{venue}/{device}"


def trust_digest(cfg: HubConfig) -> str:
    """The digest of this hub's trust file (its keys and the broker's CA)."""
    return trust_file(cfg, cfg.mqtt.host, cfg.mqtt.port).digest()


def enroll(
    session: Session,
    broker: BrokerRights | None,
    request: EnrolmentRequest,
    cfg: HubConfig,
    who: Principal,
    replace: bool = False,
    client: str = "",
) -> DeviceKey:
    """Enrol the requesting device (committed); ``EnrolmentError`` says why not. ``broker`` None:
    the caller grants broker rights itself (tests of the hub alone)."""
    venue = session.get(Venue, request.venue_id)
    if venue is None or venue.district_id != request.district_id:
        raise EnrolmentError(
            f"venue {request.venue_id!r} is not in the registry of district {request.district_id!r}: "
            "import it first (humiao hub venues import)"
        )
    if request.trust_sha256 != trust_digest(cfg):
        raise EnrolmentError(
            "the device took a trust file that is not this hub's (its keys or the broker's CA differ): give it "
            "the file humiao hub devices trust-file writes, and enrol the new request"
        )
    key_id = request.key_id
    known = session.get(DeviceKey, key_id)
    if known is not None and known.revoked_at is not None:
        raise EnrolmentError(
            f"key {key_id} was revoked on {known.revoked_at:%Y-%m-%d %H:%M} UTC: make a new key on the device"
        )
    if known is not None and known.device_key != request.device_key:
        raise EnrolmentError(f"key {key_id} is already enrolled for {known.device_key}")
    active = active_key(session, request.device_key)
    if active is not None and active.key_id != key_id:
        if not replace:
            raise EnrolmentError(
                f"{request.device_key} is enrolled with key {active.key_id} (since "
                f"{active.enrolled_at:%Y-%m-%d}); enrol with --replace to revoke it"
            )
        _mark_revoked(session, active, who, "replaced by a new key", client)
    password = request.broker_password(sealed.load_private(cfg.private_key_path()))
    row = known
    if row is None:
        row = DeviceKey(
            key_id=key_id,
            device_key=request.device_key,
            district_id=request.district_id,
            venue_id=request.venue_id,
            device_id=request.device_id,
            public_key=request.public_key,
            username=request.username,
            enrolled_at=datetime.now(UTC),
            enrolled_by=who.user_id,
        )
        session.add(row)
    # every enrolment is audited, also the same key again (its broker rights granted anew)
    audit.record(
        session,
        who,
        "device.enroll",
        "device",
        request.device_key,
        f"key {key_id}" + (" again" if known else ""),
        client,
    )
    session.flush()
    if broker is not None:  # last: a broker that refuses leaves nothing enrolled (the transaction rolls back)
        broker.add_device(
            request.username, password, acl.device_rules(request.district_id, request.venue_id, request.device_id)
        )
    session.commit()
    return row


def _mark_revoked(session: Session, row: DeviceKey, who: Principal, reason: str, client: str) -> None:
    row.revoked_at = datetime.now(UTC)
    row.revoked_by = who.user_id
    row.revoke_reason = reason[:200]
    audit.record(session, who, "device.revoke", "device", row.device_key, f"key {row.key_id}: {reason}", client)


def revoke(
    session: Session, broker: BrokerRights | None, device: str, who: Principal, reason: str, client: str = ""
) -> DeviceKey:
    """Revoke a device's active key (``device`` is district/venue/device): committed first, so ingest
    refuses it even if the broker cannot be reached; then the broker cuts it off. ``EnrolmentError``
    when it has no active key; a broker failure is raised after the revocation is recorded."""
    row = active_key(session, device)
    if row is None:
        raise EnrolmentError(f"{device} has no enrolled key")
    if not reason.strip():
        raise EnrolmentError("a reason is required (it is audited)")
    _mark_revoked(session, row, who, reason, client)
    session.commit()
    if broker is not None:
        broker.disable(row.username)
    return row


def revoked_or_revoke(session: Session, device: str, who: Principal, reason: str, client: str = "") -> DeviceKey:
    """The device's key, revoked now; or, when it has no active key, its latest revoked one (a
    revocation whose broker step failed is then finished by disabling the identity again)."""
    if active_key(session, device) is not None:
        return revoke(session, None, device, who, reason, client)
    last = session.scalars(
        select(DeviceKey).where(DeviceKey.device_key == device).order_by(DeviceKey.revoked_at.desc()).limit(1)
    ).one_or_none()
    if last is None:
        raise EnrolmentError(f"{device} has no enrolled key")
    return last


def active_key(session: Session, device: str) -> DeviceKey | None:
    return session.scalars(
        select(DeviceKey).where(DeviceKey.device_key == device, DeviceKey.revoked_at.is_(None))
    ).one_or_none()


def listing(session: Session) -> list[DeviceKey]:
    return list(session.scalars(select(DeviceKey).order_by(DeviceKey.device_key, DeviceKey.enrolled_at)))


@dataclass(frozen=True)
class KnownKey:
    key_id: str
    device: tuple[str, str, str]
    public: VerifyKey
    revoked: bool


def _known(row: DeviceKey) -> KnownKey | None:
    """A key row as the ring holds it; None for a row whose key id is not its key's (altered in the
    database: such a key is not trusted)."""
    public = signing.public_from_text(row.public_key)
    if signing.key_id(public) != row.key_id:
        log.error("device key %s of %s does not match its public key: ignored", row.key_id, row.device_key)
        return None
    return KnownKey(
        row.key_id, (row.district_id, row.venue_id, row.device_id), signing.checker(public), row.revoked_at is not None
    )


class KeyRing:
    """Every enrolled key, re-read from the database at most every ``refresh_s`` (so a revocation
    made by another process applies within that time); thread-safe."""

    def __init__(self, sessions, refresh_s: float = 2.0):
        self.sessions = sessions
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._by_id: dict[str, KnownKey] = {}
        self._active: dict[tuple[str, str, str], KnownKey] = {}
        self._misses: deque[float] = deque()

    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._loaded_at < self.refresh_s:
            return  # the common case, without the lock
        with self._lock:
            if not force and time.monotonic() - self._loaded_at < self.refresh_s:
                return
            with self.sessions() as s:
                rows = list(s.scalars(select(DeviceKey)))
            by_id: dict[str, KnownKey] = {}
            active: dict[tuple[str, str, str], KnownKey] = {}
            for r in rows:
                known = _known(r)
                if known is None:
                    continue
                by_id[r.key_id] = known
                if not known.revoked:
                    active[known.device] = known
            self._by_id, self._active = by_id, active
            self._loaded_at = time.monotonic()

    MISS_LOOKUPS_PER_S = 200  # keys not known yet (a device enrolled a moment ago): one row looked up, this often

    def _lookup(self, table: str, key):
        self.refresh()
        found = getattr(self, table).get(key)
        if found is None:
            now = time.monotonic()
            with self._lock:
                while self._misses and now - self._misses[0] > 1.0:
                    self._misses.popleft()
                if len(self._misses) >= self.MISS_LOOKUPS_PER_S:  # unknown keys cannot keep the database busy
                    return None
                self._misses.append(now)
            found = self._load_one(table, key)
        return found

    def _load_one(self, table: str, key) -> KnownKey | None:
        """One key (by id, or a device's active one) read now and added to the ring."""
        with self.sessions() as s:
            if table == "_by_id":
                row = s.get(DeviceKey, key)
            else:
                row = s.scalars(
                    select(DeviceKey).where(DeviceKey.device_key == "/".join(key), DeviceKey.revoked_at.is_(None))
                ).one_or_none()
            known = _known(row) if row is not None else None
        if known is not None:
            with self._lock:
                self._by_id[known.key_id] = known
                if not known.revoked:
                    self._active[known.device] = known
        return known

    def active(self, device: tuple[str, str, str]) -> KnownKey | None:
        return self._lookup("_active", device)

    def by_id(self, key_id: str) -> KnownKey | None:
        return self._lookup("_by_id", key_id)
