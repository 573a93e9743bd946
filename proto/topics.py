"""MQTT topics: ``humiao/v1/<district>/<venue>/<device>/<kind>``, and which message each kind carries.

Edges publish ``alert``, ``evidence``, ``idcheck``, ``status`` (retained; Last Will ``online=false``),
``birth`` and ``death``; the hub publishes ``evidence_request``, ``evidence_ack`` and ``receipt`` (alerts it
committed) to a device.
Hub workers share the load with MQTT shared subscriptions (``$share/<group>/…``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message

from humiao.proto import humiao_v1_pb2 as pb

ROOT = "humiao"
VERSION = "v1"
SEGMENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

EDGE_KINDS: dict[str, type[Message]] = {
    "alert": pb.Alert,
    "evidence": pb.Evidence,
    "idcheck": pb.IdCheckOutcome,
    "status": pb.Status,
    "birth": pb.Birth,
    "death": pb.Death,
}
HUB_KINDS: dict[str, type[Message]] = {
    "evidence_request": pb.EvidenceRequest,
    "evidence_ack": pb.EvidenceAck,
    "receipt": pb.Receipt,
}
KINDS: dict[str, type[Message]] = {**EDGE_KINDS, **HUB_KINDS}
MAX_PAYLOAD = 1 << 20  # 1 MiB: an encrypted face crop fits with room to spare; anything larger is refused


class TopicError(ValueError):
    pass


class PayloadError(ValueError):
    pass


@dataclass(frozen=True)
class Topic:
    district: str
    venue: str
    device: str
    kind: str

    def __str__(self) -> str:
        return "/".join((ROOT, VERSION, self.district, self.venue, self.device, self.kind))


def _check_segment(name: str, value: str) -> str:
    if not SEGMENT.fullmatch(value or ""):  # (match would take "d1\n": Python's $ allows a final newline)
        raise TopicError(f"{name} {value!r} is not a topic-safe id (lowercase letters, digits, '_' or '-', ≤ 64)")
    return value


def topic(district: str, venue: str, device: str, kind: str) -> str:
    if kind not in KINDS:
        raise TopicError(f"unknown message kind {kind!r}; known: {sorted(KINDS)}")
    return str(
        Topic(
            _check_segment("district", district), _check_segment("venue", venue), _check_segment("device", device), kind
        )
    )


def parse(name: str) -> Topic:
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != ROOT:
        raise TopicError(f"{name!r} is not a humiao topic (humiao/v1/<district>/<venue>/<device>/<kind>)")
    if parts[1] != VERSION:
        raise TopicError(f"{name!r}: unsupported protocol version {parts[1]!r} (this build speaks {VERSION})")
    district, venue, device, kind = parts[2:]
    if kind not in KINDS:
        raise TopicError(f"{name!r}: unknown message kind {kind!r}")
    for label, value in (("district", district), ("venue", venue), ("device", device)):
        _check_segment(label, value)
    return Topic(district, venue, device, kind)


def subscription(kind: str, district: str = "+", share_group: str | None = None) -> str:
    """A filter for one kind across devices (``+`` wildcards), optionally as a shared subscription."""
    if kind not in KINDS:
        raise TopicError(f"unknown message kind {kind!r}")
    base = "/".join((ROOT, VERSION, district, "+", "+", kind))
    return f"$share/{share_group}/{base}" if share_group else base


def decode(name: str, payload: bytes) -> tuple[Topic, Message]:
    """Topic and message of one MQTT publish; ``TopicError``/``PayloadError`` say what is wrong."""
    where = parse(name)
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(f"{name}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    message = KINDS[where.kind]()
    try:
        message.ParseFromString(payload)
    except DecodeError as err:
        raise PayloadError(f"{name}: not a valid {message.DESCRIPTOR.name}: {err}") from err
    return where, message
