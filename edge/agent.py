"""The edge agent, top to bottom:

    camera (edge.capture: reader thread, latest frame, reconnects)
      ─► motion gate (edge.motion: skip idle frames) ─► detection-rate gate (detect_fps)
      ─► VisionPipeline.process (detect → track → align → age → fuse → policy) ─► TrackEvent
      ─► CHECK ID: seal the face crop (edge.evidence) ─► Alert (no pixels) ─► spool (on disk)
      ─► publisher (MQTT QoS 1; alerts and ID checks leave the spool on the hub's receipt, the rest on PUBACK)

At the counter (with an ``mqtt`` section): each alert also becomes a pending check on the desk
(``edge.idcheck.desk``; the face crop in memory only, for the staff console's screen); staff read the ID
(card reader, the card held to a camera, typed) and record the outcome, which is signed and spooled like an
alert; a check with no outcome when ``idcheck.window_s`` runs out is reported as "not checked". The staff
console (``edge.console``) serves the desk on the venue's LAN.

Alongside: a status loop (retained ``status`` with camera states and spool depth, every
``status.interval_s``, on every reconnect and on camera state changes; Last Will
``online=false``), Birth at start and Death at a clean stop, evidence requests answered from the
sealed store, and Prometheus metrics on ``/metrics``.

Without an ``mqtt`` section the agent runs locally: decisions go to the callback only, and
nothing is written to disk.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from humiao.edge.capture import CameraReader, check_at_start
from humiao.edge.config import EdgeConfig
from humiao.edge.evidence import EvidenceStore, encode_crop
from humiao.edge.hub_requests import HubRequests
from humiao.edge.idcheck.desk import CheckDesk, RecordedCheck
from humiao.edge.idcheck.number import venue_secret
from humiao.edge.identity import DeviceIdentity
from humiao.edge.messages import Messages
from humiao.edge.metrics import EdgeMetrics
from humiao.edge.motion import MotionGate
from humiao.edge.pipeline import TrackEvent, VisionPipeline
from humiao.edge.publisher import Publisher
from humiao.edge.spool import Spool
from humiao.edge.types import AgeDecision
from humiao.files import private_dir
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.ids import uuid7

if TYPE_CHECKING:
    from humiao.edge.console.server import ConsoleServer

log = logging.getLogger("humiao.edge")


class StateError(RuntimeError):
    """The device's state directory (spool, sealed evidence) is unusable."""


@dataclass(frozen=True)
class Link:
    """What an agent with an ``mqtt`` section holds, all or nothing: the on-disk spool, the sealed
    evidence store and the publisher that drains the spool."""

    spool: Spool
    evidence: EvidenceStore
    publisher: Publisher
    desk: CheckDesk


@dataclass
class RunSummary:
    frames_read: int = 0
    frames_processed: int = 0
    frames_gated: int = 0
    decisions: list[TrackEvent] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # event ids
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)


def resolve_source(cfg: EdgeConfig, cache: Path | None = None) -> str:
    """'sample' → the generated demo video (built once into the cache); anything else as given."""
    if cfg.source.uri != "sample":
        return cfg.source.uri
    from humiao.edge import sample_video

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "humiao" / "sample"
    path = (cache or base) / "entrance.mp4"
    if not path.exists() or not Path(str(path) + ".json").exists():
        log.info("building the sample video at %s", path)
        sample_video.build(path)
    return str(path)


def model_refs(cfg: EdgeConfig) -> list[tuple[str, str]]:
    from humiao.models import manifests

    ids: list[str] = [cfg.models.detector if cfg.models.pack == "default" else "insightface-scrfd"]
    if cfg.models.landmarks == "facemesh":
        ids.append("facemesh-landmarks")
    ids.extend(cfg.models.ensemble if cfg.models.age == "ensemble" else [cfg.models.age])
    known = manifests()
    return [(i, known[i].prepared.graph_sha256 if i in known else "") for i in ids]


class EdgeAgent:
    def __init__(self, cfg: EdgeConfig):
        self.cfg = cfg
        self.metrics = EdgeMetrics()
        self.pipeline = VisionPipeline(cfg)
        self.pipeline.timer.observe = self.metrics.observe_stage
        self.messages = Messages(cfg, model_refs(cfg))
        self.motion = MotionGate(cfg.motion)
        self.camera: CameraReader | None = None
        self.link: Link | None = None  # with an mqtt section, from start to close
        self.started_at = time.time()
        self._wall_offset = 0.0
        self._frame_wall = time.time()
        self._stop = threading.Event()
        self._status_now = threading.Event()
        self._status_thread: threading.Thread | None = None
        self._skipped_seen = 0  # camera.frames_skipped already counted in the metrics
        self.metrics_port: int | None = None
        self.console: ConsoleServer | None = None  # the staff console (edge.console), with an mqtt section

    # -- wiring ------------------------------------------------------------------------------
    def _open_link(self) -> None:
        """Spool, sealed evidence store and publisher (only with an mqtt section)."""
        mqtt = self.cfg.mqtt
        if mqtt is None:
            return
        state = self.cfg.device.state_dir
        try:
            private_dir(state)  # 0700 when Humiao creates it; the databases in it are 0600
            probe = state / ".writable"
            probe.touch()
            probe.unlink()
        except OSError as err:
            raise StateError(
                f"device.state_dir {state}: not writable ({err.strerror}); the spool and sealed "
                "evidence live there — create it for this user or set device.state_dir"
            ) from None
        identity = DeviceIdentity.load(self.cfg)  # NotEnrolled says how to enrol
        spool = Spool(state / "spool.db", max_bytes=int(self.cfg.spool.max_mb * (1 << 20)))
        evidence = EvidenceStore(state / "evidence.db", self.cfg.evidence, identity.trust.evidence_public())
        if not evidence.enabled:
            log.warning("evidence.keep_crops is false: no face crops are kept, alerts carry none")
        m = self.messages
        # the Last Will carries no time: the broker sends it when we are gone, and the hub stamps it then
        offline = pb.Status(origin=m.origin(), online=False).SerializeToString()
        publisher = Publisher(
            spool,
            identity,
            mqtt,
            will=(m.topic("status"), offline),
            subscriptions=[m.topic("evidence_request"), m.topic("evidence_ack")],
            on_message=lambda topic_name, msg: self._hub_requests(topic_name, msg),
            on_connected=lambda _p: self._status_now.set(),
            receipt_topic=m.topic("receipt"),
        )
        idc = self.cfg.idcheck
        secret = venue_secret(idc.venue_secret_file or state / "venue-secret")
        desk = CheckDesk(idc.window_s, self._checked, secret, ZoneInfo(idc.timezone))
        self.link = Link(spool, evidence, publisher, desk)
        if idc.console.enabled:
            self._start_console(desk)
        self._hub_requests = HubRequests(
            spool, evidence, m, publisher.wake, lambda outcome: self.metrics.evidence.labels(outcome).inc()
        )
        self._put(self.link, "birth", f"birth:{uuid7()}", m.birth(self.started_at))
        publisher.start()

    def _start_console(self, desk: CheckDesk) -> None:
        """The staff console on the desk, with the card reader and camera reading when configured. A console
        that cannot start is logged loudly; the door's camera keeps working (alerts still reach the hub and
        unanswered checks are reported as not checked)."""
        from humiao.edge.console.server import ConsoleServer
        from humiao.edge.idcheck.readers import make_reader

        idc = self.cfg.idcheck
        ocr = None
        if idc.ocr:
            try:
                from humiao.edge.idcheck.ocr import CardOcr

                ocr = CardOcr(threads=idc.ocr_threads).read_bytes
            except Exception as err:  # OcrUnavailable, the OCR package missing or broken: chip and typing remain
                log.error("staff console: reading cards with the camera is off: %s", err)
        try:
            reader = make_reader(idc.reader) if idc.reader else None
            console = ConsoleServer(
                idc.console,
                desk,
                self.cfg.device.state_dir,
                self.cfg.policy.venue_type,
                ocr=ocr,
                reader=reader,
                cameras=[self.cfg.source.camera_id],
            )
            console.start()
        except Exception as err:  # a port taken, a bad certificate, a reader that will not open, …
            log.error("staff console NOT started (%s): staff cannot record ID checks on this box", err)
            return
        self.console = console

    def _checked(self, rec: RecordedCheck) -> None:
        """An outcome recorded at the desk (or "not checked" when its window ran out): signed and spooled like
        an alert, kept until the hub's receipt."""
        link = self.link
        if link is None:
            return
        self.metrics.id_checks.labels(rec.result).inc()
        self._put(link, "idcheck", rec.check_id, self.messages.idcheck(rec))

    def _put(self, link: Link, kind: str, key: str, message) -> None:
        link.spool.put(key, kind, self.messages.topic(kind), message.SerializeToString())
        link.publisher.wake()

    # -- the frame loop ----------------------------------------------------------------------
    def run(self, on_event: Callable[[TrackEvent], None] | None = None, uri: str | None = None) -> RunSummary:
        uri = uri or resolve_source(self.cfg)
        src = self.cfg.source
        # a mistyped URI, or a missing or unreadable file (unless on_end is reopen): an error at start, not a
        # reconnect loop; a camera that is off or unplugged is the reader's to retry, with one line per cause
        check_at_start(uri, src.camera_id, src.on_end)
        if self.cfg.metrics.port is not None and self.metrics_port is None:
            try:
                self.metrics_port = self.metrics.serve(self.cfg.metrics.host, self.cfg.metrics.port)
                log.info("metrics on http://%s:%d/metrics", self.cfg.metrics.host, self.metrics_port)
            except OSError as err:  # metrics are not worth stopping the door for
                log.error("metrics server on %s:%s not started: %s", self.cfg.metrics.host, self.cfg.metrics.port, err)
        try:
            self._open_link()
        except Exception:
            self.close(reason="failed to start")
            raise
        self.camera = CameraReader(
            uri,
            src.camera_id,
            src.mode,
            src.on_end,
            src.stall_timeout_s,
            src.reconnect_min_s,
            src.reconnect_max_s,
            src.max_frames,
            on_state=self._camera_changed,
        ).start()
        self._status_thread = threading.Thread(target=self._status_loop, name="edge-status", daemon=True)
        self._status_thread.start()

        summary = RunSummary()
        period = 1.0 / self.cfg.detect_fps
        next_due = -1e9
        timer, frames = self.pipeline.timer, self.metrics.frames
        started = time.perf_counter()
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                frame = self.camera.get(timeout=0.5)
                if frame is None:
                    if self.camera.ended:
                        break
                    continue
                timer.add("decode", time.perf_counter() - t0)  # waiting included in live mode
                summary.frames_read += 1
                frames.labels("read").inc()
                if frame.timestamp + 1e-9 < next_due:
                    frames.labels("skipped_rate").inc()
                    continue
                t1 = time.perf_counter()
                moving = self.motion.moving(frame.bgr, frame.timestamp)
                timer.add("motion", time.perf_counter() - t1)
                if not moving and not self.pipeline.tracker.tracks:
                    summary.frames_gated += 1
                    frames.labels("skipped_motion").inc()
                    continue
                next_due = frame.timestamp + period
                summary.frames_processed += 1
                frames.labels("processed").inc()
                self._wall_offset = frame.wall - frame.timestamp  # stream time → Unix time, for the wire
                self._frame_wall = frame.wall
                self._handle(self.pipeline.process(frame.rgb, frame.timestamp), summary, on_event)
            self._handle(self.pipeline.flush(), summary, on_event)
        finally:
            summary.seconds = time.perf_counter() - started
            summary.stage_ms = timer.mean_ms()
            self.close(reason="source ended" if self.camera and self.camera.ended else "shutdown")
        return summary

    def _handle(self, events: list[TrackEvent], summary: RunSummary, on_event) -> None:
        for event in events:
            if event.kind == "decided" and event.decision is not None:
                summary.decisions.append(event)
                self.metrics.decisions.labels("check_id" if event.decision.check_id else "pass").inc()
                if event.decision.check_id:
                    summary.alerts.append(self._alert(event, event.decision))
            if on_event:
                on_event(event)

    def _alert(self, event: TrackEvent, decision: AgeDecision) -> str:
        """One alert per person-visit: seal the crop, spool the alert. Pass decisions stay on the device."""
        event_id = str(uuid7())
        self.metrics.alerts.inc()
        link = self.link
        if link is None:
            return event_id
        kept = False
        shown = None  # the crop for the staff console's screen: JPEG bytes in memory, until the check is done
        if event.best_crop is not None:
            if link.evidence.enabled:
                kept = link.evidence.keep(event_id, event.best_crop, captured_at=event.last_seen + self._wall_offset)
                self.metrics.evidence.labels("kept").inc()
            shown = encode_crop(event.best_crop, self.cfg.evidence.max_side_px, self.cfg.evidence.jpeg_quality)
        event.best_crop = None  # the plain crop is not kept past this point
        # offline (a file faster than real time) the clock is the video's; live it is the wall clock
        decided_at = self._frame_wall if self.cfg.source.mode == "offline" else time.time()
        link.desk.add(event_id, self.cfg.source.camera_id, decided_at, decision.age, shown)
        msg = self.messages.alert(
            event_id, event.track_id, event.first_seen + self._wall_offset, decided_at, decision, kept
        )
        self._put(link, "alert", event_id, msg)
        return event_id

    # -- status ------------------------------------------------------------------------------
    def _camera_changed(self, camera_id: str, state: str) -> None:
        self.metrics.camera_state(camera_id, state)
        self._status_now.set()

    def camera_status(self) -> list[dict]:
        c = self.camera
        if c is None:
            return []
        return [
            {
                "camera_id": c.camera_id,
                "state": c.state,
                "state_since": c.state_since,
                "fps": c.fps,
                "frames_skipped": c.frames_skipped,
                "reconnects": c.reconnects,
            }
        ]

    def _status(self, online: bool) -> pb.Status:
        depth = self.link.spool.depth() if self.link else 0
        size = self.link.spool.size_bytes() if self.link else 0
        return self.messages.status(
            online, time.time(), self.camera_status(), depth, size, time.time() - self.started_at
        )

    def _refresh_gauges(self) -> None:
        m = self.metrics
        link = self.link
        if link:
            m.spool_depth.set(link.spool.depth())
            m.spool_bytes.set(link.spool.size_bytes())
            m.evidence_held.set(link.evidence.count())
        m.connected.set(1 if link and link.publisher.connected else 0)
        for c in self.camera_status():
            m.camera_state(c["camera_id"], c["state"])
            m.reconnects.labels(c["camera_id"]).set(c["reconnects"])
            m.fps.labels(c["camera_id"]).set(c["fps"])
        if self.camera:
            skipped = self.camera.frames_skipped - self._skipped_seen
            if skipped > 0:
                m.frames.labels("skipped_reader").inc(skipped)
            self._skipped_seen = self.camera.frames_skipped

    def _status_loop(self) -> None:
        while not self._stop.is_set():
            self._status_now.wait(self.cfg.status.interval_s)
            self._status_now.clear()
            if self._stop.is_set():
                return
            try:
                self._refresh_gauges()
                link = self.link
                if link:
                    try:
                        link.desk.expire()  # checks whose window ran out: "not checked", spooled
                    except Exception:  # e.g. the spool's disk full: they stay pending, tried next round
                        log.exception("could not record the ID checks whose window ran out; trying again")
                    expired = link.evidence.expire()
                    if expired:
                        self.metrics.evidence.labels("expired").inc(expired)
                        log.info("deleted %d unrequested evidence crops past retention", expired)
                    link.publisher.send_now(
                        self.messages.topic("status"), self._status(online=True).SerializeToString(), retain=True
                    )
            except Exception:
                log.exception("status update failed")

    # -- shutdown ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask ``run`` to finish (from another thread or a signal handler)."""
        self._stop.set()

    def close(self, reason: str = "shutdown") -> None:
        self._stop.set()
        self._status_now.set()
        if self.camera:
            self.camera.stop()
        if self._status_thread:
            self._status_thread.join(timeout=5)
        self._refresh_gauges()
        if self.console is not None:
            self.console.stop()
            self.console = None
        link = self.link
        if link:
            self._put(link, "death", f"death:{uuid7()}", self.messages.death(time.time(), reason))
            deadline = time.monotonic() + self.cfg.status.drain_timeout_s
            while link.spool.depth() and time.monotonic() < deadline:
                time.sleep(0.05)
            if link.spool.depth():
                log.warning(
                    "%d messages still spooled at shutdown; they are sent at the next start", link.spool.depth()
                )
            link.publisher.send_now(
                self.messages.topic("status"), self._status(online=False).SerializeToString(), retain=True
            )
            time.sleep(0.1)
            link.publisher.stop()
            link.evidence.close()
            link.spool.close()
            self.link = None
        self.metrics.close()
        self.metrics_port = None
