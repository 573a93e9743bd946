"""Enrolment: how a device and the hub come to trust each other without any secret being copied by
hand.

1. The hub's **trust file** (``humiao hub devices trust-file``): public facts only — the CA that
   signed the broker's certificate, the hub's Ed25519 signing key (receipts, evidence requests and
   acks are signed with it) and the hub's X25519 evidence key (crops are sealed to it), and where
   the broker is. It is carried to the device (a USB stick, a provisioning tool).
2. On the device, ``humiao edge enroll`` makes the device's Ed25519 key pair and a random broker
   password, keeps both in its state directory (0600), and writes an **enrolment request**: the
   device's ids and public key, the password sealed to the hub's evidence key (only the hub can
   open it), signed with the new key (proof that the device holds it).
3. The request is carried back to the hub, where an administrator enrols it (``humiao hub devices
   enroll`` or the panel): the hub checks the signature and the registry, gives the device its
   broker identity and topic rights (proto/acl.py) and records the key. The administrator may
   compare the key's fingerprint, which both sides print, over the phone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from humiao.proto import acl, sealed, signing
from humiao.proto.topics import TopicError

REQUEST_DOMAIN = b"humiao-enrolment-v1\n"
MAX_FILE = 64 * 1024


class EnrolmentError(ValueError):
    pass


def _read_json(path_or_text: Path | str | bytes, what: str) -> dict:
    if isinstance(path_or_text, Path):
        try:
            raw = path_or_text.read_bytes()[: MAX_FILE + 1]
        except FileNotFoundError:
            raise EnrolmentError(f"{what} {path_or_text}: no such file") from None
    else:
        raw = path_or_text.encode() if isinstance(path_or_text, str) else path_or_text
    if len(raw) > MAX_FILE:
        raise EnrolmentError(f"{what} is larger than {MAX_FILE} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise EnrolmentError(f"{what} is not JSON ({err})") from None
    if not isinstance(data, dict):
        raise EnrolmentError(f"{what} is not a JSON object")
    return data


@dataclass(frozen=True)
class TrustFile:
    """What a device needs to know about its hub: public keys, the broker's CA and address."""

    hub_signing_key: str  # base64 Ed25519 public key
    hub_evidence_key: str  # base64 X25519 public key
    ca_pem: str
    broker_host: str
    broker_port: int
    kind: str = "humiao-hub-trust-v1"

    def signing_public(self):
        return signing.public_from_text(self.hub_signing_key)

    def evidence_public(self) -> X25519PublicKey:
        try:
            return X25519PublicKey.from_public_bytes(base64.b64decode(self.hub_evidence_key, validate=True))
        except ValueError as err:
            raise EnrolmentError(f"hub evidence key: {err}") from None

    def dumps(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    def digest(self) -> str:
        """sha256 of what the device trusts (the hub's two keys and the broker's CA, not the address):
        the enrolment request carries it, so a trust file altered on its way is found at the hub."""
        trusted = [self.hub_signing_key.strip(), self.hub_evidence_key.strip(), self.ca_pem.strip()]
        return hashlib.sha256(json.dumps(trusted).encode()).hexdigest()

    @classmethod
    def load(cls, source: Path | str | bytes) -> TrustFile:
        data = _read_json(source, "hub trust file")
        if data.get("kind") != "humiao-hub-trust-v1":
            raise EnrolmentError("not a Humiao hub trust file (kind humiao-hub-trust-v1)")
        try:
            trust = cls(
                hub_signing_key=str(data["hub_signing_key"]),
                hub_evidence_key=str(data["hub_evidence_key"]),
                ca_pem=str(data["ca_pem"]),
                broker_host=str(data["broker_host"]),
                broker_port=int(data["broker_port"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise EnrolmentError(f"hub trust file: missing or bad field {err}") from None
        try:
            trust.signing_public()
        except signing.KeyFileError as err:
            raise EnrolmentError(f"hub trust file: hub_signing_key: {err}") from None
        trust.evidence_public()
        if "BEGIN CERTIFICATE" not in trust.ca_pem:
            raise EnrolmentError("hub trust file: ca_pem is not a PEM certificate")
        return trust


def _password_context(username: str, key_id: str) -> str:
    return f"enrol:{username}:{key_id}"


@dataclass(frozen=True)
class EnrolmentRequest:
    district_id: str
    venue_id: str
    device_id: str
    public_key: str  # base64 Ed25519
    broker_password_sealed: str  # base64 sealed box to the hub's evidence key
    made_at: str  # ISO 8601, UTC
    trust_sha256: str  # TrustFile.digest() of the trust file the device took
    signature: str = ""  # base64 Ed25519 over the other fields (canonical JSON)
    kind: str = "humiao-enrolment-request-v1"

    @property
    def username(self) -> str:
        return acl.device_username(self.district_id, self.venue_id, self.device_id)

    @property
    def device_key(self) -> str:
        return f"{self.district_id}/{self.venue_id}/{self.device_id}"

    def public(self):
        return signing.public_from_text(self.public_key)

    @property
    def key_id(self) -> str:
        return signing.key_id(self.public())

    def _signed_bytes(self) -> bytes:
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return REQUEST_DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def dumps(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def make(
        cls, ids: tuple[str, str, str], signer: signing.Signer, password: str, trust: TrustFile
    ) -> EnrolmentRequest:
        username = acl.device_username(*ids)
        box, _cipher = sealed.seal(
            trust.evidence_public(), password.encode(), _password_context(username, signer.key_id)
        )
        unsigned = cls(
            district_id=ids[0],
            venue_id=ids[1],
            device_id=ids[2],
            public_key=signing.public_text(signer.public),
            broker_password_sealed=base64.b64encode(box).decode(),
            made_at=datetime.now(UTC).isoformat(timespec="seconds"),
            trust_sha256=trust.digest(),
        )
        sig = signer.sign_raw(unsigned._signed_bytes())
        return cls(**{**asdict(unsigned), "signature": base64.b64encode(sig).decode()})

    @classmethod
    def load(cls, source: Path | str | bytes) -> EnrolmentRequest:
        """Parse and check the request's form and its signature (proof that the device holds the key)."""
        data = _read_json(source, "enrolment request")
        if data.get("kind") != "humiao-enrolment-request-v1":
            raise EnrolmentError("not a Humiao enrolment request (kind humiao-enrolment-request-v1)")
        names = (
            "district_id",
            "venue_id",
            "device_id",
            "public_key",
            "broker_password_sealed",
            "made_at",
            "trust_sha256",
            "signature",
        )
        if any(not isinstance(data.get(n), str) or not data.get(n) for n in names):
            raise EnrolmentError(f"enrolment request: every one of {', '.join(names)} is required, as text")
        req = cls(**{n: data[n] for n in names})
        try:
            acl.device_username(req.district_id, req.venue_id, req.device_id)
        except TopicError as err:
            raise EnrolmentError(f"enrolment request: {err}") from None
        try:
            public = req.public()
            public.verify(base64.b64decode(req.signature, validate=True), req._signed_bytes())
        except (signing.KeyFileError, ValueError, InvalidSignature):
            raise EnrolmentError(
                "enrolment request: the signature does not verify (altered, or not made by this key)"
            ) from None
        return req

    def broker_password(self, hub_evidence_private: X25519PrivateKey) -> str:
        """Open the sealed password (only the hub's evidence key can)."""
        try:
            box = base64.b64decode(self.broker_password_sealed, validate=True)
            return sealed.open_box(hub_evidence_private, box, _password_context(self.username, self.key_id)).decode()
        except (ValueError, sealed.SealError) as err:
            raise EnrolmentError(
                "enrolment request: the broker password was not sealed to this hub's evidence key "
                f"(is the device's trust file from this hub?): {err}"
            ) from None
