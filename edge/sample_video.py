"""A sample entrance video built from real face photographs, for the demo and the speed benchmark.

People (real photos with known ages) walk across a synthetic corridor one after another,
growing as they approach the camera, with a little bob and blur. The photos come from
``../shared/data/faces`` when it is beside the checkout, otherwise from images that PyPI
packages ship (scikit-image's astronaut, insightface's sample faces) when those are installed.
The video is written to the given path (a temporary or cache location, never the repository);
the ground truth goes to ``<video>.json``.
"""

from __future__ import annotations

import csv
import importlib.metadata as md
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "faces"


@dataclass
class Person:
    source: str
    age: float | None
    enter_s: float
    leave_s: float


Photo = tuple[np.ndarray, str, float | None]  # RGB image, where it came from, true age (if known)


def _shared_people(limit: int) -> list[Photo]:
    labels = SHARED_FACES / "fgnet" / "labels.csv"
    if not labels.is_file():
        return []
    wanted = [8, 15, 16, 17, 22, 30, 45, 12, 35, 19]  # a spread of ages around the thresholds
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    picked: list[Photo] = []
    used_subjects: set[str] = set()
    for target in wanted:
        for row in rows:
            if float(row["age"]) == target and row["subject"] not in used_subjects:
                img = cv2.imread(str(labels.parent / row["file"]), cv2.IMREAD_COLOR)
                if img is not None:
                    picked.append((img[:, :, ::-1].copy(), f"fgnet/{row['file']}", float(row["age"])))
                    used_subjects.add(row["subject"])
                    break
        if len(picked) >= limit:
            break
    return picked


def _package_people() -> list[Photo]:
    found: list[Photo] = []
    try:
        from skimage import data

        found.append((np.ascontiguousarray(data.astronaut()), "scikit-image astronaut", None))
    except Exception:  # scikit-image absent or its data not bundled
        pass
    try:
        dist = md.distribution("insightface")
        path = Path(str(dist.locate_file("insightface/data/images/Tom_Hanks_54745.png")))
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is not None:
            found.append((img[:, :, ::-1].copy(), "insightface Tom_Hanks_54745.png", None))
    except md.PackageNotFoundError:
        pass
    return found


def people_photos(limit: int = 8) -> list[Photo]:
    photos = _shared_people(limit) or _package_people()
    if not photos:
        raise RuntimeError(
            "no face photographs available for the sample video: put ../shared beside the checkout, "
            "or `pip install scikit-image`"
        )
    return photos


def _background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    y = np.linspace(0, 1, h)[:, None, None]
    x = np.linspace(0, 1, w)[None, :, None]
    base = 70 + 90 * y + 30 * x * np.array([1.0, 0.9, 0.7])
    bg = np.clip(base + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
    for _ in range(6):  # door frames and posters
        x0 = int(rng.uniform(0, w - 120))
        cv2.rectangle(
            bg,
            (x0, int(h * 0.1)),
            (x0 + int(rng.uniform(60, 160)), int(h * 0.8)),
            tuple(int(c) for c in rng.uniform(40, 200, 3)),
            -1,
        )
    return bg


def build(
    path: Path,
    seconds_per_person: float = 3.0,
    fps: float = 25.0,
    size=(1280, 720),
    limit: int = 8,
    seed: int = 7,
    photos: list[tuple[np.ndarray, str, float | None]] | None = None,
    gap_s: float = 0.6,
) -> tuple[Path, list[Person]]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    bg = _background(w, h, rng)
    photos = photos or people_photos(limit)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}")
    people: list[Person] = []
    gap = gap_s  # seconds of empty entrance between people: tracks must end and new ones begin
    t = 0.0
    for img, source, age in photos:
        n = int(seconds_per_person * fps)
        going_right = len(people) % 2 == 0
        for k in range(n):
            u = k / max(n - 1, 1)
            frame = bg.copy()
            height = int(np.interp(u, [0, 1], [0.28, 0.55]) * h)  # photo grows as the person approaches
            scale = height / img.shape[0]
            photo = cv2.resize(img, (max(1, int(img.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
            ph, pw = photo.shape[:2]
            cx = int(np.interp(u, [0, 1], [0.2, 0.8] if going_right else [0.8, 0.2]) * w)
            cy = int(h * 0.45 + 8 * np.sin(u * 12))
            x0, y0 = max(0, cx - pw // 2), max(0, cy - ph // 2)
            x1, y1 = min(w, x0 + pw), min(h, y0 + ph)
            frame[y0:y1, x0:x1] = photo[: y1 - y0, : x1 - x0]
            if k % 7 == 3:
                frame = cv2.GaussianBlur(frame, (0, 0), 1.2)
            writer.write(frame[:, :, ::-1])
        people.append(Person(source, age, t, t + n / fps))
        t += n / fps
        for _ in range(int(gap * fps)):
            writer.write(bg[:, :, ::-1])
        t += gap
    writer.release()
    Path(str(path) + ".json").write_text(json.dumps([asdict(p) for p in people], indent=2))
    return path, people
