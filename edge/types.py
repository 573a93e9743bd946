"""Plain data passed between edge stages. Face pixels live only in memory, in these objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Detection:
    """One face in frame pixel coordinates."""

    box: np.ndarray  # [x1, y1, x2, y2] float32
    score: float
    keypoints: np.ndarray  # (K, 2) float32; BlazeFace: r-eye, l-eye, nose, mouth, r-ear, l-ear

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@dataclass(slots=True)
class FaceView:
    """One detected face as each age estimator needs it, for one frame's batch only: the frame
    (estimators that crop their own way), the detection, the landmark points in frame pixels and
    the aligned 64×64 chip. Nothing here outlives the frame's processing."""

    frame: np.ndarray  # RGB, the whole frame (memory only)
    detection: Detection
    points: np.ndarray  # (P, 2) landmark points in frame pixels (FaceMesh: 468; detector keypoints: 6)
    chip: np.ndarray  # (64, 64, 3) uint8 RGB, aligned to dlib's chip


@dataclass(slots=True)
class Quality:
    face_px: float  # inter-ocular-based face size in pixels
    sharpness: float  # variance of the Laplacian on the chip
    yaw: float  # -1 (profile left) .. 0 (frontal) .. 1 (profile right), from keypoints
    weight: float  # combined 0..1 weight used by fusion


@dataclass(slots=True)
class FaceObservation:
    """A detection with its age distribution and quality, in one frame (the chip is not kept)."""

    frame_index: int
    timestamp: float
    detection: Detection
    age_probs: np.ndarray  # (81,) probabilities over ages 0..80
    quality: Quality


@dataclass(slots=True)
class AgeDecision:
    """What a track's frames say about the person's age."""

    age: float  # fused expected age, years
    p_minor: float  # calibrated P(age < 18)
    p_under_threshold: float  # calibrated P(age < venue challenge threshold)
    threshold: float  # venue challenge threshold, years
    frames_used: int
    check_id: bool  # the policy's verdict: staff should check ID


@dataclass(slots=True)
class TrackState:
    track_id: int
    first_seen: float
    last_seen: float
    box: np.ndarray
    hits: int = 0
    missed: int = 0
    observations: list[FaceObservation] = field(default_factory=list)
    decision: AgeDecision | None = None
    finished: bool = False
