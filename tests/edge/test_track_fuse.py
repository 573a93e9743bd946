"""Tracking, quality, fusion and calibration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from humiao.edge.calibration import AgeCalibration, fit, reliability
from humiao.edge.fuse import fuse
from humiao.edge.quality import QualityConfig, assess, yaw_of
from humiao.edge.track import Tracker, TrackerConfig
from humiao.edge.types import Detection


def det(x, y, s=60, score=0.9):
    box = np.array([x, y, x + s, y + s], np.float32)
    kp = np.array(
        [
            [x + 0.3 * s, y + 0.4 * s],
            [x + 0.7 * s, y + 0.4 * s],
            [x + 0.5 * s, y + 0.6 * s],
            [x + 0.5 * s, y + 0.8 * s],
            [x, y + 0.5 * s],
            [x + s, y + 0.5 * s],
        ],
        np.float32,
    )
    return Detection(box, score, kp)


def test_walking_person_keeps_one_id_and_two_people_get_two():
    tr = Tracker(TrackerConfig(max_gap_s=0.5))
    ids = set()
    for k in range(20):
        pairs, _ = tr.update([det(100 + 15 * k, 100), det(900 - 15 * k, 120)], k * 0.1)
        ids |= {t.track_id for t, _ in pairs}
    assert len(ids) == 2


def test_weak_detection_continues_a_track_but_cannot_start_one():
    tr = Tracker(TrackerConfig(high_score=0.6))
    ((t1, _),) = tr.update([det(100, 100)], 0.0)[0]
    pairs, _ = tr.update([det(105, 100, score=0.4)], 0.1)
    assert [t.track_id for t, _ in pairs] == [t1.track_id]
    pairs, _ = tr.update([det(600, 100, score=0.4)], 0.2)
    assert pairs == []


def test_track_ends_after_gap_and_a_returning_face_is_a_new_visit():
    tr = Tracker(TrackerConfig(max_gap_s=1.0))
    ((t1, _),) = tr.update([det(100, 100)], 0.0)[0]
    _, ended = tr.update([], 0.5)
    assert ended == []
    _, ended = tr.update([], 1.2)
    assert [t.track_id for t in ended] == [t1.track_id] and ended[0].finished
    ((t2, _),) = tr.update([det(100, 100)], 1.3)[0]
    assert t2.track_id != t1.track_id


def test_quality_prefers_large_sharp_frontal_faces():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    flat = np.full((64, 64, 3), 128, np.uint8)
    cfg = QualityConfig()
    big = assess(det(0, 0, 120), sharp, cfg)
    small = assess(det(0, 0, 12), sharp, cfg)
    blurry = assess(det(0, 0, 120), flat, cfg)
    assert big.weight > small.weight and big.weight > blurry.weight
    turned = det(0, 0, 120)
    turned.keypoints[2, 0] += 40  # nose far to one side: a turned head
    assert abs(yaw_of(turned.keypoints)) > 0.5
    assert assess(turned, sharp, cfg).weight < big.weight


def test_fusion_weights_frames_by_quality():
    young, old = np.zeros(81), np.zeros(81)
    young[15], old[40] = 1, 1
    probs = np.stack([young, old])
    assert fuse(probs, np.array([1.0, 0.0]), "quality").age == pytest.approx(15, abs=0.1)
    assert fuse(probs, np.array([1.0, 0.0]), "mean").age == pytest.approx(27.5)
    assert fuse(probs, np.array([0.2, 0.9]), "best").age == pytest.approx(40)
    with pytest.raises(ValueError):
        fuse(np.zeros((0, 81)), np.zeros(0))


def test_shipped_calibration_is_sane():
    cal = AgeCalibration.load()
    assert 0 < cal.operating_p_minor < 1
    p = [cal.p_under(e, 18) for e in (8, 14, 18, 25, 40)]
    assert all(a > b for a, b in itertools.pairwise(p)), p  # older-looking → less likely a minor
    assert cal.p_under(8, 18) > 0.9 and cal.p_under(45, 18) < 0.05
    assert cal.p_under(20, 25) > cal.p_under(20, 18)  # monotone in the threshold
    assert 25 < cal.age(30.0) < 35


def test_fit_recovers_a_known_error_model_and_is_calibrated():
    rng = np.random.default_rng(3)
    true = rng.uniform(3, 70, 6000)
    # an estimator that pulls ages towards 30 and is noisier for children
    noise = rng.normal(0, 1, true.size) * np.where(true < 18, 0.25, 0.12)
    est = np.expm1(np.log1p(30) + 0.7 * (np.log1p(true + 0.5) - np.log1p(30)) + noise)
    cal = fit(est[:3000], true[:3000])
    for age in (10, 30, 50):
        expected_mu = np.log1p(30) + 0.7 * (np.log1p(age + 0.5) - np.log1p(30))
        assert cal.mu[age] == pytest.approx(expected_mu, abs=0.05)
    assert cal.sigma[10] > cal.sigma[40]
    p = cal.p_under(est[3000:], 18)
    assert reliability(p, true[3000:] < 18)["ece"] < 0.03
    assert abs(np.median(cal.age(est[3000:]) - true[3000:])) < 2  # the pull towards 30 is undone


def test_calibration_rejects_malformed_parameters():
    with pytest.raises(ValueError, match="91"):
        AgeCalibration(mu=(1.0, 2.0))
    with pytest.raises(ValueError, match="operating_p_minor"):
        AgeCalibration(operating_p_minor=1.5)


def test_calibration_file_errors_name_the_fix(tmp_path):
    bad = tmp_path / "cal.json"
    bad.write_text('{"alpha": 1}')
    with pytest.raises(ValueError, match="benchmarks.calibrate"):
        AgeCalibration.load(bad)
