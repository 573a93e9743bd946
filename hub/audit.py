"""The audit log: ``record`` adds one row to ``audit_events`` (who, in which role, did what to which
object, why, from which client) in the caller's transaction, so the row commits with the action it
records; ``verify`` checks the whole log.

The log is append-only twice over. A database trigger refuses changes and deletions, and the rows
form a hash chain: each row stores the hash of the row before it (``prev_hash``) and its own
(``row_hash`` = sha256 of the previous hash and the row's fields), so whoever can bypass the trigger
(a database administrator, a restored backup) cannot change, remove or slip in a row without the
chain breaking at that row. Writers extend the chain one at a time: on PostgreSQL under a
transaction-level advisory lock, on SQLite under its write lock, taken before the head is read.
Removing the newest rows leaves an intact but shorter chain: ``verify`` prints the head (count,
last id and hash) for the auditor to record outside the hub and compare next time
(``--expect-head``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Literal, get_args

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from humiao.hub.access import Principal
from humiao.hub.tables import AuditEvent, utcnow

Action = Literal[
    "login",
    "login.failed",
    "evidence.request",
    "evidence.view",
    "report.download",
    "venues.import",
    "schools.import",
    "device.enroll",
    "device.revoke",
]
"""What an audit row records, as stored (``audit_events.action``): the one list of them. ``record`` takes
nothing else (mypy checks each caller; ``record`` refuses any other at run time), ``GET /api/audit`` filters by
them (422 for another) and ``GET /api/meta`` serves them with their words."""
ACTIONS: tuple[Action, ...] = get_args(Action)

# each action in words, as the panel shows it: one entry per action
WORDS: dict[Action, dict[str, str]] = {
    "login": {"zh": "登录", "en": "Signed in"},
    "login.failed": {"zh": "登录失败", "en": "Sign-in failed"},
    "evidence.request": {"zh": "调取证据", "en": "Evidence requested"},
    "evidence.view": {"zh": "查看证据", "en": "Evidence viewed"},
    "report.download": {"zh": "下载报表", "en": "Report downloaded"},
    "venues.import": {"zh": "导入场所清单", "en": "Venues imported"},
    "schools.import": {"zh": "导入学校清单", "en": "Schools imported"},
    "device.enroll": {"zh": "登记设备密钥", "en": "Device key enrolled"},
    "device.revoke": {"zh": "撤销设备密钥", "en": "Device key revoked"},
}
assert set(WORDS) == set(ACTIONS), "every audit action has its words, and only they"

GENESIS = "0" * 64  # what the first row follows
CHAIN_LOCK = 0x48554D41  # "HUMA": the advisory lock that serialises writers on PostgreSQL


def digest(prev_hash: str, row: AuditEvent) -> str:
    """The row's hash: sha256 over the previous row's hash and this row's fields (not its id, which
    the database assigns; the order is the chain itself)."""
    fields = [
        prev_hash,
        row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        row.user_id,
        row.role,
        row.action,
        row.object_type,
        row.object_id,
        row.why or "",
        row.client or "",
    ]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def record(
    session: Session, who: Principal, action: Action, object_type: str, object_id: str, why: str = "", client: str = ""
) -> AuditEvent:
    """Add the event to ``session``, chained to the newest row (the caller commits); ``client`` is cut
    to the column's 64 characters. ``action`` is one of ``ACTIONS`` (ValueError otherwise)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to hub/audit.py's Action, with its words")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    else:
        # SQLite: a write statement (this one changes nothing) takes the database's write lock before
        # the head is read, so no other writer can extend the chain from the same head meanwhile
        session.execute(text("DELETE FROM audit_events WHERE 0"))
    prev = session.scalar(select(AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
    row = AuditEvent(
        at=utcnow(),
        user_id=who.user_id,
        role=who.role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        why=why,
        client=client[:64],
        prev_hash=prev,
    )
    row.row_hash = digest(prev, row)
    session.add(row)
    session.flush()  # the next record() in this transaction chains to this row
    return row


@dataclass(frozen=True)
class Verdict:
    rows: int
    head_id: int | None
    head_hash: str
    problem: str | None  # the first break, in words; None when the chain is whole

    @property
    def ok(self) -> bool:
        return self.problem is None


def _rows(session: Session, batch: int = 5000) -> Iterator[AuditEvent | int]:
    """The rows in id order; the id alone of a row whose stored fields cannot even be read."""
    last = 0
    while True:
        ids = session.scalars(select(AuditEvent.id).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(batch))
        chunk_ids = list(ids)
        if not chunk_ids:
            return
        try:
            yield from session.scalars(
                select(AuditEvent).where(AuditEvent.id.in_(chunk_ids)).order_by(AuditEvent.id)
            ).all()
        except (ValueError, TypeError, OverflowError):  # e.g. a timestamp overwritten with text
            session.rollback()
            for i in chunk_ids:
                try:
                    yield session.scalars(select(AuditEvent).where(AuditEvent.id == i)).one()
                except (ValueError, TypeError, OverflowError):
                    session.rollback()
                    yield i
        last = chunk_ids[-1]


def verify(session: Session) -> Verdict:
    """Walk the log in id order and name the first row where the chain breaks:
    - a row whose fields no longer give its hash was altered;
    - a row that follows an earlier row than the one before it forks the chain: one side was slipped in;
    - a row that follows a hash no row has comes after a removed row (or after a row that was
      altered and re-hashed, which looks the same)."""
    seen: dict[str, int] = {GENESIS: 0}  # row hash → its place in ``order`` (0: the start)
    order: list[int] = [0]  # row ids in chain order, after the start
    expected, count, previous = GENESIS, 0, None
    for row in _rows(session):
        count += 1
        if isinstance(row, int):
            return Verdict(count, row, "", f"row {row} was altered: its stored fields cannot be read")
        if digest(row.prev_hash, row) != row.row_hash:
            return Verdict(count, row.id, row.row_hash, f"row {row.id} was altered: its fields do not give its hash")
        if row.prev_hash != expected:
            if row.prev_hash in seen:
                place = seen[row.prev_hash]
                others = ", ".join(str(i) for i in order[place + 1 :])
                return Verdict(
                    count,
                    row.id,
                    row.row_hash,
                    f"the chain forks after row {order[place] or 'the start'}: row {row.id} follows it, and so do "
                    f"row(s) {others}; one side was slipped in",
                )
            return Verdict(
                count,
                row.id,
                row.row_hash,
                f"the chain breaks between row {previous or 'the start'} and row {row.id}: a row between them was "
                f"removed, or row {previous} was altered and its hash recomputed",
            )
        seen[row.row_hash] = len(order)
        order.append(row.id)
        expected, previous = row.row_hash, row.id
    return Verdict(count, previous, expected, None)


def describe(v: Verdict) -> str:
    head = f"{v.rows} rows, head {v.head_id or 0}:{v.head_hash}"
    if v.ok:
        return f"audit log intact: {head} (record the head outside the hub; --expect-head checks it later)"
    return f"audit log TAMPERED: {v.problem} ({head})"


def holds(session: Session, head: str) -> str | None:
    """None when a head recorded earlier (``ID:HASH``) is still part of the chain — the log grew, but
    nothing up to that row was changed or removed; else what is wrong. Check ``verify`` first: an
    intact chain that still has that row with that hash has the same history up to it."""
    ident, _, expected = head.partition(":")
    if not ident.isdigit() or len(expected) != 64:
        return f"--expect-head takes ID:HASH as verify prints it, not {head!r}"
    row_hash = session.scalar(select(AuditEvent.row_hash).where(AuditEvent.id == int(ident)))
    if row_hash is None:
        return f"row {ident}, the recorded head, is gone: rows were removed from the end, or the log was replaced"
    if row_hash != expected:
        return f"row {ident} no longer has the recorded hash: the log was rewritten from that row on or before"
    return None
