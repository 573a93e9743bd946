"""From one MQTT publish to rows: decode, check, map. Anything wrong raises ``Rejected`` with the
dead-letter reason (``topic``, ``oversized``, ``decode``, ``invalid``) and a readable detail.

Repeated fields are capped (``invalid`` beyond): ``MAX_CAMERAS`` (64) cameras in a status, far
more than one edge box drives; ``MAX_MODELS`` (16) model refs in an alert or a birth, where an edge
sends 3 to 5 (detector, landmarks, age models); camera ids, model ids and graph hashes at most
64 characters."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, overload

from google.protobuf.json_format import MessageToDict

from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import vocabulary
from humiao.proto.topics import EDGE_KINDS, HUB_KINDS, MAX_PAYLOAD, PayloadError, Topic, TopicError, decode

MAX_CAMERAS = 64
MAX_MODELS = 16
MAX_INT64 = 2**63 - 1  # the largest integer a database column holds (a uint64 on the wire can exceed it)


class Rejected(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Parsed:
    where: Topic
    message: object


def parse(topic_name: str, payload: bytes) -> Parsed | None:
    """The decoded message, or None for the hub's own kinds (requests it published itself)."""
    if len(payload) > MAX_PAYLOAD:
        raise Rejected("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD}")
    try:
        where, message = decode(topic_name, payload)
    except TopicError as err:
        raise Rejected("topic", str(err)) from None
    except PayloadError as err:
        raise Rejected("decode", str(err)) from None
    if where.kind in HUB_KINDS:
        return None
    assert where.kind in EDGE_KINDS
    return Parsed(where, message)


@overload
def ts(value, field: str, required: Literal[True] = True) -> datetime: ...
@overload
def ts(value, field: str, required: bool) -> datetime | None: ...
def ts(value, field: str, required: bool = True) -> datetime | None:
    """A protobuf Timestamp as an aware UTC datetime; unset: ``Rejected``, or None when not ``required``."""
    if not value.seconds and not value.nanos:
        if required:
            raise Rejected("invalid", f"{field} is missing")
        return None
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError, OSError) as err:  # seconds beyond the calendar
        raise Rejected("invalid", f"{field} is not a valid time ({err})") from None


def uuid7_text(value: str, field: str = "event_id") -> str:
    try:
        u = uuid.UUID(value)
    except ValueError:
        raise Rejected("invalid", f"{field} {value!r} is not a UUID") from None
    if u.version != 7:
        raise Rejected("invalid", f"{field} {value} is not a UUIDv7")
    return str(u)


def _origin(origin: pb.Origin, where: Topic) -> None:
    got = (origin.district_id, origin.venue_id, origin.device_id)
    want = (where.district, where.venue, where.device)
    if got != want:
        raise Rejected("invalid", f"origin {'/'.join(got)} does not match the topic's {'/'.join(want)}")


def _prob(value: float, field: str) -> float:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise Rejected("invalid", f"{field} {value} is not a probability")
    return float(value)


def enum_name(enum, value: int, field: str) -> str:
    """The name of a protobuf enum value; a number the schema does not know is ``Rejected``."""
    try:
        return enum.Name(value)
    except ValueError:
        raise Rejected("invalid", f"{field} {value} is not a known value") from None


def venue_type_name(value: int) -> str:
    return enum_name(pb.VenueType, value, "venue_type").removeprefix("VENUE_TYPE_").lower()


def _bounded(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise Rejected("invalid", f"{field} is {len(value)} characters, at most {limit}")
    return value


def _capped(items, what: str, field: str, limit: int) -> None:
    if len(items) > limit:
        raise Rejected("invalid", f"{what} has {len(items)} {field}, at most {limit}")


def _models(msg, what: str) -> None:
    _capped(msg.models, what, "models", MAX_MODELS)
    for i, m in enumerate(msg.models):
        _bounded(m.id, f"models[{i}].id", 64)
        _bounded(m.graph_sha256, f"models[{i}].graph_sha256", 64)


def alert_row(msg: pb.Alert, where: Topic, received_at: datetime) -> dict:
    _origin(msg.origin, where)
    _models(msg, "alert")
    if not msg.origin.camera_id:
        raise Rejected("invalid", "origin.camera_id is missing")
    _bounded(msg.origin.camera_id, "origin.camera_id", 64)
    _bounded(msg.policy_version, "policy_version", 64)
    _bounded(msg.calibration, "calibration", 128)
    if msg.decision == pb.DECISION_UNSPECIFIED:
        raise Rejected("invalid", "decision is unspecified")
    if msg.venue_type == pb.VENUE_TYPE_UNSPECIFIED:
        raise Rejected("invalid", "venue_type is unspecified")
    if msg.track_id > MAX_INT64:
        raise Rejected("invalid", f"track_id {msg.track_id} is out of range")
    if not (0 <= msg.age_estimate <= 120) or math.isnan(msg.age_estimate):
        raise Rejected("invalid", f"age_estimate {msg.age_estimate} is out of range")
    first_seen, decided_at = ts(msg.first_seen, "first_seen"), ts(msg.decided_at, "decided_at")
    if decided_at < first_seen:
        raise Rejected("invalid", "decided_at is before first_seen")
    return {
        "event_id": uuid7_text(msg.event_id),
        "district_id": where.district,
        "venue_id": where.venue,
        "device_id": where.device,
        "camera_id": msg.origin.camera_id,
        "track_id": msg.track_id,
        "first_seen": first_seen,
        "decided_at": decided_at,
        "received_at": received_at,
        "age_estimate": float(msg.age_estimate),
        "p_minor": _prob(msg.p_minor, "p_minor"),
        "p_under_threshold": _prob(msg.p_under_threshold, "p_under_threshold"),
        "threshold": float(msg.threshold),
        "decision": enum_name(pb.Decision, msg.decision, "decision").removeprefix("DECISION_").lower(),
        "venue_type": venue_type_name(msg.venue_type),
        "frames_used": msg.frames_used,
        "models": [{"id": m.id, "graph_sha256": m.graph_sha256} for m in msg.models],
        "policy_version": msg.policy_version,
        "calibration": msg.calibration,
        "evidence_available": msg.evidence_available,
    }


# ID-check outcomes (proto/vocabulary.py has the words for every value)
AGE_RESULTS = frozenset({"adult_admitted", "minor_refused", "minor_admitted_with_guardian", "minor_admitted"})
MINOR_RESULTS = frozenset({"minor_refused", "minor_admitted_with_guardian", "minor_admitted"})
GUARDIAN_RESULTS = frozenset({"minor_admitted_with_guardian", "minor_admitted"})  # the hotel's record applies
MAX_AGE = 150  # the edge takes birth dates from 1900 on (edge/idcheck/number.py EARLIEST_BIRTH)
CARD_ONLY_METHODS = frozenset({"chip", "ocr"})  # a card reader or the card's picture: a resident identity card
CLOCK_AHEAD = timedelta(minutes=5)  # how far ahead of the hub an edge's clock may run
KEYED_HASH = re.compile(r"[0-9a-f]{64}")  # HMAC-SHA256, hex (edge/idcheck/number.py keyed_hash)


def _wire(enum, value: int, field: str, prefix: str) -> str:
    """An enum value as the hub stores it: ``vocabulary.wire_name`` (``ID_CHECK_RESULT_MINOR_REFUSED`` →
    ``minor_refused``), "" for the UNSPECIFIED value."""
    name = vocabulary.wire_name(enum_name(enum, value, field), prefix)
    return "" if name == "unspecified" else name


def idcheck_fields(msg: pb.IdCheckOutcome, where: Topic, received_at: datetime) -> dict:
    """The row an ID-check outcome maps to, without the checks of ``idcheck_row`` on how its fields go
    together (hub/custody.py maps stored bodies with it, also those from before the checks)."""
    return {
        "check_id": uuid7_text(msg.check_id, "check_id"),
        "event_id": uuid7_text(msg.event_id) if msg.event_id else None,
        "district_id": where.district,
        "venue_id": where.venue,
        "device_id": where.device,
        "checked_at": ts(msg.checked_at, "checked_at"),
        "received_at": received_at,
        "result": _wire(pb.IdCheckResult, msg.result, "result", "ID_CHECK_RESULT_"),
        "age_years": msg.age_years,
        "under_14": msg.under_14,
        "id_keyed_hash": msg.id_keyed_hash,
        "checksum_valid": msg.checksum_valid,
        "age_known": msg.age_known,
        "document": _wire(pb.DocumentType, msg.document, "document", "DOCUMENT_TYPE_"),
        "method": _wire(pb.ReadMethod, msg.method, "method", "READ_METHOD_"),
        "walk_up": msg.walk_up,
        "guardian_contact_recorded": msg.guardian_contact_recorded,
        "co_occupants_recorded": msg.co_occupants_recorded,
        "staff": msg.staff,
        "alerted_at": ts(msg.alerted_at, "alerted_at", required=False),
    }


def idcheck_row(msg: pb.IdCheckOutcome, where: Topic, received_at: datetime) -> dict:
    """An ID-check outcome as its row, refused (``invalid``) when its fields do not go together: an age
    for the outcomes that name one (adult ≥ 18, minor < 18, read from a document) and none for the
    others (no ID, left, not checked); a walk-up answers no alert and every other check answers one;
    the guardian record only on a minor admitted; "not checked" only by the agent, for an alert."""
    _origin(msg.origin, where)
    _bounded(msg.staff, "staff", 64)
    _bounded(msg.id_keyed_hash, "id_keyed_hash", 128)
    if msg.walk_up and msg.event_id:
        raise Rejected("invalid", f"a walk-up check answers no alert, but names event_id {msg.event_id[:40]!r}")
    if not msg.walk_up and not msg.event_id:
        raise Rejected("invalid", "event_id is missing (only a walk-up check answers no alert)")
    row = idcheck_fields(msg, where, received_at)
    result, age = row["result"], row["age_years"]
    if not result:
        raise Rejected("invalid", "result is unspecified")
    if msg.walk_up and msg.HasField("alerted_at"):
        raise Rejected("invalid", "a walk-up check has no alert, but carries alerted_at")
    if row["alerted_at"] is not None and row["alerted_at"] > row["checked_at"]:
        raise Rejected("invalid", "checked_at is before alerted_at")
    if result == "not_checked":
        if msg.walk_up:
            raise Rejected("invalid", "not_checked is the agent's answer to an alert, never a walk-up check")
        if msg.staff:
            raise Rejected("invalid", "not_checked is recorded by the agent, but names staff")
    if not row["age_known"]:
        if age or msg.under_14:
            raise Rejected("invalid", f"{result}: age_known is false, but age_years {age} or under_14 is set")
    elif not 0 <= age <= MAX_AGE:
        raise Rejected("invalid", f"age_years {age} is out of range")
    elif msg.under_14 != (age < 14):
        raise Rejected("invalid", f"under_14 {msg.under_14} does not agree with age_years {age}")
    if result in AGE_RESULTS:
        if not row["age_known"]:
            raise Rejected("invalid", f"{result} needs the age read from the ID (age_known is false)")
        if result == "adult_admitted" and age < 18:
            raise Rejected("invalid", f"adult_admitted with age_years {age} (under 18)")
        if result in MINOR_RESULTS and age >= 18:
            raise Rejected("invalid", f"{result} with age_years {age} (18 or over)")
        if not row["document"] or not row["method"]:
            raise Rejected("invalid", f"{result} names an age, but no document or read method")
    else:
        if row["age_known"]:
            raise Rejected("invalid", f"{result} carries an age (age_known is true): no ID was read")
        if row["document"] or row["method"] or msg.id_keyed_hash or msg.checksum_valid:
            raise Rejected("invalid", f"{result} carries a document, read method or keyed hash: no ID was read")
    if (msg.id_keyed_hash or msg.checksum_valid) and row["document"] != "citizen_id":
        raise Rejected("invalid", "a keyed hash or checksum only comes with a resident identity card")
    if msg.id_keyed_hash and not KEYED_HASH.fullmatch(msg.id_keyed_hash):
        raise Rejected("invalid", "id_keyed_hash is not 64 lowercase hex digits")
    if (msg.guardian_contact_recorded or msg.co_occupants_recorded) and result not in GUARDIAN_RESULTS:
        raise Rejected("invalid", f"the guardian record is set on {result}: it belongs to a minor admitted")
    if row["document"] == "citizen_id" and not (msg.id_keyed_hash and msg.checksum_valid):
        raise Rejected("invalid", "a resident identity card comes with its keyed hash and a valid check character")
    if row["method"] in CARD_ONLY_METHODS and row["document"] != "citizen_id":
        raise Rejected("invalid", f"read method {row['method']} reads only a resident identity card")
    if result != "not_checked" and not msg.staff:
        raise Rejected("invalid", f"{result} names no member of staff (only the agent's not_checked has none)")
    if row["checked_at"] > received_at + CLOCK_AHEAD:
        raise Rejected("invalid", "checked_at is in the future")
    return row


def status_json(msg) -> dict:
    return MessageToDict(msg, preserving_proto_field_name=True)


def check_device_message(msg, where: Topic) -> None:
    """A status, birth or death: from the device its topic names, with its repeated fields capped."""
    _origin(msg.origin, where)
    if isinstance(msg, pb.Status):
        _capped(msg.cameras, "status", "cameras", MAX_CAMERAS)
        for i, c in enumerate(msg.cameras):
            _bounded(c.camera_id, f"cameras[{i}].camera_id", 64)
    elif isinstance(msg, pb.Birth):
        _models(msg, "birth")
