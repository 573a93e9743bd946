"""Writes of the ingest batch, idempotent on every backend (PostgreSQL or SQLite, by the session's
engine): alerts, ID checks and evidence (and alarms, for hub/alarms.py) by ``INSERT … ON CONFLICT DO
NOTHING`` on their unique key, so a redelivered message changes nothing and is counted as a duplicate;
devices by upsert, an older status never overwriting a newer one; dead letters appended (and purged
by age and count, ``purge_dead_letters``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, Table, TypeDecorator, case, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from humiao.hub.tables import Alert, Base, DeadLetter, Device, Evidence, IdCheck


def _dialect(session: Session) -> Dialect:
    """The dialect of the session's engine (``get_bind`` raises when the session has none)."""
    return session.get_bind().dialect


def _insert(session: Session, table: Table):
    return (postgresql.insert if _dialect(session).name == "postgresql" else sqlite.insert)(table)


def insert_new(session: Session, model: type[Base], rows: list[dict], key: str) -> set[str]:
    """Insert rows whose ``key`` is not stored yet; the keys actually inserted."""
    if not rows:
        return set()
    unique: dict[str, dict] = {}
    for row in rows:
        unique.setdefault(row[key], row)  # the same message twice in one batch
    if _dialect(session).name == "postgresql":
        return _insert_new_pg(session, model.__table__, list(unique.values()), key)
    column = getattr(model.__table__.c, key)
    # executemany + RETURNING: SQLAlchemy's "insertmanyvalues" batches the rows into few statements
    # compiled once and cached (a multi-VALUES literal would be compiled anew for every batch)
    stmt = _insert(session, model.__table__).on_conflict_do_nothing(index_elements=[key]).returning(column)
    return set(session.execute(stmt, list(unique.values())).scalars())


def _pg_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)  # as UTCDateTime stores it
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def _insert_new_pg(session: Session, table: Table, rows: list[dict], key: str) -> set[str]:
    """PostgreSQL: one short statement per batch, ``INSERT … SELECT FROM unnest(<one array per
    column>) ON CONFLICT DO NOTHING RETURNING key``; its text is the same for every batch, so the
    server and the driver reuse its plan and parse. The arrays go in binary (``%b``): psycopg's text
    encoding of large arrays (quoting every element) cost more than the insert itself."""
    dialect = _dialect(session)
    names = [c.name for c in table.columns if c.name in rows[0]]
    arrays, selects = [], []
    for i, name in enumerate(names):
        sqltype = table.c[name].type
        if isinstance(sqltype, TypeDecorator):
            sqltype = sqltype.impl_instance
        if isinstance(sqltype, JSON):
            arrays.append(f"%(c{i})b::text[]")
            selects.append(f"c{i}::json")
        else:
            arrays.append(f"%(c{i})b::{sqltype.compile(dialect=dialect)}[]")
            selects.append(f"c{i}")
    sql = (
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {', '.join(selects)} FROM unnest({', '.join(arrays)}) "
        f"AS u({', '.join(f'c{i}' for i in range(len(names)))}) ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )
    params = {f"c{i}": [_pg_value(r[name]) for r in rows] for i, name in enumerate(names)}
    return {r[0] for r in session.connection().exec_driver_sql(sql, params)}


def alerts(session: Session, rows: list[dict]) -> set[str]:
    return insert_new(session, Alert, rows, "event_id")


def id_checks(session: Session, rows: list[dict]) -> set[str]:
    return insert_new(session, IdCheck, rows, "check_id")


def dead_letters(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(DeadLetter.__table__.insert(), rows)


def purge_dead_letters(session: Session, before: datetime, keep_rows: int) -> int:
    """Delete dead letters received before ``before``, then all but the newest ``keep_rows`` (the
    oldest go first); the number deleted."""
    table = DeadLetter.__table__
    newest_first = select(table.c.id).order_by(table.c.received_at.desc(), table.c.id.desc())
    n = 0
    # PostgreSQL and SQLite both take a subquery with OFFSET (and no LIMIT) in IN (…); a DELETE gives a
    # CursorResult, typed as Result by Session.execute (cast for rowcount, as in hub/evidence.py)
    for stmt in (
        delete(table).where(table.c.received_at < before),
        delete(table).where(table.c.id.in_(newest_first.offset(keep_rows).scalar_subquery())),
    ):
        n += cast(CursorResult[Any], session.execute(stmt)).rowcount
    return n


def _later(stored, incoming):
    """In an upsert: the incoming time if it is later than the stored one (or nothing is stored)."""
    return case((func.coalesce(stored < incoming, True), incoming), else_=stored)


def device_key(district: str, venue: str, device: str) -> str:
    return f"{district}/{venue}/{device}"


def touch_device(session: Session, district: str, venue: str, device: str, seen: datetime, **fields) -> None:
    """Create or update a device. ``status_sent_at`` in fields orders statuses: an older one (from a
    slower worker, or a retained copy) never overwrites a newer one."""
    table = Device.__table__
    values = dict(
        key=device_key(district, venue, device),
        district_id=district,
        venue_id=venue,
        device_id=device,
        last_seen=seen,
        **fields,
    )
    stmt = _insert(session, table).values(**values)
    update = {k: stmt.excluded[k] for k in values if k != "key"}
    if "availability_changed" in values:  # only when availability really changes
        update["availability_changed"] = case(
            (table.c.online.is_distinct_from(stmt.excluded.online), stmt.excluded.availability_changed),
            else_=table.c.availability_changed,
        )
    update["last_seen"] = _later(table.c.last_seen, stmt.excluded.last_seen)
    where = None
    if "status_sent_at" in fields:
        where = or_(table.c.status_sent_at.is_(None), table.c.status_sent_at <= stmt.excluded.status_sent_at)
    session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=update, where=where))


def evidence(session: Session, row: dict) -> bool:
    return bool(insert_new(session, Evidence, [row], "event_id"))


def devices_seen(session: Session, seen: dict[tuple[str, str, str], datetime]) -> None:
    """Create devices heard from for the first time and move ``last_seen`` forward, all in one statement."""
    if not seen:
        return
    table = Device.__table__
    rows = [
        {
            "key": device_key(*dev),
            "district_id": dev[0],
            "venue_id": dev[1],
            "device_id": dev[2],
            "last_seen": when,
            "online": False,
        }
        for dev, when in sorted(seen.items())
    ]
    stmt = _insert(session, table).values(rows)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key"], set_={"last_seen": _later(table.c.last_seen, stmt.excluded.last_seen)}
        )
    )
