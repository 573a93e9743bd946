"""Evidence: the hub asks an edge for an alert's sealed crop, stores it sealed, purges it after
its retention unless a case holds it.

A request comes from the rules (a confirmed violation), from an inspector in the panel (allowed by
the access matrix; hub/api_alarms.py) or from an operator on the hub host (``humiao hub
request-evidence``). Every request and every view writes its audit row here, in the same
transaction as the request or before the crop is opened, whoever asks: no caller can forget it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from humiao.hub import audit
from humiao.hub.access import SYSTEM_ACTOR, Principal, Target, allowed
from humiao.hub.db import erase_freed
from humiao.hub.messages import Refusal
from humiao.hub.tables import Alarm, Alert, Evidence, EvidenceRequest
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import sealed
from humiao.proto.ids import uuid7
from humiao.proto.topics import topic

REASONS = {
    "violation_confirmed": pb.EVIDENCE_REASON_VIOLATION_CONFIRMED,
    "inspector_request": pb.EVIDENCE_REASON_INSPECTOR_REQUEST,
}


class EvidenceError(Refusal):
    """Evidence that cannot be asked for or shown (its words in hub/catalogue/*/rules.json, ``evidence.*``)."""


class EvidenceMissing(EvidenceError):
    """Nothing to show: never stored, or purged."""


RULES = Principal(SYSTEM_ACTOR, "system", None)  # who asks when a confirmed violation needs its evidence


def request(
    session: Session, publish, event_id: str, reason: str, who: Principal, why: str = "", client: str = ""
) -> str:
    """Record a request (and its audit row) and send it to the alert's device with ``publish(topic,
    message id, body)``, which signs it (hub/ingest.py); the request id."""
    if reason not in REASONS:
        raise EvidenceError("evidence.bad_reason", allowed=", ".join(sorted(REASONS)))
    if not who.user_id:
        raise EvidenceError("evidence.who_required")
    requested_by = who.user_id
    alert = requestable(session, event_id)
    now = datetime.now(UTC)
    req = EvidenceRequest(
        request_id=str(uuid7()), event_id=event_id, reason=reason, requested_by=requested_by, requested_at=now
    )
    session.add(req)
    audit.record(session, who, "evidence.request", "alert", event_id, why or reason, client)
    session.commit()
    msg = pb.EvidenceRequest(
        request_id=req.request_id, event_id=event_id, reason=REASONS[reason], requested_by=requested_by
    )
    msg.requested_at.FromDatetime(now)
    publish(
        topic(alert.district_id, alert.venue_id, alert.device_id, "evidence_request"),
        req.request_id,
        msg.SerializeToString(),
    )
    return req.request_id


def requestable(session: Session, event_id: str) -> Alert:
    """The alert, if its evidence can be asked for; ``EvidenceError`` says why not."""
    alert = session.scalars(select(Alert).where(Alert.event_id == event_id)).one_or_none()
    if alert is None:
        raise EvidenceError("evidence.no_alert", event_id=event_id)
    if not alert.evidence_available:
        raise EvidenceError("evidence.no_crop_kept", event_id=event_id)
    return alert


def may_request(session: Session, who: Principal, event_id: str) -> bool:
    """Whether ``who`` may ask for this alert's evidence (the access matrix, on its alarm; an alert
    with no alarm, on its district and venue; an unknown alert is left to ``request`` to refuse)."""
    alarm = session.scalars(select(Alarm).where(Alarm.event_id == event_id)).one_or_none()
    if alarm is not None:
        where = Target(alarm.district_id, alarm.venue_id, tuple(alarm.departments or ()))
    else:
        alert = session.scalars(select(Alert).where(Alert.event_id == event_id)).one_or_none()
        if alert is None:
            return True  # request() says there is no such alert
        where = Target(alert.district_id, alert.venue_id)
    return allowed(who, "evidence.request", where)


def open_for(
    session: Session, private_key, event_id: str, who: Principal, why: str, client: str = ""
) -> tuple[Evidence, bytes]:
    """The stored evidence of an alert and its crop (JPEG), the view audited and committed before
    anything is decrypted."""
    ev = session.get(Evidence, event_id)
    if ev is None:
        raise EvidenceMissing("evidence.none_stored")
    if ev.ciphertext is None:
        raise EvidenceMissing("evidence.purged")
    audit.record(session, who, "evidence.view", "evidence", event_id, why, client)
    session.commit()
    return ev, sealed.open_box(private_key, ev.ciphertext, event_id)


def purge_expired(session: Session, now: datetime | None = None) -> int:
    """Drop the ciphertext of crops past retention that no case holds; the row (hashes, times) stays.
    On SQLite the bytes are zeroed (``secure_delete``, hub/db.py) and the WAL truncated after it."""
    now = now or datetime.now(UTC)
    # an UPDATE without RETURNING gives a CursorResult, typed as Result by Session.execute: SQLAlchemy's
    # changelog (2.0.44) says to cast it for rowcount
    result = cast(
        CursorResult[Any],
        session.execute(
            update(Evidence)
            .where(Evidence.purge_after <= now, Evidence.held.is_(False), Evidence.ciphertext.is_not(None))
            .values(ciphertext=None, purged_at=now)
        ),
    )
    session.commit()
    if result.rowcount:
        erase_freed(session)
    return result.rowcount


def confirmed_without_request(session: Session) -> list[str]:
    """Confirmed violations whose edge holds a crop nobody has asked for yet."""
    asked = select(EvidenceRequest.event_id)
    return list(
        session.scalars(
            select(Alarm.event_id)
            .join(Alert, Alert.event_id == Alarm.event_id)
            .where(Alarm.verdict == "confirmed", Alert.evidence_available.is_(True), Alarm.event_id.not_in(asked))
        )
    )
