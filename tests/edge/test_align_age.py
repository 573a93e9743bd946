"""Alignment to dlib face chips and age estimation, on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from humiao.edge.age import AGE_VALUES, expected_age
from humiao.edge.align import align, chip_transform, load_template, similarity


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 0.7, np.array([12.0, -4.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    m = similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)


def test_templates_are_level_and_symmetric():
    for source in ("facemesh", "blazeface"):
        pts, w, idx = load_template(source)
        assert w.sum() == pytest.approx(1.0, abs=1e-3)
        assert len(pts) == len(idx)
    mesh, _, _ = load_template("facemesh")
    # eye corners level within a pixel, symmetric about the chip's centre line
    assert abs(mesh[0, 1] - mesh[3, 1]) < 1.0
    assert abs((mesh[0, 0] + mesh[3, 0]) / 2 - 31.5) < 1.5


def _dlib_chip(rgb, box):
    pytest.importorskip("dlib")
    from benchmarks.dlib_reference import DlibReference

    ref = DlibReference()
    faces = ref.faces(rgb)
    assert faces, "dlib found no face"
    return ref.chip(rgb, faces[0][0])


def test_our_chip_matches_dlibs_chip(full_range, mesh, astronaut):
    det = full_range.detect(astronaut)[0]
    points, presence = mesh.landmarks(astronaut, det)
    assert presence > 0.9
    ours = align(astronaut, points, "facemesh").astype(np.float64)
    theirs = _dlib_chip(astronaut, det.box).astype(np.float64)
    assert ours.shape == theirs.shape == (64, 64, 3)
    diff = np.abs(ours - theirs).mean()
    shifted = np.abs(np.roll(ours, 4, axis=1) - theirs).mean()  # the same chip 4 px off: ~39
    assert diff < 15 and diff < 0.5 * shifted, (diff, shifted)


def test_adults_are_estimated_as_adults(full_range, mesh, age_model, group_photo, astronaut):
    chips = []
    for img in (group_photo, astronaut):
        for det in full_range.detect(img):
            points, _ = mesh.landmarks(img, det)
            chips.append(align(img, points, "facemesh"))
    ages = expected_age(age_model.predict(np.stack(chips)))
    assert len(ages) == 7
    assert (ages > 21).all(), ages
    assert (ages < 60).all(), ages


def test_flip_averaging_is_symmetric(age_model, full_range, mesh, astronaut):
    det = full_range.detect(astronaut)[0]
    chip = align(astronaut, mesh.landmarks(astronaut, det)[0], "facemesh")
    a = age_model.predict(chip)
    b = age_model.predict(chip[:, ::-1].copy())
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_age_helpers():
    probs = np.zeros(81)
    probs[30] = 1
    assert expected_age(probs) == pytest.approx(30)
    assert AGE_VALUES[0] == pytest.approx(0.25)
    probs = np.full(81, 1 / 81)
    assert expected_age(probs) == pytest.approx((AGE_VALUES.sum()) / 81)


def test_chip_shape_is_checked(age_model):
    with pytest.raises(ValueError, match=r"\(N, 64, 64, 3\)"):
        age_model.predict(np.zeros((2, 32, 32, 3), np.uint8))


def test_chip_transform_uses_landmarks(full_range, astronaut):
    det = full_range.detect(astronaut)[0]
    m = chip_transform(det.keypoints, "blazeface")
    eye_mid = det.keypoints[:2].mean(0)
    mapped = m[:, :2] @ eye_mid + m[:, 2]
    assert 25 < mapped[0] < 38 and 12 < mapped[1] < 25  # eyes land in the upper middle of the chip
