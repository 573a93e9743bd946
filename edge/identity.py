"""The device's identity: its Ed25519 key and broker password, made here and kept in
``<state_dir>/identity`` (0700; the secrets 0600), and what it trusts of its hub (the hub's trust
file, with the broker's CA). ``enroll`` makes them and the enrolment request the hub's
administrator enrols (proto/enrolment.py); ``DeviceIdentity.load`` is what the agent runs with.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from humiao.broker import read_password
from humiao.files import private_dir, write_private_text
from humiao.proto import acl, signing
from humiao.proto.enrolment import EnrolmentError, EnrolmentRequest, TrustFile

if TYPE_CHECKING:  # edge/config.py imports the publisher, which imports this module
    from humiao.edge.config import EdgeConfig

KEY, PASSWORD, TRUST, CA, REQUEST = (
    "device.key",
    "broker.password",
    "hub-trust.json",
    "ca.crt",
    "enrolment-request.json",
)


class NotEnrolled(RuntimeError):
    pass


def identity_dir(cfg: EdgeConfig) -> Path:
    return cfg.device.state_dir / "identity"


def _ids(cfg: EdgeConfig) -> tuple[str, str, str]:
    d = cfg.device
    return d.district_id, d.venue_id, d.device_id


def enroll(cfg: EdgeConfig, trust_source: Path, new_key: bool = False) -> tuple[Path, EnrolmentRequest]:
    """Make (or keep) this device's key and broker password, take the hub's trust file, and write
    the enrolment request; (its path, the request). ``new_key``: replace an existing key (the hub
    must then enrol it with --replace)."""
    trust = TrustFile.load(trust_source)
    where = private_dir(identity_dir(cfg))
    key_path, password_path = where / KEY, where / PASSWORD
    if new_key or not key_path.exists():
        signer = signing.Signer.generate(key_path)
        write_private_text(password_path, secrets.token_urlsafe(32) + "\n")
    else:
        signer = signing.Signer.load(key_path, "device key")
    if not password_path.exists():
        write_private_text(password_path, secrets.token_urlsafe(32) + "\n")
    (where / TRUST).write_text(trust.dumps())
    (where / CA).write_text(trust.ca_pem)
    request = EnrolmentRequest.make(_ids(cfg), signer, read_password(password_path), trust)
    out = where / REQUEST
    out.write_text(request.dumps())
    return out, request


@dataclass(frozen=True)
class DeviceIdentity:
    username: str
    signer: signing.Signer
    password_file: Path
    ca_file: Path
    trust: TrustFile

    @property
    def hub_public(self):
        return self.trust.signing_public()

    @classmethod
    def load(cls, cfg: EdgeConfig) -> DeviceIdentity:
        where = identity_dir(cfg)
        missing = [name for name in (KEY, PASSWORD, TRUST, CA) if not (where / name).is_file()]
        if missing:
            raise NotEnrolled(
                f"this device is not enrolled ({', '.join(missing)} missing in {where}): run "
                "`humiao edge enroll --config <edge.yaml> --trust <hub-trust.json>` and have the hub's "
                "administrator enrol the request it writes"
            )
        try:
            trust = TrustFile.load(where / TRUST)
            signer = signing.Signer.load(where / KEY, "device key")
        except (EnrolmentError, signing.KeyFileError) as err:
            raise NotEnrolled(f"{where}: {err}") from None
        return cls(acl.device_username(*_ids(cfg)), signer, where / PASSWORD, where / CA, trust)
