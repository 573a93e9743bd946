"""ID-check outcomes for the hub's tests: well-formed wire messages (as the edge's desk sends them) and
rows stored directly, with alerts to answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from humiao.hub import store
from humiao.hub.validate import alert_row
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.ids import uuid7
from humiao.proto.topics import parse

from tests.support import wire

AGE_FOR = {
    "adult_admitted": 30,
    "minor_refused": 16,
    "minor_admitted_with_guardian": 15,
    "minor_admitted": 16,
}


def outcome(
    ids: tuple[str, str, str],
    kind: str,
    answers: str | None = None,
    age: int | None = None,
    **fields,
) -> pb.IdCheckOutcome:
    """A well-formed outcome of ``kind`` (a vocabulary.RESULTS key) from device ``ids`` answering the
    alert ``answers`` (a walk-up when None): an age read from a resident identity card by the chip
    reader for the outcomes that name one, nothing for the others; ``fields`` override any field."""
    msg = pb.IdCheckOutcome(
        event_id=answers or "",
        check_id=str(uuid7()),
        origin=pb.Origin(district_id=ids[0], venue_id=ids[1], device_id=ids[2]),
        result=pb.IdCheckResult.Value(f"ID_CHECK_RESULT_{kind.upper()}"),
        walk_up=answers is None,
        staff="" if kind == "not_checked" else "desk-1",
    )
    if kind in AGE_FOR:
        years = AGE_FOR[kind] if age is None else age
        msg.age_known, msg.age_years, msg.under_14 = True, years, years < 14
        msg.document, msg.method = pb.DOCUMENT_TYPE_CITIZEN_ID, pb.READ_METHOD_CHIP
        msg.id_keyed_hash, msg.checksum_valid = "5e" * 32, True
    msg.checked_at.GetCurrentTime()
    for name, value in fields.items():
        if name in ("checked_at", "alerted_at"):
            getattr(msg, name).FromDatetime(value)
        else:
            setattr(msg, name, value)
    return msg


def add_alert(s, origin: tuple[str, str, str], at: datetime) -> str:
    """A stored CHECK ID alert from ``origin`` decided (and stored) at ``at``; its event id."""
    t, payload, eid = wire.alert(origin=origin, first_seen=at.timestamp() - 1)
    msg = pb.Alert()
    msg.ParseFromString(payload)
    msg.decided_at.FromDatetime(at)
    store.alerts(s, [{**alert_row(msg, parse(t), at), "stored_at": at}])
    return eid


def add_check(
    s,
    origin: tuple[str, str, str],
    event_id: str | None,
    result: str,
    at: datetime,
    guardian: bool = False,
    co_occupants: bool = False,
) -> str:
    """A stored check (a walk-up when ``event_id`` is None) at ``at``; its check id."""
    age = AGE_FOR.get(result)
    check_id = str(uuid7())
    store.id_checks(
        s,
        [
            {
                "check_id": check_id,
                "event_id": event_id,
                "district_id": origin[0],
                "venue_id": origin[1],
                "device_id": origin[2],
                "checked_at": at,
                "received_at": at,
                "result": result,
                "age_years": age or 0,
                "under_14": False,
                "id_keyed_hash": "5e" * 32 if age else "",
                "checksum_valid": bool(age),
                "age_known": age is not None,
                "document": "citizen_id" if age else "",
                "method": "chip" if age else "",
                "walk_up": event_id is None,
                "guardian_contact_recorded": guardian,
                "co_occupants_recorded": co_occupants,
                "staff": "" if result == "not_checked" else "desk-1",
                "alerted_at": None,
            }
        ],
    )
    return check_id


def add_visits(hub, now: datetime | None = None) -> None:
    """On a hub seeded by tests/support/hubapi.py (an alert at ktv1 and hotel1 in d1, ktv9 in d2), a
    month's worth of visits in d1: at ktv1, a confirmed violation (minor admitted), a suspected one (no
    check in the window) and an alert settled by a late check (the agent's "not checked", then staff: a
    minor refused); at hotel1, a minor admitted whose guardian record was completed by a second check
    (none) and the seeded alert answered by a minor with a guardian and no record (confirmed, police's);
    walk-ups at ktv1 (a minor refused, an adult) — no violations; ktv9 answered by an adult."""
    from sqlalchemy import select

    from humiao.hub import alarms
    from humiao.hub.tables import Alert

    now = now or datetime.now(UTC)
    ktv, hotel = ("d1", "ktv1", "edge1"), ("d1", "hotel1", "edge1")
    with hub.sessions() as s, s.begin():
        seeded = {a.venue_id: a.event_id for a in s.scalars(select(Alert))}
        add_check(s, ktv, seeded["ktv1"], "minor_admitted", now)
        add_alert(s, ktv, now)  # never checked
        late = add_alert(s, ktv, now)
        add_check(s, ktv, late, "not_checked", now + timedelta(minutes=10))
        add_check(s, ktv, late, "minor_refused", now + timedelta(minutes=14))
        room = add_alert(s, hotel, now)
        add_check(s, hotel, room, "minor_admitted", now + timedelta(minutes=1))
        add_check(s, hotel, room, "minor_admitted", now + timedelta(minutes=3), True, True)
        add_check(s, hotel, seeded["hotel1"], "minor_admitted_with_guardian", now + timedelta(minutes=2))
        add_check(s, ktv, None, "minor_refused", now)
        add_check(s, ktv, None, "adult_admitted", now)
        add_check(s, ("d2", "ktv9", "edge1"), seeded["ktv9"], "adult_admitted", now + timedelta(minutes=1))
        alarms.evaluate(s, now=now + timedelta(minutes=20))
