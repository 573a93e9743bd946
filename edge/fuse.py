"""Fusion: one track's per-frame age distributions → one distribution for the person.

``quality`` (default): mean of the frames' distributions weighted by frame quality; ``mean``:
unweighted; ``best``: the single best-quality frame. The mixture keeps the shape of the
distributions (a frame that is unsure stays unsure) and cannot be dominated by one bad frame
the way a product of distributions can. Calibration (``edge.calibration``) then turns the
fused estimate into probabilities of being under an age.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from humiao.edge.age import expected_age

FusionMethod = Literal["quality", "mean", "best"]
MIN_WEIGHT = 1e-3  # frames of zero quality still count a little, so a track always has an estimate


@dataclass(slots=True)
class FusedAge:
    probs: np.ndarray  # (81,)
    age: float  # expected age of the fused distribution (uncalibrated)
    weight: float  # total quality weight behind it
    frames: int  # the track's frames behind the estimate (``best`` chose among them)


def fuse(probs: np.ndarray, weights: np.ndarray, method: FusionMethod = "quality") -> FusedAge:
    probs = np.asarray(probs, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError("fuse needs at least one (81,) distribution")
    if method == "best":
        fused = probs[int(np.argmax(weights))]  # chosen among all the frames: they all stand behind it
    else:
        w = np.ones(len(probs)) if method == "mean" else np.maximum(weights, MIN_WEIGHT)
        fused = (probs * w[:, None]).sum(0) / w.sum()
    fused = fused / fused.sum()
    return FusedAge(probs=fused, age=float(expected_age(fused)), weight=float(weights.sum()), frames=len(probs))
