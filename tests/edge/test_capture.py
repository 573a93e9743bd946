"""The camera reader and the motion gate, on real video files written by OpenCV."""

from __future__ import annotations

import logging
import shutil
import threading
import time

import cv2
import numpy as np
import pytest

from humiao.edge.capture import ENDED, RECONNECTING, STREAMING, CameraReader
from humiao.edge.motion import MotionConfig, MotionGate

from tests.support.hubproc import wait_for


def write_video(path, n=50, fps=25.0, size=(320, 240), moving=False):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        frame = np.full((size[1], size[0], 3), 90, np.uint8)
        cv2.putText(frame, str(i), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        if moving:
            x = 20 + 5 * i
            frame[100:160, x : x + 60] = 230
        w.write(frame)
    w.release()
    return path


def test_offline_mode_gives_every_frame_in_order(tmp_path):
    path = write_video(tmp_path / "v.mp4", n=40)
    reader = CameraReader(str(path), mode="offline").start()
    got = []
    while not reader.ended:
        f = reader.get(timeout=2)
        if f is not None:
            got.append(f.index)
            time.sleep(0.002)
    reader.stop()
    assert got == list(range(40)) and reader.frames_skipped == 0 and reader.state == ENDED


def test_live_mode_keeps_only_the_latest_frame(tmp_path):
    """A consumer slower than the camera skips frames instead of falling behind."""
    path = write_video(tmp_path / "v.mp4", n=75)  # 3 s at 25 fps, paced like a camera
    reader = CameraReader(str(path), mode="live").start()
    got, lags = [], []
    while not reader.ended:
        f = reader.get(timeout=2)
        if f is None:
            continue
        got.append(f.index)
        lags.append(reader.frames_read - 1 - f.index)
        time.sleep(0.12)  # a pipeline at ~8 fps
    reader.stop()
    assert reader.frames_read == 75
    assert reader.frames_skipped > 30 and len(got) < 40
    assert got == sorted(got) and max(lags) <= 1  # never more than one frame behind the camera
    assert 15 < reader.fps < 40


def test_a_source_that_goes_away_is_reconnected(tmp_path):
    path = tmp_path / "cam.mp4"
    spare = write_video(tmp_path / "spare.mp4", n=25)
    shutil.copy(spare, path)
    states = []
    reader = CameraReader(
        str(path),
        mode="live",
        on_end="reopen",
        reconnect_min_s=0.1,
        reconnect_max_s=0.4,
        on_state=lambda cam, s: states.append(s),
    ).start()
    try:
        assert wait_for(lambda: reader.state == STREAMING, 5)
        path.unlink()  # the camera dies
        assert wait_for(lambda: reader.state == RECONNECTING, 5)
        time.sleep(1.0)  # several failed attempts, backing off
        assert reader.state == RECONNECTING
        shutil.copy(spare, path)  # and comes back
        assert wait_for(lambda: reader.state == STREAMING and reader.reconnects >= 1, 5), (
            reader.state,
            reader.reconnects,
        )
        before = reader.frames_read
        assert wait_for(lambda: reader.frames_read > before, 3)
    finally:
        reader.stop()
    assert states[:3] == [STREAMING, RECONNECTING, STREAMING]
    assert "no such file" in reader.last_error


def test_a_looping_file_is_not_a_reconnect_and_its_removal_is(tmp_path):
    path = write_video(tmp_path / "loop.mp4", n=10)
    reader = CameraReader(str(path), mode="live", on_end="loop", reconnect_min_s=0.1).start()
    try:
        assert wait_for(lambda: reader.frames_read > 25, 5)  # looped at least twice
        assert reader.reconnects == 0 and reader.state == STREAMING
        path.unlink()
        assert wait_for(lambda: reader.state == RECONNECTING, 3)
    finally:
        reader.stop()


def test_a_missing_file_ends_at_once_when_not_reopening(tmp_path):
    reader = CameraReader(str(tmp_path / "nope.mp4"), on_end="stop").start()
    assert wait_for(lambda: reader.state == ENDED, 3)
    assert reader.get(timeout=0.2) is None and reader.ended
    reader.stop()


def test_motion_gate_skips_a_still_scene_and_wakes_on_movement():
    gate = MotionGate(MotionConfig(hold_s=0.5))
    still = np.full((480, 640, 3), 100, np.uint8)
    noise = np.random.default_rng(1)
    flags = []
    for i in range(20):  # sensor noise only
        frame = np.clip(still.astype(int) + noise.integers(-3, 4, still.shape), 0, 255).astype(np.uint8)
        flags.append(gate.moving(frame, i * 0.1))
    assert flags[0] and not any(flags[10:])  # first frame seeds the background; hold expires
    person = still.copy()
    person[150:400, 250:380] = 200
    assert gate.moving(person, 2.1)
    assert gate.moving(still, 2.3)  # within hold_s of the movement
    assert MotionGate(MotionConfig()).moving(still, 0)  # the first frame always passes
    assert MotionGate(MotionConfig(enabled=False)).moving(still, 5.0)


@pytest.mark.parametrize("width", [80, 160, 320])
def test_motion_gate_any_width(width):
    gate = MotionGate(MotionConfig(width=width))
    a = np.zeros((720, 1280, 3), np.uint8)
    gate.moving(a, 0)
    b = a.copy()
    b[300:500, 600:700] = 255
    assert gate.moving(b, 5.0) and gate.changed > 0.01


class MjpegCamera:
    """A network camera on loopback: MJPEG over HTTP (what many IP cameras serve), read by OpenCV's
    FFmpeg backend like an RTSP stream. It can hang (stall) or go away and come back."""

    def __init__(self, port: int | None = None, hang: bool = False):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from tests.support.mosquitto import free_port

        self.port = port or free_port()
        self.hang = threading.Event()
        if hang:  # from the start: it answers, then sends nothing
            self.hang.set()
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while not cam.closed:
                        if cam.hang.is_set():
                            time.sleep(0.05)
                            continue
                        ok, jpg = cv2.imencode(".jpg", np.full((240, 320, 3), (i * 9) % 255, np.uint8))
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                            + jpg.tobytes()
                            + b"\r\n"
                        )
                        i += 1
                        time.sleep(0.04)
                except OSError:
                    pass

        self.closed = False
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def close(self):
        self.closed = True
        self.server.shutdown()
        self.server.server_close()


def test_a_network_camera_that_stalls_is_reconnected(caplog):
    caplog.set_level(logging.INFO, logger="humiao.edge")
    cam = MjpegCamera()
    reader = CameraReader(cam.url, stall_timeout_s=1.0, reconnect_min_s=0.2, reconnect_max_s=0.5).start()
    try:
        assert wait_for(lambda: reader.state == STREAMING and reader.fps > 15, 10), (reader.state, reader.last_error)
        cam.hang.set()  # the camera stops sending but keeps the connection open
        assert wait_for(lambda: reader.state == RECONNECTING, 6), reader.state  # read times out at the stall timeout
        assert wait_for(lambda: reader.fps == 0.0, 3)
        cam.hang.clear()
        assert wait_for(lambda: reader.state == STREAMING and reader.reconnects >= 1, 10), (
            reader.state,
            reader.reconnects,
        )
        got = reader.get(timeout=2)
        assert got is not None and got.bgr.shape == (240, 320, 3)
    finally:
        reader.stop()
        cam.close()
    # what the operator read: the first connection, the loss, perhaps the hung camera while reconnecting
    # (unless the first try after it came through), and the recovery; one line each, however many retries
    said = [r.getMessage() for r in caplog.records if r.name == "humiao.edge.capture"]
    assert said[0] == f"camera cam0: streaming from {cam.url}"
    assert (
        said[1]
        == f"camera cam0: {cam.url} stopped sending video (read failed) — reconnecting (retrying every 0.2→0.5 s)"
    )
    hung = f"camera cam0: {cam.url} accepted the connection but sent no video within 1 s — the camera seems hung"
    assert all(line.startswith(hung) for line in said[2:-1]) and len(said) <= 4, said
    assert said[-1].startswith("camera cam0 connected again after ")
