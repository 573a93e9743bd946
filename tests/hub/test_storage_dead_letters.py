"""Dead letters are kept for ``ingest.dead_letter_keep_days`` and at most
``ingest.dead_letter_max_rows`` of them (the oldest go first), purged by the hub's purge loop."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from humiao.hub import store
from humiao.hub.app import Hub
from humiao.hub.config import HubConfig, IngestConfig
from humiao.hub.db import make_engine, migrate, sessions
from humiao.hub.tables import DeadLetter


def _letters(ages_days: list[float], now: datetime) -> list[dict]:
    return [
        {
            "received_at": now - timedelta(days=age),
            "topic": f"t{i}",
            "reason": "invalid",
            "detail": "d",
            "size": 1,
            "payload_head": b"x",
        }
        for i, age in enumerate(ages_days)
    ]


def _topics(s) -> list[str]:
    return list(s.scalars(select(DeadLetter.topic).order_by(DeadLetter.id)))


def test_defaults():
    cfg = IngestConfig()
    assert cfg.dead_letter_keep_days == 30 and cfg.dead_letter_max_rows == 100_000


@pytest.mark.services
def test_old_dead_letters_go_and_the_newest_are_kept_up_to_the_cap(db_url):
    engine = make_engine(db_url)
    migrate(engine)
    make = sessions(engine)
    now = datetime.now(UTC)
    with make() as s, s.begin():
        store.dead_letters(s, _letters([40, 31, 29, 5, 1], now))  # t0, t1 are past 30 days
    with make() as s, s.begin():
        assert store.purge_dead_letters(s, now - timedelta(days=30), keep_rows=1000) == 2
        assert _topics(s) == ["t2", "t3", "t4"]
    with make() as s, s.begin():
        assert store.purge_dead_letters(s, now - timedelta(days=30), keep_rows=2) == 1  # t2, the oldest
        assert _topics(s) == ["t3", "t4"]
    with make() as s, s.begin():
        assert store.purge_dead_letters(s, now - timedelta(days=30), keep_rows=2) == 0
    engine.dispose()


def test_the_hub_purge_loop_purges_dead_letters(tmp_path):
    cfg = HubConfig(
        data_dir=tmp_path / "hub",
        ingest={"dead_letter_keep_days": 7, "dead_letter_max_rows": 2},
        evidence={"purge_interval_s": 0.05},
    )
    hub = Hub(cfg)
    now = datetime.now(UTC)
    try:
        with hub.sessions() as s, s.begin():
            store.dead_letters(s, _letters([10, 8, 3, 2, 1], now))
        hub._purger.start()
        deadline = time.time() + 10
        while time.time() < deadline:
            with hub.sessions() as s:
                if _topics(s) == ["t3", "t4"]:
                    break
            time.sleep(0.05)
        with hub.sessions() as s:
            assert _topics(s) == ["t3", "t4"]  # t0, t1 too old; t2 over the cap of 2
    finally:
        hub._stop.set()
        hub._purger.join(5)
        hub.engine.dispose()
