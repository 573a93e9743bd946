"""Shared fixtures: real images from PyPI packages (always) and ../shared data (when present)."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FACES = SHARED / "data" / "faces"


def _insightface_image(name: str) -> np.ndarray:
    try:
        dist = md.distribution("insightface")
    except md.PackageNotFoundError:
        pytest.skip("insightface is not installed (test images come from its wheel; see .ci/run)")
    img = cv2.imread(str(dist.locate_file(f"insightface/data/images/{name}")), cv2.IMREAD_COLOR)
    assert img is not None, name
    return np.ascontiguousarray(img[:, :, ::-1])


@pytest.fixture(scope="session")
def group_photo() -> np.ndarray:
    """insightface's t1.jpg: six adults around a table (1280×886)."""
    return _insightface_image("t1.jpg")


@pytest.fixture(scope="session")
def hanks() -> np.ndarray:
    """insightface's Tom_Hanks_54745.png: one adult face filling a 112×112 image."""
    return _insightface_image("Tom_Hanks_54745.png")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (Eileen Collins, an adult), 512×512."""
    data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    if not (FACES / "fgnet" / "labels.csv").is_file():
        pytest.skip("../shared/data/faces is not beside this checkout")
    return FACES


@pytest.fixture(scope="session")
def full_range():
    from edge.detect import build_detector

    return build_detector("blazeface-full-range")


@pytest.fixture(scope="session")
def short_range():
    from edge.detect import build_detector

    return build_detector("blazeface-short-range")


@pytest.fixture(scope="session")
def mesh():
    from edge.landmarks import build_landmarks

    return build_landmarks("facemesh")


@pytest.fixture(scope="session")
def age_model():
    from edge.age import build_age_estimator

    return build_age_estimator()
