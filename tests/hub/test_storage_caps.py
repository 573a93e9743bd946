"""Repeated fields are capped: a status with more than 64 cameras, an alert or a birth with more
than 16 model refs, is a dead letter with a clear reason, and nothing of it is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from humiao.hub import validate
from humiao.hub.tables import Alert, DeadLetter, Device
from humiao.hub.validate import Rejected, alert_row, check_device_message
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.topics import parse

from tests.support import wire


def _status(cameras: int, camera_id: str = "cam{}") -> pb.Status:
    msg = pb.Status(
        origin=pb.Origin(district_id=wire.ORIGIN[0], venue_id=wire.ORIGIN[1], device_id=wire.ORIGIN[2]),
        online=True,
        cameras=[pb.CameraStatus(camera_id=camera_id.format(i)) for i in range(cameras)],
    )
    msg.sent_at.GetCurrentTime()
    return msg


def _alert(models: int, model_id: str = "m{}") -> tuple[str, pb.Alert]:
    t, payload, _ = wire.alert()
    msg = pb.Alert.FromString(payload)
    del msg.models[:]
    msg.models.extend(pb.ModelRef(id=model_id.format(i), graph_sha256="a" * 64) for i in range(models))
    return t, msg


STATUS_TOPIC = wire.topic(*wire.ORIGIN, "status")
MAX_CAMERAS, MAX_MODELS = 64, 16


def test_the_caps():
    assert (validate.MAX_CAMERAS, validate.MAX_MODELS) == (MAX_CAMERAS, MAX_MODELS)


def test_a_status_with_too_many_cameras_is_rejected():
    check_device_message(_status(MAX_CAMERAS), parse(STATUS_TOPIC))
    with pytest.raises(Rejected, match=r"status has 65 cameras, at most 64") as err:
        check_device_message(_status(MAX_CAMERAS + 1), parse(STATUS_TOPIC))
    assert err.value.reason == "invalid"
    with pytest.raises(Rejected, match=r"cameras\[0\]\.camera_id is 65 characters, at most 64"):
        check_device_message(_status(1, "c" * 65), parse(STATUS_TOPIC))


def test_an_alert_or_birth_with_too_many_models_is_rejected():
    now = datetime.now(UTC)
    t, msg = _alert(MAX_MODELS)
    assert len(alert_row(msg, parse(t), now)["models"]) == MAX_MODELS
    t, msg = _alert(MAX_MODELS + 1)
    with pytest.raises(Rejected, match=r"alert has 17 models, at most 16") as err:
        alert_row(msg, parse(t), now)
    assert err.value.reason == "invalid"
    t, msg = _alert(1, "m" * 65)
    with pytest.raises(Rejected, match=r"models\[0\]\.id is 65 characters, at most 64"):
        alert_row(msg, parse(t), now)
    birth = pb.Birth(
        origin=pb.Origin(district_id=wire.ORIGIN[0], venue_id=wire.ORIGIN[1], device_id=wire.ORIGIN[2]),
        models=[pb.ModelRef(id=f"m{i}") for i in range(MAX_MODELS + 1)],
    )
    with pytest.raises(Rejected, match=r"birth has 17 models, at most 16"):
        check_device_message(birth, parse(wire.topic(*wire.ORIGIN, "birth")))


def test_through_ingest_they_become_dead_letters_and_nothing_is_stored(ingest):
    t, alert = _alert(MAX_MODELS + 1)
    ingest.feed(ingest.signed("status", _status(10_000)), ingest.signed("alert", alert, alert.event_id))
    with ingest.sessions() as s:
        details = sorted(s.scalars(select(DeadLetter.detail)))
        assert details == ["alert has 17 models, at most 16", "status has 10000 cameras, at most 64"]
        assert s.scalar(select(func.count()).select_from(Alert)) == 0
        assert s.scalar(select(func.count()).select_from(Device)) == 0


def test_values_the_schema_does_not_know_become_dead_letters_and_ingest_goes_on(ingest):
    """An unknown enum number or a time beyond the calendar once raised a plain error that the write
    loop took for a database outage: the batch was retried forever and nothing else was stored."""
    _, bad_type = _alert(1)
    bad_type.venue_type = 99
    _, bad_time = _alert(1)
    bad_time.decided_at.seconds = 10**13  # year ~318,000
    _, good = _alert(1)
    ingest.feed(*(ingest.signed("alert", m, m.event_id) for m in (bad_type, bad_time, good)))
    with ingest.sessions() as s:
        details = sorted(s.scalars(select(DeadLetter.detail)))
        assert (
            details[0].startswith("decided_at is not a valid time")
            and details[1] == "venue_type 99 is not a known value"
        )
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
