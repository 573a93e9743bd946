"""A purge round that fails is counted (``humiao_hub_purge_failures_total{what}``), so the alert
``HumiaoEvidencePurgeFailing`` (deploy/prometheus/humiao.rules.yml) can say so; a round that works
leaves the count alone."""

from __future__ import annotations

import re
import time

from prometheus_client import generate_latest

from humiao.hub import evidence, store
from humiao.hub.app import Hub
from humiao.hub.config import HubConfig


def _failures(hub: Hub) -> dict[str, float]:
    text = generate_latest(hub.registry).decode()
    return {
        m[1]: float(m[2]) for m in re.finditer(r'^humiao_hub_purge_failures_total\{what="(\w+)"\} (\S+)$', text, re.M)
    }


def _run_purger(hub: Hub, until) -> None:
    hub._purger.start()
    deadline = time.time() + 10
    while time.time() < deadline and not until():
        time.sleep(0.02)


def test_purge_failures_are_counted_by_what_failed(tmp_path, monkeypatch):
    hub = Hub(HubConfig(data_dir=tmp_path / "hub", evidence={"purge_interval_s": 0.02}))
    try:
        assert _failures(hub) == {"evidence": 0.0, "dead_letters": 0.0}  # exported from the start

        def broken(*_a, **_k):
            raise RuntimeError("disk gone")

        monkeypatch.setattr(evidence, "purge_expired", broken)
        _run_purger(hub, lambda: _failures(hub)["evidence"] >= 2)
        got = _failures(hub)
        assert got["evidence"] >= 2  # one per round, the loop keeps going
        assert got["dead_letters"] == 0  # the dead-letter purge still works
    finally:
        hub._stop.set()
        hub._purger.join(5)
        hub.engine.dispose()


def test_a_failing_dead_letter_purge_is_counted_apart(tmp_path, monkeypatch):
    hub = Hub(HubConfig(data_dir=tmp_path / "hub", evidence={"purge_interval_s": 0.02}))
    try:

        def broken(*_a, **_k):
            raise RuntimeError("database locked")

        monkeypatch.setattr(store, "purge_dead_letters", broken)
        _run_purger(hub, lambda: _failures(hub)["dead_letters"] >= 1)
        got = _failures(hub)
        assert got["dead_letters"] >= 1 and got["evidence"] == 0
    finally:
        hub._stop.set()
        hub._purger.join(5)
        hub.engine.dispose()
