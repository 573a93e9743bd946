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


def _faces(full_range, mesh, *images):
    from humiao.edge.pipeline import observe_face
    from humiao.edge.quality import QualityConfig

    out = []
    for img in images:
        for det in full_range.detect(img):
            seen = observe_face(img, det, mesh, QualityConfig())
            if seen is not None:
                out.append(seen[0])
    return out


@pytest.fixture(scope="module")
def faceapi():
    from humiao.edge.age import build_age_estimator

    return build_age_estimator("faceapi-agegender")


def test_faceapi_estimates_adults_as_adults_on_its_own_crop(faceapi, full_range, mesh, group_photo, astronaut):
    faces = _faces(full_range, mesh, group_photo, astronaut)
    assert len(faces) == 7
    crop = faceapi.crop(faces[-1])
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    ages = faceapi.regress(faces)
    # seven adults; face-api alone takes the small faces of the group photo for younger than they are
    # (the ensemble and the calibration are what the product decides on), never for children
    assert np.median(ages) > 21 and (ages > 14).all() and (ages < 65).all(), ages
    probs = faceapi.predict_faces(faces)
    assert probs.shape == (7, 81)
    np.testing.assert_allclose(expected_age(probs), ages, atol=0.05)  # a narrow distribution centred on it


def test_faceapi_crop_follows_the_face_and_is_black_outside_the_frame(faceapi, full_range, mesh, astronaut):
    face = _faces(full_range, mesh, astronaut)[0]
    x1, y1, x2, y2 = faceapi.face_box(face)
    assert x1 < face.points[:, 0].mean() < x2 and y1 < face.points[:, 1].mean() < y2
    x0, y0 = int(x1), int(y1)  # a frame that starts at the face's top-left corner
    corner = face.__class__(face.frame[y0:, x0:].copy(), face.detection, face.points - [x0, y0], face.chip)
    crop = faceapi.crop(corner, dx=-0.2, dy=-0.2)  # the crop reaches past the frame's top-left edge
    assert crop[:10, :10].max() == 0 and crop[60:, 60:].mean() > 20


def test_the_ensemble_mixes_its_members_so_its_expected_age_is_their_weighted_mean(
    faceapi, age_model, full_range, mesh, group_photo
):
    from humiao.edge.age import EnsembleEstimator, build_age_estimator

    faces = _faces(full_range, mesh, group_photo)
    ens = EnsembleEstimator([(age_model, 3.0), (faceapi, 1.0)])
    want = 0.75 * expected_age(age_model.predict_faces(faces)) + 0.25 * expected_age(faceapi.predict_faces(faces))
    np.testing.assert_allclose(expected_age(ens.predict_faces(faces)), want, atol=1e-4)
    assert ens.predict_faces(faces).sum(1) == pytest.approx(np.ones(len(faces)), abs=1e-4)
    with pytest.raises(ValueError, match="needs members"):
        build_age_estimator("ensemble")
    with pytest.raises(ValueError, match="positive weights"):
        EnsembleEstimator([(age_model, 0.0)])


def test_a_calibration_for_other_ensemble_weights_is_refused():
    from humiao.edge.calibration import DEFAULT_ENSEMBLE, for_models, shipped_file

    cal = for_models("ensemble", "east-asian", dict(DEFAULT_ENSEMBLE))
    assert cal.meta["ensemble"] and 0 < cal.operating_p_minor < 1
    other = {k: (3.0 if i == 0 else 1.0) for i, k in enumerate(DEFAULT_ENSEMBLE)}
    with pytest.raises(ValueError, match="fitted for the ensemble .* benchmarks.calibrate"):
        for_models("ensemble", "east-asian", other)
    with pytest.raises(ValueError, match="no shipped calibration for models.age 'faceapi-agegender'"):
        for_models("faceapi-agegender", "nowhere")
    with pytest.raises(ValueError, match="fitted for models.age 'ensemble', not 'cydral-age-v1'"):
        for_models("cydral-age-v1", "all", path=shipped_file("ensemble", "all"))
