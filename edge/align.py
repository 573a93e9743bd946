"""Alignment: a detection's keypoints → the 64×64 face chip the age model was trained on.

The Cydral age model was trained on dlib face chips: dlib's 5-point landmarks (eye corners,
nose base) mapped by a similarity transform onto dlib's mean face with padding 0.2. Our
landmarks come from other models, so each landmark source has a template: where its points
land in dlib's own chip, measured on real faces by ``benchmarks/fit_alignment.py`` (median
over faces), stored in ``models/calibration/alignment_<source>.json``:

- ``facemesh``: FaceMesh's eye corners and nose base, the very points dlib uses (default);
- ``blazeface``: the detector's eye centres, nose tip and mouth centre (no extra model, coarser).

Like dlib, large faces are first reduced by an image pyramid so that the 64-pixel chip is not
aliased, and pixels outside the frame are black.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from humiao.edge.calibration import CALIBRATION_DIR

CHIP_SIZE = 64
SOURCES = ("facemesh", "blazeface")


def template_path(source: str) -> Path:
    if source not in SOURCES:
        raise ValueError(f"unknown landmark source {source!r}; known: {SOURCES}")
    return CALIBRATION_DIR / f"alignment_{source}.json"


@cache
def load_template(source: str) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """(template points in chip pixels, per-point weights, landmark indices used)."""
    path = template_path(source)
    data = json.loads(path.read_text())
    if data.get("chip_size") != CHIP_SIZE:
        raise ValueError(f"{path}: template is for chip size {data.get('chip_size')}, need {CHIP_SIZE}")
    pts = np.asarray(data["points"], dtype=np.float64)
    weights = np.asarray(data["weights"], dtype=np.float64)
    return pts, weights, tuple(data["keypoints"])


def similarity(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Least-squares 2×3 similarity (rotation, uniform scale, shift) taking src points to dst."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    mu_s = (src * w[:, None]).sum(0)
    mu_d = (dst * w[:, None]).sum(0)
    s, d = src - mu_s, dst - mu_d
    # complex-number form: d ≈ z * s with z = a + ib
    num_a = (w * (s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1])).sum()
    num_b = (w * (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0])).sum()
    den = (w * (s**2).sum(1)).sum()
    if den <= 1e-12:
        raise ValueError("degenerate keypoints")
    a, b = num_a / den, num_b / den
    rot = np.array([[a, -b], [b, a]])
    t = mu_d - rot @ mu_s
    return np.hstack([rot, t[:, None]])


def chip_transform(landmarks: np.ndarray, source: str) -> np.ndarray:
    """The 2×3 transform from frame pixels to chip pixels for one face's landmarks."""
    template, weights, index = load_template(source)
    return similarity(np.asarray(landmarks, dtype=np.float64)[list(index)], template, weights)


def warp_chip(frame: np.ndarray, transform: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """Extract a chip; shrink through a pyramid first when the face is much larger than the chip."""
    m = transform.astype(np.float64).copy()
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    if scale < 0.5:
        # Work on a region around the chip only, so the pyramid costs little on a big frame.
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], dtype=np.float64)
        pts = corners @ inv.T
        h, w = frame.shape[:2]
        x0, y0 = np.floor(pts.min(0)).astype(int) - 4
        x1, y1 = np.ceil(pts.max(0)).astype(int) + 4
        x0c, y0c, x1c, y1c = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1c <= x0c or y1c <= y0c:
            return np.zeros((size, size, 3), dtype=np.uint8)
        region = frame[y0c:y1c, x0c:x1c]
        m[:, 2] += m[:, :2] @ np.array([x0c, y0c], dtype=np.float64)
        while scale < 0.5 and min(region.shape[:2]) >= 4:
            region = cv2.pyrDown(region)
            m[:, :2] *= 2.0
            scale *= 2.0
        source = region
    else:
        source = frame
    return cv2.warpAffine(
        source, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def align(frame: np.ndarray, landmarks: np.ndarray, source: str) -> np.ndarray:
    return warp_chip(frame, chip_transform(landmarks, source))
