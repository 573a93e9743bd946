"""The vision pipeline: one frame in, track decisions out, with per-stage timings.

    frame ─► detect ─► track ─► landmarks + align ─► quality ─► age (batched) ─► fuse ─► policy

Faces exist only in memory: each track keeps a crop of its face from its best frame (what an
alert would need as evidence; never the whole frame) and nothing else, and forgets it when the
track ends. Only the agent turns an alert's crop into sealed evidence.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np

from humiao.edge.age import N_AGES, Estimator, FaceAges, GenderAgeEstimator, build_age_estimator
from humiao.edge.align import align
from humiao.edge.calibration import AgeCalibration, for_models
from humiao.edge.config import EdgeConfig
from humiao.edge.detect import FaceDetector, build_detector
from humiao.edge.fuse import fuse
from humiao.edge.landmarks import Landmarks, build_landmarks
from humiao.edge.policy import PolicyConfig, alert_due, confident, decide
from humiao.edge.quality import QualityConfig, assess
from humiao.edge.track import Tracker
from humiao.edge.types import AgeDecision, Detection, FaceObservation, FaceView, Quality, TrackState
from humiao.models.errors import ModelError


@dataclass(slots=True)
class TrackEvent:
    kind: Literal["decided", "ended"]
    track_id: int
    first_seen: float
    last_seen: float
    decision: AgeDecision | None
    best_crop: np.ndarray | None  # memory only; the agent decides whether it becomes evidence
    camera_id: str = ""  # the camera whose pipeline saw this person


class StageTimer:
    def __init__(self, observe=None) -> None:
        self.total: defaultdict[str, float] = defaultdict(float)
        self.count: defaultdict[str, int] = defaultdict(int)
        self.observe = observe  # e.g. the agent's Prometheus histogram

    def add(self, stage: str, seconds: float) -> None:
        self.total[stage] += seconds
        self.count[stage] += 1
        if self.observe is not None:
            self.observe(stage, seconds)

    def mean_ms(self) -> dict[str, float]:
        return {s: 1000 * self.total[s] / max(self.count[s], 1) for s in self.total}


def build_stages(cfg: EdgeConfig) -> tuple[FaceDetector, Landmarks, Estimator]:
    """(detector, landmarks, age estimator) as configured; models are prepared on first use."""
    m, d = cfg.models, cfg.detector
    detector: FaceDetector
    age: Estimator
    if m.pack == "insightface":
        from humiao.edge.detect import InsightFaceDetector
        from humiao.edge.packs import find_model
        from humiao.models import insightface_pack

        pack = m.insightface_dir
        if pack is None:  # the configuration refuses this; said again for a config built in code
            raise ModelError("pack 'insightface' needs models.insightface_dir")
        licence = insightface_pack.inspect(pack)
        insightface_pack.check_allowed(licence, m.mode, m.allow_non_commercial)
        detector = InsightFaceDetector(
            find_model(pack, "detection"), score_threshold=d.score_threshold, min_face_px=d.min_face_px
        )
        if m.age == "insightface-genderage":
            age = GenderAgeEstimator(find_model(pack, "genderage"))
        else:
            age = build_age_estimator(m.age, flip=cfg.fusion.flip, threads=m.threads, members=m.ensemble)
    else:
        detector = build_detector(
            m.detector,
            threads=m.threads,
            score_threshold=d.score_threshold,
            nms_iou=d.nms_iou,
            tiles=d.tiles,
            tile_overlap=d.tile_overlap,
            min_face_px=d.min_face_px,
        )
        age = build_age_estimator(m.age, flip=cfg.fusion.flip, threads=m.threads, members=m.ensemble)
    return detector, build_landmarks(m.landmarks, threads=m.threads), age


def calibration_for(cfg: EdgeConfig) -> AgeCalibration:
    """The configured calibration: the shipped one for the age model and profile, or the file given."""
    m, f = cfg.models, cfg.fusion
    return for_models(m.age, f.calibration_profile, m.ensemble, f.calibration_file)


def calibration_name(cfg: EdgeConfig) -> str:
    """How alerts name the calibration behind their probabilities: model/profile, or the file's name."""
    f = cfg.fusion
    return f.calibration_file.name if f.calibration_file else f"{cfg.models.age}/{f.calibration_profile}"


def observe_face(
    frame_rgb: np.ndarray, det: Detection, landmarks, quality: QualityConfig
) -> tuple[FaceView, Quality] | None:
    """One detection as the age estimators see it, and its quality; None when the landmark model
    sees no face there."""
    points, presence = landmarks.landmarks(frame_rgb, det)
    if presence < quality.min_presence:
        return None  # a false detection
    chip = align(frame_rgb, points, landmarks.source)
    return FaceView(frame_rgb, det, points, chip), assess(det, chip, quality)


def face_crop(frame_rgb: np.ndarray, box: np.ndarray, margin: float = 0.4) -> np.ndarray:
    """The face and a margin around it (a copy: the frame itself is never kept)."""
    h, w = frame_rgb.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    x1, y1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    x2, y2 = min(w, int(x2 + mx + 0.5)), min(h, int(y2 + my + 0.5))
    return frame_rgb[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)].copy()


def estimate_ages(age: FaceAges, faces: list[FaceView]) -> np.ndarray:
    """(N, 81) age distributions, one per face, in one batch."""
    if not faces:
        return np.zeros((0, N_AGES), dtype=np.float32)
    return age.predict_faces(faces)


class VisionPipeline:
    """One camera's pipeline. ``stages`` (detector, landmarks, age estimator) and ``calibration`` may be
    shared by several cameras' pipelines (their models are thread-safe to run concurrently); the tracker,
    the decided tracks and the best crops are this camera's own. ``policy``: this camera's (default
    ``cfg.policy``)."""

    def __init__(
        self,
        cfg: EdgeConfig,
        stages: tuple[FaceDetector, Landmarks, FaceAges] | None = None,
        *,
        calibration: AgeCalibration | None = None,
        policy: PolicyConfig | None = None,
        camera_id: str = "",
    ):
        self.cfg = cfg
        self.detector, self.landmarks, self.age = stages or build_stages(cfg)
        self.calibration = calibration or calibration_for(cfg)
        self.policy = policy or cfg.policy
        self.camera_id = camera_id
        self.tracker = Tracker(cfg.tracker)
        self.timer = StageTimer()
        self._decided: set[int] = set()
        self._best_crop: dict[int, tuple[float, np.ndarray]] = {}
        self.frames = 0

    # ------------------------------------------------------------------------------------
    def process(self, frame_rgb: np.ndarray, now: float) -> list[TrackEvent]:
        self.frames += 1
        clock = time.perf_counter
        t0 = clock()
        detections = self.detector.detect(frame_rgb)
        t1 = clock()
        pairs, ended = self.tracker.update(detections, now)
        t2 = clock()
        self.timer.add("detect", t1 - t0)
        self.timer.add("track", t2 - t1)

        faces, owners = [], []
        for track, det in pairs:
            if track.track_id in self._decided:
                continue  # this visit is decided (once per visit): no more face work for it
            seen = observe_face(frame_rgb, det, self.landmarks, self.cfg.quality)
            if seen is None:
                continue
            faces.append(seen[0])
            owners.append((track, det, seen[1]))
        t3 = clock()
        probs = estimate_ages(self.age, faces)
        t4 = clock()
        if faces:
            self.timer.add("align", t3 - t2)
            self.timer.add("age", t4 - t3)

        events: list[TrackEvent] = []
        for (track, det, quality), p in zip(owners, probs, strict=True):
            self._observe(track, FaceObservation(self.frames, now, det, p, quality), frame_rgb)
        for track, _det, _q in owners:
            if track.track_id in self._decided or not self.tracker.confirmed(track):
                continue
            track.decision = self._decide(track)
            if confident(track.decision, self.policy) or alert_due(track.decision, now - track.first_seen, self.policy):
                events.append(self._event("decided", track))
        for track in ended:
            events.extend(self._finish(track))
        self.timer.add("fuse", clock() - t4)
        return events

    def flush(self) -> list[TrackEvent]:
        """End of stream: every live track ends and is decided."""
        events = []
        for track in self.tracker.flush():
            events.extend(self._finish(track))
        return events

    def forget(self) -> None:
        """Drop every track and face crop without deciding (a camera the agent gave up on)."""
        self._best_crop.clear()
        self._decided.clear()
        self.tracker.tracks.clear()

    # ------------------------------------------------------------------------------------
    def _observe(self, track: TrackState, obs: FaceObservation, frame_rgb: np.ndarray) -> None:
        track.observations.append(obs)
        cap = self.cfg.fusion.max_observations
        if len(track.observations) > cap:
            worst = min(range(len(track.observations)), key=lambda i: track.observations[i].quality.weight)
            track.observations.pop(worst)
        best = self._best_crop.get(track.track_id)
        if best is None or obs.quality.weight > best[0]:
            self._best_crop[track.track_id] = (obs.quality.weight, face_crop(frame_rgb, obs.detection.box))

    def _decide(self, track: TrackState) -> AgeDecision:
        probs = np.stack([o.age_probs for o in track.observations])
        weights = np.array([o.quality.weight for o in track.observations])
        return decide(fuse(probs, weights, self.cfg.fusion.method), self.calibration, self.policy)

    def _event(self, kind: Literal["decided", "ended"], track: TrackState) -> TrackEvent:
        self._decided.add(track.track_id)
        crop = self._best_crop.get(track.track_id, (0, None))[1]
        return TrackEvent(kind, track.track_id, track.first_seen, track.last_seen, track.decision, crop, self.camera_id)

    def _finish(self, track: TrackState) -> list[TrackEvent]:
        out = []
        if track.observations and track.hits >= self.cfg.tracker.min_hits and track.track_id not in self._decided:
            track.decision = self._decide(track)
            out.append(self._event("decided", track))
        out.append(
            TrackEvent("ended", track.track_id, track.first_seen, track.last_seen, track.decision, None, self.camera_id)
        )
        self._best_crop.pop(track.track_id, None)
        self._decided.discard(track.track_id)
        track.observations.clear()
        return out
