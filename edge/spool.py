"""The edge's outbox: every message is on disk before it is published. Most kinds leave when the
broker acknowledges them (PUBACK); alerts and ID checks leave only when the hub's receipt says
they are committed there, because a broker that crashes can lose what it had acknowledged. An
acknowledged entry whose receipt is overdue is sent again (``due()``), with backoff; the hub
absorbs the repeat by id. After a crash, a power cut or a broker outage, ``pending()`` replays
what is left, oldest first.

SQLite in WAL mode with ``synchronous=FULL``: a ``put`` that returned survives a power cut.
Messages are idempotent by key (the alert's event id), so a repeat ``put`` is absorbed.
The spool is bounded in bytes: when it is over budget, the payloads of the oldest *evidence*
messages are dropped first (the record stays, marked, so the hub can be told); alert records
are never dropped, even over budget (they are small, and losing one loses a violation).

The edge's state is this user's only (``open_private``, also for the sealed evidence store): a state
directory Humiao creates is 0700, the database and its -wal and -shm are 0600 whatever the umask.
``secure_delete`` is on and the WAL is truncated once an evidence payload leaves (acknowledged,
confirmed or dropped for space), so the sealed crop it carried is not left in the file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from humiao.files import private_sqlite_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    topic      TEXT NOT NULL,
    payload    BLOB,
    size       INTEGER NOT NULL,
    created    REAL NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    dropped    INTEGER NOT NULL DEFAULT 0,
    acked_at   REAL,
    resend_at  REAL
);
"""
DROPPABLE = ("evidence",)
RECEIPTED = ("alert", "idcheck")  # kept until the hub's receipt, not only the broker's PUBACK
MAX_RESEND_S = 3600.0


def open_private(path: Path) -> sqlite3.Connection:
    """A SQLite database readable by this user only (``humiao.files.private_sqlite_file``)."""
    return sqlite3.connect(str(private_sqlite_file(path)), check_same_thread=False, isolation_level=None)


def erase_freed(db: sqlite3.Connection) -> None:
    """After deleting secrets with ``secure_delete`` on: checkpoint and truncate the WAL, so neither
    the old frames in the WAL nor the database pages hold the deleted bytes."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@dataclass(frozen=True)
class Entry:
    seq: int
    key: str
    kind: str
    topic: str
    payload: bytes | None  # None: evidence dropped for space
    attempts: int


class Spool:
    def __init__(self, path: Path, max_bytes: int = 256 << 20):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = open_private(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA secure_delete=ON")  # evidence payloads (sealed crops) are overwritten when they go
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        for name in ("acked_at", "resend_at"):  # a spool written by an older agent
            if name not in columns:
                self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} REAL")
        self.dropped_evidence = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, key: str, kind: str, topic: str, payload: bytes) -> bool:
        """Store a message; False when one with this key is already spooled."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (key, kind, topic, payload, size, created) VALUES (?, ?, ?, ?, ?, ?)",
                (key, kind, topic, payload, len(payload), time.time()),
            )
            added = cur.rowcount == 1
            if added and self._enforce_budget():
                erase_freed(self._db)
            return added

    def _enforce_budget(self) -> bool:
        """Whether evidence payloads were dropped."""
        total = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox WHERE dropped = 0").fetchone()[0]
        if total <= self.max_bytes:
            return False
        dropped = False
        marks = ",".join("?" * len(DROPPABLE))
        rows = self._db.execute(
            f"SELECT seq, size FROM outbox WHERE dropped = 0 AND kind IN ({marks}) ORDER BY seq", DROPPABLE
        ).fetchall()
        for seq, size in rows:
            if total <= self.max_bytes:
                break
            self._db.execute("UPDATE outbox SET payload = NULL, dropped = 1 WHERE seq = ?", (seq,))
            total -= size
            self.dropped_evidence += 1
            dropped = True
        return dropped

    def pending(self, limit: int = 100, after_seq: int = 0) -> list[Entry]:
        """Messages the broker has not acknowledged, in the order they were put."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, key, kind, topic, payload, attempts FROM outbox WHERE seq > ? AND acked_at IS NULL "
                "ORDER BY seq LIMIT ?",
                (after_seq, limit),
            ).fetchall()
        return [
            Entry(seq, key, kind, topic, None if payload is None else bytes(payload), attempts)
            for seq, key, kind, topic, payload, attempts in rows
        ]

    def due(self, limit: int = 100, now: float | None = None) -> list[Entry]:
        """Acknowledged by the broker, no receipt from the hub in time: to send again. Their next
        resend is pushed back at once (doubling, at most an hour), so a hub that is down for long
        is not flooded."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, key, kind, topic, payload, attempts, resend_at - acked_at FROM outbox "
                "WHERE acked_at IS NOT NULL AND resend_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
            for seq, *_rest, wait in rows:
                self._db.execute(
                    "UPDATE outbox SET resend_at = ? WHERE seq = ?",
                    (now + min(2 * max(wait or 1.0, 1.0), MAX_RESEND_S), seq),
                )
        return [
            Entry(seq, key, kind, topic, None if payload is None else bytes(payload), attempts)
            for seq, key, kind, topic, payload, attempts, _wait in rows
        ]

    def await_receipt(self, seq: int, timeout_s: float) -> None:
        """The broker acknowledged a receipted message: keep it until the hub confirms it."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET acked_at = ?, resend_at = CASE WHEN acked_at IS NULL THEN ? "
                "ELSE resend_at END WHERE seq = ?",
                (now, now + timeout_s, seq),
            )

    def confirm(self, keys: list[str]) -> int:
        """The hub committed these: forget them. Only alerts and ID checks this edge has sent are
        removed (a receipt naming anything else changes nothing); the number of entries removed."""
        if not keys:
            return 0
        with self._lock:
            removed = 0
            kinds = ",".join("?" * len(RECEIPTED))
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                marks = ",".join("?" * len(chunk))
                removed += self._db.execute(
                    f"DELETE FROM outbox WHERE key IN ({marks}) AND kind IN ({kinds}) AND attempts > 0",
                    [*chunk, *RECEIPTED],
                ).rowcount
            return removed

    def awaiting_receipt(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NOT NULL").fetchone()[0]

    def attempted(self, seq: int) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def ack(self, seq: int) -> None:
        """The broker acknowledged the message: forget it."""
        with self._lock:
            row = self._db.execute("SELECT kind FROM outbox WHERE seq = ?", (seq,)).fetchone()
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            if row is not None and row[0] in DROPPABLE:
                erase_freed(self._db)  # an evidence payload (sealed crop) went: not left in the file or WAL

    def depth(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def size_bytes(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox WHERE dropped = 0").fetchone()[0]
