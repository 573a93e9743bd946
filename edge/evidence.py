"""Evidence crops on the edge: sealed at once, kept for a while, sent only when the hub asks.

For an alert, the best face crop of its track (never a whole frame) is JPEG-encoded in memory and
sealed to the hub's public key (``proto.sealed``) before anything touches the disk: the edge
keeps only ciphertext it cannot open itself. It answers an EvidenceRequest with it, deletes its
copy when the hub acknowledges, and deletes unrequested crops after ``retention_h`` (72 h by
default). Faces of tracks that raise no alert never come here.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import Field

from humiao.config import Section
from humiao.edge.spool import erase_freed, open_private
from humiao.proto import sealed

SCHEMA = """
CREATE TABLE IF NOT EXISTS crops (
    event_id         TEXT PRIMARY KEY,
    sealed           BLOB NOT NULL,
    cipher           TEXT NOT NULL,
    plaintext_sha256 TEXT NOT NULL,
    captured_at      REAL NOT NULL,
    expires_at       REAL NOT NULL,
    sent_request_id  TEXT
);
"""


class EvidenceConfig(Section):
    keep_crops: bool = Field(
        True,
        description="keep a sealed crop of each alert for the hub to request; the hub's key comes with "
        "its trust file at enrolment (humiao edge enroll). false: no crops are kept at all",
    )
    retention_h: float = Field(72.0, gt=0, le=24 * 30, description="unrequested crops are deleted after this")
    max_side_px: int = Field(256, ge=64, le=1024, description="longest side of a kept crop")
    jpeg_quality: int = Field(90, ge=50, le=100)


@dataclass(frozen=True)
class Sealed:
    event_id: str
    box: bytes
    cipher: str
    plaintext_sha256: str
    captured_at: float


def encode_crop(rgb: np.ndarray, max_side: int, quality: int) -> bytes:
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the crop")
    return jpg.tobytes()


class EvidenceStore:
    def __init__(self, path: Path, cfg: EvidenceConfig, hub_public: X25519PublicKey | None):
        self.cfg = cfg
        self.public = hub_public if cfg.keep_crops else None
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_private(self.path)  # 0600 (and -wal, -shm), in a 0700 directory if it makes one
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")  # deleted ciphertext is overwritten, not left in free pages
        self._db.executescript(SCHEMA)

    @property
    def enabled(self) -> bool:
        return self.public is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def keep(self, event_id: str, crop_rgb: np.ndarray, captured_at: float | None = None) -> bool:
        """Seal and store an alert's crop; False when evidence is disabled (no hub key)."""
        if self.public is None:
            return False
        plain = encode_crop(crop_rgb, self.cfg.max_side_px, self.cfg.jpeg_quality)
        digest = hashlib.sha256(plain).hexdigest()
        box, cipher = sealed.seal(self.public, plain, event_id)
        del plain
        now = captured_at or time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO crops VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (event_id, box, cipher, digest, now, now + self.cfg.retention_h * 3600),
            )
        return True

    def get(self, event_id: str) -> Sealed | None:
        with self._lock:
            row = self._db.execute(
                "SELECT event_id, sealed, cipher, plaintext_sha256, captured_at FROM crops WHERE event_id = ?",
                (event_id,),
            ).fetchone()
        return None if row is None else Sealed(row[0], bytes(row[1]), row[2], row[3], row[4])

    def mark_sent(self, event_id: str, request_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE crops SET sent_request_id = ? WHERE event_id = ?", (request_id, event_id))

    def delete_acked(self, event_id: str, request_id: str, stored_sha256: str) -> bool:
        """Delete a crop the hub acknowledged, only if it was sent for that request and the hub
        stored exactly what was sent (sha256 of the sealed box)."""
        with self._lock:
            row = self._db.execute(
                "SELECT sealed, sent_request_id FROM crops WHERE event_id = ?", (event_id,)
            ).fetchone()
        if row is None or row[1] != request_id or hashlib.sha256(bytes(row[0])).hexdigest() != stored_sha256:
            return False
        return self.delete(event_id)

    def delete(self, event_id: str) -> bool:
        with self._lock:
            gone = self._db.execute("DELETE FROM crops WHERE event_id = ?", (event_id,)).rowcount == 1
            if gone:
                erase_freed(self._db)  # the crop's frames out of the WAL, its pages zeroed in the file
            return gone

    def expire(self, now: float | None = None) -> int:
        with self._lock:
            n = self._db.execute("DELETE FROM crops WHERE expires_at <= ?", (now or time.time(),)).rowcount
            if n:
                erase_freed(self._db)
            return n

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM crops").fetchone()[0]
