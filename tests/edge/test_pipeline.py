"""The whole edge pipeline on a generated entrance video of real photographs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from humiao.edge.agent import EdgeAgent
from humiao.edge.config import EdgeConfig
from humiao.edge.sample_video import build

pytestmark = pytest.mark.slow
OFFLINE = EdgeConfig(source={"mode": "offline"}, metrics={"port": None})  # every frame, in order


@pytest.fixture(scope="module")
def adult_video(tmp_path_factory, astronaut, group_photo):
    crop = group_photo[250:480, 400:640]  # one adult from the group photo, head and shoulders
    path = tmp_path_factory.mktemp("video") / "adults.mp4"
    return build(path, seconds_per_person=2.0, photos=[(astronaut, "astronaut", None), (crop, "t1 crop", None)])


def test_each_person_is_one_track_and_adults_pass(adult_video, tmp_path, monkeypatch):
    path, people = adult_video
    monkeypatch.chdir(tmp_path)
    cfg = OFFLINE
    agent = EdgeAgent(cfg)
    events = []
    summary = agent.run(events.append, str(path))
    decided = summary.decisions
    assert len(decided) == len(people) == 2, [(e.track_id, e.first_seen, e.last_seen) for e in decided]
    for event, person in zip(sorted(decided, key=lambda e: e.first_seen), people, strict=True):
        assert person.enter_s - 0.2 <= event.first_seen < event.last_seen <= person.leave_s + 0.1
        assert event.decision.age > 22
        assert event.decision.p_minor < 0.2
        assert event.decision.frames_used >= 3
    assert {e.kind for e in events} == {"decided", "ended"}
    # privacy: nothing written where the agent ran, no face chips left in memory after the tracks ended
    assert list(tmp_path.iterdir()) == []
    assert agent.pipeline._best_crop == {}
    assert agent.pipeline.tracker.tracks == {}
    assert set(summary.stage_ms) >= {"detect", "align", "age", "fuse"}


def test_a_child_is_flagged(shared_faces, tmp_path):
    import cv2

    child = cv2.imread(str(shared_faces / "fgnet" / "images" / "002A05.JPG"))[:, :, ::-1].copy()
    path, _ = build(tmp_path / "child.mp4", seconds_per_person=2.0, photos=[(child, "fgnet 002A05", 5.0)])
    summary = EdgeAgent(OFFLINE).run(lambda e: None, str(path))
    assert len(summary.decisions) == 1
    d = summary.decisions[0].decision
    assert d.check_id and d.p_minor > 0.8 and d.age < 14


def test_no_decision_on_an_empty_scene(tmp_path):
    import cv2

    path = tmp_path / "empty.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (640, 360))
    for _ in range(50):
        w.write(np.full((360, 640, 3), 120, np.uint8))
    w.release()
    summary = EdgeAgent(OFFLINE).run(lambda e: None, str(path))
    assert summary.frames_read == 50 and summary.decisions == []


def _cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "humiao.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def test_cli_edge_run_prints_decisions(adult_video):
    path, _ = adult_video
    # a "looks under 21" venue without the P(minor) operating point: these adults pass
    env = {"HUMIAO__POLICY__CHALLENGE_THRESHOLD": "21", "HUMIAO__POLICY__USE_OPERATING_POINT": "false"}
    done = _cli("edge", "run", "--source", str(path), env=env)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("track")]
    assert len(lines) == 2 and all(ln.endswith("→ pass") for ln in lines), lines
    assert all("P(<21)" in ln for ln in lines)
    assert "done:" in done.stdout


def test_cli_edge_run_with_two_cameras_names_each(adult_video, tmp_path):
    """One agent, two cameras (the same file at two doors): each decision names its camera, the summary has a
    line per camera; --source is refused (it replaces the camera of a one-camera configuration)."""
    path, _ = adult_video
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(
        "policy: {challenge_threshold: 21, use_operating_point: false}\nmetrics: {port: null}\ncameras:\n"
        f"  - {{camera_id: door-a, uri: '{path}', mode: offline, zone: Main door}}\n"
        f"  - {{camera_id: door-b, uri: '{path}', mode: offline}}\n"
    )
    done = _cli("edge", "run", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert "camera door-a (Main door)" in done.stdout and "camera door-b " in done.stdout
    decided = [ln for ln in done.stdout.splitlines() if ln.startswith(("door-a: track", "door-b: track"))]
    assert sorted(ln[:6] for ln in decided) == ["door-a"] * 2 + ["door-b"] * 2, done.stdout
    assert "  camera door-a: " in done.stdout and "  camera door-b: " in done.stdout
    refused = _cli("edge", "run", "--config", str(cfg), "--source", str(path))
    assert refused.returncode == 2 and "2 cameras" in refused.stderr


def test_cli_reports_bad_config_and_source(tmp_path):
    bad = tmp_path / "edge.yaml"
    bad.write_text("policy:\n  challenge_threshold: 99\n")
    done = _cli("edge", "run", "--config", str(bad))
    assert done.returncode == 2 and "policy.challenge_threshold" in done.stderr
    done = _cli("edge", "run", "--source", str(tmp_path / "nope.mp4"))
    assert done.returncode == 2 and "no such file" in done.stderr


def test_cli_models_list():
    done = _cli("models", "list")
    assert done.returncode == 0
    assert "cydral-age-v1" in done.stdout and "CC0-1.0" in done.stdout and "[prepared]" in done.stdout
    json.dumps(done.stdout)


def test_false_detections_are_not_observed(astronaut):
    """A detection where FaceMesh sees no face contributes nothing; the real face still does."""
    from humiao.edge.types import Detection

    def fake(x, y, s=100):
        box = np.array([x, y, x + s, y + s], np.float32)
        kp = np.array(
            [
                [x + 0.3 * s, y + 0.4 * s],
                [x + 0.7 * s, y + 0.4 * s],
                [x + 0.5 * s, y + 0.6 * s],
                [x + 0.5 * s, y + 0.8 * s],
                [x, y + 0.5 * s],
                [x + s, y + 0.5 * s],
            ],
            np.float32,
        )
        return Detection(box, 0.9, kp)

    agent = EdgeAgent(EdgeConfig())
    pipe = agent.pipeline
    real_detect = pipe.detector.detect
    pipe.detector.detect = lambda frame: [fake(380, 330)] + real_detect(frame)  # a "face" on her suit
    events = []
    for i in range(8):
        events += pipe.process(astronaut, i * 0.1)
    events += pipe.flush()
    decided = [e for e in events if e.kind == "decided"]
    assert len(decided) == 1 and decided[0].decision.age > 20
