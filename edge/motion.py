"""Motion gating: skip detection on frames where nothing moves at the entrance.

The frame is downscaled to ``width`` pixels, greyed and blurred, and compared with a running
background; a frame "moves" when more than ``min_area`` of its pixels differ by more than
``threshold`` grey levels. After motion, detection stays on for ``hold_s`` (people standing
still at the counter), and the agent never gates while a track is alive.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from humiao.config import Section


class MotionConfig(Section):
    enabled: bool = True
    width: int = Field(160, ge=32, le=640, description="downscaled width for the comparison")
    threshold: int = Field(18, ge=1, le=255, description="grey-level change that counts as moving")
    min_area: float = Field(0.004, gt=0, lt=1, description="fraction of pixels that must change")
    hold_s: float = Field(2.0, ge=0, description="keep detecting this long after the last motion")
    learn_rate: float = Field(0.05, gt=0, le=1, description="how fast the background follows the scene")


class MotionGate:
    def __init__(self, cfg: MotionConfig):
        self.cfg = cfg
        self._background: np.ndarray | None = None
        self._last_motion = -1e9
        self.changed = 0.0  # fraction of pixels that changed in the last frame

    def moving(self, bgr: np.ndarray, now: float) -> bool:
        if not self.cfg.enabled:
            return True
        h, w = bgr.shape[:2]
        small = cv2.resize(bgr, (self.cfg.width, max(1, round(h * self.cfg.width / w))), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0).astype(np.float32)
        if self._background is None or self._background.shape != grey.shape:
            self._background = grey
            self._last_motion = now
            return True
        diff = cv2.absdiff(grey, self._background)
        self.changed = float(np.count_nonzero(diff > self.cfg.threshold)) / diff.size
        cv2.accumulateWeighted(grey, self._background, self.cfg.learn_rate)
        if self.changed >= self.cfg.min_area:
            self._last_motion = now
        return now - self._last_motion <= self.cfg.hold_s
