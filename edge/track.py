"""Tracking: detections → stable track ids, one track per person-visit.

ByteTrack-style two-stage association: confident detections are matched first to the predicted
boxes of live tracks, then weak detections to what is left (so a face that fades for a frame
keeps its id). Faces are small and move fast between processed frames (a 50 px face walking
past moves ~40 px at 10 detections/s, so consecutive boxes often do not overlap), so the match
cost is the distance between box centres in units of face size, gated by a size ratio,
matched greedily from the closest pair. Unmatched confident detections open new tracks; a track is
confirmed after ``min_hits`` and ends after ``max_gap_s`` seconds unseen. Boxes are predicted
with a constant-velocity model from the last two observations.
"""

from __future__ import annotations

import itertools

import numpy as np
from pydantic import Field

from humiao.config import Section
from humiao.edge.types import Detection, TrackState


class TrackerConfig(Section):
    high_score: float = Field(0.6, ge=0, le=1, description="detections at or above this start tracks")
    max_distance: float = Field(1.5, gt=0, le=10, description="centre distance gate, in face sizes")
    max_scale_change: float = Field(1.6, gt=1, le=5, description="size ratio gate between frames")
    min_hits: int = Field(2, ge=1, description="frames before a track is confirmed")
    max_gap_s: float = Field(1.5, gt=0, description="a track unseen this long has ended")


class Tracker:
    def __init__(self, cfg: TrackerConfig | None = None):
        self.cfg = cfg or TrackerConfig()
        self.tracks: dict[int, TrackState] = {}
        self._velocity: dict[int, np.ndarray] = {}
        self._ids = itertools.count(1)

    def _predict(self, track: TrackState, now: float) -> np.ndarray:
        v = self._velocity.get(track.track_id)
        if v is None:
            return track.box
        dt = now - track.last_seen
        return track.box + v * dt

    def update(
        self, detections: list[Detection], now: float
    ) -> tuple[list[tuple[TrackState, Detection]], list[TrackState]]:
        """Assign detections at time ``now``. Returns ([(track, detection)], [tracks that ended])."""
        live = [t for t in self.tracks.values() if not t.finished]
        predicted = np.stack([self._predict(t, now) for t in live]) if live else np.zeros((0, 4), np.float32)
        strong = [d for d in detections if d.score >= self.cfg.high_score]
        weak = [d for d in detections if d.score < self.cfg.high_score]
        pairs: list[tuple[TrackState, Detection]] = []
        free_tracks = list(range(len(live)))
        for group in (strong, weak):
            if not group or not free_tracks:
                continue
            cost = self._cost(predicted[free_tracks], np.stack([d.box for d in group]))
            taken_t, taken_d = set(), set()
            for flat in np.argsort(cost, axis=None):
                ti, di = np.unravel_index(flat, cost.shape)
                if cost[ti, di] > self.cfg.max_distance:
                    break
                if ti in taken_t or di in taken_d:
                    continue
                taken_t.add(ti)
                taken_d.add(di)
                pairs.append((live[free_tracks[ti]], group[di]))
            free_tracks = [t for i, t in enumerate(free_tracks) if i not in taken_t]
            if group is strong:
                strong = [d for i, d in enumerate(strong) if i not in taken_d]
        for track, det in pairs:
            dt = now - track.last_seen
            if dt > 0:
                self._velocity[track.track_id] = (det.box - track.box) / dt
            track.box = det.box.copy()
            track.last_seen = now
            track.hits += 1
            track.missed = 0
        for det in strong:
            tid = next(self._ids)
            track = TrackState(track_id=tid, first_seen=now, last_seen=now, box=det.box.copy(), hits=1)
            self.tracks[tid] = track
            pairs.append((track, det))
        matched = {id(t) for t, _ in pairs}
        ended = []
        for track in live:
            if id(track) in matched:
                continue
            track.missed += 1
            if now - track.last_seen > self.cfg.max_gap_s:
                ended.append(self._end(track))
        return pairs, ended

    def _cost(self, tracks: np.ndarray, dets: np.ndarray) -> np.ndarray:
        """Centre distance in face sizes; pairs whose sizes differ too much cost infinity."""

        def centre_size(b):
            return (b[:, :2] + b[:, 2:]) / 2, np.sqrt(np.maximum((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 1e-6))

        ct, st = centre_size(tracks)
        cd, sd = centre_size(dets)
        dist = np.linalg.norm(ct[:, None] - cd[None], axis=2) / np.sqrt(st[:, None] * sd[None])
        ratio = np.maximum(st[:, None] / sd[None], sd[None] / st[:, None])
        return np.where(ratio <= self.cfg.max_scale_change, dist, np.inf)

    def confirmed(self, track: TrackState) -> bool:
        return track.hits >= self.cfg.min_hits

    def _end(self, track: TrackState) -> TrackState:
        track.finished = True
        self.tracks.pop(track.track_id, None)
        self._velocity.pop(track.track_id, None)
        return track

    def flush(self) -> list[TrackState]:
        """End every live track (end of stream)."""
        return [self._end(t) for t in list(self.tracks.values())]
