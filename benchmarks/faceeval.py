"""Run the edge vision stages over labelled photos: one record per photo.

Each photo is placed in a larger frame (``datasets.scene``) and seen either once, or as a
simulated track: ``views`` frames of the same photo as an entrance camera would capture them
while the person approaches (growing face size, small rotations, blur, exposure changes,
sensor noise, JPEG), generated deterministically per photo. Every frame goes through the
product's own stages (detect → landmarks → align → quality → age); a record keeps each frame's
age distribution and quality weight so fusion methods can be compared on the same frames.
Simulated views of one photo vary less than real frames of a walking person, so fused figures
from them are an optimistic bound on what fusion gains; single-view figures are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from humiao.edge.age import Estimator
from humiao.edge.config import EdgeConfig
from humiao.edge.detect import FaceDetector
from humiao.edge.pipeline import estimate_ages, observe_face

from benchmarks.datasets import LabeledImage, bucket, scene


@dataclass
class Record:
    item: LabeledImage
    detected: bool
    probs: list[np.ndarray] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)


def views(frame: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    if n <= 1:
        return [frame]
    rng = np.random.default_rng(seed)
    cv2.setRNGSeed(seed)
    noise = np.empty(frame.shape, np.int16)
    out = []
    h, w = frame.shape[:2]
    for k in range(n):
        scale = np.interp(k, [0, n - 1], [0.45, 1.0]) * rng.uniform(0.92, 1.08)
        angle = rng.uniform(-7, 7)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        img = cv2.warpAffine(frame, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        sigma = rng.uniform(0, 1.6)
        if sigma > 0.3:
            img = cv2.GaussianBlur(img, (0, 0), sigma)
        img = cv2.convertScaleAbs(img, alpha=rng.uniform(0.75, 1.2), beta=rng.uniform(-20, 20))
        cv2.randn(noise, 0, 3)
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 95))])
        out.append(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img)
    return out


class FaceEvaluator:
    def __init__(self, cfg: EdgeConfig, detector: FaceDetector, landmarks, estimator: Estimator):
        self.cfg = cfg
        self.detector = detector
        self.landmarks = landmarks
        self.estimator = estimator

    def record(self, item: LabeledImage, n_views: int = 1) -> Record | None:
        rgb = item.load_rgb()
        if rgb is None:
            return None
        frame = scene(rgb)
        rec = Record(item, detected=False)
        faces, weights = [], []
        seed = int(bucket(str(item.path), "views") * 2**31)
        for view in views(frame, n_views, seed):
            dets = self.detector.detect(view)
            if not dets:
                continue
            det = max(dets, key=lambda d: d.width * d.height)  # the photo's subject
            seen = observe_face(view, det, self.landmarks, self.cfg.quality)
            if seen is None:
                continue
            faces.append(seen[0])
            weights.append(seen[1].weight)
        if faces:
            rec.detected = True
            rec.probs = list(estimate_ages(self.estimator, faces))
            rec.weights = weights
        return rec
