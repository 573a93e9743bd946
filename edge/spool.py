"""The edge's outbox: every message is on disk before it is published, and leaves only when the
broker has acknowledged it (PUBACK). After a crash, a power cut or a broker outage, ``pending()``
replays what is left, oldest first.

SQLite in WAL mode with ``synchronous=FULL``: a ``put`` that returned survives a power cut.
Messages are idempotent by key (the alert's event id), so a repeat ``put`` is absorbed.
The spool is bounded in bytes: when it is over budget, the payloads of the oldest *evidence*
messages are dropped first (the record stays, marked, so the hub can be told); alert records
are never dropped, even over budget (they are small, and losing one loses a violation).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

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
    dropped    INTEGER NOT NULL DEFAULT 0
);
"""
DROPPABLE = ("evidence",)


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self.dropped_evidence = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, key: str, kind: str, topic: str, payload: bytes) -> bool:
        """Store a message; False when one with this key is already spooled."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (key, kind, topic, payload, size, created) VALUES (?, ?, ?, ?, ?, ?)",
                (key, kind, topic, payload, len(payload), time.time()))
            added = cur.rowcount == 1
            if added:
                self._enforce_budget()
            return added

    def _enforce_budget(self) -> None:
        total = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox WHERE dropped = 0").fetchone()[0]
        if total <= self.max_bytes:
            return
        marks = ",".join("?" * len(DROPPABLE))
        rows = self._db.execute(
            f"SELECT seq, size FROM outbox WHERE dropped = 0 AND kind IN ({marks}) ORDER BY seq", DROPPABLE).fetchall()
        for seq, size in rows:
            if total <= self.max_bytes:
                break
            self._db.execute("UPDATE outbox SET payload = NULL, dropped = 1 WHERE seq = ?", (seq,))
            total -= size
            self.dropped_evidence += 1

    def pending(self, limit: int = 100, after_seq: int = 0) -> list[Entry]:
        """Spooled messages in the order they were put."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, key, kind, topic, payload, attempts FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit)).fetchall()
        return [Entry(seq, key, kind, topic, None if payload is None else bytes(payload), attempts)
                for seq, key, kind, topic, payload, attempts in rows]

    def attempted(self, seq: int) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def ack(self, seq: int) -> None:
        """The broker acknowledged the message: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def depth(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def size_bytes(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COALESCE(SUM(size), 0) FROM outbox WHERE dropped = 0").fetchone()[0]
