"""The hub's tables (SQLAlchemy 2.0). Schema changes go through Alembic (hub/migrations).

Times are stored as UTC and come back timezone-aware on every backend.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    # every model names its __tablename__, so each is mapped to a Table (DeclarativeBase types it as
    # any FromClause, which has no insert() and is not what the dialects' insert() takes)
    __table__: ClassVar[Table]


class Device(Base):
    """One edge device, as its Birth, Status and Last Will describe it."""

    __tablename__ = "devices"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # district/venue/device
    district_id: Mapped[str] = mapped_column(String(64), index=True)
    venue_id: Mapped[str] = mapped_column(String(64), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # orders statuses from several workers
    status: Mapped[dict | None] = mapped_column(JSON)  # the last Status, JSON-mapped
    software_version: Mapped[str | None] = mapped_column(String(64))
    venue_type: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    availability_changed: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Signed:
    """How a stored message was signed by its device (proto/signing.py), so the record can be
    checked again later: the key, the time, the signature and the sha256 of the signed body (the
    signature covers that hash, so key, time, topic, id and hash are all a check needs). Empty for
    rows stored before signatures (migration 0009)."""

    signer_key_id: Mapped[str | None] = mapped_column(String(16))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    body_sha256: Mapped[str | None] = mapped_column(String(64))


class SignedBody:
    """The signed body itself, for records small enough to keep whole (alerts, ID checks): with it a
    record can be checked field by field against what its device signed (hub/custody.py)."""

    signed_body: Mapped[bytes | None] = mapped_column(LargeBinary)


class DeviceKey(Base):
    """A device's enrolled public key (Ed25519, made on the device): which district, venue and
    device it speaks for, who enrolled it, and, once revoked, when and by whom. One active key per
    device; a revoked key is kept, so that what it signed can still be checked."""

    __tablename__ = "device_keys"
    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    device_key: Mapped[str] = mapped_column(String(200), index=True)  # district/venue/device, as devices.key
    district_id: Mapped[str] = mapped_column(String(64))
    venue_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of the raw 32 bytes
    username: Mapped[str] = mapped_column(String(200))  # its broker identity
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    enrolled_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(64))
    revoke_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index(
            "uq_device_keys_active",
            "device_key",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


class Alert(Signed, SignedBody, Base):
    """One alert, stored exactly once (unique event id)."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    district_id: Mapped[str] = mapped_column(String(64))
    venue_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the hub read it off the broker
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)  # its batch's transaction time
    age_estimate: Mapped[float] = mapped_column(Float)
    p_minor: Mapped[float] = mapped_column(Float)
    p_under_threshold: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(16))
    venue_type: Mapped[str] = mapped_column(String(32))
    frames_used: Mapped[int] = mapped_column(Integer)
    models: Mapped[list] = mapped_column(JSON)
    policy_version: Mapped[str] = mapped_column(String(64))
    evidence_available: Mapped[bool] = mapped_column(Boolean)
    calibration: Mapped[str] = mapped_column(String(128), default="")  # "<age model>/<profile>" behind p_minor

    __table_args__ = (
        Index("ix_alerts_district_decided", "district_id", "decided_at"),
        Index("ix_alerts_venue_decided", "venue_id", "decided_at"),
    )


class IdCheck(Signed, SignedBody, Base):
    """What staff found when they checked an ID (hub/validate.py ``idcheck_row``): the outcome, the
    document shown and how it was read, an age (whole years) when one was read, the hotel's guardian
    record (two yes/no answers; the details stay at the venue) and the staff account that recorded it.
    A walk-up check (staff checked someone the camera did not flag) answers no alert: ``event_id`` is
    NULL. Never a name, a number or an image; the keyed hash is never served."""

    __tablename__ = "id_checks"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    check_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_id: Mapped[str | None] = mapped_column(String(36), index=True)  # None: a walk-up check
    district_id: Mapped[str] = mapped_column(String(64))
    venue_id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    result: Mapped[str] = mapped_column(String(32))  # proto/vocabulary.py RESULTS keys
    age_years: Mapped[int] = mapped_column(Integer)  # 0 unless age_known
    under_14: Mapped[bool] = mapped_column(Boolean)
    id_keyed_hash: Mapped[str] = mapped_column(String(128))
    checksum_valid: Mapped[bool] = mapped_column(Boolean)
    # migration 0010 (rows stored before it keep the defaults, as their signed bodies say)
    age_known: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    document: Mapped[str] = mapped_column(String(32), default="", server_default="")  # DOCUMENTS key, "" none
    method: Mapped[str] = mapped_column(String(16), default="", server_default="")  # READ_METHODS key, "" none
    walk_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    guardian_contact_recorded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    co_occupants_recorded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    staff: Mapped[str] = mapped_column(String(64), default="", server_default="")  # a login name, "" the agent
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the alert's time as the edge knew it

    __table_args__ = (Index("ix_id_checks_venue_checked", "venue_id", "checked_at"),)


class DeadLetter(Base):
    """A message that could not be decoded or validated: kept aside with the reason, never retried."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    topic: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32), index=True)  # topic, oversized, decode, invalid
    detail: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    payload_head: Mapped[bytes] = mapped_column(LargeBinary)  # the first bytes only (ingest.dead_letter_keep_bytes)


class EvidenceRequest(Base):
    __tablename__ = "evidence_requests"
    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), ForeignKey("alerts.event_id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Outbox(Base):
    """Hub → edge messages a web worker (which has no broker connection) leaves for an ingest worker,
    which signs and publishes each (QoS 1) and deletes it once the broker has acknowledged it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # unsigned: the ingest worker signs it when it publishes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Evidence(Signed, Base):
    """A face crop, still sealed to the hub's key (encrypted at rest); purged after retention unless held."""

    __tablename__ = "evidence"
    event_id: Mapped[str] = mapped_column(String(36), ForeignKey("alerts.event_id"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(36))
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)  # NULL once purged
    cipher: Mapped[str] = mapped_column(String(80))
    plaintext_sha256: Mapped[str] = mapped_column(String(64))
    stored_sha256: Mapped[str] = mapped_column(String(64))  # of the ciphertext as stored (chain of custody)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    purge_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    held: Mapped[bool] = mapped_column(Boolean, default=False)  # a case holds it: not purged
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Venue(Base):
    """A licensed venue. ``id`` is the venue slug its devices use in their topics."""

    __tablename__ = "venues"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    venue_type: Mapped[str] = mapped_column(String(32), index=True)
    district_id: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    licence_no: Mapped[str] = mapped_column(String(64), default="")
    credit_code: Mapped[str] = mapped_column(String(32), default="")  # unified social credit code
    operator: Mapped[str] = mapped_column(String(200), default="")
    legal_representative: Mapped[str] = mapped_column(String(100), default="")
    sign_posted: Mapped[bool] = mapped_column(Boolean, default=False)  # 未成年人禁入/限入 sign
    sign_checked_on: Mapped[date | None] = mapped_column(Date)
    dishonest_list: Mapped[bool] = mapped_column(Boolean, default=False)
    near_school: Mapped[bool] = mapped_column(Boolean, default=False)  # computed: within the school radius
    nearest_school_m: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class School(Base):
    __tablename__ = "schools"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    district_id: Mapped[str] = mapped_column(String(64), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)


class Alarm(Base):
    """What an alert became at the hub: the rules' verdict and the alarm lifecycle
    (active/cleared × unacknowledged/acknowledged), one per alert (a person-visit at a venue)."""

    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), ForeignKey("alerts.event_id"), unique=True)
    district_id: Mapped[str] = mapped_column(String(64))
    venue_id: Mapped[str] = mapped_column(String(64), index=True)
    venue_type: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16), index=True)  # none, pending, suspected, confirmed
    severity: Mapped[str] = mapped_column(String(16))  # info, minor, major, critical
    reasons: Mapped[list] = mapped_column(JSON)  # the rules' reasoning: messages (hub/messages.py), not words
    departments: Mapped[list] = mapped_column(JSON)
    sources: Mapped[list] = mapped_column(JSON)
    calendar: Mapped[dict] = mapped_column(JSON)  # what the calendar said of the day: a message
    active: Mapped[bool] = mapped_column(Boolean, index=True)
    acknowledged: Mapped[bool] = mapped_column(Boolean)
    assignee: Mapped[str | None] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_alarms_district_raised", "district_id", "raised_at"),
        # the panel's list: an inspector's district (their scope), each filter, newest first (keyset paging by id)
        Index("ix_alarms_list_district", "district_id", "id"),
        Index("ix_alarms_list_verdict", "district_id", "verdict", "id"),
        Index("ix_alarms_list_venue_type", "district_id", "venue_type", "id"),
        Index("ix_alarms_list_active", "district_id", "active", "id"),
        # the live feed: alarms changed since its cursor (updated_at, id), in that order (a district's, the city's)
        Index("ix_alarms_feed_district", "district_id", "updated_at", "id"),
        Index("ix_alarms_updated", "updated_at", "id"),
    )


class AlarmEvent(Base):
    """Append-only history of an alarm: every change, who made it, when, and a comment if any."""

    __tablename__ = "alarm_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))  # an account, or "rules"
    action: Mapped[str] = mapped_column(String(32))  # raised, verdict, acknowledged, assigned, commented, cleared
    detail: Mapped[str] = mapped_column(Text, default="")  # a person's own words (a comment, a reason to clear)
    message: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))  # the hub's own words (hub/messages.py)


class User(Base):
    """An account. Inspectors and the procuratorate are scoped to a district; venue operators to their
    venues (user_venues); admin and auditor see every district (district_id NULL)."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the login name
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    district_id: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserVenue(Base):
    __tablename__ = "user_venues"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    venue_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its hash."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Append-only (written by hub/audit.py): who did what to which object — evidence requests and
    views above all, sign-ins, report downloads, registry imports — when, why and from where; each
    row carries the hash of the row before it and its own, so a changed, removed or slipped-in row
    breaks the chain (``humiao hub audit verify``)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(48))  # evidence.view, evidence.request, report.download, login …
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    why: Mapped[str] = mapped_column(Text, default="")
    client: Mapped[str] = mapped_column(String(64), default="")
    # the hash chain (hub/audit.py): each row commits to the one before it
    prev_hash: Mapped[str] = mapped_column(String(64), default="")
    row_hash: Mapped[str] = mapped_column(String(64), default="")


class Case(Base):
    """A joint-enforcement case: one department's procedure about one venue, built from alarms.
    The minor appears only as an age, whether under 14 and when the guardian was told — never a name."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    district_id: Mapped[str] = mapped_column(String(64), index=True)
    venue_id: Mapped[str] = mapped_column(String(64), index=True)
    venue_type: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open, assigned, inspected, decided, closed
    source: Mapped[str] = mapped_column(String(16))  # alert, inspection, public_report, transfer
    rule: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_by: Mapped[str] = mapped_column(String(64))
    decision_deadline: Mapped[datetime] = mapped_column(UTCDateTime)  # opening + 90 days (行政处罚法 art. 60)
    officers: Mapped[list] = mapped_column(JSON)  # [{"user": …, "enforcement_id": …}], at least two
    facts: Mapped[dict] = mapped_column(JSON)  # time, zone/room, calendar, minor {age, under_14, guardian_notified_at}
    findings: Mapped[str] = mapped_column(Text, default="")
    evidence_notes: Mapped[str] = mapped_column(Text, default="")
    respond_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hearing_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    legal_review_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    legal_review_by: Mapped[str | None] = mapped_column(String(64))
    legal_review_opinion: Mapped[str] = mapped_column(Text, default="")
    decision: Mapped[str | None] = mapped_column(String(16))  # no_penalty, warning, fine, suspension, revocation
    fine_yuan: Mapped[float | None] = mapped_column(Float)
    suspension_months: Mapped[int | None] = mapped_column(Integer)
    decision_basis: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_due: Mapped[datetime | None] = mapped_column(UTCDateTime)  # decision + 15 days (art. 67)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseAlarm(Base):
    __tablename__ = "case_alarms"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), primary_key=True, index=True)


class CaseEvent(Base):
    """Append-only history of a case: every change and transfer, by whom, when, why."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON)
