"""The audit log is a hash chain: an altered, removed or slipped-in row is named by `audit.verify`
(and `humiao hub audit verify`), on SQLite and PostgreSQL; concurrent writers never fork it; rows
written before the chain existed are chained by the migration."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import text

from humiao.hub import audit
from humiao.hub.access import Principal
from humiao.hub.db import alembic_config, make_engine, migrate, sessions
from humiao.hub.tables import AuditEvent

from tests.support.services import ROOT

pytestmark = pytest.mark.services

WHO = Principal("ct-1", "culture_tourism", "d1")


@pytest.fixture
def db(db_url):
    engine = make_engine(db_url)
    migrate(engine)
    yield engine, sessions(engine)
    engine.dispose()


def _write(make, n: int, start: int = 0) -> list[int]:
    ids = []
    with make() as s:
        for i in range(start, start + n):
            ids.append(audit.record(s, WHO, "evidence.view", "evidence", f"event-{i}", f"why {i}", "127.0.0.1").id)
        s.commit()
    return ids


def _tamper(engine, *statements: str) -> None:
    """What a database administrator could do: lift the append-only trigger and change rows."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if pg:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        for sql in statements:
            conn.execute(text(sql))
        if pg:  # the PostgreSQL server outlives this test (only its rows are emptied): its next tests need the trigger
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))


def _verify(make) -> audit.Verdict:
    with make() as s:
        return audit.verify(s)


def test_rows_are_chained_and_an_intact_log_verifies(db):
    _engine, make = db
    ids = _write(make, 5)
    with make() as s:
        rows = s.query(AuditEvent).order_by(AuditEvent.id).all()
    assert rows[0].prev_hash == audit.GENESIS
    for before, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == before.row_hash and len(row.row_hash) == 64
    verdict = _verify(make)
    assert verdict.ok and verdict.rows == 5 and verdict.head_id == ids[-1] and verdict.head_hash == rows[-1].row_hash


def test_an_altered_row_is_named(db):
    engine, make = db
    ids = _write(make, 5)
    _tamper(engine, f"UPDATE audit_events SET why = 'nothing to see' WHERE id = {ids[2]}")
    verdict = _verify(make)
    assert not verdict.ok and verdict.problem.startswith(f"row {ids[2]} was altered")


def test_a_removed_row_is_found_between_its_neighbours(db):
    engine, make = db
    ids = _write(make, 5)
    _tamper(engine, f"DELETE FROM audit_events WHERE id = {ids[2]}")
    verdict = _verify(make)
    assert not verdict.ok and f"between row {ids[1]} and row {ids[3]}" in verdict.problem


def test_a_row_slipped_in_with_a_consistent_hash_is_named(db):
    engine, make = db
    ids = _write(make, 3)
    with make() as s:
        first = s.get(AuditEvent, ids[0])
        forged = AuditEvent(
            at=first.at,
            user_id="x",
            role="admin",
            action="evidence.view",
            object_type="evidence",
            object_id="forged",
            why="",
            client="",
            prev_hash=first.row_hash,
        )
        forged.row_hash = audit.digest(first.row_hash, forged)
    slipped = ids[-1] + 100
    _tamper(
        engine,
        "INSERT INTO audit_events (id, at, user_id, role, action, object_type, object_id, why, client, prev_hash, "
        f"row_hash) SELECT {slipped}, at, 'x', 'admin', 'evidence.view', 'evidence', 'forged', '', '', "
        f"'{forged.prev_hash}', '{forged.row_hash}' FROM audit_events WHERE id = {ids[0]}",
    )
    # the forged row sorts last by id, after the newest row, but claims to follow the first one
    verdict = _verify(make)
    assert not verdict.ok and f"forks after row {ids[0]}: row {slipped} follows it" in verdict.problem


def test_a_row_whose_fields_cannot_be_read_is_named_not_a_crash(db):
    engine, make = db
    ids = _write(make, 3)
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's typed columns cannot hold an unreadable time")
    _tamper(engine, f"UPDATE audit_events SET at = 'garbage' WHERE id = {ids[1]}")
    verdict = _verify(make)
    assert not verdict.ok and verdict.problem == f"row {ids[1]} was altered: its stored fields cannot be read"


def test_concurrent_writers_extend_one_chain(db):
    _engine, make = db
    errors = []

    def writer(k: int) -> None:
        for i in range(10):
            try:
                _write(make, 1, start=k * 100 + i)
            except Exception as err:  # SQLite may refuse a writer whose snapshot went stale: never a fork
                errors.append(err)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = _verify(make)
    assert verdict.ok, verdict.problem
    assert verdict.rows + len(errors) == 40 and verdict.rows >= 30


def test_rows_from_before_the_chain_are_chained_by_the_migration(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        for i in range(3):
            conn.execute(
                text(
                    "INSERT INTO audit_events (at, user_id, role, action, object_type, object_id, why, client) "
                    f"VALUES ('2026-11-0{i + 1} 08:00:00.000001', 'ct-1', 'culture_tourism', 'evidence.view', "
                    f"'evidence', 'e{i}', 'why', '127.0.0.1')"
                )
            )
    migrate(engine)
    make = sessions(engine)
    verdict = _verify(make)
    assert verdict.ok and verdict.rows == 3
    _write(make, 1)
    assert _verify(make).rows == 4 and _verify(make).ok
    with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("DELETE FROM audit_events"))  # the triggers are back
    engine.dispose()


def test_the_cli_verifies_and_catches_rows_removed_from_the_end(tmp_path):
    db = tmp_path / "hub.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    make = sessions(engine)
    _write(make, 3)
    env_args = ["--config", str(tmp_path / "hub.yaml")]
    (tmp_path / "hub.yaml").write_text(f"data_dir: {tmp_path}\n")

    def cli(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "humiao.cli", "hub", "audit", "verify", *env_args, *extra],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    ok = cli()
    assert ok.returncode == 0 and "audit log intact: 3 rows" in ok.stdout, ok.stderr
    verdict = _verify(make)
    head = f"{verdict.head_id}:{verdict.head_hash}"
    assert f"head {head}" in ok.stdout
    _write(make, 2, start=10)  # the log grows as the hub runs: the recorded head still holds
    grown = cli("--expect-head", head)
    assert grown.returncode == 0 and "audit log intact: 5 rows" in grown.stdout, grown.stderr
    _tamper(engine, "DELETE FROM audit_events WHERE id >= " + str(verdict.head_id))  # cut from the end
    shorter = cli("--expect-head", head)
    assert shorter.returncode == 1 and "rows were removed from the end" in shorter.stderr
    assert cli("--expect-head", "not-a-head").returncode == 1
    _tamper(engine, "UPDATE audit_events SET object_id = 'other' WHERE id = (SELECT min(id) FROM audit_events)")
    broken = cli()
    assert broken.returncode == 1 and "TAMPERED" in broken.stderr and "was altered" in broken.stderr
    engine.dispose()
