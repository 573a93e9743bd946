"""Frame sources. This first cut reads video files and USB/RTSP through OpenCV's FFmpeg backend,
frame by frame; the real-time reader (latest frame only, reconnect with backoff, stall
timeout, camera state in status) comes with the agent issue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


class SourceError(RuntimeError):
    pass


@dataclass
class Frame:
    index: int
    timestamp: float  # seconds since the stream started (file: from its frame rate)
    rgb: np.ndarray


def open_capture(uri: str) -> cv2.VideoCapture:
    target: str | int = int(uri) if uri.isdigit() else uri
    if isinstance(target, str) and "://" not in target and not Path(target).is_file():
        raise SourceError(f"video source {uri!r}: no such file")
    cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG) if isinstance(target, str) else cv2.VideoCapture(target)
    if not cap.isOpened():
        raise SourceError(f"video source {uri!r}: OpenCV could not open it")
    return cap


def frames(uri: str, max_frames: int | None = None) -> Iterator[Frame]:
    cap = open_capture(uri)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    index = 0
    try:
        while max_frames is None or index < max_frames:
            ok, bgr = cap.read()
            if not ok:
                return
            yield Frame(index, index / fps, np.ascontiguousarray(bgr[:, :, ::-1]))
            index += 1
    finally:
        cap.release()
