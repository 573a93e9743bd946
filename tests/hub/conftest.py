"""Fixtures for the hub's tests."""

from __future__ import annotations

import pytest

from humiao.hub.db import make_engine, migrate, sessions


@pytest.fixture
def db(db_url):
    """A session factory on a migrated hub database (SQLite and PostgreSQL, see ``db_url``)."""
    engine = make_engine(db_url)
    migrate(engine)
    yield sessions(engine)
    engine.dispose()
