"""The detection-rate gate (edge/rate.py): a camera at the detection rate has every frame taken, jitter or not;
a faster camera is held to the rate on average; after a pause, no burst."""

from __future__ import annotations

import random

import pytest

from humiao.edge.rate import RateGate


def taken(gate: RateGate, stamps) -> list[float]:
    out = []
    for t in stamps:
        if gate.due_now(t):
            gate.taken(t)
            out.append(t)
    return out


def test_a_camera_at_the_detection_rate_has_every_frame_taken_despite_jitter():
    rng = random.Random(5)
    stamps = [i * 0.1 + rng.uniform(-0.01, 0.01) for i in range(600)]  # 10 fps, ±10 ms
    assert len(taken(RateGate(10.0), stamps)) == 600  # a strict gate took about two in three


@pytest.mark.parametrize(("camera_fps", "detect_fps"), [(25, 10), (12, 10), (30, 5), (10, 5), (15, 10)])
def test_a_faster_camera_is_held_to_the_rate_on_average(camera_fps, detect_fps):
    stamps = [i / camera_fps for i in range(camera_fps * 60)]  # a minute
    n = len(taken(RateGate(detect_fps), stamps))
    assert detect_fps * 60 * 0.97 <= n <= detect_fps * 60 + 2, n


def test_after_a_pause_no_burst():
    gate = RateGate(10.0)
    taken(gate, [i * 0.04 for i in range(25)])  # a second of a 25 fps camera
    later = taken(gate, [30 + i * 0.04 for i in range(25)])  # half a minute later (nothing moved meanwhile)
    assert later[0] == 30 and 9 <= len(later) <= 11
