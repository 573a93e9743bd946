"""Wire protocol: generated code is reproducible, topics are strict, payloads decode or fail clearly."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.generate import HERE, generate
from humiao.proto.ids import uuid7, uuid7_ms
from humiao.proto.jsonmap import render
from humiao.proto.topics import MAX_PAYLOAD, PayloadError, TopicError, decode, parse, subscription, topic


def test_checked_in_generated_code_matches_a_fresh_generation(tmp_path):
    pytest.importorskip("grpc_tools")
    for fresh in generate(tmp_path):
        checked_in = HERE / fresh.name
        assert checked_in.read_text() == fresh.read_text(), (
            f"{fresh.name} is stale: run `python -m humiao.proto.generate`"
        )


def _alert() -> pb.Alert:
    ts = Timestamp()
    ts.FromMilliseconds(1_790_000_000_000)
    return pb.Alert(
        event_id=str(uuid7()),
        origin=pb.Origin(district_id="xuhui", venue_id="v-001", device_id="cam-box-1"),
        track_id=7,
        first_seen=ts,
        decided_at=ts,
        age_estimate=15.5,
        p_minor=0.8,
        p_under_threshold=0.97,
        threshold=25,
        decision=pb.DECISION_CHECK_ID,
        venue_type=pb.VENUE_TYPE_INTERNET_CAFE,
        frames_used=9,
        models=[pb.ModelRef(id="cydral-age-v1", graph_sha256="d8cc" * 16)],
    )


def test_alert_round_trips_and_carries_no_pixels():
    a = _alert()
    name = topic("xuhui", "v-001", "cam-box-1", "alert")
    where, back = decode(name, a.SerializeToString())
    assert where.kind == "alert" and back == a
    assert all(f.type != f.TYPE_BYTES for f in pb.Alert.DESCRIPTOR.fields)  # nothing that could hold an image


def test_topics_are_strict():
    assert topic("d1", "v1", "dev1", "status") == "humiao/v1/d1/v1/dev1/status"
    assert parse("humiao/v1/d1/v1/dev1/alert").device == "dev1"
    for bad in (
        "humiao/v2/d/v/x/alert",
        "humiao/v1/d/v/x/selfie",
        "humiao/v1/d/v/alert",
        "other/v1/d/v/x/alert",
        "humiao/v1/D!/v/x/alert",
    ):
        with pytest.raises(TopicError):
            parse(bad)
    with pytest.raises(TopicError, match="topic-safe"):
        topic("a/b", "v", "d", "alert")
    with pytest.raises(TopicError, match="topic-safe"):
        topic("d", "+", "d", "alert")
    with pytest.raises(TopicError, match="topic-safe"):
        topic("d1\n", "v", "d", "alert")  # Python's $ would let a final newline through
    with pytest.raises(TopicError):
        parse("humiao/v1/d1\n/v/x/alert")
    assert subscription("alert", share_group="hub") == "$share/hub/humiao/v1/+/+/+/alert"


def test_malformed_truncated_and_oversized_payloads_fail_clearly():
    name = topic("d", "v", "x", "alert")
    good = _alert().SerializeToString()
    with pytest.raises(PayloadError, match="not a valid Alert"):
        decode(name, good[:-5])
    with pytest.raises(PayloadError, match="not a valid Alert"):
        decode(name, b"\xff\xff\xff\xff garbage")
    with pytest.raises(PayloadError, match="exceeds"):
        decode(name, b"\x00" * (MAX_PAYLOAD + 1))


def test_json_mapping_for_debugging(tmp_path):
    from humiao.proto.signing import Signer

    signer = Signer.generate(tmp_path / "k")
    name = topic("d", "v", "x", "alert")
    alert = _alert()
    line = json.loads(render(name, signer.sign(name, alert.event_id, alert.SerializeToString(), at=1.5e9)))
    assert line["kind"] == "alert" and line["message"]["decision"] == "DECISION_CHECK_ID"
    assert line["message"]["origin"]["venue_id"] == "v-001"
    assert line["id"] == alert.event_id and line["key_id"] == signer.key_id
    assert line["signed_at"] == "2017-07-14T02:40:00.000+00:00"
    bad = json.loads(render(name, signer.sign(name, "x", b"\xff\xff")))
    assert "not a valid Alert" in bad["error"]
    unsigned = json.loads(render(name, alert.SerializeToString()))
    assert "not a signed message" in unsigned["error"]


def test_uuid7_is_version_7_time_ordered_and_unique():
    before = int(time.time() * 1000)
    ids = [uuid7() for _ in range(5000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert ids == sorted(ids, key=lambda u: u.int) and len(set(ids)) == len(ids)
    assert before <= uuid7_ms(ids[0]) <= int(time.time() * 1000) + 2
    with pytest.raises(ValueError):
        uuid7_ms(uuid.uuid4())
