"""Alarms from stored alerts: verdicts kept current by ID checks and time, the lifecycle an inspector
drives, and an append-only history — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from humiao.hub import alarms, store
from humiao.hub.messages import render
from humiao.hub.tables import Alarm, Venue
from humiao.hub.validate import alert_row
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.ids import uuid7
from humiao.proto.topics import parse

from tests.support import wire

pytestmark = pytest.mark.services
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # a Tuesday, 20:00 in Shanghai


def EN(messages):  # noqa: N802 - the reasoning as an English reader sees it
    return [render(m, "en") for m in messages]


def ZH(messages):  # noqa: N802 - the reasoning as a Chinese reader sees it
    return [render(m, "zh-CN") for m in messages]


def add_alert(s, origin=wire.ORIGIN, at=T0) -> str:
    t, payload, eid = wire.alert(origin=origin, first_seen=at.timestamp() - 1)
    msg = pb.Alert()
    msg.ParseFromString(payload)
    msg.decided_at.FromDatetime(at)
    store.alerts(s, [{**alert_row(msg, parse(t), at), "stored_at": at}])
    return eid


def add_check(s, event_id, result, at, age=16):
    store.id_checks(
        s,
        [
            {
                "check_id": str(uuid7()),
                "event_id": event_id,
                "district_id": "d1",
                "venue_id": "venue1",
                "device_id": "edge1",
                "checked_at": at,
                "received_at": at,
                "result": result,
                "age_years": age,
                "under_14": age < 14,
                "id_keyed_hash": "h",
                "checksum_valid": True,
            }
        ],
    )


def test_verdicts_follow_checks_and_time(db):
    with db() as s, s.begin():
        a, b, c = add_alert(s), add_alert(s), add_alert(s)
        assert alarms.evaluate(s, now=T0 + timedelta(minutes=1)) == 3
    with db() as s:
        rows = {x.event_id: x for x in s.query(Alarm)}
        assert {r.verdict for r in rows.values()} == {"pending"} and all(
            r.active and not r.acknowledged for r in rows.values()
        )
        assert rows[a].severity == "minor" and rows[a].departments[0] == "culture_tourism"
    with db() as s, s.begin():
        add_check(s, a, "minor_admitted", T0 + timedelta(minutes=2))
        add_check(s, b, "minor_refused", T0 + timedelta(minutes=2))
        alarms.evaluate(s, now=T0 + timedelta(minutes=20))  # c: no check after the 10 min window
    with db() as s:
        rows = {x.event_id: x for x in s.query(Alarm)}
        assert (rows[a].verdict, rows[a].severity, rows[a].active) == ("confirmed", "critical", True)
        assert (rows[b].verdict, rows[b].active, rows[b].cleared_by) == ("none", False, "rules")
        assert (rows[c].verdict, rows[c].severity) == ("suspected", "major")
        assert any("no ID check recorded within 10 min" in r for r in EN(rows[c].reasons))
        assert [e.action for e in alarms.history(s, rows[b].id)] == ["raised", "verdict", "verdict", "cleared"]
    with db() as s, s.begin():  # a late check settles the suspicion
        add_check(s, c, "adult_admitted", T0 + timedelta(minutes=25), age=31)
        alarms.evaluate(s, now=T0 + timedelta(minutes=26))
    with db() as s:
        assert s.query(Alarm).filter_by(event_id=c).one().verdict == "none"
        assert alarms.evaluate(s, now=T0 + timedelta(hours=2)) == 0  # nothing left to change


def test_the_registered_venue_type_wins(db):
    with db() as s, s.begin():
        s.add(Venue(id="venue1", name="X 游艺", venue_type="arcade", district_id="d1", updated_at=T0))
        eid = add_alert(s)  # the edge says internet café
        add_check(s, eid, "minor_admitted", T0 + timedelta(minutes=1))
        alarms.evaluate(s, now=T0 + timedelta(minutes=2))
    with db() as s:
        alarm = s.query(Alarm).one()
        assert alarm.venue_type == "arcade" and alarm.verdict == "suspected"  # arcade on a workday
        assert render(alarm.calendar, "en") == "ordinary working day"


def test_inspector_lifecycle_and_append_only_history(db):
    with db() as s, s.begin():
        add_alert(s)
        alarms.evaluate(s, now=T0)
    with db() as s, s.begin():
        alarm = s.query(Alarm).one()
        alarms.acknowledge(s, alarm.id, "ct-inspector-1", "on my way")
        with pytest.raises(alarms.AlarmError, match="already acknowledged"):
            alarms.acknowledge(s, alarm.id, "ct-inspector-2")
        alarms.assign(s, alarm.id, "ct-lead", "ct-inspector-1")
        alarms.comment(s, alarm.id, "ct-inspector-1", "venue says the person left")
        with pytest.raises(alarms.AlarmError, match="needs a reason"):
            alarms.clear(s, alarm.id, "ct-inspector-1", " ")
        alarms.clear(s, alarm.id, "ct-inspector-1", "checked on site: adult")
        alarm_id = alarm.id
    with db() as s:
        a = s.get(Alarm, alarm_id)
        assert a.acknowledged_by == "ct-inspector-1" and a.assignee == "ct-inspector-1" and not a.active
        events = alarms.history(s, alarm_id)
        assert [e.action for e in events] == ["raised", "verdict", "acknowledged", "assigned", "commented", "cleared"]
        assert [e.actor for e in events][2:] == ["ct-inspector-1", "ct-lead", "ct-inspector-1", "ct-inspector-1"]
        assert all(e.at.tzinfo is not None for e in events)
    for statement in ("UPDATE alarm_events SET detail = 'forged'", "DELETE FROM alarm_events"):
        with db() as s, pytest.raises(Exception, match="append-only"):
            s.execute(text(statement))
            s.commit()


def test_a_late_outcome_re_decides_a_suspected_alarm(db):
    """No check within the window: suspected. The check that comes later decides, both ways; of several
    checks of one alert the latest counts. A walk-up check raises no alarm and touches none."""
    from tests.hub.outcomes import add_alert as store_alert
    from tests.hub.outcomes import add_check as store_check

    ktv, hotel = ("d1", "ktv-late", "edge1"), ("d1", "hotel-late", "edge1")
    with db() as s, s.begin():
        s.add(Venue(id="ktv-late", name="K", venue_type="ktv", district_id="d1", updated_at=T0))
        s.add(Venue(id="hotel-late", name="H", venue_type="hotel", district_id="d1", updated_at=T0))
        refused, admitted, room = store_alert(s, ktv, T0), store_alert(s, ktv, T0), store_alert(s, hotel, T0)
        store_check(s, ktv, refused, "not_checked", T0 + timedelta(minutes=10))  # the agent, at the window's end
        alarms.evaluate(s, now=T0 + timedelta(minutes=15))
    with db() as s:
        assert {a.event_id: a.verdict for a in s.query(Alarm)} == dict.fromkeys((refused, admitted, room), "suspected")
    with db() as s, s.begin():
        store_check(s, ktv, refused, "minor_refused", T0 + timedelta(minutes=20))
        store_check(s, ktv, admitted, "minor_admitted", T0 + timedelta(minutes=20))
        store_check(s, hotel, room, "minor_admitted_with_guardian", T0 + timedelta(minutes=20))
        store_check(s, hotel, None, "minor_refused", T0 + timedelta(minutes=21))  # a walk-up
        assert alarms.evaluate(s, now=T0 + timedelta(minutes=22)) == 3
    with db() as s:
        got = {a.event_id: a for a in s.query(Alarm)}
        assert len(got) == 3
        assert (got[refused].verdict, got[refused].active) == ("none", False)
        assert (
            "Minor, refused entry" in EN(got[refused].reasons)[1] and "未成年人，已劝离" in ZH(got[refused].reasons)[1]
        )
        assert (got[admitted].verdict, got[admitted].severity) == ("confirmed", "critical")
        assert got[room].verdict == "confirmed" and "did not record" in EN(got[room].reasons)[-1]
        assert [e.action for e in alarms.history(s, got[refused].id)][-2:] == ["verdict", "cleared"]
    with db() as s, s.begin():  # the hotel corrects its record: the latest check wins, and clears the alarm
        store_check(s, hotel, room, "minor_admitted_with_guardian", T0 + timedelta(minutes=25), True, True)
        alarms.evaluate(s, now=T0 + timedelta(minutes=26))
    with db() as s:
        alarm = s.query(Alarm).filter_by(event_id=room).one()
        assert (alarm.verdict, alarm.active) == ("none", False) and "no violation" in EN(alarm.reasons)[-1]


def test_migration_0012_keeps_older_reasoning_in_both_languages(db_url):
    """Rows written as text before the catalogue keep their words: downgrading renders the messages back into
    English and Chinese text (the old columns), upgrading again turns that text into ``text.legacy`` messages which
    read, in each language, exactly as before; the history's fixed words become their keys again; a person's comment
    stays their own words. Both backends; the schema matches the models after."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect, text

    from humiao.hub.db import alembic_config, make_engine, migrate, sessions
    from humiao.hub.tables import AlarmEvent, Base

    engine = make_engine(db_url)
    migrate(engine)
    make = sessions(engine)
    with make() as s, s.begin():
        eid = add_alert(s)
        alarms.evaluate(s, now=T0 + timedelta(minutes=30))  # suspected: no check within the window
        alarm = s.query(Alarm).filter_by(event_id=eid).one()
        alarms.comment(s, alarm.id, "alice", "通知场所整改 / told the venue")
    with make() as s:
        alarm = s.query(Alarm).filter_by(event_id=eid).one()
        before = {
            lang: ([render(r, lang) for r in alarm.reasons], render(alarm.calendar, lang)) for lang in ("en", "zh-CN")
        }
        history = [
            (e.action, e.detail, e.message)
            for e in s.query(AlarmEvent).filter_by(alarm_id=alarm.id).order_by(AlarmEvent.id)
        ]
        said = {lang: [render(m, lang) if m else d for _, d, m in history] for lang in ("en", "zh-CN")}
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0011")
            old = conn.execute(
                text("SELECT reasons, reasons_zh, calendar, calendar_zh FROM alarms WHERE event_id = :e"), {"e": eid}
            ).one()
            details = list(conn.execute(text("SELECT detail FROM alarm_events ORDER BY id")).scalars())
        import json

        as_list = lambda v: json.loads(v) if isinstance(v, str) else v  # noqa: E731 - SQLite gives JSON as text
        assert as_list(old.reasons) == before["en"][0] and as_list(old.reasons_zh) == before["zh-CN"][0]
        assert (old.calendar, old.calendar_zh) == (before["en"][1], before["zh-CN"][1])
        assert details == said["en"]  # the old schema's history: English, as it was written then
        migrate(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            assert "reasons_zh" not in {c["name"] for c in inspect(conn).get_columns("alarms")}
        assert diff == [], diff
        with make() as s:
            alarm = s.query(Alarm).filter_by(event_id=eid).one()
            for lang in ("en", "zh-CN"):
                assert ([render(r, lang) for r in alarm.reasons], render(alarm.calendar, lang)) == before[lang]
            assert {r["code"] for r in alarm.reasons} == {"text.legacy"}
            events = s.query(AlarmEvent).filter_by(alarm_id=alarm.id).order_by(AlarmEvent.id).all()
            codes = [(e.action, e.message and e.message["code"]) for e in events]
            assert codes == [
                ("raised", "history.raised"),
                ("verdict", "history.verdict"),
                ("commented", None),
            ], codes
            assert events[-1].detail == "通知场所整改 / told the venue"
            assert render(events[1].message, "zh-CN").startswith("疑似违法：")
            assert render(events[1].message, "zh-CN") == said["zh-CN"][1]  # the Chinese reason found again
    finally:
        migrate(engine)
        engine.dispose()
