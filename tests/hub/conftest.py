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


class Ingest:
    """A hub's ingest without a broker, on SQLite, with one device enrolled (``device``): tests hand
    it messages as the broker would (``feed``) and read what was stored."""

    def __init__(self, tmp_path):
        from humiao.hub.config import HubConfig
        from humiao.hub.ingest import Ingestor

        from tests.support.devices import enroll_device

        self.cfg = HubConfig(data_dir=tmp_path / "hub")
        self.device = enroll_device(self.cfg, None)
        self.engine = make_engine(self.cfg.database_url())
        self.sessions = sessions(self.engine)
        from humiao.proto import sealed

        self.ingestor = Ingestor(self.cfg, self.sessions, private_key=sealed.load_private(self.cfg.private_key_path()))
        self._mid = 0

    def feed(self, *messages: tuple[str, bytes], retain: bool = False) -> None:
        """Commit these (topic, payload) as one batch."""
        from datetime import UTC, datetime

        from humiao.hub.ingest import Incoming

        items = []
        for t, payload in messages:
            self._mid += 1
            items.append(Incoming(t, payload, self._mid, 0, retain, datetime.now(UTC)))
        self.ingestor._commit(items)

    def signed(self, kind: str, message, message_id: str | None = None, at: float | None = None) -> tuple[str, bytes]:
        t = self.device.topic(kind)
        return t, self.device.sign(t, message.SerializeToString(), message_id, at)


@pytest.fixture
def ingest(tmp_path):
    i = Ingest(tmp_path)
    yield i
    i.engine.dispose()
