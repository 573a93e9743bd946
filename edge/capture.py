"""Frame sources: RTSP, video files and USB cameras through OpenCV's FFmpeg backend.

``CameraReader`` runs one reader thread per camera and hands the agent the *latest* frame only,
so a slow pipeline skips frames instead of falling behind (never a growing queue). The reader
reconnects with exponential backoff when the source fails, and a watchdog marks the camera
``stalled`` when no frame came for ``stall_timeout_s``. Its state (streaming, reconnecting,
stalled, down, ended), reconnect count, frame rate and skipped frames go into the edge's status.

Modes (``source.mode``):
- ``live``: latest frame only; a video file is paced at its own frame rate, as a camera would be.
- ``offline``: every frame in order, as fast as the consumer takes them (evaluation, benchmarks).
At the end of a file (``source.on_end``): ``stop``; ``loop`` (open it again from the start: a
replaced file is picked up, a removed one is a lost camera, reconnected with backoff); or
``reopen`` (a live source whose end is a failure: reconnect).

What the operator reads. OpenCV says only "could not open" and FFmpeg prints its own line on every
attempt, so when a source fails the reader finds out why itself (is the file or device there and
readable; does the camera's host resolve, refuse the connection, not answer, or answer but give no
video) and logs ONE line naming the camera, what is wrong and the fix, with the backoff it retries
on. Retries are silent while the cause stays the same; a new cause gets a new line, and the
recovery one more ("camera cam0 connected again after 12 s"). OpenCV's and FFmpeg's own messages
are silenced (``OPENCV_LOG_LEVEL`` and ``OPENCV_FFMPEG_LOGLEVEL`` in the environment bring them
back). A password in a URI never reaches a log line or an error: ``redact_uri``.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import socket
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

import cv2
import numpy as np

log = logging.getLogger("humiao.edge.capture")

# OpenCV's and FFmpeg's own line on every failed attempt ("[ WARN:0@…] … can't be used to capture by name",
# "[tcp @ 0x…] Connection … failed") is noise next to ours. FFmpeg reads its level when OpenCV first uses it.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
if "OPENCV_LOG_LEVEL" not in os.environ:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

STREAMING, RECONNECTING, STALLED, DOWN, ENDED = "streaming", "reconnecting", "stalled", "down", "ended"

# URI schemes the bundled FFmpeg reads → the TCP port when the URI names none (None: nothing to probe)
SCHEMES: dict[str, int | None] = {
    "rtsp": 554,
    "rtsps": 322,
    "http": 80,
    "https": 443,
    "rtmp": 1935,
    "rtmps": 443,
    "tcp": None,
    "udp": None,
    "rtp": None,
    "srt": None,
    "file": None,
}
CAMERA_SCHEMES = ("rtsp", "http", "https", "rtsps", "rtmp", "file")  # what a typo is compared with, likeliest first
_DEVICE_API = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY


class SourceError(RuntimeError):
    """A source that cannot be read. ``str()`` is for the operator: what is wrong and the fix, never a
    password. ``cause`` is a short key that stays the same while the cause does (the reader logs again only
    when it changes); ``fatal``: the URI itself is wrong, and retrying cannot help."""

    def __init__(self, message: str, cause: str = "failed", fatal: bool = False):
        super().__init__(message)
        self.cause, self.fatal = cause, fatal


@dataclass
class Frame:
    index: int
    timestamp: float  # seconds since the stream started (file: from its frame rate; live: monotonic)
    wall: float  # Unix time the frame was captured (file offline: start + timestamp)
    bgr: np.ndarray

    @property
    def rgb(self) -> np.ndarray:
        return np.ascontiguousarray(self.bgr[:, :, ::-1])


# -- what a URI names ----------------------------------------------------------------------------------
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:/*)([^/?#:@]*):(.*)@")  # to the last '@': p@ss is masked whole
_SECRET_PARAM = re.compile(r"([?&;](?:password|passwd|pass|pwd|pw|token|key|auth)=)[^&;#]*", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """``uri`` fit for a log line or an error: the password of ``scheme://user:password@host/…`` and
    password-like query parameters (``?pwd=…``) become ``***``."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1\2:***@", uri, count=1))


def is_device(uri: str) -> bool:
    """A camera on this box: a USB index (``0``) or a device path (``/dev/video0``, ``/dev/v4l/by-id/…``; a
    file in ``/dev/shm`` is a file)."""
    return uri.isdigit() or (uri.startswith("/dev/") and not uri.startswith("/dev/shm/") and not os.path.isfile(uri))


def is_file(uri: str) -> bool:
    """A video file: a path, or a ``file://`` URI."""
    return not is_device(uri) and ("://" not in uri or uri.lower().startswith("file://"))


def _file_path(uri: str) -> Path:
    return Path(unquote(urlsplit(uri).path)) if uri.lower().startswith("file://") else Path(uri)


def _device_path(uri: str) -> str:
    return f"/dev/video{int(uri)}" if uri.isdigit() else uri


def _device_name(uri: str) -> str:
    return f"USB camera {uri} ({_device_path(uri)})" if uri.isdigit() else uri


def _typo_distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from ``a`` to ``b``: rtps → rtsp is one."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _meant(scheme: str, among: tuple[str, ...] = CAMERA_SCHEMES) -> str | None:
    """The camera scheme ``scheme`` is likely a typo of (one edit away; two for longer words), or None."""
    scheme = scheme.lower()
    best = min(among, key=lambda s: _typo_distance(scheme, s))  # ties: the likelier scheme, listed first
    return best if _typo_distance(scheme, best) <= (1 if len(scheme) < 5 else 2) else None


def check_source(uri: str) -> None:
    """Raise a fatal ``SourceError`` when ``uri`` cannot name a source at all: an unknown or mistyped scheme
    (``rtps://``, ``htp://``, ``rstp://``), ``rtsp:/host`` without its ``//``, no host, a port that is not a
    number.

    These are configuration errors: the agent refuses to start with them (``check_at_start``: one error
    line, exit status 2) rather than retrying. Nothing outside the configuration can make ``rtps://`` work,
    and a reader backing off forever would show a typo as a camera "reconnecting", which reads like a
    network fault and sends people to the wrong place. Everything that can fix itself (a camera that is
    off or unreachable, a USB camera not plugged in yet, a file not there yet) is retried instead."""
    shown = redact_uri(uri)
    if not uri.strip():
        raise SourceError(
            "source.uri is empty — give a video file path, rtsp://…, or a USB camera (0 or /dev/video0)", "config", True
        )
    if is_device(uri):
        return
    if "://" not in uri:
        m = re.match(r"([A-Za-z][A-Za-z0-9+.-]+):(?!//)", uri)  # rtsp:/host, http:host (not C:\…: one letter)
        if m and _meant(m[1], ("rtsp", "http", "https", "rtsps", "rtmp")):
            raise SourceError(
                f"source.uri {shown} is missing the '//' after '{m[1]}:' — write {m[1].lower()}://HOST/PATH",
                "config",
                True,
            )
        return
    scheme = uri.split("://", 1)[0]
    if scheme.lower() not in SCHEMES:
        guess = _meant(scheme)
        if guess:
            raise SourceError(
                f"unknown scheme {scheme!r} in source.uri {shown} — did you mean {guess}://?", "scheme", True
            )
        raise SourceError(
            f"unsupported scheme {scheme!r} in source.uri {shown} — use rtsp:// or rtsps:// (IP cameras), http(s):// "
            "(MJPEG), a video file path, or a USB camera (0, /dev/video0)",
            "scheme",
            True,
        )
    if scheme.lower() == "file":
        return
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise SourceError(
            f"source.uri {shown}: the host or port is malformed — write {scheme.lower()}://HOST:PORT/PATH with a port "
            "from 1 to 65535",
            "config",
            True,
        ) from None
    if not parts.hostname:
        raise SourceError(
            f"source.uri {shown} names no host — write {scheme.lower()}://HOST/PATH (e.g. rtsp://192.168.1.64/stream1)",
            "config",
            True,
        )


def check_at_start(uri: str, camera_id: str, on_end: str = "stop") -> None:
    """What the agent refuses to start with, as a fatal ``SourceError`` naming the camera: a URI that cannot
    name a source (``check_source``), and a video file that is missing or unreadable unless ``on_end`` is
    ``reopen`` (waiting for it is then the point). Cameras are not opened here: one that is off or unplugged
    at start is the reader's to retry."""
    try:
        check_source(uri)
        if is_file(uri) and on_end != "reopen":
            open_capture(uri).release()
    except SourceError as err:
        raise SourceError(f"camera {camera_id}: {err}", err.cause, True) from None


# -- why a source did not open ------------------------------------------------------------------------
def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid()) if hasattr(os, "geteuid") else "this user"


def _file_problem(path: Path) -> SourceError | None:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        where = "" if path.parent.is_dir() else f" (and no directory {path.parent})"
        return SourceError(f"{path}: no such file{where} — check source.uri", "missing")
    except PermissionError:
        return SourceError(
            f"{path}: user {_user()} may not look into its directory — check the permissions of {path.parent}",
            "permission",
        )
    if stat.S_ISDIR(st.st_mode):
        return SourceError(f"{path} is a directory — source.uri must name a video file", "notfile")
    if not os.access(path, os.R_OK):
        return SourceError(
            f"{path}: user {_user()} may not read it — check its permissions (ls -l {path})", "permission"
        )
    return None


def _device_problem(uri: str) -> SourceError:
    name, path = _device_name(uri), _device_path(uri)
    if not sys.platform.startswith("linux"):
        return SourceError(
            f"{name} does not open — is the camera plugged in and not used by another program?", "device"
        )
    try:
        st = os.stat(path)
    except FileNotFoundError:
        seen = sorted(glob.glob("/dev/video*"))
        there = ", ".join(seen) if seen else "none now"
        return SourceError(
            f"{name} does not exist — is the USB camera plugged in? ls /dev/video* lists the ones this box sees "
            f"({there})",
            "missing",
        )
    except OSError as err:
        return SourceError(f"{name}: {err.strerror} — check source.uri", "device")
    if not stat.S_ISCHR(st.st_mode) or not os.path.basename(os.path.realpath(path)).startswith("video"):
        return SourceError(
            f"{name} is not a video device — name a camera such as /dev/video0 (ls /dev/video*)", "notdevice"
        )
    try:
        os.close(os.open(path, os.O_RDWR | os.O_NONBLOCK))
    except PermissionError:
        user = _user()
        return SourceError(
            f"{name}: user {user} may not open it — add it to the 'video' group (sudo usermod -aG video {user}) "
            "and restart the agent",
            "permission",
        )
    except OSError as err:
        return SourceError(f"{name} does not open ({err.strerror}) — unplug the camera and plug it in again", "device")
    return SourceError(
        f"{name} is there but does not give video — is another program using it (fuser {path})? Some USB cameras "
        "add a second /dev/video node that carries no video: try the next one",
        "device",
    )


def _network_problem(uri: str, parts: SplitResult, elapsed_s: float, timeout_s: float, worked: bool) -> SourceError:
    """Why FFmpeg could not open ``uri``: a TCP connection of our own to its host and port tells a name that
    does not resolve, a refusal, no answer, no route, or a camera that answered but gave no video (``worked``:
    it streamed from this very URI before, so its port and path are right)."""
    shown, scheme = redact_uri(uri), parts.scheme.lower()
    host, port = parts.hostname, parts.port or SCHEMES.get(scheme)
    if not host or port is None or scheme in ("udp", "rtp", "srt"):
        return SourceError(f"{shown} gives no video — is the sender on, and are the address and port right?", "failed")
    wait = min(timeout_s, 5.0)
    try:
        socket.create_connection((host, port), timeout=wait).close()
    except socket.gaierror:
        return SourceError(
            f"{shown}: the host name {host!r} does not resolve — check it in source.uri, or use the camera's IP "
            "address",
            "dns",
        )
    except ConnectionRefusedError:
        return SourceError(f"{shown} refused the connection — is the camera on, and is port {port} right?", "refused")
    except TimeoutError:
        return SourceError(
            f"{shown}: {host}:{port} did not answer within {wait:g} s — is the camera on and on this box's network? "
            f"check the address (ping {host}) and any firewall",
            "timeout",
        )
    except OSError as err:
        return SourceError(
            f"{shown}: cannot reach {host}:{port} ({err.strerror or err}) — is this box on the camera's network? "
            "check the address",
            "unreachable",
        )
    if elapsed_s >= 0.8 * timeout_s:
        fix = (
            "the camera seems hung (it streamed before): restart it"
            if worked
            else f"is port {port} the camera's {scheme.upper()} port, and is the stream path right?"
        )
        return SourceError(
            f"{shown} accepted the connection but sent no video within {timeout_s:g} s — {fix}", "silent"
        )
    fix = (
        "was its password changed, or are too many viewers connected? (it streamed before)"
        if worked
        else "check the stream path and the user and password in source.uri"
    )
    return SourceError(f"{shown} answered but gave no video — {fix}", "rejected")


def open_capture(uri: str, timeout_ms: int = 10000, worked: bool = False) -> cv2.VideoCapture:
    """The source opened, or a ``SourceError`` saying why not and what to do (``worked``: it was read before)."""
    check_source(uri)
    if is_device(uri):
        cap = cv2.VideoCapture(int(uri) if uri.isdigit() else uri, _DEVICE_API)
        if not cap.isOpened():
            raise _device_problem(uri)
        return cap
    if is_file(uri):
        path = _file_path(uri)
        problem = _file_problem(path)
        if problem is not None:
            raise problem
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise SourceError(f"{path} is not a video OpenCV can read — check the file (ffprobe {path})", "unreadable")
        return cap
    scheme, rest = uri.split("://", 1)
    started = time.monotonic()
    cap = cv2.VideoCapture(
        f"{scheme.lower()}://{rest}",  # FFmpeg knows rtsp, not RTSP
        cv2.CAP_FFMPEG,
        [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
    )
    if not cap.isOpened():
        raise _network_problem(uri, urlsplit(uri), time.monotonic() - started, timeout_ms / 1000, worked)
    return cap


def frames(uri: str, max_frames: int | None = None) -> Iterator[Frame]:
    """Every frame of a source in order (files: evaluation and benchmarks)."""
    cap = open_capture(uri)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    start = time.time()
    index = 0
    try:
        while max_frames is None or index < max_frames:
            ok, bgr = cap.read()
            if not ok:
                return
            yield Frame(index, index / fps, start + index / fps, bgr)
            index += 1
    finally:
        cap.release()


class CameraReader:
    def __init__(
        self,
        uri: str,
        camera_id: str = "cam0",
        mode: str = "live",
        on_end: str = "stop",
        stall_timeout_s: float = 5.0,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        max_frames: int | None = None,
        on_state=None,
    ):
        self.uri, self.camera_id, self.mode, self.on_end = uri, camera_id, mode, on_end
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.max_frames = max_frames
        self.on_state = on_state
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera_id}", daemon=True)
        self.state, self.state_since = RECONNECTING, time.time()
        self.reconnects = 0
        self.attempts = 0  # times the source was opened or tried
        self.frames_read = 0
        self.frames_skipped = 0  # overwritten before the agent took them (live mode)
        self._recent: deque[float] = deque()
        self._last_frame_at = time.monotonic()
        self._t0 = time.monotonic()
        self.last_error = ""  # the operator's words for the last failure (no password)
        self._said = threading.Lock()  # the log lines below come from the reader and the consumer thread
        self._cause: str | None = None  # the cause the last trouble line named; None while streaming
        self._trouble_since: float | None = None  # monotonic start of the current outage
        self._streamed = False

    # -- consumer side -----------------------------------------------------------------------
    def start(self) -> CameraReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=15)

    def fail(self, why: str) -> None:
        """The agent can no longer use this camera's frames: stop reading, drop the frame held, state down."""
        self.stop()
        with self._cond:
            self._latest = None
        self._set_state(DOWN, why)

    def get(self, timeout: float = 1.0) -> Frame | None:
        """The newest frame not yet taken; None after ``timeout`` with none new (or when ended)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None:
                if self.state in (ENDED, DOWN) or self._stop.is_set():
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._watchdog()
                    return None
                self._cond.wait(remaining)
            frame, self._latest = self._latest, None
            self._cond.notify_all()
            return frame

    @property
    def fps(self) -> float:
        """Frames per second over the last two seconds (0 when none came)."""
        now = time.monotonic()
        recent = [t for t in list(self._recent) if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(now - recent[0], recent[-1] - recent[0], 1e-6)

    @property
    def ended(self) -> bool:
        """No frame will come any more: the file ended, or the source cannot be read at all (down)."""
        return self.state in (ENDED, DOWN) and self._latest is None

    def _watchdog(self) -> None:
        if self.state == STREAMING and time.monotonic() - self._last_frame_at > self.stall_timeout_s:
            self._trouble("lost", f"{redact_uri(self.uri)} sent no frame for {self.stall_timeout_s:g} s — reconnecting")
            self._set_state(STALLED, f"no frame for {self.stall_timeout_s:g} s")

    def _set_state(self, state: str, why: str = "") -> None:
        """The state the status and metrics show; the log lines are ``_trouble``'s and ``_recovered``'s."""
        if state == self.state:
            return
        self.state, self.state_since = state, time.time()
        log.debug("camera %s: %s%s", self.camera_id, state, f" ({why})" if why else "")
        if self.on_state:
            self.on_state(self.camera_id, state)

    # -- what the operator reads ---------------------------------------------------------------
    def _trouble(self, cause: str, words: str) -> None:
        """One line per cause: at the first failure of an outage and when its cause changes, never per retry."""
        with self._said:
            if self._trouble_since is None:
                self._trouble_since = time.monotonic()
            if cause == self._cause:
                return
            self._cause = cause
        log.warning(
            "camera %s: %s (retrying every %g→%g s)", self.camera_id, words, self.reconnect_min_s, self.reconnect_max_s
        )

    def _recovered(self, same_connection: bool) -> None:
        """Frames again: one line when there had been trouble (after how long), else the first connection."""
        with self._said:
            since, self._trouble_since, self._cause = self._trouble_since, None, None
            first, self._streamed = not self._streamed, True
        if since is None:
            if first:
                log.info("camera %s: streaming from %s", self.camera_id, redact_uri(self.uri))
            return
        after = f"{time.monotonic() - since:.1f} s"
        if same_connection:
            log.warning("camera %s sending frames again after %s", self.camera_id, after)
        elif first:
            log.warning("camera %s connected after %s (%s)", self.camera_id, after, redact_uri(self.uri))
        else:
            log.warning("camera %s connected again after %s", self.camera_id, after)

    def _lost_words(self) -> str:
        if is_file(self.uri):
            return f"{_file_path(self.uri)} ended or broke off — opening it again (source.on_end: {self.on_end})"
        return f"{redact_uri(self.uri)} stopped sending video ({self.last_error}) — reconnecting"

    # -- reader thread -----------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.reconnect_min_s
        index = 0
        first, looped = True, False
        while not self._stop.is_set():
            self.attempts += 1
            try:
                # a network read that waits longer than the stall timeout fails, and we reconnect
                cap = open_capture(self.uri, max(1000, int(self.stall_timeout_s * 1000)), self._streamed)
            except SourceError as err:
                self.last_error = str(err)
                looped = False
                if err.fatal or (first and self.on_end == "stop" and is_file(self.uri)):
                    log.error("camera %s: %s", self.camera_id, err)  # nothing to wait for: said once, and done
                    self._set_state(DOWN if err.fatal else ENDED, str(err))
                    with self._cond:
                        self._cond.notify_all()
                    return
                self._trouble(err.cause, str(err))
                self._set_state(RECONNECTING, str(err))
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_max_s)
                continue
            if not first and not looped:
                self.reconnects += 1
            first = False
            index, looped = self._stream(cap, index)
            cap.release()
            if self._stop.is_set() or self.state == ENDED:
                return
            if looped:
                continue  # a looping file starts over (reopened: a replaced file is picked up)
            delay = self.reconnect_min_s if self.state == STREAMING else delay
            self._trouble("lost", self._lost_words())
            self._set_state(RECONNECTING, self.last_error or "source stopped giving frames")
            self._stop.wait(delay)
            delay = min(delay * 2, self.reconnect_max_s)

    def _stream(self, cap: cv2.VideoCapture, index: int) -> tuple[int, bool]:
        """Read until the source fails or ends; (the next frame index, whether a looping file ended)."""
        file_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        paced = self.mode == "live" and is_file(self.uri)
        opened_at = time.monotonic()
        wall0 = time.time()
        n = 0
        while not self._stop.is_set():
            if self.max_frames is not None and self.frames_read >= self.max_frames:
                log.info("camera %s: ended (max_frames %d read)", self.camera_id, self.max_frames)
                self._set_state(ENDED, f"max_frames {self.max_frames} read")
                return index, False
            ok, bgr = cap.read()
            now = time.monotonic()
            if not ok:
                if is_file(self.uri) and self.on_end == "stop":
                    log.info("camera %s: ended (end of file)", self.camera_id)
                    self._set_state(ENDED, "end of file")
                    with self._cond:
                        self._cond.notify_all()
                    return index, False
                if is_file(self.uri) and self.on_end == "loop" and n > 0:
                    return index, True
                self.last_error = "end of stream" if is_file(self.uri) else "read failed"
                return index, False
            if paced:  # a file played as a camera: at its own frame rate
                due = opened_at + n / file_fps
                if due > now:
                    self._stop.wait(due - now)
                    now = time.monotonic()
            if self.mode == "offline":
                stamp, wall = index / file_fps, wall0 + n / file_fps
            else:
                stamp, wall = now - self._t0, time.time()
            frame = Frame(index, stamp, wall, bgr)
            n += 1
            index += 1
            self.frames_read += 1
            self._recent.append(now)  # frame rate over the last two seconds
            while now - self._recent[0] > 2.0:
                self._recent.popleft()
            self._last_frame_at = now
            with self._cond:
                if self.mode == "offline":
                    while self._latest is not None and not self._stop.is_set():
                        self._cond.wait(0.5)
                elif self._latest is not None:
                    self.frames_skipped += 1
                self._latest = frame
                self._cond.notify_all()
            if self.state != STREAMING:
                resumed = self.state == STALLED and n > 1  # frames again on the connection that had stalled
                self._set_state(STREAMING)
                self._recovered(same_connection=resumed)
        return index, False
