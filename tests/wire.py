"""Valid wire messages for tests and the ingest benchmark (the edge builds real ones in edge/alerts.py)."""

from __future__ import annotations

import time

from proto import humiao_v1_pb2 as pb
from proto.ids import uuid7
from proto.topics import topic  # noqa: F401 (tests build topics from here)

ORIGIN = ("d1", "venue1", "edge1")


def alert(event_id: str | None = None, origin=ORIGIN, age: float = 15.0, first_seen: float | None = None) -> tuple[str, bytes, str]:
    """(topic, payload, event id) of a valid CHECK_ID alert."""
    eid = event_id or str(uuid7())
    now = time.time()
    msg = pb.Alert(event_id=eid, origin=pb.Origin(district_id=origin[0], venue_id=origin[1], device_id=origin[2],
                                                  camera_id="cam0"),
                   track_id=7, age_estimate=age, p_minor=0.9, p_under_threshold=0.95, threshold=25.0,
                   decision=pb.DECISION_CHECK_ID, venue_type=pb.VENUE_TYPE_INTERNET_CAFE, frames_used=5,
                   models=[pb.ModelRef(id="cydral-age-v1", graph_sha256="0" * 64)], policy_version="test")
    msg.first_seen.FromNanoseconds(int((first_seen or now - 0.5) * 1e9))
    msg.decided_at.FromNanoseconds(int(now * 1e9))
    return topic(*origin, "alert"), msg.SerializeToString(), eid
