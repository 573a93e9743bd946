"""The counter's desk: the checks the camera asked for, the IDs read, the outcomes staff record.

    alert (CHECK ID) ─► desk.add: a pending check (time, camera, the face crop in memory, its deadline)
    ID read (chip, camera, typed) ─► desk.reading: age facts + keyed hash; the number is forgotten at once
    staff tap an outcome ─► desk.record ─► a RecordedCheck for the agent to sign and spool ─► the hub
    deadline passed with no outcome ─► desk.expire ─► "not checked" (the agent's own outcome)

Everything here lives in memory only and holds no ID: a ``Reading`` keeps the age facts, the document type,
how it was read and the keyed hash; the face crop of a pending check (JPEG bytes, for the console's screen) is
dropped when the check is recorded or expires. After a restart the pending checks are gone: the hub then
settles those alerts as "not checked" when its own window runs out.

Thread-safe: the agent's frame loop adds, the console's request threads read and record, the agent's status
loop expires. ``wait(version, timeout)`` lets a live page block until something changes.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from humiao.edge.idcheck.documents import CITIZEN_ID, DocumentType
from humiao.edge.idcheck.number import AgeFacts, CitizenNumber
from humiao.edge.idcheck.outcomes import READ_METHODS, OutcomeError, Result, check, result
from humiao.proto.ids import uuid7

READING_TTL_S = 180.0  # a read ID waits this long for its outcome, then is forgotten
RECENT = 50  # recorded outcomes the console lists (no ID in them)


@dataclass
class PendingCheck:
    event_id: str
    camera_id: str
    alerted_at: float  # Unix time of the alert
    deadline: float  # Unix time: after it the agent records "not checked"
    age_estimate: float
    crop_jpeg: bytes | None = field(default=None, repr=False)  # memory only, for the console's screen


@dataclass(frozen=True)
class Reading:
    """An ID read at the counter, reduced to what may leave it."""

    reading_id: str
    facts: AgeFacts
    document: str  # documents.DOCUMENTS code
    method: str  # READ_METHODS code
    id_keyed_hash: str  # empty for documents other than the citizen ID card
    checksum_valid: bool
    read_at: float


@dataclass(frozen=True)
class RecordedCheck:
    """One outcome as it goes on the wire (``IdCheckOutcome``): no number, no name, no image."""

    check_id: str
    event_id: str  # empty for a walk-up check
    camera_id: str
    checked_at: float
    alerted_at: float | None
    result: str
    age_years: int | None  # None: no ID read
    under_14: bool
    document: str  # "" when no ID was shown
    method: str  # "" when nothing was read
    id_keyed_hash: str
    checksum_valid: bool
    walk_up: bool
    guardian_contact_recorded: bool
    co_occupants_recorded: bool
    staff: str


class DeskError(OutcomeError):
    pass


class CheckDesk:
    def __init__(
        self,
        window_s: float,
        sink: Callable[[RecordedCheck], None],
        venue_secret: bytes,
        tz: tzinfo,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window_s = window_s
        self.tz = tz
        self._sink = sink
        self._secret = venue_secret
        self._clock = clock
        self._lock = threading.Condition()
        self._pending: dict[str, PendingCheck] = {}
        self._readings: dict[str, Reading] = {}
        self._recent: deque[RecordedCheck] = deque(maxlen=RECENT)
        self.version = 0
        self.counts: dict[str, int] = {}

    # -- the camera's side -----------------------------------------------------------------------
    def add(
        self, event_id: str, camera_id: str, alerted_at: float, age_estimate: float, crop_jpeg: bytes | None
    ) -> None:
        with self._lock:
            self._pending[event_id] = PendingCheck(
                event_id, camera_id, alerted_at, alerted_at + self.window_s, age_estimate, crop_jpeg
            )
            self._changed()

    def pending(self) -> list[PendingCheck]:
        """Oldest first (the one whose window closes first)."""
        with self._lock:
            return sorted(self._pending.values(), key=lambda p: p.alerted_at)

    def crop(self, event_id: str) -> bytes | None:
        with self._lock:
            p = self._pending.get(event_id)
            return p.crop_jpeg if p else None

    def recent(self) -> list[RecordedCheck]:
        with self._lock:
            return list(reversed(self._recent))

    # -- reading an ID ---------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def reading_from_number(self, number: CitizenNumber, method: str) -> Reading:
        """A citizen number already validated (``number.parse``): its keyed hash is taken and the number is
        forgotten here."""
        try:
            hashed = number.keyed_hash(self._secret)
        finally:
            number.forget()
        return self._keep(number.facts, CITIZEN_ID.code, method, hashed, True)

    def reading_from_document(self, doc: DocumentType, facts: AgeFacts) -> Reading:
        """Another document, its birth date typed by staff (``documents.manual_entry``)."""
        return self._keep(facts, doc.code, "manual", "", False)

    def _keep(self, facts: AgeFacts, document: str, method: str, hashed: str, valid: bool) -> Reading:
        if method not in READ_METHODS:
            raise DeskError("未知的读取方式", "unknown read method")
        r = Reading(secrets.token_urlsafe(16), facts, document, method, hashed, valid, self._clock())
        with self._lock:
            self._drop_old_readings()
            self._readings[r.reading_id] = r
        return r

    def _drop_old_readings(self) -> None:
        cutoff = self._clock() - READING_TTL_S
        for rid in [rid for rid, r in self._readings.items() if r.read_at < cutoff]:
            del self._readings[rid]

    # -- the outcome -----------------------------------------------------------------------------
    def record(
        self,
        event_id: str | None,
        code: str,
        reading_id: str | None,
        staff: str,
        *,
        camera_id: str = "",
        guardian_contact_recorded: bool = False,
        co_occupants_recorded: bool = False,
    ) -> RecordedCheck:
        """Record staff's outcome for a pending check (``event_id``) or a walk-up check (``None``); the
        reading, if any, is used once. ``DeskError``/``OutcomeError`` say why not, in both languages."""
        res = result(code)
        with self._lock:
            self._drop_old_readings()
            reading = None
            if reading_id:
                reading = self._readings.get(reading_id)
                if reading is None:
                    raise DeskError("读取结果已过期，请重新读取证件", "the ID reading has expired: read the ID again")
            check(res, reading.facts if reading else None)
            pending = None
            if event_id:
                pending = self._pending.get(event_id)
                if pending is None or pending.deadline <= self._clock():  # past it, "not checked" is on its way
                    raise DeskError("该预警已处理或已超时", "this alert was already answered or its window ran out")
            rec = self._recorded(
                res, reading, pending, staff, camera_id, guardian_contact_recorded, co_occupants_recorded
            )
            self._done(rec, reading, pending)
        return rec

    def _recorded(
        self,
        res: Result,
        reading: Reading | None,
        pending: PendingCheck | None,
        staff: str,
        camera_id: str,
        guardian: bool,
        co_occupants: bool,
    ) -> RecordedCheck:
        return RecordedCheck(
            check_id=str(uuid7()),
            event_id=pending.event_id if pending else "",
            camera_id=pending.camera_id if pending else camera_id,
            checked_at=self._clock(),
            alerted_at=pending.alerted_at if pending else None,
            result=res.code,
            age_years=reading.facts.age if reading else None,
            under_14=reading.facts.under_14 if reading else False,
            document=reading.document if reading else "",
            method=reading.method if reading else "",
            id_keyed_hash=reading.id_keyed_hash if reading else "",
            checksum_valid=reading.checksum_valid if reading else False,
            walk_up=pending is None,
            guardian_contact_recorded=guardian if res.guardian_record else False,
            co_occupants_recorded=co_occupants if res.guardian_record else False,
            staff=staff,
        )

    def expire(self) -> list[RecordedCheck]:
        """Pending checks whose window ran out: recorded as "not checked" by the agent itself."""
        now = self._clock()
        out = []
        with self._lock:
            self._drop_old_readings()
            for p in [p for p in self._pending.values() if p.deadline <= now]:
                rec = self._recorded(result("not_checked"), None, p, "", "", False, False)
                self._done(rec, None, p)  # if the sink fails, the rest stay pending for the next round
                out.append(rec)
        return out

    def _done(self, rec: RecordedCheck, reading: Reading | None, pending: PendingCheck | None) -> None:
        """Under the lock: hand it to the agent (sign, spool) first — if that fails, the pending check and the
        reading stay as they were, so nothing staff did is lost — then use them up, remember the outcome for
        the console and wake watchers."""
        self._sink(rec)
        if reading is not None:
            self._readings.pop(reading.reading_id, None)
        if pending is not None:
            self._pending.pop(pending.event_id, None)
        self._recent.append(rec)
        self.counts[rec.result] = self.counts.get(rec.result, 0) + 1
        self._changed()

    # -- live pages ------------------------------------------------------------------------------
    def _changed(self) -> None:
        self.version += 1
        self._lock.notify_all()

    def wait(self, version: int, timeout: float) -> int:
        """Block until the desk's version differs from ``version`` (or ``timeout``); the current version."""
        with self._lock:
            self._lock.wait_for(lambda: self.version != version, timeout)
            return self.version
