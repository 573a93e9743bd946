"""Frame sources: RTSP, video files and USB cameras through OpenCV's FFmpeg backend.

``CameraReader`` runs one reader thread per camera and hands the agent the *latest* frame only,
so a slow pipeline skips frames instead of falling behind (never a growing queue). The reader
reconnects with exponential backoff when the source fails, and a watchdog marks the camera
``stalled`` when no frame came for ``stall_timeout_s``. Its state (streaming, reconnecting,
stalled, down, ended), reconnect count, frame rate and skipped frames go into the edge's status.

Modes (``source.mode``):
- ``live``: latest frame only; a video file is paced at its own frame rate, as a camera would be.
- ``offline``: every frame in order, as fast as the consumer takes them (evaluation, benchmarks).
At the end of a file (``source.on_end``): ``stop``; ``loop`` (open it again from the start: a
replaced file is picked up, a removed one is a lost camera, reconnected with backoff); or
``reopen`` (a live source whose end is a failure: reconnect).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("humiao.edge.capture")

STREAMING, RECONNECTING, STALLED, DOWN, ENDED = "streaming", "reconnecting", "stalled", "down", "ended"


class SourceError(RuntimeError):
    pass


@dataclass
class Frame:
    index: int
    timestamp: float  # seconds since the stream started (file: from its frame rate; live: monotonic)
    wall: float  # Unix time the frame was captured (file offline: start + timestamp)
    bgr: np.ndarray

    @property
    def rgb(self) -> np.ndarray:
        return np.ascontiguousarray(self.bgr[:, :, ::-1])


def is_file(uri: str) -> bool:
    return not uri.isdigit() and "://" not in uri


def open_capture(uri: str, timeout_ms: int = 10000) -> cv2.VideoCapture:
    if is_file(uri):
        if not Path(uri).is_file():
            raise SourceError(f"video source {uri!r}: no such file")
        cap = cv2.VideoCapture(uri, cv2.CAP_FFMPEG)
    elif uri.isdigit():
        cap = cv2.VideoCapture(int(uri))
    else:
        cap = cv2.VideoCapture(
            uri,
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
        )
    if not cap.isOpened():
        raise SourceError(f"video source {uri!r}: OpenCV could not open it")
    return cap


def frames(uri: str, max_frames: int | None = None) -> Iterator[Frame]:
    """Every frame of a source in order (files: evaluation and benchmarks)."""
    cap = open_capture(uri)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    start = time.time()
    index = 0
    try:
        while max_frames is None or index < max_frames:
            ok, bgr = cap.read()
            if not ok:
                return
            yield Frame(index, index / fps, start + index / fps, bgr)
            index += 1
    finally:
        cap.release()


class CameraReader:
    def __init__(
        self,
        uri: str,
        camera_id: str = "cam0",
        mode: str = "live",
        on_end: str = "stop",
        stall_timeout_s: float = 5.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        max_frames: int | None = None,
        on_state=None,
    ):
        self.uri, self.camera_id, self.mode, self.on_end = uri, camera_id, mode, on_end
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.max_frames = max_frames
        self.on_state = on_state
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera_id}", daemon=True)
        self.state, self.state_since = RECONNECTING, time.time()
        self.reconnects = 0
        self.frames_read = 0
        self.frames_skipped = 0  # overwritten before the agent took them (live mode)
        self._recent: deque[float] = deque()
        self._last_frame_at = time.monotonic()
        self._t0 = time.monotonic()
        self.last_error = ""

    # -- consumer side -----------------------------------------------------------------------
    def start(self) -> CameraReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=15)

    def get(self, timeout: float = 1.0) -> Frame | None:
        """The newest frame not yet taken; None after ``timeout`` with none new (or when ended)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None:
                if self.state == ENDED or self._stop.is_set():
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._watchdog()
                    return None
                self._cond.wait(remaining)
            frame, self._latest = self._latest, None
            self._cond.notify_all()
            return frame

    @property
    def fps(self) -> float:
        """Frames per second over the last two seconds (0 when none came)."""
        now = time.monotonic()
        recent = [t for t in list(self._recent) if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(now - recent[0], recent[-1] - recent[0], 1e-6)

    @property
    def ended(self) -> bool:
        return self.state == ENDED and self._latest is None

    def _watchdog(self) -> None:
        if self.state == STREAMING and time.monotonic() - self._last_frame_at > self.stall_timeout_s:
            self._set_state(STALLED, f"no frame for {self.stall_timeout_s:g} s")

    def _set_state(self, state: str, why: str = "") -> None:
        if state == self.state:
            return
        self.state, self.state_since = state, time.time()
        (log.info if state in (STREAMING, ENDED) else log.warning)(
            "camera %s: %s%s", self.camera_id, state, f" ({why})" if why else ""
        )
        if self.on_state:
            self.on_state(self.camera_id, state)

    # -- reader thread -----------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.reconnect_min_s
        index = 0
        first, looped = True, False
        while not self._stop.is_set():
            try:
                # a network read that waits longer than the stall timeout fails, and we reconnect
                cap = open_capture(self.uri, timeout_ms=max(1000, int(self.stall_timeout_s * 1000)))
            except SourceError as err:
                self.last_error = str(err)
                looped = False
                if first and self.on_end == "stop" and is_file(self.uri):
                    self._set_state(ENDED, str(err))
                    return
                self._set_state(RECONNECTING, str(err))
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            if not first and not looped:
                self.reconnects += 1
            first = False
            index, looped = self._stream(cap, index)
            cap.release()
            if self._stop.is_set() or self.state == ENDED:
                return
            if looped:
                continue  # a looping file starts over (reopened: a replaced file is picked up)
            delay = self.reconnect_min_s if self.state == STREAMING else delay
            self._set_state(RECONNECTING, self.last_error or "source stopped giving frames")
            self._stop.wait(delay)
            delay = min(delay * 2, self.reconnect_max_s)

    def _stream(self, cap: cv2.VideoCapture, index: int) -> tuple[int, bool]:
        """Read until the source fails or ends; (the next frame index, whether a looping file ended)."""
        file_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        paced = self.mode == "live" and is_file(self.uri)
        opened_at = time.monotonic()
        wall0 = time.time()
        n = 0
        while not self._stop.is_set():
            if self.max_frames is not None and self.frames_read >= self.max_frames:
                self._set_state(ENDED, f"max_frames {self.max_frames} read")
                return index, False
            ok, bgr = cap.read()
            now = time.monotonic()
            if not ok:
                if is_file(self.uri) and self.on_end == "stop":
                    self._set_state(ENDED, "end of file")
                    with self._cond:
                        self._cond.notify_all()
                    return index, False
                if is_file(self.uri) and self.on_end == "loop" and n > 0:
                    return index, True
                self.last_error = "end of stream" if is_file(self.uri) else "read failed"
                return index, False
            if paced:  # a file played as a camera: at its own frame rate
                due = opened_at + n / file_fps
                if due > now:
                    self._stop.wait(due - now)
                    now = time.monotonic()
            if self.mode == "offline":
                stamp, wall = index / file_fps, wall0 + n / file_fps
            else:
                stamp, wall = now - self._t0, time.time()
            frame = Frame(index, stamp, wall, bgr)
            n += 1
            index += 1
            self.frames_read += 1
            self._recent.append(now)  # frame rate over the last two seconds
            while now - self._recent[0] > 2.0:
                self._recent.popleft()
            self._last_frame_at = now
            with self._cond:
                if self.mode == "offline":
                    while self._latest is not None and not self._stop.is_set():
                        self._cond.wait(0.5)
                elif self._latest is not None:
                    self.frames_skipped += 1
                self._latest = frame
                self._cond.notify_all()
            if self.state != STREAMING:
                self._set_state(STREAMING)
        return index, False
