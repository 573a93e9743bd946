"""End-to-end signatures on every MQTT message, so that the hub's records (and the edge's reactions
to the hub) do not depend on an honest broker.

Each payload on the wire is a ``Signed`` (proto/humiao_v1.proto): the message of the topic's kind,
serialized, in ``body``, and an Ed25519 signature by its sender over

    b"humiao-signed-v1" ‖ topic ‖ kind ‖ id ‖ signed_at (ns, decimal) ‖ sha256(body)

(fields separated by a newline, which no topic, kind or id may contain). An edge device signs with
its own key, made on the device (``humiao edge enroll``); the hub signs receipts, evidence requests
and acks with its key (``<data_dir>/hub-signing.key``). A signature binds the message to its topic,
so a device's message moved to another device's topic fails, and to its id and time, so it cannot
be passed off as another message or as a newer one.

Who may sign for which topic, and how old a message may be, is the receiver's business
(hub/verify.py, edge/hubmsg.py); this module only makes and checks signatures.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf.message import DecodeError
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from humiao.files import create_private_text, read_private_text, write_private_text
from humiao.proto import humiao_v1_pb2 as pb

ALGORITHM = "ed25519"
DOMAIN = b"humiao-signed-v1"
MAX_ID = 128


class SignatureError(ValueError):
    """A payload that is not a well-formed signed message, or whose signature does not verify."""


class KeyFileError(ValueError):
    pass


def _raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """16 hex digits of the sha256 of the raw public key: names a key in messages, logs and the panel."""
    return hashlib.sha256(_raw_public(public)).hexdigest()[:16]


def fingerprint(public: Ed25519PublicKey) -> str:
    """The whole sha256, grouped for reading aloud when an enrolment is confirmed by phone."""
    h = hashlib.sha256(_raw_public(public)).hexdigest()
    return ":".join(h[i : i + 4] for i in range(0, len(h), 4))


def public_text(public: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw_public(public)).decode()


def public_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError as err:
        raise KeyFileError(f"not a base64 public key ({err})") from None
    if len(raw) != 32:
        raise KeyFileError(f"expected a 32-byte Ed25519 public key, found {len(raw)} bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def signing_input(topic: str, message_id: str, signed_at_ns: int, body: bytes) -> bytes:
    return digest_input(topic, message_id, signed_at_ns, hashlib.sha256(body).digest())


def _control(text: str) -> bool:
    """Whether the text has a C0 or C1 control character (a newline among them: the field separator)."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


def digest_input(topic: str, message_id: str, signed_at_ns: int, body_sha256: bytes) -> bytes:
    """What is signed, from the body's sha256: so a record that kept only the hash can be checked."""
    kind = topic.rsplit("/", 1)[-1]
    for name, value in (("topic", topic), ("id", message_id)):
        if _control(value):
            raise SignatureError(f"{name} contains a control character such as a newline")
    return b"\n".join(
        (DOMAIN, topic.encode(), kind.encode(), message_id.encode(), str(signed_at_ns).encode(), body_sha256)
    )


def verify_digest(
    signature: bytes, topic: str, message_id: str, signed_at_ns: int, body_sha256: bytes, public: Ed25519PublicKey
) -> None:
    """``verify`` for a stored record: ``SignatureError`` unless ``public`` signed this digest, id,
    time and topic."""
    try:
        public.verify(signature, digest_input(topic, message_id, signed_at_ns, body_sha256))
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None


@dataclass(frozen=True)
class Envelope:
    """A decoded ``Signed``: not yet verified."""

    id: str
    signed_at_ns: int
    body: bytes
    key_id: str
    signature: bytes

    @property
    def signed_at(self) -> float:
        return self.signed_at_ns / 1e9


def unwrap(payload: bytes) -> Envelope:
    """The envelope of a payload; ``SignatureError`` when it is not one (an unsigned message)."""
    env = pb.Signed()
    try:
        env.ParseFromString(payload)
    except DecodeError as err:
        raise SignatureError(f"not a signed message: {err}") from None
    if len(env.signature) != 64 or not env.key_id or not env.id or not env.HasField("signed_at"):
        raise SignatureError("not a signed message (no signature, key id, id or time)")
    if len(env.id) > MAX_ID or len(env.key_id) > 64:
        raise SignatureError("id or key id too long")
    if _control(env.id) or _control(env.key_id):
        raise SignatureError("id or key id contains a control character such as a newline")
    ns = env.signed_at.seconds * 1_000_000_000 + env.signed_at.nanos
    if ns % 1000:  # whole microseconds, so that a stored record (times kept to the microsecond) can be checked again
        raise SignatureError("signed_at is not a whole number of microseconds")
    return Envelope(env.id, ns, bytes(env.body), env.key_id, bytes(env.signature))


def checker(public: Ed25519PublicKey) -> VerifyKey:
    """A public key ready for many checks (libsodium's; the hub keeps one per enrolled device)."""
    return VerifyKey(_raw_public(public))


def verify(envelope: Envelope, topic: str, public: Ed25519PublicKey | VerifyKey) -> None:
    """Raise ``SignatureError`` unless ``public`` signed this envelope for this topic."""
    key = public if isinstance(public, VerifyKey) else checker(public)
    signed = signing_input(topic, envelope.id, envelope.signed_at_ns, envelope.body)  # SignatureError for a newline
    try:
        key.verify(signed, envelope.signature)
    except (BadSignatureError, ValueError):
        raise SignatureError("signature does not verify") from None


class Signer:
    """Signs payloads with one Ed25519 private key."""

    def __init__(self, private: Ed25519PrivateKey):
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def sign(self, topic: str, message_id: str, body: bytes, at: float | None = None) -> bytes:
        """The serialized ``Signed`` for ``body`` on ``topic``; ``at`` (Unix seconds) defaults to now."""
        ns = round((time.time() if at is None else at) * 1e6) * 1000  # whole microseconds (see unwrap)
        env = pb.Signed(id=message_id, body=body, key_id=self.key_id)
        env.signed_at.FromNanoseconds(ns)
        env.signature = self._private.sign(signing_input(topic, message_id, ns, body))
        return env.SerializeToString()

    def sign_raw(self, data: bytes) -> bytes:
        """A bare Ed25519 signature over ``data`` (for documents such as an enrolment request)."""
        return self._private.sign(data)

    @classmethod
    def generate(cls, path: Path) -> Signer:
        """A new key, written 0600 (base64 of the 32-byte raw private key)."""
        private = Ed25519PrivateKey.generate()
        raw = private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        write_private_text(path, base64.b64encode(raw).decode() + "\n")
        return cls(private)

    @classmethod
    def load(cls, path: Path, what: str = "signing key") -> Signer:
        text = read_private_text(path, what)
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError as err:
            raise KeyFileError(f"{what} {path}: not base64 ({err})") from None
        if len(raw) != 32:
            raise KeyFileError(f"{what} {path}: expected a 32-byte Ed25519 key, found {len(raw)} bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    @classmethod
    def load_or_generate(cls, path: Path, what: str = "signing key") -> Signer:
        """The key at ``path``, made first if there is none (by exactly one of several processes)."""
        if not Path(path).exists():
            private = Ed25519PrivateKey.generate()
            raw = private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            create_private_text(path, base64.b64encode(raw).decode() + "\n")
        return cls.load(path, what)
