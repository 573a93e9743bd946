"""Writes of the ingest batch, idempotent on every backend: ``INSERT … ON CONFLICT DO NOTHING``
by the unique key, so a redelivered message changes nothing and is counted as a duplicate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.models import Alert, DeadLetter, Device, Evidence, IdCheck


def _insert(session: Session, table: Table):
    return (postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert)(table)


def insert_new(session: Session, model, rows: list[dict], key: str) -> set[str]:
    """Insert rows whose ``key`` is not stored yet; the keys actually inserted."""
    if not rows:
        return set()
    unique: dict[str, dict] = {}
    for row in rows:
        unique.setdefault(row[key], row)  # the same message twice in one batch
    column = getattr(model.__table__.c, key)
    values = list(unique.values())
    step = max(1, 30000 // len(values[0]))  # bound parameters per statement (SQLite 32766, PostgreSQL 65535)
    inserted: set[str] = set()
    for i in range(0, len(values), step):
        stmt = (_insert(session, model.__table__).values(values[i:i + step])
                .on_conflict_do_nothing(index_elements=[key]).returning(column))
        inserted.update(session.scalars(stmt))
    return inserted


def alerts(session: Session, rows: list[dict]) -> set[str]:
    return insert_new(session, Alert, rows, "event_id")


def id_checks(session: Session, rows: list[dict]) -> set[str]:
    return insert_new(session, IdCheck, rows, "check_id")


def dead_letters(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(DeadLetter.__table__.insert(), rows)


def device_key(district: str, venue: str, device: str) -> str:
    return f"{district}/{venue}/{device}"


def touch_device(session: Session, district: str, venue: str, device: str, seen: datetime, **fields) -> None:
    """Create or update a device. ``status_sent_at`` in fields orders statuses: an older one (from a
    slower worker, or a retained copy) never overwrites a newer one."""
    table = Device.__table__
    values = dict(key=device_key(district, venue, device), district_id=district, venue_id=venue, device_id=device,
                  last_seen=seen, **fields)
    stmt = _insert(session, table).values(**values)
    update = {k: stmt.excluded[k] for k in values if k != "key"}
    update["last_seen"] = stmt.excluded.last_seen
    where = None
    if "status_sent_at" in fields:
        where = or_(table.c.status_sent_at.is_(None), table.c.status_sent_at <= stmt.excluded.status_sent_at)
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=update, where=where))


def evidence(session: Session, row: dict) -> bool:
    return bool(insert_new(session, Evidence, [row], "event_id"))
