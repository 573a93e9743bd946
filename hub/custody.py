"""Chain of custody: whether a stored record is still what its device signed.

For an alert (and the ID checks that answer it, and its evidence), or a walk-up check (by its check id,
as it answers no alert): the signing key was enrolled for that device when the record was signed and
not revoked before; the signature verifies over the stored time, id, topic and the sha256 of the
signed body; for alerts and ID checks, the kept body has that hash and says what the row says (every
field an ID check's row takes from it, the outcome's document, guardian record and times included);
for evidence, the stored crop rebuilt into its message has that hash (until the crop is purged: then
the hashes and the signature remain). ``humiao hub audit custody EVENT_ID`` prints the findings; any
failure names the record and what differs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.orm import Session

from humiao.hub.tables import Alert, DeviceKey, Evidence, IdCheck
from humiao.hub.validate import Rejected, alert_row, idcheck_fields
from humiao.hub.verify import signed_ns
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import signing
from humiao.proto.topics import parse, topic

ALERT_FIELDS = (
    "event_id",
    "district_id",
    "venue_id",
    "device_id",
    "camera_id",
    "decision",
    "venue_type",
    "calibration",
)
ALERT_NUMBERS = ("age_estimate", "p_minor", "p_under_threshold", "threshold")
CHECK_FIELDS = (
    "check_id",
    "event_id",
    "district_id",
    "venue_id",
    "device_id",
    "checked_at",
    "result",
    "age_years",
    "under_14",
    "id_keyed_hash",
    "checksum_valid",
    "age_known",
    "document",
    "method",
    "walk_up",
    "guardian_contact_recorded",
    "co_occupants_recorded",
    "staff",
    "alerted_at",
)


@dataclass(frozen=True)
class Finding:
    record: str  # "alert <id>", "ID check <id>", "evidence <id>"
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok' if self.ok else 'FAILED'}  {self.record}: {self.detail}"


def _signature(session: Session, row, kind: str, message_id: str) -> str | None:
    """Why the row's signature does not hold; None when it does."""
    if row.signature is None or row.signer_key_id is None or row.signed_at is None or row.body_sha256 is None:
        return "stored without a signature (before signatures were required)"
    key = session.get(DeviceKey, row.signer_key_id)
    if key is None:
        return f"signed with key {row.signer_key_id}, which was never enrolled"
    if signing.key_id(signing.public_from_text(key.public_key)) != key.key_id:
        return f"the enrolled key {key.key_id} does not match its public key (the key table was altered)"
    if (key.district_id, key.venue_id, key.device_id) != (row.district_id, row.venue_id, row.device_id):
        return f"signed with {key.device_key}'s key, not the device's own"
    if key.revoked_at is not None and row.signed_at > key.revoked_at:
        return f"signed after its key was revoked ({key.revoked_at:%Y-%m-%d %H:%M} UTC)"
    name = topic(row.district_id, row.venue_id, row.device_id, kind)
    try:
        signing.verify_digest(
            row.signature,
            name,
            message_id,
            signed_ns(row.signed_at),
            bytes.fromhex(row.body_sha256),
            signing.public_from_text(key.public_key),
        )
    except (signing.SignatureError, ValueError) as err:
        return f"the stored signature does not verify ({err}): the time, the id, the device or the hash changed"
    return None


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)
    return a == b


def _body(row, message: type[Message], build, fields, numbers=()) -> str | None:
    """Why the kept body does not match its hash or the row; None when it does."""
    if row.signed_body is None:
        return "its signed body was not kept"
    if hashlib.sha256(row.signed_body).hexdigest() != row.body_sha256:
        return "the kept body is not the one signed (its sha256 differs)"
    msg = message()
    msg.ParseFromString(row.signed_body)
    where = parse(topic(row.district_id, row.venue_id, row.device_id, "alert" if message is pb.Alert else "idcheck"))
    try:
        signed = build(msg, where, row.received_at)
    except Rejected as err:
        return f"the kept body does not map to a record ({err})"
    differs = [f for f in (*fields, *numbers) if not _same(getattr(row, f), signed[f])]
    if differs:
        return "the row differs from what was signed in " + ", ".join(differs)
    return None


def _evidence(ev: Evidence) -> str | None:
    if ev.ciphertext is None:
        return None  # purged: the hashes and the signature remain, the crop cannot be rebuilt
    if hashlib.sha256(ev.ciphertext).hexdigest() != ev.stored_sha256:
        return "the stored crop is not the one received (stored_sha256 differs)"
    msg = pb.Evidence(
        request_id=ev.request_id,
        event_id=ev.event_id,
        ciphertext=ev.ciphertext,
        cipher=ev.cipher,
        plaintext_sha256=ev.plaintext_sha256,
    )
    msg.captured_at.FromDatetime(ev.captured_at)
    if hashlib.sha256(msg.SerializeToString()).hexdigest() != ev.body_sha256:
        return "the stored crop and its fields are not what the device signed"
    return None


def _check_finding(session: Session, c: IdCheck) -> Finding:
    problem = _signature(session, c, "idcheck", c.check_id) or _body(c, pb.IdCheckOutcome, idcheck_fields, CHECK_FIELDS)
    return Finding(f"ID check {c.check_id}", problem is None, problem or f"signed at {c.signed_at}")


def check(session: Session, event_id: str) -> list[Finding]:
    """Findings for the alert, its ID checks and its evidence; or, given the check id of a walk-up check
    (which answers no alert), for that check; ``LookupError`` when there is neither."""
    alert = session.scalars(select(Alert).where(Alert.event_id == event_id)).one_or_none()
    if alert is None:
        walk_up = session.scalars(
            select(IdCheck).where(IdCheck.check_id == event_id, IdCheck.event_id.is_(None))
        ).one_or_none()
        if walk_up is None:
            raise LookupError(f"no alert {event_id}")
        return [_check_finding(session, walk_up)]
    out = []
    name = f"alert {event_id}"
    problem = _signature(session, alert, "alert", event_id) or _body(
        alert, pb.Alert, alert_row, ALERT_FIELDS, ALERT_NUMBERS
    )
    out.append(Finding(name, problem is None, problem or f"signed by key {alert.signer_key_id} at {alert.signed_at}"))
    for c in session.scalars(select(IdCheck).where(IdCheck.event_id == event_id).order_by(IdCheck.id)):
        out.append(_check_finding(session, c))
    ev = session.get(Evidence, event_id)
    if ev is not None:
        problem = _signature(session, _EvidenceView(ev, alert), "evidence", ev.request_id) or _evidence(ev)
        purged = " (crop purged; hashes and signature kept)" if ev.ciphertext is None else ""
        out.append(Finding(f"evidence {event_id}", problem is None, problem or f"signed at {ev.signed_at}{purged}"))
    return out


class _EvidenceView:
    """An evidence row with its alert's device (the evidence table does not repeat it)."""

    def __init__(self, ev: Evidence, alert: Alert):
        self.signature, self.signer_key_id, self.signed_at, self.body_sha256 = (
            ev.signature,
            ev.signer_key_id,
            ev.signed_at,
            ev.body_sha256,
        )
        self.district_id, self.venue_id, self.device_id = alert.district_id, alert.venue_id, alert.device_id
