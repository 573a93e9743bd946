"""Face detection on real photographs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from humiao.edge.detect import SPECS, anchor_centres, iou_matrix, weighted_nms


def test_anchor_layout_matches_the_models():
    assert len(anchor_centres(SPECS["blazeface-short-range"])) == 896
    assert len(anchor_centres(SPECS["blazeface-full-range"])) == 2304


def test_group_photo_finds_all_six_faces_with_keypoints_inside(full_range, group_photo):
    dets = full_range.detect(group_photo)
    assert len(dets) == 6
    for d in dets:
        assert 60 < d.width < 200 and 0.7 < d.height / d.width < 1.4
        x1, y1, x2, y2 = d.box
        eyes = d.keypoints[:2]
        assert ((eyes[:, 0] > x1) & (eyes[:, 0] < x2) & (eyes[:, 1] > y1) & (eyes[:, 1] < (y1 + y2) / 2 + 5)).all()
        assert d.keypoints[0, 0] < d.keypoints[1, 0]  # person's right eye is on the image's left
        assert d.keypoints[3, 1] > d.keypoints[2, 1] > d.keypoints[0, 1]  # mouth below nose below eyes


def test_close_face_found_by_short_range(short_range, hanks):
    dets = short_range.detect(hanks)
    assert len(dets) == 1 and dets[0].score > 0.6


def test_astronaut_one_face(full_range, astronaut):
    dets = full_range.detect(astronaut)
    assert len(dets) == 1
    x1, y1, x2, y2 = dets[0].box
    assert 150 < (x1 + x2) / 2 < 280 and 50 < (y1 + y2) / 2 < 200  # her face, not the flag or the helmet


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((720, 1280, 3), np.uint8),
        np.full((720, 1280, 3), 255, np.uint8),
        np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8),
    ],
)
def test_nothing_on_faceless_frames(full_range, short_range, frame):
    assert full_range.detect(frame) == []
    assert short_range.detect(frame) == []


def test_tiles_find_40px_faces_on_a_720p_frame(group_photo):
    """Faces ~40 px wide on a 1280×720 frame: one 192×192 pass cannot see them; tiling can."""
    from humiao.edge.detect import build_detector

    small = cv2.resize(group_photo, None, fx=0.36, fy=0.36, interpolation=cv2.INTER_AREA)  # faces ~36-48 px
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[300 : 300 + small.shape[0], 700 : 700 + small.shape[1]] = small
    whole = build_detector("blazeface-full-range", tiles=0).detect(frame)
    tiled = build_detector("blazeface-full-range", tiles=2).detect(frame)
    assert len(tiled) >= 5
    assert len(tiled) > len(whole)
    assert all(30 < d.width < 60 for d in tiled)


def test_weighted_nms_blends_overlapping_candidates():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    out = weighted_nms(boxes, scores, kps, 0.3)
    assert len(out) == 2
    blended = out[0][0]
    assert 0 < blended[0] < 1 and out[0][1] == pytest.approx(0.9)


def test_iou():
    a = np.array([[0, 0, 10, 10]], np.float32)
    assert iou_matrix(a, a)[0, 0] == pytest.approx(1.0)
    assert iou_matrix(a, np.array([[5, 0, 15, 10]], np.float32))[0, 0] == pytest.approx(1 / 3)
