"""Statuses do not hold up alerts at the hub's ingest (hub/ingest.py): only the latest status per device waits,
the one it replaces is acknowledged at once, and a batch takes everything else before statuses. The ingest is
fed as paho feeds it (its on_message callback, with manual acknowledgement); the real broker paths are in
test_ingest.py and benchmarks.fleet_load."""

from __future__ import annotations

from types import SimpleNamespace

from tests.support.hubapi import make_hub


class Acks:
    """paho's client as far as on_message uses it: the acknowledgements it sends."""

    def __init__(self):
        self.sent: list[tuple[int, int]] = []

    def ack(self, mid: int, qos: int) -> None:
        self.sent.append((mid, qos))


def msg(device: str, kind: str, mid: int, retain: bool = False):
    return SimpleNamespace(topic=f"humiao/v1/d1/v1/{device}/{kind}", payload=b"x", mid=mid, qos=1, retain=retain)


def test_the_latest_status_per_device_waits_and_alerts_go_first(tmp_path):
    hub = make_hub(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", ingest={"batch_max": 3, "batch_wait_ms": 0})
    try:
        ingest, client = hub.ingestor, Acks()
        for m in (
            msg("e1", "status", 1, retain=True),  # e1's retained status, at the (re)subscription
            msg("e2", "status", 2, retain=True),
            msg("e1", "alert", 3),
            msg("e1", "status", 4),  # e1's next status: replaces 1, which is acknowledged unwritten
            msg("e3", "status", 5),
            msg("e2", "status", 6),  # replaces 2
            msg("e2", "idcheck", 7),
            msg("e1", "status", 8),  # replaces 4
        ):
            ingest._on_message(client, None, m)
        assert client.sent == [(1, 1), (2, 1), (4, 1)]
        assert ingest.waiting() == 5  # the alert, the ID check, one status each for e1, e2, e3
        assert hub.ingestor.metrics.statuses_replaced._value.get() == 3
        # the alert and the ID check first; then statuses in the order their devices first waited
        assert [i.mid for i in ingest._take_batch()] == [3, 7, 8]
        assert [i.mid for i in ingest._take_batch()] == [6, 5]
        assert ingest._take_batch() == [] and ingest.waiting() == 0
    finally:
        hub.engine.dispose()
