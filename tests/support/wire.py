"""Valid wire messages for tests (the builder is shared with the load benchmarks: tests.support.services)."""

from __future__ import annotations

from humiao.proto.topics import topic  # noqa: F401 (tests build topics from here)

from tests.support.services import sample_alert

ORIGIN = ("d1", "venue1", "edge1")


def alert(
    event_id: str | None = None, origin=ORIGIN, age: float = 15.0, first_seen: float | None = None
) -> tuple[str, bytes, str]:
    """(topic, payload, event id) of a valid CHECK_ID alert."""
    return sample_alert(origin, event_id, age, first_seen)
