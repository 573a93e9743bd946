"""The edge agent as a running system: real models, real Mosquitto, the real hub.

- a child and an adult walk in: one alert (the child) reaches the hub exactly once; only the
  child's face is kept, sealed; the hub asks for it, stores it sealed, the edge deletes its copy;
- the camera dies and comes back, and the agent says so in its retained status; its metrics are
  served; killed without a goodbye, the broker's Last Will marks it offline at the hub.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest
import yaml
from sqlalchemy import select

from humiao.edge.agent import EdgeAgent
from humiao.edge.config import EdgeConfig
from humiao.edge.sample_video import build
from humiao.hub.access import Principal
from humiao.hub.app import Hub
from humiao.hub.config import HubConfig
from humiao.hub.tables import Alert, Device, Evidence
from humiao.proto import sealed

from tests.edge.test_capture import write_video
from tests.support.devices import enroll_device
from tests.support.hubproc import ROOT, hub_config, wait_for
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def hub(broker, tmp_path):
    cfg = HubConfig.model_validate(hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker))
    h = Hub(cfg).start()
    assert h.ingestor.connected.wait(10)
    yield h
    h.stop()


def edge_config(tmp_path, broker, hub, **over) -> EdgeConfig:
    """The agent's configuration, as a device enrolled at this hub and broker (its identity in state_dir)."""
    enroll_device(hub.cfg, broker, ("d9", "cafe-7", "door-1"), state_dir=tmp_path / "edge")
    data = {
        "mqtt": {"port": broker.port, "keepalive_s": 5},
        "device": {
            "district_id": "d9",
            "venue_id": "cafe-7",
            "device_id": "door-1",
            "state_dir": str(tmp_path / "edge"),
        },
        "status": {"interval_s": 0.5},
        "metrics": {"port": 0},
        "idcheck": {"console": {"port": 0}},
    }
    for k, v in over.items():
        data.setdefault(k, {}).update(v)
    return EdgeConfig.model_validate(data)


def test_child_alert_reaches_the_hub_once_and_its_evidence_on_request(shared_faces, broker, hub, tmp_path, astronaut):
    child = cv2.imread(str(shared_faces / "fgnet" / "images" / "002A05.JPG"))[:, :, ::-1].copy()
    video, _ = build(
        tmp_path / "door.mp4",
        seconds_per_person=2.0,
        photos=[(child, "fgnet 002A05", 5.0), (astronaut, "astronaut", None)],
    )
    cfg = edge_config(
        tmp_path,
        broker,
        hub,
        source={"mode": "offline"},
        policy={"challenge_threshold": 21, "use_operating_point": False},
    )
    agent = EdgeAgent(cfg)
    agent.close = lambda reason="": None  # keep the link up after the video, to answer the request below
    summary = agent.run(uri=str(video))
    try:
        assert len(summary.decisions) == 2 and len(summary.alerts) == 1, [e.decision for e in summary.decisions]
        event_id = summary.alerts[0]
        assert agent.link.evidence.count() == 1  # the adult's face was never kept
        with hub.sessions() as s:
            assert wait_for(lambda: s.scalars(select(Alert)).all(), 10)
            alerts = s.scalars(select(Alert)).all()
            assert [a.event_id for a in alerts] == [event_id]
            a = alerts[0]
            assert (a.district_id, a.venue_id, a.device_id, a.venue_type) == ("d9", "cafe-7", "door-1", "internet_cafe")
            assert a.decision == "check_id" and a.age_estimate < 14 and a.evidence_available
            assert {m["id"] for m in a.models} == {
                "blazeface-full-range",
                "facemesh-landmarks",
                "cydral-age-v1",
                "faceapi-agegender",
            }
            assert a.calibration == "ensemble/east-asian"  # the population profile behind P(minor)
            assert all(len(m["graph_sha256"]) == 64 for m in a.models)

        from humiao.hub.tables import Alarm  # the rules made it an alarm: no ID check recorded yet

        with hub.sessions() as s:
            alarm = wait_for(lambda: s.scalars(select(Alarm)).first(), 10)
            assert alarm is not None and alarm.event_id == event_id and alarm.verdict == "pending" and alarm.active

        hub.request_evidence(event_id, "violation_confirmed", Principal("inspector-7", "police", "d9"), "test")
        with hub.sessions() as s:
            ev = wait_for(lambda: s.get(Evidence, event_id), 10)
            assert ev is not None, "no evidence arrived"
        assert wait_for(lambda: agent.link.evidence.count() == 0, 10), "the edge kept its copy after the hub's ack"
        jpeg = sealed.open_box(hub.private_key, ev.ciphertext, event_id)
        crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert crop is not None and max(crop.shape[:2]) <= 256 and min(crop.shape[:2]) >= 32  # a face crop, no frame
        with pytest.raises(sealed.SealError):
            sealed.open_box(hub.private_key, ev.ciphertext, "01a2089c-0000-7000-8000-000000000000")
    finally:
        EdgeAgent.close(agent, "test over")
    # on the edge's disk: the spool, the sealed store, the identity and the venue's ID-hash secret (0600); no image
    files = sorted(p.name for p in (tmp_path / "edge").iterdir())
    assert all(f.startswith(("spool.db", "evidence.db")) or f in ("identity", "venue-secret") for f in files), files
    assert (tmp_path / "edge" / "venue-secret").stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(tmp_path / "edge" / "evidence.db") as db:
        assert db.execute("SELECT COUNT(*) FROM crops").fetchone()[0] == 0
    with hub.sessions() as s:
        dev = wait_for(lambda: (lambda d: d if d and not d.online else None)(s.get(Device, "d9/cafe-7/door-1")), 10)
        assert dev is not None and dev.venue_type == "internet_cafe" and not dev.online  # Death at a clean stop


def _metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def test_camera_loss_is_reported_and_a_dead_edge_goes_offline(broker, hub, tmp_path):
    cam = tmp_path / "cam.mp4"
    spare = write_video(tmp_path / "spare.mp4", n=50, size=(640, 360), moving=True)  # 2 s, looped
    shutil.copy(spare, cam)
    port = free_port()
    cfg = edge_config(
        tmp_path,
        broker,
        hub,
        source={"uri": str(cam), "on_end": "loop", "reconnect_min_s": 0.2, "reconnect_max_s": 0.5},
        metrics={"port": port},
    )
    conf = tmp_path / "edge.yaml"
    conf.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    with open(tmp_path / "edge.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "humiao.cli", "-v", "edge", "run", "--config", str(conf)],
            cwd=str(ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def camera():
        with hub.sessions() as s:
            d = s.get(Device, "d9/cafe-7/door-1")
            cams = (d.status or {}).get("cameras", []) if d else []
            return (d.online, cams[0]["state"], cams[0].get("reconnects", 0)) if cams else None

    try:
        assert wait_for(lambda: (camera() or (0, ""))[1] == "CAMERA_STATE_STREAMING", 60), (
            camera(),
            (tmp_path / "edge.log").read_text()[-2000:],
        )
        assert wait_for(lambda: 'humiao_edge_stage_seconds_count{stage="detect"}' in _metrics(port), 10)
        time.sleep(2.5)  # a loop or two of the file
        assert camera()[2] == 0  # looping is not reconnecting
        text = _metrics(port)
        assert 'humiao_edge_frames_total{fate="read"}' in text and "humiao_edge_spool_depth" in text
        cam.unlink()  # the camera goes away (noticed at the end of the current loop)
        assert wait_for(lambda: (camera() or (0, ""))[1] == "CAMERA_STATE_RECONNECTING", 15), camera()
        assert 'humiao_edge_camera_state{camera="cam0",state="reconnecting"} 1.0' in _metrics(port)
        shutil.copy(spare, cam)
        assert wait_for(lambda: (lambda c: c and c[1] == "CAMERA_STATE_STREAMING" and c[2] == 1)(camera()), 15), (
            camera()
        )
        assert camera()[0] is True
        fps = float(_metrics(port).split('humiao_edge_camera_fps{camera="cam0"} ')[1].split()[0])
        assert 12 < fps < 30, fps  # paced near its 25 fps (a file read flat out would give hundreds)
        proc.kill()  # power cut: no Death, no clean disconnect
        proc.wait(10)
        # the broker sees the connection die and publishes the Last Will; the last camera status stays
        assert wait_for(lambda: (camera() or (True,))[0] is False, 20), camera()
        assert camera()[1] == "CAMERA_STATE_STREAMING"
    finally:
        if proc.poll() is None:
            proc.kill()
