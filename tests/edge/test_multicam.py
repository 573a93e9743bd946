"""One edge agent, several cameras (``cameras:``): one copy of the models, each camera its own state.

- the configuration: a list of cameras, or ``source`` alone (a list of one); both, duplicate ids and
  unknown keys are refused naming the field;
- the age batcher puts the faces of concurrent cameras in one batch;
- two cameras on one agent: the models are loaded once, each camera's people are decided under its own
  door's policy, alerts and the desk carry that camera's id;
- a camera that is gone (a file that is not there, on_end reopen) or hangs (a network camera that keeps
  its connection and sends nothing) does not hold up the other: it keeps deciding, and the status says
  which camera is reconnecting;
- through the real broker and hub (services): the alert is stored under its camera, the retained status
  lists both cameras, the staff console offers both.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from humiao.config import ConfigError, load_config
from humiao.edge.agent import EdgeAgent
from humiao.edge.batching import AgeBatcher
from humiao.edge.config import EdgeConfig
from humiao.edge.sample_video import build
from humiao.proto import humiao_v1_pb2 as pb

TWO = """
cameras:
  - camera_id: door-a
    uri: /videos/a.mp4
    zone: Main door
    policy: {challenge_threshold: 21}
  - camera_id: door-b
    uri: rtsp://10.0.0.7/stream1
    mode: live
    on_end: reopen
    stall_timeout_s: 3
"""


def _load(tmp_path, text: str) -> EdgeConfig:
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    return load_config(EdgeConfig, path, environ={}, prefix="HUMIAO__")


# -- configuration -----------------------------------------------------------------------------------------
def test_two_cameras_parse_with_their_own_settings(tmp_path):
    cfg = _load(tmp_path, TWO)
    a, b = cfg.camera_configs()
    assert (a.camera_id, a.label, b.camera_id, b.label) == ("door-a", "Main door", "door-b", "door-b")
    assert (b.on_end, b.stall_timeout_s) == ("reopen", 3)
    assert cfg.camera_policy(a).challenge_threshold == 21
    assert cfg.camera_policy(b).challenge_threshold == cfg.policy.challenge_threshold == 25
    assert cfg.camera_policy(a).venue_type == cfg.policy.venue_type  # the venue's, not the door's
    again = EdgeConfig.model_validate(yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json"))))
    assert again.camera_configs() == cfg.camera_configs()  # a dump loads again (no 'source' beside 'cameras')


def test_source_alone_is_a_list_of_one(tmp_path):
    cfg = _load(tmp_path, "source:\n  uri: /videos/door.mp4\n  camera_id: door-1\n")
    (only,) = cfg.camera_configs()
    assert (only.uri, only.camera_id, only.zone) == ("/videos/door.mp4", "door-1", "")
    assert cfg.camera_policy(only) == cfg.policy
    assert [c.camera_id for c in EdgeConfig().camera_configs()] == ["cam0"]


@pytest.mark.parametrize(
    "text,words",
    [
        (TWO + "source:\n  uri: /videos/c.mp4\n", ["'source'", "'cameras'", "not both"]),
        (TWO.replace("door-b", "door-a"), ["cameras.1.camera_id", "'door-a'", "unique"]),
        (TWO.replace("zone: Main door", "zone: Main door\n    colour: red"), ["cameras.0.colour", "Extra inputs"]),
        (TWO.replace("{challenge_threshold: 21}", "{venue_type: bar}"), ["cameras.0.policy.venue_type"]),
        (TWO.replace("    uri: /videos/a.mp4\n", ""), ["cameras.0.uri", "required"]),
        (TWO.replace("door-a", "Door A"), ["cameras.0.camera_id"]),
        ("cameras: []\n", ["cameras"]),
    ],
)
def test_bad_camera_lists_are_refused_naming_the_field(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert all(w in str(err.value) for w in words), str(err.value)


# -- the age batch -----------------------------------------------------------------------------------------
def test_faces_of_concurrent_cameras_go_to_the_age_model_in_one_batch():
    calls: list[int] = []

    class Model:
        name = "fake"

        def predict_faces(self, faces):
            calls.append(len(faces))
            time.sleep(0.01)
            return np.array([[float(f)] * 81 for f in faces], np.float32)

    batcher = AgeBatcher(Model(), max_wait_s=0.5).start()  # a long wait: it must end once both cameras asked
    got: dict[str, np.ndarray] = {}
    barrier = threading.Barrier(2)

    def camera(name: str, faces: list) -> None:
        with batcher.frame():
            barrier.wait()
            got[name] = batcher.predict_faces(faces)

    try:
        started = time.monotonic()
        threads = [threading.Thread(target=camera, args=a) for a in (("a", [1, 2]), ("b", [3]))]
        [t.start() for t in threads]
        [t.join(5) for t in threads]
        assert calls == [3] and time.monotonic() - started < 0.4  # one batch, no waiting out max_wait_s
        assert got["a"][:, 0].tolist() == [1, 2] and got["b"][:, 0].tolist() == [3]  # each its own rows
        with batcher.frame():  # one camera alone: no wait for others
            started = time.monotonic()
            assert batcher.predict_faces([7])[0, 0] == 7 and time.monotonic() - started < 0.2
    finally:
        batcher.stop()


def test_a_camera_asking_as_the_batcher_stops_is_answered_not_left_waiting():
    """stop() between a camera's check that the batcher runs and its request reaching the queue: nobody would
    answer it, and the camera's worker (not a daemon) would wait forever, so the agent never exits."""

    class Model:
        name = "fake"

        def predict_faces(self, faces):
            return np.array([[float(f)] * 81 for f in faces], np.float32)

    batcher = AgeBatcher(Model(), max_wait_s=0.01).start()
    real_put = batcher._q.put

    def put_after_stop(item, *args, **kw):
        batcher._q.put = real_put
        batcher.stop()  # the shutdown lands between the check and the put
        return real_put(item, *args, **kw)

    batcher._q.put = put_after_stop
    got: list = []
    asker = threading.Thread(target=lambda: got.append(batcher.predict_faces([5])), daemon=True)
    asker.start()
    asker.join(3)
    assert not asker.is_alive(), "the camera is still waiting for an age batch that will never come"
    assert got[0][0, 0] == 5
    assert all(not r.faces for r in list(batcher._q.queue) if r is not None)  # no frames left in the queue


# -- the agent's threads, with stand-in cameras and pipelines (no models, no video: fast) --------------------
class FakeReader:
    """A camera that gives ``n`` frames as fast as they are taken, then ends (as CameraReader, offline)."""

    counts: dict[str, int] = {}

    def __init__(self, uri, camera_id, *args, on_state=None, **kw):
        self.camera_id, self.on_state, self.left = camera_id, on_state, self.counts[uri]
        self.state, self.state_since, self.fps, self.frames_read, self.frames_skipped, self.reconnects = (
            "streaming",
            time.time(),
            0.0,
            0,
            0,
            0,
        )

    def start(self):
        return self

    def get(self, timeout=1.0):
        if self.state != "streaming" or self.left <= 0:
            self.state = "ended" if self.state == "streaming" else self.state
            return None
        self.left -= 1
        self.frames_read += 1
        px = np.zeros((4, 4, 3), np.uint8)
        return SimpleNamespace(timestamp=self.frames_read * 0.2, wall=time.time(), bgr=px, rgb=px)

    @property
    def ended(self):
        return self.state in ("ended", "down")

    def stop(self):
        pass

    def fail(self, why):
        self.state = "down"


class FakePipe:
    """One decided person per frame, each with a face crop; ``fail_at``: the frame that raises."""

    def __init__(self, camera_id, fail_at=None, delay=0.0):
        from humiao.edge.pipeline import StageTimer

        self.camera_id, self.fail_at, self.delay, self.n = camera_id, fail_at, delay, 0
        self.timer, self.tracker = StageTimer(), SimpleNamespace(tracks={})

    def process(self, rgb, now):
        from humiao.edge.pipeline import TrackEvent

        self.n += 1
        if self.fail_at is not None and self.n >= self.fail_at:
            raise RuntimeError(f"bad frame from {self.camera_id}")
        time.sleep(self.delay)
        crop = np.zeros((32, 32, 3), np.uint8)
        return [TrackEvent("decided", self.n, now, now, SimpleNamespace(check_id=False), crop, self.camera_id)]

    def flush(self):
        return []

    def forget(self):
        pass


def _fake_agent(monkeypatch, frames: list[int], pipes: list[dict], **over) -> EdgeAgent:
    from humiao.edge import agent as agent_mod

    monkeypatch.setattr(agent_mod, "build_stages", lambda cfg: (None, None, None))
    monkeypatch.setattr(agent_mod, "calibration_for", lambda cfg: object())
    monkeypatch.setattr(agent_mod, "CameraReader", FakeReader)
    monkeypatch.setattr(agent_mod, "check_at_start", lambda *a, **k: None)
    cams = [{"camera_id": f"door-{i}", "uri": f"/videos/{i}.mp4", "mode": "offline"} for i in range(len(frames))]
    monkeypatch.setattr(FakeReader, "counts", {c["uri"]: n for c, n in zip(cams, frames, strict=True)})
    cfg = EdgeConfig.model_validate({"cameras": cams, "metrics": {"port": None}, **over})
    agent = EdgeAgent(cfg)
    for lane, over in zip(agent.lanes, pipes, strict=True):
        lane.pipeline = FakePipe(lane.camera_id, **over)
        lane.motion = SimpleNamespace(moving=lambda bgr, t: True)
    return agent


def test_a_slow_consumer_holds_the_cameras_back_and_no_face_crop_outlives_its_callback(monkeypatch):
    """Decisions wait for the run thread in a bounded queue (each holding a face crop: memory and privacy), and
    a crop is dropped once its callback has seen it, alert or not (not kept in the run summary)."""
    agent = _fake_agent(monkeypatch, [150, 150], [{}, {}])
    waiting, crops = [], []

    def slow(event):
        crops.append(event.best_crop is not None)
        waiting.append(agent._events.qsize())
        time.sleep(0.002)  # a slow spool or callback

    summary = agent.run(slow)
    assert len(summary.decisions) == 300 and all(crops)  # every callback saw its crop
    assert max(waiting) <= 6, max(waiting)  # frames' decisions queued at once, not every frame's
    assert all(e.best_crop is None for e in summary.decisions)  # none kept past the callback
    assert agent._events.empty()


def test_a_camera_whose_pipeline_fails_stops_alone_and_the_log_says_so(monkeypatch, caplog):
    agent = _fake_agent(monkeypatch, [60, 60], [{"delay": 0.003}, {"fail_at": 2}])
    with caplog.at_level("ERROR", logger="humiao.edge"):
        summary = agent.run()
    a, b = summary.cameras["door-0"], summary.cameras["door-1"]
    assert a.frames_processed == a.decisions == 60  # the other door kept deciding to its end
    assert (b.state, b.decisions) == ("down", 1) and "bad frame from door-1" in b.error
    assert "camera door-1: the pipeline failed" in caplog.text and "keep deciding: door-0" in caplog.text
    assert {c["camera_id"]: c["state"] for c in agent.camera_status()}["door-1"] == "down"


def test_with_fewer_model_slots_than_cameras_each_camera_gets_its_turn(monkeypatch):
    """models.workers below the number of cameras (the default on a 2-core box with 3 doors): the camera that
    has waited longest gets the freed slot, not the one that just gave it back."""
    agent = _fake_agent(monkeypatch, [80, 80], [{"delay": 0.003}, {"delay": 0.003}], models={"workers": 1})
    order: list[str] = []
    agent.run(lambda event: order.append(event.camera_id))
    first = order[:80]
    assert min(first.count("door-0"), first.count("door-1")) >= 30, first  # taking turns, not one door then the other


def test_a_camera_given_up_on_says_down_and_stops_reading(tmp_path):
    from humiao.edge.capture import CameraReader

    states: list[tuple[str, str]] = []
    reader = CameraReader(str(tmp_path / "gone.mp4"), "door-b", on_end="reopen", reconnect_min_s=0.05)
    reader.on_state = lambda cid, state: states.append((cid, state))
    reader.start()
    reader.fail("the pipeline failed")
    assert reader.state == "down" and reader.ended and reader.get(timeout=0.1) is None
    assert states[-1] == ("door-b", "down") and not reader._thread.is_alive()


@pytest.mark.parametrize("frames,pipes", [([30], [{"fail_at": 3}]), ([30, 30], [{"fail_at": 3}, {"fail_at": 5}])])
def test_when_every_camera_fails_run_raises(monkeypatch, frames, pipes):
    agent = _fake_agent(monkeypatch, frames, pipes)
    with pytest.raises(RuntimeError, match="bad frame"):
        agent.run()
    assert not any(lane.thread.is_alive() for lane in agent.lanes)


def test_a_callback_that_fails_stops_every_camera_and_drops_what_was_queued(monkeypatch):
    agent = _fake_agent(monkeypatch, [300, 300], [{}, {}])
    seen = []

    def fails(event):
        seen.append(event)
        time.sleep(0.05)  # the workers fill the queue meanwhile
        raise ValueError("callback broke")

    started = time.monotonic()
    with pytest.raises(ValueError, match="callback broke"):
        agent.run(fails)
    assert time.monotonic() - started < 5 and len(seen) == 1
    assert not any(lane.thread.is_alive() for lane in agent.lanes) and agent._events.empty()


# -- one agent, two cameras (real models) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def door_videos(tmp_path_factory, astronaut, group_photo):
    """Two short doors: the astronaut at one, an adult from the group photo at the other."""
    root = tmp_path_factory.mktemp("doors")
    kw = {"seconds_per_person": 1.6, "size": (640, 360), "gap_s": 0.4}
    a, _ = build(root / "a.mp4", photos=[(astronaut, "astronaut", None)], **kw)
    b, _ = build(root / "b.mp4", photos=[(group_photo[250:480, 400:640], "t1 crop", None)], **kw)
    return a, b


class FakeLink:
    """What the agent's link would do, in memory: the spooled messages and the desk's pending checks."""

    def __init__(self):
        self.put: list[tuple[str, str, bytes]] = []
        self.desk = SimpleNamespace(checks=[])
        self.desk.add = lambda event_id, camera_id, *rest: self.desk.checks.append((event_id, camera_id))
        self.spool = SimpleNamespace(
            put=lambda key, kind, topic, body: self.put.append((key, kind, body)),
            depth=lambda: 0,
            size_bytes=lambda: 0,
            close=lambda: None,
        )
        self.evidence = SimpleNamespace(enabled=False, count=lambda: 0, close=lambda: None, expire=lambda: 0)
        self.publisher = SimpleNamespace(
            wake=lambda: None, connected=False, send_now=lambda *a, **k: None, stop=lambda: None
        )


def _sessions(monkeypatch) -> list[str]:
    """Every onnxruntime session created from now on (its model file), counted by wrapping the class."""
    import onnxruntime as ort

    from humiao.models import runtime

    made: list[str] = []
    real = ort.InferenceSession

    def counted(path, *args, **kw):
        made.append(str(path))
        return real(path, *args, **kw)

    monkeypatch.setattr(runtime.ort, "InferenceSession", counted)
    return made


def _two(a, b, **over) -> EdgeConfig:
    cams = [
        {"camera_id": "door-a", "uri": str(a), "mode": "offline", "zone": "Main door"},
        {"camera_id": "door-b", "uri": str(b), "mode": "offline"},
    ]
    for cam, extra in zip(cams, over.pop("cams", [{}, {}]), strict=True):
        cam.update(extra)
    return EdgeConfig.model_validate({"cameras": cams, "metrics": {"port": None}, **over})


@pytest.mark.slow
def test_one_agent_two_cameras_shares_the_models_and_keeps_each_door_apart(door_videos, monkeypatch, tmp_path):
    a, b = door_videos
    made = _sessions(monkeypatch)
    # door-a: "looks under 40 → check ID" (the astronaut is flagged), and only when her track ends (the end of
    # the video: the flush); door-b: the venue's policy (passes)
    cfg = _two(
        a,
        b,
        cams=[{"policy": {"challenge_threshold": 40, "min_frames": 1000, "alert_within_s": 30}}, {}],
        policy={"challenge_threshold": 18, "use_operating_point": False},
    )
    agent = EdgeAgent(cfg)
    # detector, FaceMesh, the ensemble's two age models: once each, for both cameras (as for one camera)
    assert len(made) == len(set(made)) == 4, made
    agent.link = link = FakeLink()
    monkeypatch.chdir(tmp_path)
    events = []
    summary = agent.run(events.append)
    assert len(made) == 4  # nothing loaded while running

    by_camera = {e.camera_id: e for e in summary.decisions}
    assert sorted(by_camera) == ["door-a", "door-b"] and len(summary.decisions) == 2, summary.decisions
    assert by_camera["door-a"].decision.check_id and by_camera["door-a"].decision.threshold == 40
    assert not by_camera["door-b"].decision.check_id and by_camera["door-b"].decision.threshold == 18
    assert {e.camera_id for e in events} == {"door-a", "door-b"}
    # the alert carries its own camera's id, and so does the desk's pending check
    alerts = [pb.Alert.FromString(body) for _key, kind, body in link.put if kind == "alert"]
    assert [(al.event_id, al.origin.camera_id) for al in alerts] == [(summary.alerts[0], "door-a")]
    assert abs(alerts[0].first_seen.ToSeconds() - time.time()) < 120  # Unix time, not the video's clock
    # a file read faster than real time is not decided in the future (an ID check recorded at once would come
    # before its alert, which the hub refuses)
    assert alerts[0].first_seen.ToSeconds() <= alerts[0].decided_at.ToSeconds() <= time.time()
    assert link.desk.checks == [(summary.alerts[0], "door-a")]
    # per-camera counters, and the totals as before
    ca, cb = summary.cameras["door-a"], summary.cameras["door-b"]
    assert (ca.zone, ca.decisions, ca.alerts, cb.decisions, cb.alerts) == ("Main door", 1, 1, 1, 0)
    for cs in (ca, cb):
        assert cs.frames_decoded == cs.frames_read > cs.frames_processed > 5 and cs.frames_skipped == 0  # offline
        assert cs.state == "ended" and {"decode", "detect", "age"} <= set(cs.stage_ms)
    assert summary.frames_read == ca.frames_read + cb.frames_read
    assert summary.frames_processed == ca.frames_processed + cb.frames_processed
    assert agent.batcher is not None and agent.batcher.faces > 0
    text = agent.metrics.registry.get_sample_value
    assert text("humiao_edge_camera_frames_total", {"camera": "door-b", "fate": "processed"}) == cb.frames_processed
    assert text("humiao_edge_camera_info", {"camera": "door-a", "zone": "Main door"}) == 1
    # privacy: no crop left in memory, nothing written where the agent ran
    assert all(lane.pipeline._best_crop == {} for lane in agent.lanes) and list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_camera_that_is_gone_does_not_hold_up_the_other(door_videos, tmp_path):
    from tests.support.hubproc import wait_for

    a, _b = door_videos
    gone = tmp_path / "gone.mp4"  # never there: door-b waits for it (on_end reopen)
    cfg = _two(a, gone, cams=[{}, {"on_end": "reopen", "reconnect_min_s": 0.1, "reconnect_max_s": 0.2}])
    agent = EdgeAgent(cfg)
    seen: list = []
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(summary=agent.run(seen.append)))
    runner.start()
    try:
        assert wait_for(lambda: agent.lanes[0].reader and agent.lanes[0].reader.ended, 60, 0.05)
        states = {c["camera_id"]: c["state"] for c in agent.camera_status()}
        assert states == {"door-a": "ended", "door-b": "reconnecting"}, states
        assert agent.lanes[1].reader.attempts >= 2  # still trying, on its own thread
        status = agent._status(online=True)
        assert [(c.camera_id, c.state) for c in status.cameras] == [
            ("door-a", pb.CAMERA_STATE_DOWN),
            ("door-b", pb.CAMERA_STATE_RECONNECTING),
        ]
        agent._refresh_gauges()
        gauge = agent.metrics.registry.get_sample_value
        assert gauge("humiao_edge_camera_state", {"camera": "door-b", "state": "reconnecting"}) == 1
    finally:
        agent.stop()
        runner.join(30)
    summary = result["summary"]
    assert [e.camera_id for e in summary.decisions] == ["door-a"]  # door-a's person decided all the same
    assert summary.cameras["door-b"].frames_read == 0 and summary.cameras["door-b"].state == "reconnecting"


@pytest.fixture
def hub(broker, tmp_path):
    """The real hub on the real broker (as in tests/edge/test_agent.py)."""
    from humiao.hub.app import Hub
    from humiao.hub.config import HubConfig

    from tests.support.hubproc import hub_config

    cfg = HubConfig.model_validate(hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker))
    h = Hub(cfg).start()
    assert h.ingestor.connected.wait(10)
    yield h
    h.stop()


@pytest.mark.services
@pytest.mark.slow
def test_at_the_hub_each_alert_names_its_camera_and_the_status_lists_both(door_videos, broker, hub, tmp_path):
    from sqlalchemy import select

    from humiao.hub.tables import Alert, Device

    from tests.edge.test_agent import edge_config
    from tests.support.hubproc import wait_for

    a, _b = door_videos
    base = edge_config(tmp_path, broker, hub)
    data = base.model_dump(mode="json")
    data.pop("source")
    data["cameras"] = [
        {"camera_id": "door-a", "uri": str(a), "mode": "offline", "policy": {"challenge_threshold": 40}},
        {"camera_id": "door-b", "uri": str(tmp_path / "gone.mp4"), "on_end": "reopen", "reconnect_max_s": 0.5},
    ]
    data["policy"].update(challenge_threshold=18, use_operating_point=False)
    agent = EdgeAgent(EdgeConfig.model_validate(data))
    runner = threading.Thread(target=agent.run)
    runner.start()

    def cameras():
        with hub.sessions() as s:
            d = s.get(Device, "d9/cafe-7/door-1")
            return {c["camera_id"]: c["state"] for c in ((d.status or {}).get("cameras", []) if d else [])}

    try:
        with hub.sessions() as s:
            stored = wait_for(lambda: s.scalars(select(Alert)).all(), 30)
            assert [(x.camera_id, x.decision) for x in stored] == [("door-a", "check_id")]
        assert agent.console is not None and agent.console.cameras == ("door-a", "door-b")
        assert wait_for(lambda: cameras().get("door-b") == "CAMERA_STATE_RECONNECTING", 15), cameras()
        assert set(cameras()) == {"door-a", "door-b"}
    finally:
        agent.stop()
        runner.join(60)


@pytest.mark.slow
def test_a_network_camera_that_hangs_does_not_hold_up_the_other(door_videos):
    from tests.edge.test_capture import MjpegCamera
    from tests.support.hubproc import wait_for

    a, _b = door_videos
    hung = MjpegCamera()
    cfg = _two(
        a,
        hung.url,
        cams=[
            {"mode": "live"},  # a file played at its own pace, as a camera
            {"mode": "live", "stall_timeout_s": 0.5, "reconnect_min_s": 0.2, "reconnect_max_s": 0.5},
        ],
    )
    agent = EdgeAgent(cfg)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(summary=agent.run()))
    runner.start()
    try:
        assert wait_for(lambda: agent.camera_status() and agent.camera_status()[1]["state"] == "streaming", 20, 0.05)
        hung.hang.set()  # door-b keeps its connection open and sends nothing more
        assert wait_for(lambda: agent.lanes[0].reader.ended, 20, 0.05)
        states = {c["camera_id"]: c["state"] for c in agent.camera_status()}
        assert states["door-a"] == "ended" and states["door-b"] in ("stalled", "reconnecting"), states
    finally:
        agent.stop()
        runner.join(30)
        hung.close()
    summary = result["summary"]
    assert [e.camera_id for e in summary.decisions] == ["door-a"]  # the door-a visitor decided all the same
    assert summary.cameras["door-a"].frames_processed > 5 and summary.cameras["door-b"].frames_read > 0


def test_a_long_run_keeps_its_counts_but_only_the_latest_decisions():
    """A live agent runs for months: the run's summary counts every decision and alert, and holds only the latest
    KEEP of them (each held decision is a TrackEvent: months of them would fill the box's memory)."""
    from humiao.edge.agent import RunSummary

    summary = RunSummary()
    n = 2 * RunSummary.KEEP + 250
    for i in range(n):
        summary.add(SimpleNamespace(n=i), f"e{i}" if i % 2 else None)  # every other one an alert
    assert (summary.decided, summary.alerted) == (n, n // 2)
    assert len(summary.decisions) == len(summary.alerts) == RunSummary.KEEP
    assert summary.decisions[0].n == n - RunSummary.KEEP and summary.decisions[-1].n == n - 1
    assert summary.alerts[-1] == f"e{n - 1}"
