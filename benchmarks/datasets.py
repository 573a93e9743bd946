"""Labelled face folders (``labels.csv``: file, age[, subject]) and subject-disjoint splits."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class LabeledImage:
    path: Path
    age: float
    subject: str  # the person; the file name where the data set has no person ids

    def load_rgb(self) -> np.ndarray | None:
        img = cv2.imread(str(self.path), cv2.IMREAD_COLOR)  # greyscale scans come back as 3 channels
        return None if img is None else np.ascontiguousarray(img[:, :, ::-1])


def load_labels(folder: Path) -> list[LabeledImage]:
    folder = Path(folder)
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise DatasetError(f"{folder}: no labels.csv (expected columns file,age[,subject])")
    items = []
    with open(labels, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "age"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{labels}: missing column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                age = float(row["age"])
            except (TypeError, ValueError):
                raise DatasetError(f"{labels}:{line}: age {row.get('age')!r} is not a number") from None
            subject = (row.get("subject") or "").strip() or row["file"]
            items.append(LabeledImage(folder / row["file"], age, f"{folder.name}:{subject}"))
    if not items:
        raise DatasetError(f"{labels}: no rows")
    return items


def bucket(key: str, salt: str = "humiao-split-v1") -> float:
    """A stable number in [0, 1) for a key: the same person always lands on the same side."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def shuffled(items: list[LabeledImage]) -> list[LabeledImage]:
    """A fixed pseudo-random order, so that taking the first N is a fair sample (file order
    often follows age, as in UTKFace's file names)."""
    return sorted(items, key=lambda it: bucket(str(it.path), "order"))


def split(items: list[LabeledImage], fit_fraction: float = 0.5) -> tuple[list[LabeledImage], list[LabeledImage]]:
    """(fit, test), disjoint by subject, each in ``shuffled`` order."""
    fit = [it for it in items if bucket(it.subject) < fit_fraction]
    test = [it for it in items if bucket(it.subject) >= fit_fraction]
    return shuffled(fit), shuffled(test)


def scene(face_image: np.ndarray, margin: float = 0.5) -> np.ndarray:
    """Place a tightly cropped face photo in a larger frame, as an entrance camera sees a face."""
    h, w = face_image.shape[:2]
    py, px = int(h * margin), int(w * margin)
    return cv2.copyMakeBorder(face_image, py, py, px, px, cv2.BORDER_CONSTANT, value=(0, 0, 0))
