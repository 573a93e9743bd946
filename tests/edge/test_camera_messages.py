"""What the operator reads when a camera cannot be read: one line per cause, naming the camera, what is wrong
and the fix, never a password; the reader retrying with backoff underneath, silently; one line when it
recovers. Real sockets, real files, real OpenCV."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from humiao.edge.capture import (
    DOWN,
    RECONNECTING,
    STREAMING,
    CameraReader,
    SourceError,
    check_at_start,
    check_source,
    redact_uri,
)
from humiao.edge.messages import CAMERA_STATES
from humiao.proto import humiao_v1_pb2 as pb

from tests.edge.test_capture import MjpegCamera, write_video
from tests.support.hubproc import wait_for
from tests.support.mosquitto import free_port

FAST = {"stall_timeout_s": 1.0, "reconnect_min_s": 0.05, "reconnect_max_s": 0.2}  # backoff small: many retries


def said(caplog) -> list[str]:
    """The lines an operator sees (INFO and up) from the edge's loggers, in order."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("humiao.edge") and r.levelno >= logging.INFO]


@pytest.fixture
def caplog_info(caplog):
    caplog.set_level(logging.INFO, logger="humiao.edge")
    return caplog


class Silent:
    """A TCP port that accepts connections and never says a word (a hung camera, or the wrong port); with
    ``answer=False`` its accept queue is full, so a connection attempt gets no answer at all (a camera that
    is off the network, a firewall that drops)."""

    def __init__(self, port: int = 0, answer: bool = True):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closed = False
        if answer:
            self.sock.listen(8)
            threading.Thread(target=self._accept, daemon=True).start()
        else:
            self.sock.listen(0)  # one connection fills the queue; Linux then drops further SYNs
            self.held.append(socket.create_connection(("127.0.0.1", self.port)))

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.closed = True
        for c in self.held:
            c.close()
        with contextlib.suppress(OSError):  # not connected: nothing to shut down
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def one_line_over_retries(caplog, reader: CameraReader, attempts: int, timeout: float) -> str:
    """Let the reader try ``attempts`` times; exactly one line must have been said, and it is returned."""
    assert wait_for(lambda: reader.attempts >= attempts, timeout, step=0.05), (reader.attempts, said(caplog))
    lines = said(caplog)
    assert len(lines) == 1, lines
    assert reader.state == RECONNECTING
    return lines[0]


def test_a_refused_connection_is_one_line_and_retried_quietly(caplog_info, capfd):
    port = free_port()  # nothing listens there
    reader = CameraReader(f"rtsp://admin:s3cret@127.0.0.1:{port}/stream", "door-1", **FAST).start()
    try:
        line = one_line_over_retries(caplog_info, reader, attempts=6, timeout=10)
    finally:
        reader.stop()
    assert line == (
        f"camera door-1: rtsp://admin:***@127.0.0.1:{port}/stream refused the connection — is the camera on, and "
        f"is port {port} right? (retrying every 0.05→0.2 s)"
    )
    assert "s3cret" not in reader.last_error
    # nor do OpenCV and FFmpeg print their own line on every attempt
    noise = capfd.readouterr().err
    assert "[ WARN" not in noise and "Connection refused" not in noise and "failed" not in noise, noise


def test_a_port_that_never_answers_and_a_camera_that_says_nothing(caplog_info):
    dead = Silent(answer=False)  # the SYN is dropped: nobody there
    reader = CameraReader(f"rtsp://viewer:pa55word@127.0.0.1:{dead.port}/h264", "cam0", **FAST).start()
    try:
        line = one_line_over_retries(caplog_info, reader, attempts=2, timeout=12)
    finally:
        reader.stop()
        dead.close()
    assert line.startswith(f"camera cam0: rtsp://viewer:***@127.0.0.1:{dead.port}/h264: 127.0.0.1:{dead.port} did ")
    assert "did not answer within 1 s — is the camera on and on this box's network?" in line
    assert "ping 127.0.0.1" in line and "pa55word" not in line

    caplog_info.clear()
    hung = Silent()  # accepts, then says nothing: the wrong port, or a camera that hangs
    reader = CameraReader(f"rtsp://viewer:pa55word@127.0.0.1:{hung.port}/h264", "cam0", **FAST).start()
    try:
        line = one_line_over_retries(caplog_info, reader, attempts=3, timeout=12)
        assert len(hung.held) >= 2  # really tried, each time (OpenCV's connection and the reader's probe)
    finally:
        reader.stop()
        hung.close()
    assert line == (
        f"camera cam0: rtsp://viewer:***@127.0.0.1:{hung.port}/h264 accepted the connection but sent no video "
        f"within 1 s — is port {hung.port} the camera's RTSP port, and is the stream path right? "
        "(retrying every 0.05→0.2 s)"
    )


def test_a_new_cause_is_a_new_line_and_recovery_one_more(caplog_info):
    """Refused, then a camera that answers and sends nothing, then frames: three lines over many retries."""
    port = free_port()
    states: list[str] = []
    url = f"http://admin:s3cret@127.0.0.1:{port}/stream.mjpg"
    reader = CameraReader(url, "cam0", on_state=lambda cam, s: states.append(s), **FAST).start()
    cam = None
    try:
        assert wait_for(lambda: reader.attempts >= 4, 5, step=0.05)
        cam = MjpegCamera(port, hang=True)  # MJPEG over HTTP, its headers and then nothing
        assert wait_for(lambda: len(said(caplog_info)) == 2, 8, step=0.05), said(caplog_info)
        seen = reader.attempts
        assert wait_for(lambda: reader.attempts >= seen + 1, 8, step=0.05)
        cam.hang.clear()  # the frames come
        assert wait_for(lambda: reader.state == STREAMING, 10), (reader.state, said(caplog_info))
        assert reader.get(timeout=2) is not None
    finally:
        reader.stop()
        if cam:
            cam.close()
    refused, silent, connected = said(caplog_info)
    assert refused == (
        f"camera cam0: http://admin:***@127.0.0.1:{port}/stream.mjpg refused the connection — is the camera on, and "
        f"is port {port} right? (retrying every 0.05→0.2 s)"
    )
    assert silent == (
        f"camera cam0: http://admin:***@127.0.0.1:{port}/stream.mjpg accepted the connection but sent no video within "
        f"1 s — is port {port} the camera's HTTP port, and is the stream path right? (retrying every 0.05→0.2 s)"
    )
    assert connected.startswith("camera cam0 connected after ") and connected.endswith(
        f" s (http://admin:***@127.0.0.1:{port}/stream.mjpg)"
    )
    assert states == [STREAMING]  # reconnecting from the start; the status and metrics follow on_state


@pytest.mark.parametrize("uri", ["/dev/video9", "9"])
def test_a_missing_usb_camera(caplog_info, uri):
    if os.path.exists("/dev/video9"):
        pytest.skip("this box has a /dev/video9")
    reader = CameraReader(uri, "cam2", **FAST).start()
    try:
        line = one_line_over_retries(caplog_info, reader, attempts=6, timeout=5)
    finally:
        reader.stop()
    name = "/dev/video9" if uri.startswith("/") else "USB camera 9 (/dev/video9)"
    assert line.startswith(f"camera cam2: {name} does not exist — is the USB camera plugged in? ls /dev/video* ")
    assert line.endswith("(retrying every 0.05→0.2 s)")


def test_a_file_that_goes_away_and_comes_back(caplog_info, tmp_path):
    """A file played as a camera (on_end: reopen): it ends, is missing while the reader retries, and comes
    back: one line each, then "connected again"."""
    path = tmp_path / "door.mp4"
    write_video(path, n=15)  # 0.6 s at 25 fps
    spare = write_video(tmp_path / "spare.mp4", n=250)
    reader = CameraReader(str(path), "cam0", on_end="reopen", **FAST).start()
    try:
        assert wait_for(lambda: reader.state == STREAMING, 5)
        path.unlink()
        assert wait_for(lambda: len(said(caplog_info)) == 3, 5, step=0.05), said(caplog_info)
        seen = reader.attempts
        assert wait_for(lambda: reader.attempts >= seen + 4, 5, step=0.05)
        assert len(said(caplog_info)) == 3
        shutil.copy(spare, path)
        assert wait_for(lambda: reader.state == STREAMING and reader.reconnects == 1, 5)
    finally:
        reader.stop()
    streaming, ended, missing, again = said(caplog_info)
    assert streaming == f"camera cam0: streaming from {path}"
    assert ended.startswith(f"camera cam0: {path} ended or broke off — opening it again (source.on_end: reopen)")
    assert missing == f"camera cam0: {path}: no such file — check source.uri (retrying every 0.05→0.2 s)"
    assert again.startswith("camera cam0 connected again after ") and again.endswith(" s")
    assert 0.2 < float(again.split()[-2]) < 10


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("rtps://admin:s3cret@192.168.1.64/stream1", "unknown scheme 'rtps' in source.uri rtps://admin:***@"),
        ("rtps://192.168.1.64/stream1", "— did you mean rtsp://?"),
        ("rstp://192.168.1.64/stream1", "— did you mean rtsp://?"),
        ("htp://192.168.1.64/video.mjpg", "— did you mean http://?"),
        ("htps://192.168.1.64/video.mjpg", "— did you mean https://?"),
        ("rtspp://192.168.1.64/", "— did you mean rtsp://?"),
        ("fille:///srv/door.mp4", "— did you mean file://?"),
        ("ftp://192.168.1.64/x", "unsupported scheme 'ftp' in source.uri ftp://192.168.1.64/x — use rtsp://"),
        ("rtsp:/192.168.1.64/stream1", "is missing the '//' after 'rtsp:' — write rtsp://HOST/PATH"),
        ("rtsp:///stream1", "names no host — write rtsp://HOST/PATH"),
        ("rtsp://192.168.1.64:55x/stream1", "the host or port is malformed"),
        ("", "source.uri is empty"),
    ],
)
def test_a_uri_that_names_no_source_is_a_configuration_error(uri, words):
    with pytest.raises(SourceError) as caught:
        check_source(uri)
    assert words in str(caught.value) and caught.value.fatal and "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        "rtsp://192.168.1.64/stream1",
        "RTSP://192.168.1.64/stream1",
        "rtsps://cam.local:322/x",
        "http://u:p@[::1]:8080/v.mjpg",
        "file:///srv/door.mp4",
        "/srv/door.mp4",
        "door.mp4",
        "0",
        "/dev/v4l/by-id/usb-cam-video-index0",
    ],
)
def test_uris_that_name_a_source_pass(uri):
    check_source(uri)


def test_a_mistyped_scheme_stops_the_reader_with_one_line(caplog_info):
    reader = CameraReader("rtps://admin:s3cret@127.0.0.1/live", "cam0", **FAST).start()
    try:
        assert wait_for(lambda: reader.state == DOWN, 3, step=0.05)
        time.sleep(0.3)  # no retries follow
        assert reader.attempts == 1 and reader.ended and reader.get(timeout=0.1) is None
    finally:
        reader.stop()
    assert said(caplog_info) == [
        "camera cam0: unknown scheme 'rtps' in source.uri rtps://admin:***@127.0.0.1/live — did you mean rtsp://?"
    ]
    assert CAMERA_STATES[reader.state] == pb.CAMERA_STATE_DOWN  # what the status message carries


def test_the_agent_refuses_to_start_with_a_mistyped_scheme(tmp_path):
    with pytest.raises(SourceError, match=r"^camera door-2: unknown scheme 'htp' .* did you mean http://\?$"):
        check_at_start("htp://10.0.0.5/video.mjpg", "door-2")
    with pytest.raises(SourceError, match=r"^camera cam0: .*nope\.mp4: no such file — check source\.uri$"):
        check_at_start(str(tmp_path / "nope.mp4"), "cam0", on_end="stop")
    check_at_start(str(tmp_path / "nope.mp4"), "cam0", on_end="reopen")  # waiting for it is the point
    check_at_start("/dev/video9", "cam0")  # a camera is the reader's to retry, not opened here
    done = subprocess.run(
        [sys.executable, "-m", "humiao.cli", "edge", "run", "--source", "rtps://admin:s3cret@10.0.0.5/live"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: camera cam0: unknown scheme 'rtps' in source.uri rtps://admin:***@10.0.0.5/live — did you mean rtsp://?"
    )


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
        ("rtsp://admin:p@ss:w0rd@10.0.0.5/live", "rtsp://admin:***@10.0.0.5/live"),
        ("rtsp://admin:p%40ss@10.0.0.5/live", "rtsp://admin:***@10.0.0.5/live"),
        ("rtsp://admin@10.0.0.5/live", "rtsp://admin@10.0.0.5/live"),
        ("rtsp:/admin:s3cret@10.0.0.5/live", "rtsp:/admin:***@10.0.0.5/live"),
        ("http://10.0.0.5/video.cgi?user=admin&pwd=s3cret&res=1", "http://10.0.0.5/video.cgi?user=admin&pwd=***&res=1"),
        ("http://10.0.0.5:8080/v.mjpg?password=s3cret", "http://10.0.0.5:8080/v.mjpg?password=***"),
        ("/srv/door.mp4", "/srv/door.mp4"),
        ("0", "0"),
    ],
)
def test_redact_uri(uri, shown):
    assert redact_uri(uri) == shown
