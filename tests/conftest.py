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
    from humiao.edge.detect import build_detector

    return build_detector("blazeface-full-range")


@pytest.fixture(scope="session")
def short_range():
    from humiao.edge.detect import build_detector

    return build_detector("blazeface-short-range")


@pytest.fixture(scope="session")
def mesh():
    from humiao.edge.landmarks import build_landmarks

    return build_landmarks("facemesh")


@pytest.fixture(scope="session")
def age_model():
    from humiao.edge.age import build_age_estimator

    return build_age_estimator()


# -- real services ---------------------------------------------------------------------------
def _missing(what: str) -> None:
    """In CI a missing service is a failure (.ci/run provides it); on a laptop, a skip that says how."""
    import os

    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(what)
    pytest.skip(what)


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto of our own on a free loopback port, with persistence, that tests may kill."""
    from tests.support.mosquitto import Mosquitto

    try:
        b = Mosquitto(tmp_path / "mosquitto").start()
    except FileNotFoundError as err:
        _missing(str(err))
    yield b
    b.kill()


@pytest.fixture(scope="session")
def pg_server_url():
    """A fresh database on the PostgreSQL server (HUMIAO_TEST_PG_URL, default the local one with
    trust auth, as Debian's postgresql package and .ci/run set it up); dropped at the end."""
    import os

    from sqlalchemy.exc import OperationalError

    from tests.support.services import PG_ADMIN_URL, scratch_database

    admin = os.environ.get("HUMIAO_TEST_PG_URL", PG_ADMIN_URL)
    try:
        with scratch_database(admin, "humiao_test") as url:
            yield url
    except OperationalError as err:
        _missing(
            f"PostgreSQL is not reachable at {admin} ({str(err).splitlines()[0]}); "
            "sudo apt-get install -y postgresql, or set HUMIAO_TEST_PG_URL"
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each hub test runs on SQLite (the embedded default) and on PostgreSQL; PostgreSQL tables are
    emptied between tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    url = request.getfixturevalue("pg_server_url")
    yield url
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    engine.dispose()


@pytest.fixture
def seeded_hub(tmp_path, db_url):
    """A hub (not connected to a broker) with accounts, venues, an alert and a sealed crop at each
    venue (tests/hubapi.py); ``alarm_ids`` by venue."""
    from tests.support.hubapi import make_hub, seed

    h = make_hub(tmp_path, db_url)
    h.alarm_ids = seed(h)
    yield h
    h.engine.dispose()
