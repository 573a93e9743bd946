"""What the hub accepts off the broker: only messages signed by the device their topic names, with
its enrolled, unrevoked key, recently (proto/signing.py). Anything else raises ``Rejected`` with
its dead-letter reason:

- ``unsigned``: not a signed message at all;
- ``unknown_device``: no key is enrolled for the topic's device (nor is the signing key known);
- ``revoked``: signed with a key that was revoked;
- ``wrong_signer``: signed with another enrolled device's key (the topic does not match its signer);
- ``forged``: the signature does not verify with the device's key (altered, or made by someone else);
- ``replayed``: signed longer ago than ``security.max_age_s``, later than now + ``max_future_s``,
  or a birth or death whose id this worker has already seen.

Statuses are exempt from the age limit (the broker keeps the last one retained, and the Last Will
was signed when the device connected); an older status never overwrites a newer one (hub/store.py),
and a retained status seen before is ignored quietly. Alerts, ID checks and evidence that come again
with the same id are the edge's resends and are absorbed by their unique key (hub/ingest.py).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import DecodeError, Message

from humiao.hub.config import SecurityConfig
from humiao.hub.devices import KeyRing
from humiao.hub.validate import Rejected
from humiao.proto import signing
from humiao.proto.topics import EDGE_KINDS, HUB_KINDS, MAX_PAYLOAD, Topic, TopicError
from humiao.proto.topics import parse as parse_topic

RECENT_IDS = 100_000  # births and deaths remembered per worker, for the replay check
WINDOW_EXEMPT = ("status",)


def body_digest(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()[:16]


@dataclass(frozen=True)
class Verified:
    where: Topic
    envelope: signing.Envelope
    message: Message
    replay_key: tuple[str, str] | None = None  # births, deaths, statuses: (device, id), remembered once committed
    digest: bytes = b""  # of the signed body: a second copy with the same content is the same message

    def signature_fields(self, keep_body: bool = False) -> dict:
        """The columns kept with a stored alert, ID check or evidence item (hub/tables.py ``Signed``;
        ``keep_body``: also the body, ``SignedBody``)."""
        env = self.envelope
        fields = {
            "signer_key_id": env.key_id,
            "signed_at": signed_time(env.signed_at_ns),
            "signature": env.signature,
            "body_sha256": hashlib.sha256(env.body).hexdigest(),
        }
        if keep_body:
            fields["signed_body"] = env.body
        return fields


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def signed_time(ns: int) -> datetime:
    """A signing time as stored: exact, since signatures carry whole microseconds (proto/signing.py)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def signed_ns(at: datetime) -> int:
    """The signed nanoseconds back from a stored signing time."""
    return (at - EPOCH) // timedelta(microseconds=1) * 1000


class Verifier:
    def __init__(self, keys: KeyRing, cfg: SecurityConfig):
        self.keys = keys
        self.cfg = cfg
        self._recent: OrderedDict[tuple[str, str], bytes] = OrderedDict()  # births and deaths: body digests
        self._last_status: dict[str, str] = {}  # device → the id of its latest status committed

    def check(
        self, topic_name: str, payload: bytes, retained: bool = False, now: float | None = None
    ) -> Verified | None:
        """The verified message; None for what the hub ignores (its own kinds, a retained status
        already seen)."""
        if len(payload) > MAX_PAYLOAD:
            raise Rejected("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD}")
        try:
            where = parse_topic(topic_name)
        except TopicError as err:
            raise Rejected("topic", str(err)) from None
        if where.kind in HUB_KINDS:
            return None
        try:
            env = signing.unwrap(payload)
        except signing.SignatureError as err:
            raise Rejected("unsigned", str(err)) from None
        device = (where.district, where.venue, where.device)
        self._check_time(env, where, time.time() if now is None else now)  # cheap checks first
        self._check_signer(env, device, topic_name)
        message = EDGE_KINDS[where.kind]()
        try:
            message.ParseFromString(env.body)
        except DecodeError as err:
            raise Rejected("decode", f"signed body is not a valid {message.DESCRIPTOR.name}: {err}") from None
        replay_key, digest = None, b""
        if where.kind == "status":
            replay_key = ("/".join(device), env.id)
            if self._last_status.get(replay_key[0]) == env.id:
                return None  # the device's latest status, delivered again (retained, after a reconnect): ignored
        elif where.kind in ("birth", "death"):
            replay_key, digest = ("/".join(device), env.id), body_digest(env.body)
            seen = self._recent.get(replay_key)
            if seen is not None:
                if seen == digest:
                    return None  # delivered again (QoS 1 after a lost PUBACK, the edge's replay): absorbed
                raise Rejected("replayed", f"{where.kind} {env.id!r} was already received, with other content")
        return Verified(where, env, message, replay_key, digest)

    def remember(self, keys: dict[tuple[str, str], tuple[str, bytes]]) -> None:
        """Births, deaths and statuses committed ((device, id) → (kind, body digest)), called only after the commit
        (so a batch tried again is not taken for a replay). A birth or death: a second copy is absorbed, another
        body under its id is a replay. A status: only each device's latest id is kept (a retained status seen
        again is ignored), so this memory holds one entry per device however many statuses come."""
        for (device, message_id), (kind, digest) in keys.items():
            if kind == "status":
                self._last_status[device] = message_id
                continue
            self._recent[(device, message_id)] = digest
            self._recent.move_to_end((device, message_id))
        while len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)

    def _check_signer(self, env: signing.Envelope, device: tuple[str, str, str], topic_name: str) -> None:
        active = self.keys.active(device)
        if active is None or active.key_id != env.key_id:
            known = self.keys.by_id(env.key_id)
            if known is not None and known.device != device:
                raise Rejected(
                    "wrong_signer", f"signed by {'/'.join(known.device)}'s key {env.key_id}, not by {'/'.join(device)}"
                )
            if known is not None and known.revoked:
                raise Rejected("revoked", f"key {env.key_id} of {'/'.join(device)} is revoked")
            if active is None:
                raise Rejected("unknown_device", f"{'/'.join(device)} is not enrolled (key {env.key_id[:16]})")
            raise Rejected("forged", f"key {env.key_id[:16]} is not {'/'.join(device)}'s enrolled key {active.key_id}")
        try:
            signing.verify(env, topic_name, active.public)
        except signing.SignatureError as err:
            raise Rejected("forged", f"{err} (key {active.key_id} of {'/'.join(device)})") from None

    def _check_time(self, env: signing.Envelope, where: Topic, now: float) -> None:
        age = now - env.signed_at
        if age < -self.cfg.max_future_s:
            raise Rejected("replayed", f"signed {-age:.0f} s in the future (more than {self.cfg.max_future_s:.0f} s)")
        if where.kind not in WINDOW_EXEMPT and age > self.cfg.max_age_s:
            raise Rejected("replayed", f"signed {age / 3600:.1f} h ago (at most {self.cfg.max_age_s / 3600:.1f} h)")
