"""The detection-rate gate: which of a camera's frames go to detection, at most ``detect_fps`` of them a
second on average.

A frame is due from ``period`` after the last one taken, less a quarter of the period: a live camera's
frames come with jitter, and a 10 fps camera's next frame often arrives a hair under 100 ms after the
last (a strict gate at 10 fps then took only every other one of those, about 6.5 frames a second). The
due times advance by whole periods, so the average stays at ``detect_fps`` whatever the camera's rate;
after a pause (the motion gate skipped frames, the camera was away) they start again from the frame
taken, with no burst to catch up.
"""

from __future__ import annotations


class RateGate:
    def __init__(self, detect_fps: float):
        self.period = 1.0 / detect_fps
        self.slack = 0.25 * self.period
        self.due = float("-inf")

    def due_now(self, t: float) -> bool:
        """Whether the frame at stream time ``t`` (seconds) is due for detection."""
        return t >= self.due - self.slack

    def taken(self, t: float) -> None:
        """The frame at ``t`` went to detection: the next is due a period after the schedule (or after ``t``,
        when the schedule fell more than a period behind)."""
        self.due = t + self.period if self.due < t - self.period else self.due + self.period
