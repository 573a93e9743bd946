"""Per-frame face quality: how much one frame's age estimate should count in its track.

Three measurements, each mapped to [0, 1] and multiplied:
- size: inter-ocular distance in frame pixels (a chip blown up from a tiny face carries little);
- sharpness: variance of the Laplacian of the aligned chip (motion and focus blur);
- yaw: nose offset from the eye midpoint, in inter-ocular units, from the detector keypoints
  (the age model was trained on near-frontal faces).
A detection whose landmark model says there is no face there (FaceMesh presence below
``min_presence``) is not observed at all. The knee points are settings (``QualityConfig``); their effect is measured by
``benchmarks.age_accuracy`` (fusion section).
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from humiao.config import Section
from humiao.edge.types import Detection, Quality


class QualityConfig(Section):
    min_iod_px: float = Field(6.0, gt=0, description="inter-ocular distance at which weight starts to rise")
    full_iod_px: float = Field(28.0, gt=0, description="inter-ocular distance of full weight")
    min_sharpness: float = Field(20.0, ge=0, description="Laplacian variance with zero weight")
    full_sharpness: float = Field(250.0, gt=0, description="Laplacian variance with full weight")
    max_yaw: float = Field(0.6, gt=0, le=2, description="|yaw| (nose offset / IOD) at which weight reaches 0")
    min_presence: float = Field(
        0.5, ge=0, le=1, description="FaceMesh face-presence below this: not a face, the frame is ignored"
    )


def _ramp(x: float, lo: float, hi: float) -> float:
    if hi <= lo:
        return 1.0 if x >= hi else 0.0
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def yaw_of(keypoints: np.ndarray) -> float:
    """Signed horizontal nose offset from the eye midpoint, in inter-ocular units."""
    r_eye, l_eye, nose = keypoints[0], keypoints[1], keypoints[2]
    axis = l_eye - r_eye
    iod = float(np.hypot(*axis))
    if iod < 1e-6:
        return 0.0
    mid = (r_eye + l_eye) / 2
    return float(np.dot(nose - mid, axis / iod) / iod)


def sharpness_of(chip: np.ndarray) -> float:
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def assess(det: Detection, chip: np.ndarray, cfg: QualityConfig) -> Quality:
    iod = float(np.hypot(*(det.keypoints[1] - det.keypoints[0])))
    yaw = yaw_of(det.keypoints)
    sharp = sharpness_of(chip)
    weight = (
        _ramp(iod, cfg.min_iod_px, cfg.full_iod_px)
        * _ramp(sharp, cfg.min_sharpness, cfg.full_sharpness)
        * max(0.0, 1.0 - (abs(yaw) / cfg.max_yaw) ** 2)
    )
    return Quality(face_px=iod, sharpness=sharp, yaw=yaw, weight=float(weight))
