"""The edge agent, top to bottom: frames in → vision pipeline → decisions out.

    source (edge.capture) ─► detect-rate gate ─► VisionPipeline.process ─► TrackEvent ─► sink

This first cut hands decisions to a callback (the CLI prints them). The MQTT publisher, the
on-disk spool, evidence handling, motion gating and metrics join here in the agent issue.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edge.capture import frames
from edge.config import EdgeConfig
from edge.pipeline import TrackEvent, VisionPipeline

log = logging.getLogger("humiao.edge")


@dataclass
class RunSummary:
    frames_read: int = 0
    frames_processed: int = 0
    decisions: list[TrackEvent] = field(default_factory=list)
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)


def resolve_source(cfg: EdgeConfig, cache: Path | None = None) -> str:
    """'sample' → the generated demo video (built once into the cache); anything else as given."""
    if cfg.source.uri != "sample":
        return cfg.source.uri
    from edge import sample_video

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "humiao" / "sample"
    path = (cache or base) / "entrance.mp4"
    if not path.exists() or not Path(str(path) + ".json").exists():
        log.info("building the sample video at %s", path)
        sample_video.build(path)
    return str(path)


class EdgeAgent:
    def __init__(self, cfg: EdgeConfig):
        self.cfg = cfg
        self.pipeline = VisionPipeline(cfg)

    def run(self, on_event: Callable[[TrackEvent], None], uri: str | None = None) -> RunSummary:
        uri = uri or resolve_source(self.cfg)
        summary = RunSummary()
        period = 1.0 / self.cfg.detect_fps
        next_due = 0.0
        started = time.perf_counter()

        def emit(events: list[TrackEvent]) -> None:
            for event in events:
                if event.kind == "decided":
                    summary.decisions.append(event)
                on_event(event)

        timer = self.pipeline.timer
        source = iter(frames(uri, self.cfg.source.max_frames))
        while True:
            t0 = time.perf_counter()
            frame = next(source, None)
            if frame is None:
                break
            timer.add("decode", time.perf_counter() - t0)
            summary.frames_read += 1
            if frame.timestamp + 1e-9 < next_due:
                continue
            next_due = frame.timestamp + period
            summary.frames_processed += 1
            emit(self.pipeline.process(frame.rgb, frame.timestamp))
        emit(self.pipeline.flush())
        summary.seconds = time.perf_counter() - started
        summary.stage_ms = timer.mean_ms()
        return summary
