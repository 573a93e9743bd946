"""the rules' words stored as messages (a catalogue key and its parameters), not as English and Chinese text

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 22:30:00

An alarm's reasoning (``reasons``) and what the calendar said of its day (``calendar``) become messages
(hub/messages.py), rendered in the reader's language from the catalogues; ``reasons_zh`` and ``calendar_zh`` go.
The hub's own history entries (raised, verdict, cleared, reactivated by the rules) get their words as a message in
the new ``alarm_events.message``; ``detail`` keeps only people's own words (comments, reasons to clear).

Rows written before this revision hold text, not keys: their sentences cannot be turned back into a key and its
parameters, so each becomes the message ``text.legacy`` with the English and the Chinese as they were written (a
verdict's Chinese reason found, as the panel found it, at the same place in the alarm's ``reasons_zh``; where there
was no Chinese, the English twice). The history's own fixed words (raised, no violation, a verdict's name) become
their keys. A new language shows those older rows in English.

Downgrade: messages are rendered back into English and Chinese text.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BATCH = 1000
VERDICTS = ("none", "pending", "suspected", "confirmed")


def legacy(en: str, zh: str | None = None) -> dict:
    return {"code": "text.legacy", "params": {"en": en, "zh": zh or en}}


def _alarms(*cols: sa.ColumnClause) -> sa.TableClause:
    return sa.table("alarms", sa.column("id", sa.Integer), *cols)


def upgrade() -> None:
    bind = op.get_bind()
    # plain ALTER TABLE on both backends (SQLite ≥ 3.35 drops and renames columns itself): copying ``alarms`` in
    # SQLite's batch mode would break the history's and the cases' foreign keys to it
    op.add_column("alarm_events", sa.Column("message", sa.JSON(none_as_null=True), nullable=True))
    op.add_column("alarms", sa.Column("calendar_message", sa.JSON(), nullable=False, server_default="{}"))
    _history_writable(True)

    old = _alarms(
        sa.column("reasons", sa.JSON),
        sa.column("reasons_zh", sa.JSON),
        sa.column("calendar", sa.String),
        sa.column("calendar_zh", sa.String),
    )
    new = _alarms(sa.column("reasons", sa.JSON), sa.column("calendar_message", sa.JSON))
    zh_of: dict[int, dict[str, str]] = {}  # alarm id → English reason → its Chinese (for the history below)
    last = 0
    while rows := bind.execute(sa.select(old).where(old.c.id > last).order_by(old.c.id).limit(BATCH)).all():
        updates = []
        for r in rows:
            reasons, reasons_zh = list(r.reasons or []), list(r.reasons_zh or [])
            pairs = {en: (reasons_zh[i] if i < len(reasons_zh) else en) for i, en in enumerate(reasons)}
            zh_of[r.id] = pairs
            updates.append(
                {
                    "b_id": r.id,
                    "reasons": [legacy(en, pairs[en]) for en in reasons],
                    "calendar_message": legacy(r.calendar or "", r.calendar_zh or None),
                }
            )
        bind.execute(
            sa.update(new)
            .where(new.c.id == sa.bindparam("b_id"))
            .values(reasons=sa.bindparam("reasons"), calendar_message=sa.bindparam("calendar_message")),
            updates,
        )
        last = rows[-1].id

    events = sa.table(
        "alarm_events",
        sa.column("id", sa.Integer),
        sa.column("alarm_id", sa.Integer),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("detail", sa.Text),
        sa.column("message", sa.JSON),
    )
    last = 0
    while rows := bind.execute(
        sa.select(events).where(events.c.id > last, events.c.actor == "rules").order_by(events.c.id).limit(BATCH)
    ).all():
        updates = []
        for e in rows:
            message = _history_message(e.action, e.detail or "", zh_of.get(e.alarm_id, {}))
            if message is not None:
                updates.append({"b_id": e.id, "message": message, "detail": ""})
        if updates:
            bind.execute(
                sa.update(events)
                .where(events.c.id == sa.bindparam("b_id"))
                .values(message=sa.bindparam("message"), detail=sa.bindparam("detail")),
                updates,
            )
        last = rows[-1].id

    _history_writable(False)
    for column in ("reasons_zh", "calendar_zh", "calendar"):
        op.execute(f"ALTER TABLE alarms DROP COLUMN {column}")
    op.execute("ALTER TABLE alarms RENAME COLUMN calendar_message TO calendar")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE alarms ALTER COLUMN calendar DROP DEFAULT")


def _history_writable(on: bool) -> None:
    """The history is append-only, enforced by the database (0003): this revision alone rewrites its rows' form
    (their words, not what happened), with the guard lifted for the length of the migration's transaction."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE alarm_events {'DISABLE' if on else 'ENABLE'} TRIGGER alarm_events_append_only")
    elif on:
        op.execute("DROP TRIGGER alarm_events_no_update")
    else:
        op.execute(
            "CREATE TRIGGER alarm_events_no_update BEFORE UPDATE ON alarm_events "
            "BEGIN SELECT RAISE(ABORT, 'alarm_events is append-only'); END"
        )


def _history_message(action: str, detail: str, zh_of: dict[str, str]) -> dict | None:
    if action == "raised" and (m := re.fullmatch(r"alert (\S+)", detail)):
        return {"code": "history.raised", "params": {"event_id": m.group(1)}}
    if action == "cleared" and detail == "no violation":
        return {"code": "history.no_violation"}
    if action == "reactivated" and detail in VERDICTS:
        return {"code": f"verdict.{detail}"}
    if action == "verdict":
        status, _, reason = detail.partition(": ")
        if status in VERDICTS:
            return {
                "code": "history.verdict",
                "params": {"verdict": {"code": f"verdict.{status}"}, "reason": legacy(reason, zh_of.get(reason))},
            }
    return None


def downgrade() -> None:
    from humiao.hub.messages import render

    bind = op.get_bind()
    op.add_column("alarms", sa.Column("reasons_zh", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("alarms", sa.Column("calendar_zh", sa.String(200), nullable=False, server_default=""))
    op.add_column("alarms", sa.Column("calendar_text", sa.String(200), nullable=False, server_default=""))
    table = _alarms(
        sa.column("reasons", sa.JSON),
        sa.column("reasons_zh", sa.JSON),
        sa.column("calendar", sa.JSON),
        sa.column("calendar_zh", sa.String),
        sa.column("calendar_text", sa.String),
    )
    last = 0
    while rows := bind.execute(
        sa.select(table.c.id, table.c.reasons, table.c.calendar)
        .where(table.c.id > last)
        .order_by(table.c.id)
        .limit(BATCH)
    ).all():
        bind.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                reasons=sa.bindparam("reasons"),
                reasons_zh=sa.bindparam("reasons_zh"),
                calendar_text=sa.bindparam("calendar_text"),
                calendar_zh=sa.bindparam("calendar_zh"),
            ),
            [
                {
                    "b_id": r.id,
                    "reasons": [render(m, "en") for m in r.reasons or []],
                    "reasons_zh": [render(m, "zh-CN") for m in r.reasons or []],
                    "calendar_text": render(r.calendar, "en")[:200],
                    "calendar_zh": render(r.calendar, "zh-CN")[:200],
                }
                for r in rows
            ],
        )
        last = rows[-1].id
    op.execute("ALTER TABLE alarms DROP COLUMN calendar")
    op.execute("ALTER TABLE alarms RENAME COLUMN calendar_text TO calendar")
    _history_writable(True)

    events = sa.table(
        "alarm_events", sa.column("id", sa.Integer), sa.column("detail", sa.Text), sa.column("message", sa.JSON)
    )
    last = 0
    while rows := bind.execute(sa.select(events).where(events.c.id > last).order_by(events.c.id).limit(BATCH)).all():
        said = [{"b_id": e.id, "detail": render(e.message, "en")} for e in rows if isinstance(e.message, dict)]
        if said:
            bind.execute(
                sa.update(events).where(events.c.id == sa.bindparam("b_id")).values(detail=sa.bindparam("detail")),
                said,
            )
        last = rows[-1].id
    _history_writable(False)
    op.execute("ALTER TABLE alarm_events DROP COLUMN message")
