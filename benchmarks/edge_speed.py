"""Edge speed on one core: per-stage milliseconds and frames/s on a generated 720p video.

    python -m benchmarks.edge_speed --json OUT.json [--seconds-per-person 3] [--config edge.yaml]

The video (real face photographs walking across a corridor, ``edge.sample_video``) is written
to a temporary folder. The process is pinned to one CPU core, OpenCV and onnxruntime to one
thread. Three passes over the same file:
- decode only: read and convert every frame (what any consumer of the camera pays);
- pipeline at the configured detection rate (``detect_fps``; frames in between are decoded
  and skipped, as the agent does);
- pipeline on every frame (``detect_fps`` at its maximum, above the video's frame rate);
- pipeline at the detection rate on a quieter entrance: the same people with ``--idle-gap-s``
  of empty corridor between them, where the motion gate skips detection.
The pipeline passes run the edge agent itself (``EdgeAgent.run``), whose timer includes decoding.
Reported per pass: mean ms per stage per *video* frame, frames/s, and the ratio of whole-pipeline
cost to decode-only cost; plus the mean ms per stage per *processed* frame.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from humiao.config import load_config
from humiao.edge.agent import EdgeAgent
from humiao.edge.capture import frames
from humiao.edge.config import EdgeConfig
from humiao.edge.sample_video import build

from benchmarks.report import machine, write_json

EVERY_FRAME_FPS = 120.0  # the highest detect_fps: every frame of the 25 fps video is processed


def decode_only(path: str) -> tuple[int, float]:
    n, t0 = 0, time.perf_counter()
    for frame in frames(path):
        _ = frame.rgb  # what every consumer pays: decode + colour conversion
        n += 1
    return n, time.perf_counter() - t0


def pipeline_pass(cfg: EdgeConfig, path: str, detect_fps: float) -> dict:
    """The agent itself over the file; its timer has every stage, decoding included."""
    agent = EdgeAgent(
        cfg.model_copy(update={"detect_fps": detect_fps, "source": cfg.source.model_copy(update={"mode": "offline"})})
    )
    summary = agent.run(lambda event: None, path)
    timer, n = agent.pipeline.timer, summary.frames_read
    return {
        "frames": n,
        "frames_processed": summary.frames_processed,
        "frames_gated": summary.frames_gated,
        "decisions": summary.decided,
        "seconds": round(summary.seconds, 3),
        "fps": round(n / summary.seconds, 2),
        "ms_per_video_frame": {k: round(1000 * v / n, 3) for k, v in timer.total.items()},
        "ms_per_processed_frame": {k: round(v, 3) for k, v in timer.mean_ms().items() if k != "decode"},
    }


def age_ms_per_face(cfg: EdgeConfig, repeats: int = 200) -> dict[str, float]:
    """The age stage alone, one face at a time (flip included as configured), per model and for the
    configured estimator: median ms over ``repeats`` on a real face (scikit-image's astronaut or the
    first photo the sample video uses)."""
    from humiao.edge.age import build_age_estimator
    from humiao.edge.detect import build_detector
    from humiao.edge.landmarks import build_landmarks
    from humiao.edge.pipeline import observe_face
    from humiao.edge.sample_video import people_photos

    photo = people_photos(1)[0][0]
    frame = cv2.copyMakeBorder(photo, 100, 100, 100, 100, cv2.BORDER_CONSTANT)
    det = max(build_detector(cfg.models.detector).detect(frame), key=lambda d: d.width)
    seen = observe_face(frame, det, build_landmarks(cfg.models.landmarks), cfg.quality)
    assert seen is not None, "no face in the timing photo"
    estimators = {m: build_age_estimator(m, flip=cfg.fusion.flip) for m in cfg.models.ensemble}
    estimators[cfg.models.age] = build_age_estimator(cfg.models.age, flip=cfg.fusion.flip, members=cfg.models.ensemble)
    out = {}
    for name, est in estimators.items():
        est.predict_faces([seen[0]])  # warm up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            est.predict_faces([seen[0]])
            times.append(time.perf_counter() - t0)
        out[name] = round(1000 * float(np.median(times)), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--config", type=Path)
    ap.add_argument("--seconds-per-person", type=float, default=3.0)
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--all-cores", action="store_true", help="do not pin to one core")
    ap.add_argument("--idle-gap-s", type=float, default=3.0, help="empty corridor between people, quiet-entrance pass")
    args = ap.parse_args(argv)

    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cv2.setNumThreads(1)
    cfg = load_config(EdgeConfig, args.config)
    cfg = cfg.model_copy(update={"models": cfg.models.model_copy(update={"threads": 1})})
    with tempfile.TemporaryDirectory() as tmp:
        video, people = build(Path(tmp) / "speed.mp4", seconds_per_person=args.seconds_per_person, limit=args.people)
        decode_only(str(video))  # warm the file cache and codec
        n, dec_s = decode_only(str(video))
        at_rate = pipeline_pass(cfg, str(video), cfg.detect_fps)
        every = pipeline_pass(cfg, str(video), EVERY_FRAME_FPS)
        quiet_video, _ = build(
            Path(tmp) / "quiet.mp4",
            seconds_per_person=args.seconds_per_person,
            limit=args.people,
            gap_s=args.idle_gap_s,
        )
        qn, qdec_s = decode_only(str(quiet_video))
        quiet = pipeline_pass(cfg, str(quiet_video), cfg.detect_fps)
        quiet["frames_gated_by_motion"] = quiet.pop("frames_gated", None)
    dec_ms = 1000 * dec_s / n
    out = {
        "video": {"frames": n, "size": [1280, 720], "people": len(people), "codec": "mp4v"},
        "machine": machine(cores_used=1 if not args.all_cores else os.cpu_count()),
        "config": {
            "detector": cfg.models.detector,
            "tiles": cfg.detector.tiles,
            "landmarks": cfg.models.landmarks,
            "flip": cfg.fusion.flip,
            "age": cfg.models.age,
            "ensemble": cfg.models.ensemble,
            "detect_fps": cfg.detect_fps,
        },
        "decode_only": {"ms_per_frame": round(dec_ms, 3), "fps": round(n / dec_s, 2)},
        "pipeline_at_detect_fps": at_rate,
        "pipeline_every_frame": every,
        "ratio_pipeline_to_decode_at_detect_fps": round(1000 * at_rate["seconds"] / n / dec_ms, 2),
        "ratio_pipeline_to_decode_every_frame": round(1000 * every["seconds"] / n / dec_ms, 2),
        "quiet_entrance": {
            "idle_gap_s": args.idle_gap_s,
            "frames": qn,
            "decode_only_fps": round(qn / qdec_s, 2),
            "pipeline": quiet,
            "ratio_pipeline_to_decode": round(quiet["seconds"] / qdec_s, 2),
        },
        "target_ratio": 1.5,
        "age_ms_per_face": age_ms_per_face(cfg),
        "target_age_ms_per_face": 5.0,
    }
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
