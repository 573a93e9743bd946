"""The hub's schema: Alembic migrations build exactly what the models declare, on both backends;
the hub's configuration names the field that is wrong."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hub.config import ENV_PREFIX, HubConfig
from hub.db import make_engine, migrate
from hub.models import Base
from humiao.config import ConfigError, load_config

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
    cfg = load_config(HubConfig, None, environ={"HUMIAO_HUB__MQTT__PORT": "1999", "HUMIAO__POLICY__X": "1"},
                      prefix=ENV_PREFIX)
    assert cfg.mqtt.port == 1999  # the edge's HUMIAO__ variables are not the hub's
