"""The hub as its own process for tests (kill -9 and start again), and what it stored."""

from __future__ import annotations

import time

from sqlalchemy import create_engine, select

from humiao.hub.tables import Alert

from tests.support.services import ROOT, HubProcess, hub_config  # noqa: F401


def stored_ids(db_url: str) -> list[str]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(Alert.event_id)).scalars())
    finally:
        engine.dispose()


def wait_for(predicate, timeout: float, step: float = 0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()
