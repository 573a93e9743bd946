"""Dense landmarks: MediaPipe FaceMesh on a rotated square crop around each detection.

The crop follows MediaPipe's convention: centred on the detection box, 1.5× its larger side,
rotated so that the eyes are level. The model sees RGB scaled to [0, 1] and returns 468
landmarks in crop pixels plus a face-presence logit; we map the landmarks back to the frame.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from humiao.edge.types import Detection
from humiao.models.runtime import OnnxModel, open_model

INPUT = 192
ROI_SCALE = 1.5


class DetectorKeypoints:
    """The detector's own six keypoints, used as they are (no extra model)."""

    source = "blazeface"

    def landmarks(self, frame_rgb: np.ndarray, det: Detection) -> tuple[np.ndarray, float]:
        return det.keypoints, 1.0


class FaceMesh:
    source = "facemesh"

    def __init__(self, model: OnnxModel):
        self.model = model
        self.name = model.manifest.id

    def roi_transform(self, det: Detection) -> np.ndarray:
        """2×3 transform from frame pixels into the 192×192 model input."""
        right_eye, left_eye = det.keypoints[0], det.keypoints[1]
        angle = math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0])
        cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
        side = max(det.width, det.height) * ROI_SCALE
        s = INPUT / side
        ca, sa = math.cos(-angle) * s, math.sin(-angle) * s
        # rotate by -angle about the box centre, scale, then centre in the input
        return np.array(
            [[ca, -sa, INPUT / 2 - (ca * cx - sa * cy)], [sa, ca, INPUT / 2 - (sa * cx + ca * cy)]], dtype=np.float64
        )

    def landmarks(self, frame_rgb: np.ndarray, det: Detection) -> tuple[np.ndarray, float]:
        """((468, 2) frame coordinates, face presence probability)."""
        m = self.roi_transform(det)
        crop = cv2.warpAffine(
            frame_rgb, m, (INPUT, INPUT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        tensor = (crop.astype(np.float32) * (1.0 / 255.0)).transpose(2, 0, 1)[None]
        raw, presence = self.model.run(tensor)
        pts = raw.reshape(-1, 3)[:, :2].astype(np.float64)
        inv = cv2.invertAffineTransform(m)
        frame_pts = pts @ inv[:, :2].T + inv[:, 2]
        p = 1.0 / (1.0 + math.exp(-float(np.clip(presence.ravel()[0], -50, 50))))
        return frame_pts.astype(np.float32), p


Landmarks = FaceMesh | DetectorKeypoints


def build_landmarks(source: str = "facemesh", threads: int = 1) -> Landmarks:
    if source == "facemesh":
        return FaceMesh(open_model("facemesh-landmarks", threads=threads))
    if source == "blazeface":
        return DetectorKeypoints()
    raise ValueError(f"unknown landmark source {source!r}; known: facemesh, blazeface")
