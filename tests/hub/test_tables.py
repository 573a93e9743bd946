"""The hub's schema: Alembic migrations build exactly what the models declare, on both backends;
the hub's configuration names the field that is wrong."""

from __future__ import annotations

from datetime import UTC

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from humiao.config import ConfigError, load_config
from humiao.hub.config import ENV_PREFIX, HubConfig
from humiao.hub.db import make_engine, migrate
from humiao.hub.tables import Base

pytestmark = pytest.mark.services


def test_migrations_match_the_models(db_url):
    engine = make_engine(db_url)
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == [], diff
    assert {"alerts", "dead_letters", "devices", "evidence", "evidence_requests", "id_checks"} <= tables


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    engine.dispose()


def test_hub_config_errors_name_the_field(tmp_path):
    bad = tmp_path / "hub.yaml"
    bad.write_text("database:\n  url: mysql://x\nmqtt:\n  share_group: 'a/b'\n")
    with pytest.raises(ConfigError) as err:
        load_config(HubConfig, bad, environ={}, prefix=ENV_PREFIX)
    assert "database.url" in str(err.value) and "mqtt.share_group" in str(err.value)
    cfg = load_config(
        HubConfig, None, environ={"HUMIAO_HUB__MQTT__PORT": "1999", "HUMIAO__POLICY__X": "1"}, prefix=ENV_PREFIX
    )
    assert cfg.mqtt.port == 1999  # the edge's HUMIAO__ variables are not the hub's


def test_idempotent_insert_round_trips_every_field(db_url):
    """The batch insert (unnest on PostgreSQL, executemany on SQLite) stores each id once, and
    what comes back is what went in: aware UTC times, JSON, floats, booleans."""
    from datetime import datetime

    from sqlalchemy import select

    from humiao.hub import store
    from humiao.hub.db import sessions
    from humiao.hub.tables import Alert
    from humiao.hub.validate import alert_row
    from humiao.proto import humiao_v1_pb2 as pb
    from humiao.proto.topics import parse

    from tests.support import wire

    engine = make_engine(db_url)
    migrate(engine)
    now = datetime(2026, 11, 23, 8, 30, 1, 250000, tzinfo=UTC)
    rows = []
    for _ in range(3):
        t, payload, _eid = wire.alert()
        msg = pb.Alert()
        msg.ParseFromString(payload)
        rows.append({**alert_row(msg, parse(t), now), "stored_at": now})
    with sessions(engine)() as s, s.begin():
        assert store.alerts(s, rows + rows[:1]) == {r["event_id"] for r in rows}  # a repeat inside the batch
    with sessions(engine)() as s, s.begin():
        assert store.alerts(s, rows[1:]) == set()  # all seen before: nothing inserted
    with sessions(engine)() as s:
        got = {a.event_id: a for a in s.scalars(select(Alert))}
    engine.dispose()
    assert set(got) == {r["event_id"] for r in rows}
    a, r = got[rows[0]["event_id"]], rows[0]
    assert a.received_at == now and a.first_seen == r["first_seen"] and a.first_seen.tzinfo is not None
    assert a.models == r["models"] and a.evidence_available is False and abs(a.p_minor - r["p_minor"]) < 1e-6


def test_device_availability_changes_only_when_it_flips(db_url):
    from datetime import datetime, timedelta

    from humiao.hub import store
    from humiao.hub.db import sessions
    from humiao.hub.tables import Device

    engine = make_engine(db_url)
    migrate(engine)
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    with sessions(engine)() as s, s.begin():
        store.touch_device(s, "d", "v", "e", seen=t0, online=True, status_sent_at=t0, availability_changed=t0)
    with sessions(engine)() as s, s.begin():  # a heartbeat: still online
        t1 = t0 + timedelta(seconds=10)
        store.touch_device(s, "d", "v", "e", seen=t1, online=True, status_sent_at=t1, availability_changed=t1)
    with sessions(engine)() as s, s.begin():  # an older status arriving late changes nothing
        store.touch_device(
            s, "d", "v", "e", seen=t0, online=False, status_sent_at=t0 - timedelta(seconds=5), availability_changed=t0
        )
    with sessions(engine)() as s:
        d = s.get(Device, "d/v/e")
        assert d.online and d.availability_changed == t0 and d.last_seen == t1
    with sessions(engine)() as s, s.begin():  # the Last Will
        t2 = t1 + timedelta(seconds=30)
        store.touch_device(s, "d", "v", "e", seen=t2, online=False, status_sent_at=t2, availability_changed=t2)
    with sessions(engine)() as s:
        d = s.get(Device, "d/v/e")
        assert not d.online and d.availability_changed == t2
    engine.dispose()


def test_hub_run_says_when_the_database_is_unreachable(tmp_path):
    import os
    import subprocess
    import sys

    from tests.support.mosquitto import free_port

    env = {
        **os.environ,
        "HUMIAO_HUB__DATABASE__URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x",
        "HUMIAO_HUB__DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "humiao.cli", "hub", "run"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2 and "cannot use the hub database" in done.stderr and "Traceback" not in done.stderr


def test_migration_0010_keeps_old_checks_and_takes_walk_ups(db_url):
    """Upgrade: a check stored under 0009 keeps its fields and takes the defaults (what its signed body
    said: nothing of the new fields); walk-ups (no alert) can be stored after. Downgrade: the walk-ups
    go (the old schema has every check answer an alert), the other checks stay. Both backends."""
    from datetime import datetime

    from alembic import command
    from sqlalchemy import text

    from humiao.hub.db import alembic_config, sessions

    from tests.hub.outcomes import add_check

    engine = make_engine(db_url)
    migrate(engine)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    old_columns = {"check_id", "event_id", "result", "age_years", "under_14", "id_keyed_hash", "checksum_valid"}
    new_columns = {"age_known", "document", "method", "walk_up", "guardian_contact_recorded"}
    new_columns |= {"co_occupants_recorded", "staff", "alerted_at"}
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009")
        with engine.begin() as conn:
            columns = {c["name"]: c for c in inspect(conn).get_columns("id_checks")}
            assert old_columns <= set(columns) and not new_columns & set(columns)
            assert columns["event_id"]["nullable"] is False
            conn.execute(
                text(
                    "INSERT INTO id_checks (check_id, event_id, district_id, venue_id, device_id, checked_at, "
                    "received_at, result, age_years, under_14, id_keyed_hash, checksum_valid) VALUES ('c-old', "
                    "'e-old', 'd1', 'v1', 'edge1', :t, :t, 'minor_refused', 16, :no, '', :no)"
                ),
                {"t": datetime(2026, 11, 20, 8, 0), "no": False},
            )
        migrate(engine)
        with engine.connect() as conn:
            columns = {c["name"]: c for c in inspect(conn).get_columns("id_checks")}
            indexes = {i["name"] for i in inspect(conn).get_indexes("id_checks")}
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert new_columns <= set(columns) and columns["event_id"]["nullable"] is True
        assert {"ix_id_checks_event_id", "ix_id_checks_venue_checked"} <= indexes and diff == []
        from humiao.hub.tables import IdCheck

        make = sessions(engine)
        with make() as s:
            old = s.query(IdCheck).filter_by(check_id="c-old").one()
            assert (old.result, old.age_years, old.event_id) == ("minor_refused", 16, "e-old")
            assert (old.age_known, old.document, old.method, old.walk_up, old.staff, old.alerted_at) == (
                False,
                "",
                "",
                False,
                "",
                None,
            )
            assert not old.guardian_contact_recorded and not old.co_occupants_recorded
        with make() as s, s.begin():
            walk_up = add_check(s, ("d1", "v1", "edge1"), None, "adult_admitted", datetime.now(UTC))
            kept = add_check(s, ("d1", "v1", "edge1"), "e-old", "adult_admitted", datetime.now(UTC))
        with make() as s:
            assert s.query(IdCheck).filter_by(check_id=walk_up).one().event_id is None
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009")
            left = set(conn.execute(text("SELECT check_id FROM id_checks")).scalars())
        assert left == {"c-old", kept}
    finally:
        migrate(engine)  # back to the newest revision for the tests after this one
        engine.dispose()
