"""Sealed boxes for evidence crops: the edge encrypts to the hub's public key, so the crop it keeps
on its own disk is already unreadable there, and only the hub (holder of the private key) opens it.

Format (cipher ``x25519-hkdf-sha256-aes256gcm``): ephemeral X25519 public key (32 bytes) ‖ nonce
(12 bytes) ‖ AES-256-GCM ciphertext with tag. The key is HKDF-SHA256 over the shared secret, with
both public keys as info; the associated data binds the box to its event id, so a crop cannot be
passed off as another alert's.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from humiao.files import create_private_text, write_private_text

CIPHER = "x25519-hkdf-sha256-aes256gcm"


class SealError(ValueError):
    pass


def key_id(public: X25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _derive(shared: bytes, eph: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"humiao-evidence-v1" + eph + recipient).derive(
        shared
    )


def seal(public: X25519PublicKey, plaintext: bytes, event_id: str) -> tuple[bytes, str]:
    """(box, cipher label with the recipient's key id)."""
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    rec = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _derive(eph.exchange(public), eph_pub, rec)
    nonce = os.urandom(12)
    return eph_pub + nonce + AESGCM(key).encrypt(nonce, plaintext, event_id.encode()), f"{CIPHER}:{key_id(public)}"


def open_box(private: X25519PrivateKey, box: bytes, event_id: str) -> bytes:
    if len(box) < 32 + 12 + 16:
        raise SealError("sealed box too short")
    eph_pub, nonce, body = box[:32], box[32:44], box[44:]
    rec = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:  # a low-order ephemeral key makes the exchange itself fail (ValueError): the same refusal
        key = _derive(private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub, rec)
        return AESGCM(key).decrypt(nonce, body, event_id.encode())
    except Exception as err:  # cryptography raises InvalidTag without a message
        raise SealError("sealed box does not open with this key for this event") from err


def ensure_keypair(private_path: Path, public_path: Path) -> bool:
    """Make the hub's key pair unless it exists (by exactly one of several processes starting at once);
    whether this call made it. The public half is written from the private key that won."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    made = create_private_text(private_path, base64.b64encode(raw).decode() + "\n")
    public_path.write_text(public_text(load_private(private_path).public_key()) + "\n")
    return made


def generate_keypair(private_path: Path, public_path: Path) -> X25519PublicKey:
    """Write a new hub key pair: the private key file 0600 (also when it replaces a file with a
    looser mode), in a directory created 0700 when missing; the public key as the umask makes it."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    write_private_text(private_path, base64.b64encode(raw).decode() + "\n")
    public_path.write_text(public_text(private.public_key()) + "\n")
    return private.public_key()


def public_text(public: X25519PublicKey) -> str:
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


def _read_raw(path: Path, what: str) -> bytes:
    try:
        raw = base64.b64decode(Path(path).read_text().strip(), validate=True)
    except FileNotFoundError:
        raise SealError(f"{what} {path}: no such file") from None
    except ValueError as err:
        raise SealError(f"{what} {path}: not base64 ({err})") from None
    if len(raw) != 32:
        raise SealError(f"{what} {path}: expected a 32-byte X25519 key, found {len(raw)} bytes")
    return raw


def load_public(path: Path) -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_read_raw(path, "hub public key"))


def load_private(path: Path) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_read_raw(path, "hub private key"))
