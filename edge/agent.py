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

Several cameras (``cameras:``; ``source:`` is a list of one). The detector, landmark and age sessions
are loaded once per agent and shared; each camera has its own reader thread (decoding), worker thread
(motion gate, detection-rate gate, tracker, fusion, policy with the camera's overrides, timers) and
summary. At most ``models.workers`` frames are in the models at once (a semaphore over the workers),
and the faces of every camera go to the age model(s) in one batch (``edge.batching.AgeBatcher``: a
short wait, a bounded queue); a freed model slot goes to the camera that has waited longest. Decisions
come back to the thread that called ``run`` through a bounded queue (a slow spool or callback holds the
workers back rather than piling face crops up in memory), which spools alerts (each with its own camera's
id) and calls ``on_event`` — so ``on_event`` calls never run concurrently; a face crop is dropped once its
callback has returned. A camera that is slow, stalled or gone holds only its own worker: the others keep
deciding, and the status and metrics say which camera is reconnecting. A camera whose frames make the
pipeline fail is stopped (state ``down``, the error logged) while the others keep deciding; when every
camera has failed (or the only one), ``run`` raises the error.

Why threads and not processes, and ``models.threads: 1`` (measured ad hoc on the 2-core dev box, Nov
2026, shared with other work: two copies of a 1280×720 sample entrance video, 10 frames/s into
detect+align+age+fuse, frames per second for both cameras together). VisionPipeline on 60 frames per
camera: one thread, intra_op 1: 114; one thread, intra_op 2: 65; two threads sharing the sessions,
intra_op 1: 178; two threads, intra_op 2: 54; two processes each with its own models, intra_op 1: 164
(and a copy of every model per process). The whole agent, two offline cameras, best of 3: workers 2:
54 (with the age batch) and 52 (without; 87 vs 70 in a quieter moment); workers 1: 47; workers 2 with
intra_op 2: 33. onnxruntime releases the GIL in ``run``, so threads over shared sessions use both
cores, and more intra-op threads only oversubscribe cores the cameras already fill: one worker per
core (``workers: 0``) and ``threads: 1``. The age models cost about the same per face batched or not
(Cydral 1.3 ms for one face, 2.7 ms for two; face-api 1.8 / 3.8 ms), so the cross-camera batch saves
call overhead rather than arithmetic here; ``age_batch_wait_ms: 0`` turns it off.

For benchmarks (``benchmarks/edge_streams.py``): build the config with ``cameras`` (N files, ``mode:
offline`` for every frame or ``live`` for a camera's pace), call ``EdgeAgent(cfg).run(on_event)`` and
read ``summary.cameras[camera_id]``: a ``CameraSummary`` with ``frames_decoded`` (by the reader),
``frames_skipped`` (overwritten by the reader before the worker took them: live mode keeps the latest
frame only), ``frames_read`` (taken by the worker), ``frames_rate_skipped``, ``frames_gated`` (motion),
``frames_processed``, ``decisions``, ``alerts`` and ``stage_ms`` (mean ms per stage; ``age`` includes
the wait for the shared batch). The ``RunSummary`` totals are the sums over cameras.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from zoneinfo import ZoneInfo

from humiao.edge.age import FaceAges
from humiao.edge.batching import AgeBatcher, Slots
from humiao.edge.capture import CameraReader, check_at_start
from humiao.edge.config import CameraConfig, EdgeConfig
from humiao.edge.detect import FaceDetector
from humiao.edge.evidence import EvidenceStore, encode_crop
from humiao.edge.hub_requests import HubRequests
from humiao.edge.idcheck.desk import CheckDesk, RecordedCheck
from humiao.edge.idcheck.number import venue_secret
from humiao.edge.identity import DeviceIdentity
from humiao.edge.landmarks import Landmarks
from humiao.edge.messages import Messages
from humiao.edge.metrics import EdgeMetrics
from humiao.edge.motion import MotionGate
from humiao.edge.pipeline import StageTimer, TrackEvent, VisionPipeline, build_stages, calibration_for
from humiao.edge.publisher import Publisher
from humiao.edge.rate import RateGate
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
class CameraSummary:
    """One camera's share of a run (``RunSummary.cameras[camera_id]``)."""

    camera_id: str
    zone: str = ""
    frames_decoded: int = 0  # by the reader thread
    frames_skipped: int = 0  # overwritten by the reader before the worker took them (live mode: latest only)
    frames_read: int = 0  # taken by the worker
    frames_rate_skipped: int = 0  # over detect_fps
    frames_gated: int = 0  # nothing moved
    frames_processed: int = 0
    decisions: int = 0
    alerts: int = 0
    reconnects: int = 0
    state: str = ""  # the camera's state at the end
    error: str = ""  # why the agent gave up on this camera's frames (its pipeline failed), if it did
    stage_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class RunSummary:
    frames_read: int = 0
    frames_processed: int = 0
    frames_gated: int = 0
    # the most recent KEEP decisions and alert ids (a live agent runs for months: older ones are in the counts)
    decisions: list[TrackEvent] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # event ids
    decided: int = 0  # every decision of the run
    alerted: int = 0  # every alert of the run
    KEEP: ClassVar[int] = 1000

    def add(self, event: TrackEvent, alert_id: str | None) -> None:
        self.decided += 1
        self.decisions.append(event)
        del self.decisions[: -self.KEEP]
        if alert_id is not None:
            self.alerted += 1
            self.alerts.append(alert_id)
            del self.alerts[: -self.KEEP]

    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    cameras: dict[str, CameraSummary] = field(default_factory=dict)  # by camera id, in configured order


class Lane:
    """One camera's side of the agent: its reader, pipeline (shared models, own tracker), gates, timer."""

    def __init__(self, camera: CameraConfig, pipeline: VisionPipeline, motion: MotionGate):
        self.camera = camera
        self.camera_id = camera.camera_id
        self.pipeline = pipeline
        self.motion = motion
        self.uri = camera.uri
        self.reader: CameraReader | None = None
        self.thread: threading.Thread | None = None
        self.summary = CameraSummary(camera.camera_id, camera.zone)
        self.skipped_seen = 0  # reader.frames_skipped already counted in the metrics
        self.wall_offset = 0.0  # the last processed frame's Unix time minus its stream time
        self.frame_wall = time.time()  # the last processed frame's Unix time
        self.error: Exception | None = None  # this camera's pipeline failed: the camera is stopped

    def finish(self) -> CameraSummary:
        s, r = self.summary, self.reader
        if r is not None:
            s.frames_decoded, s.frames_skipped, s.reconnects, s.state = (
                r.frames_read,
                r.frames_skipped,
                r.reconnects,
                r.state,
            )
        s.stage_ms = self.pipeline.timer.mean_ms()
        s.error = repr(self.error) if self.error is not None else ""
        return s


def resolve_uri(uri: str, cache: Path | None = None) -> str:
    """'sample' → the generated demo video (built once into the cache); anything else as given."""
    if uri != "sample":
        return uri
    from humiao.edge import sample_video

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "humiao" / "sample"
    path = (cache or base) / "entrance.mp4"
    if not path.exists() or not Path(str(path) + ".json").exists():
        log.info("building the sample video at %s", path)
        sample_video.build(path)
    return str(path)


def resolve_source(cfg: EdgeConfig, cache: Path | None = None) -> str:
    """The (first) camera's URI, 'sample' resolved (``resolve_uri``)."""
    return resolve_uri(cfg.camera_configs()[0].uri, cache)


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
        stages: tuple[FaceDetector, Landmarks, FaceAges] = build_stages(cfg)  # loaded once, shared by every camera
        calibration = calibration_for(cfg)
        cameras = cfg.camera_configs()
        self.batcher: AgeBatcher | None = None
        if len(cameras) > 1 and cfg.models.age_batch_wait_ms > 0:  # one age batch for every camera's faces
            self.batcher = AgeBatcher(
                stages[2], max_wait_s=cfg.models.age_batch_wait_ms / 1000, on_batch=self.metrics.age_batch.observe
            )
            stages = (stages[0], stages[1], self.batcher)
        self.lanes: list[Lane] = []
        for cam in cameras:
            pipe = VisionPipeline(
                cfg, stages, calibration=calibration, policy=cfg.camera_policy(cam), camera_id=cam.camera_id
            )
            pipe.timer.observe = self.metrics.observe_stage
            self.lanes.append(Lane(cam, pipe, MotionGate(cfg.motion)))
            self.metrics.camera_info.labels(cam.camera_id, cam.label).set(1)
        self.pipeline = self.lanes[0].pipeline  # the (first) camera's: one-camera callers and tests use these
        self.motion = self.lanes[0].motion
        self.slots = Slots(cfg.models.workers)
        self.messages = Messages(cfg, model_refs(cfg))
        # bounded: a slow consumer (spool, callback) holds the workers back rather than piling up faces in memory
        self._events: queue.Queue[tuple[Lane, list[TrackEvent], float, float]] = queue.Queue(
            maxsize=2 * len(self.lanes) + 2
        )
        self._consuming = threading.Event()  # cleared once run no longer takes decisions (it failed or ended)
        self._failure: BaseException | None = None
        self.link: Link | None = None  # with an mqtt section, from start to close
        self.started_at = time.time()
        self._stop = threading.Event()
        self._status_now = threading.Event()
        self._status_thread: threading.Thread | None = None
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
                cameras=[lane.camera_id for lane in self.lanes],
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
    @property
    def camera(self) -> CameraReader | None:
        """The (first) camera's reader, once ``run`` has started it."""
        return self.lanes[0].reader

    def run(self, on_event: Callable[[TrackEvent], None] | None = None, uri: str | None = None) -> RunSummary:
        """Serve every configured camera until all have ended (files with ``on_end: stop``, ``max_frames``) or
        ``stop()``; decisions go to ``on_event`` in this thread. ``uri`` overrides the camera's URI of a
        one-camera configuration (with ``cameras``, each camera has its own)."""
        self._set_uris(uri)
        # a mistyped URI, or a missing or unreadable file (unless on_end is reopen): an error at start, not a
        # reconnect loop; a camera that is off or unplugged is the reader's to retry, with one line per cause
        for lane in self.lanes:
            check_at_start(lane.uri, lane.camera_id, lane.camera.on_end)
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
        for lane in self.lanes:
            c = lane.camera
            lane.reader = CameraReader(
                lane.uri,
                c.camera_id,
                c.mode,
                c.on_end,
                c.stall_timeout_s,
                c.reconnect_min_s,
                c.reconnect_max_s,
                c.max_frames,
                on_state=self._camera_changed,
            ).start()
        self._status_thread = threading.Thread(target=self._status_loop, name="edge-status", daemon=True)
        self._status_thread.start()
        if self.batcher is not None:
            self.batcher.start()

        summary = RunSummary()
        started = time.perf_counter()
        self._consuming.set()
        try:
            workers = [threading.Thread(target=self._work, args=(x,), name=f"edge-{x.camera_id}") for x in self.lanes]
            for lane, worker in zip(self.lanes, workers, strict=True):
                lane.thread = worker  # all set before any starts: a worker looks at the others'
            for worker in workers:
                worker.start()
            while True:  # decisions of every camera, handled here (spool, desk, callback) one at a time
                try:
                    item = self._events.get(timeout=0.2)
                except queue.Empty:
                    if not any(lane.thread and lane.thread.is_alive() for lane in self.lanes):
                        break
                    continue
                self._handle(*item, summary, on_event)
            while not self._events.empty():  # what the workers flushed as they ended
                self._handle(*self._events.get_nowait(), summary, on_event)
        finally:
            self._stop.set()  # an exception in a callback: the workers stop too
            self._consuming.clear()  # workers waiting to hand over decisions drop them
            for lane in self.lanes:
                if lane.thread is not None:
                    lane.thread.join(timeout=30)
            self._drop_events()
            summary.seconds = time.perf_counter() - started
            self._summarise(summary)
            ended = all(lane.reader is not None and lane.reader.ended for lane in self.lanes)
            self.close(reason="source ended" if ended else "shutdown")
        failed = [lane.error for lane in self.lanes if lane.error is not None]
        if self._failure is None and failed and len(failed) == len(self.lanes):  # every camera failed, at once
            self._failure = failed[0]
        if self._failure is not None:
            raise self._failure
        return summary

    def _emit(self, lane: Lane, events: list[TrackEvent]) -> None:
        """A worker hands its frame's decisions to the ``run`` thread: it waits while that thread is behind
        (bounded), and drops them once ``run`` takes no more (a callback failed)."""
        item = (lane, events, lane.wall_offset, lane.frame_wall)
        while self._consuming.is_set():
            try:
                self._events.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        for event in events:
            event.best_crop = None

    def _drop_events(self) -> None:
        """Decisions nobody will handle (``run`` failed): dropped, their face crops with them."""
        while True:
            try:
                _lane, events, _o, _w = self._events.get_nowait()
            except queue.Empty:
                return
            for event in events:
                event.best_crop = None

    def _set_uris(self, uri: str | None) -> None:
        if uri is not None:
            first = resolve_uri(self.lanes[0].camera.uri)
            if len(self.lanes) > 1 and uri != first:
                raise ValueError(
                    "run(uri=…) replaces the camera of a one-camera configuration; with 'cameras', give each "
                    "camera's uri in its entry"
                )
            self.lanes[0].uri = uri
        for lane in self.lanes[1 if uri is not None else 0 :]:
            lane.uri = resolve_uri(lane.camera.uri)

    def _work(self, lane: Lane) -> None:
        """One camera's worker thread: frames → gates → pipeline; decisions to the ``run`` thread."""
        reader = lane.reader
        assert reader is not None
        s, pipe = lane.summary, lane.pipeline
        rate = RateGate(self.cfg.detect_fps)
        timer, frames = pipe.timer, self.metrics.frames
        per_camera = self.metrics.camera_frames
        cid = lane.camera_id
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                frame = reader.get(timeout=0.5)
                if frame is None:
                    if reader.ended:
                        break
                    continue
                timer.add("decode", time.perf_counter() - t0)  # waiting included in live mode
                s.frames_read += 1
                frames.labels("read").inc()
                per_camera.labels(cid, "read").inc()
                if not rate.due_now(frame.timestamp):
                    s.frames_rate_skipped += 1
                    frames.labels("skipped_rate").inc()
                    per_camera.labels(cid, "skipped_rate").inc()
                    continue
                t1 = time.perf_counter()
                moving = lane.motion.moving(frame.bgr, frame.timestamp)
                timer.add("motion", time.perf_counter() - t1)
                if not moving and not pipe.tracker.tracks:
                    s.frames_gated += 1
                    frames.labels("skipped_motion").inc()
                    per_camera.labels(cid, "skipped_motion").inc()
                    continue
                rate.taken(frame.timestamp)
                s.frames_processed += 1
                frames.labels("processed").inc()
                per_camera.labels(cid, "processed").inc()
                lane.wall_offset = frame.wall - frame.timestamp  # stream time → Unix time, for the wire
                lane.frame_wall = frame.wall
                rgb = frame.rgb
                with self.slots, self._batching():
                    events = pipe.process(rgb, frame.timestamp)
                if events:
                    self._emit(lane, events)
            events = pipe.flush()  # the tracks still open end with the last frame's clock
            if events:
                self._emit(lane, events)
        except Exception as err:  # a fault in this camera's frames: this camera stops, the others keep deciding
            lane.error = err
            pipe.forget()  # its tracks' face crops go with it
            others = [x.camera_id for x in self.lanes if x.error is None and x.thread and x.thread.is_alive()]
            if not others:  # no other camera left running (or the only one): the agent stops, and run raises it
                log.exception("camera %s: the pipeline failed; stopping", cid)
                self._failure = self._failure or err
                self._stop.set()
                return
            log.exception(
                "camera %s: the pipeline failed on its frames; this camera is stopped (state down), "
                "the other cameras keep deciding: %s",
                cid,
                ", ".join(others),
            )
            reader.fail(f"the pipeline failed: {err!r}")
        except BaseException as err:  # not a fault in the frames (e.g. SystemExit): the agent stops
            log.exception("camera %s: the pipeline failed; stopping", cid)
            self._failure = self._failure or err
            self._stop.set()

    def _batching(self):
        from contextlib import nullcontext

        return self.batcher.frame() if self.batcher is not None else nullcontext()

    def _summarise(self, summary: RunSummary) -> None:
        total = StageTimer()
        for lane in self.lanes:
            cs = summary.cameras[lane.camera_id] = lane.finish()
            summary.frames_read += cs.frames_read
            summary.frames_processed += cs.frames_processed
            summary.frames_gated += cs.frames_gated
            for stage, seconds in lane.pipeline.timer.total.items():
                total.total[stage] += seconds
                total.count[stage] += lane.pipeline.timer.count[stage]
        summary.stage_ms = total.mean_ms()

    def _handle(
        self, lane: Lane, events: list[TrackEvent], wall_offset: float, frame_wall: float, summary: RunSummary, on_event
    ) -> None:
        for event in events:
            if event.kind == "decided" and event.decision is not None:
                lane.summary.decisions += 1
                verdict = "check_id" if event.decision.check_id else "pass"
                self.metrics.decisions.labels(verdict).inc()
                self.metrics.camera_decisions.labels(lane.camera_id, verdict).inc()
                alert_id = None
                if event.decision.check_id:
                    lane.summary.alerts += 1
                    alert_id = self._alert(lane, event, event.decision, wall_offset, frame_wall)
                summary.add(event, alert_id)
            if on_event:
                on_event(event)
            event.best_crop = None  # sealed (an alert) or not: the plain crop is not kept past its callback

    def _alert(
        self, lane: Lane, event: TrackEvent, decision: AgeDecision, wall_offset: float, frame_wall: float
    ) -> str:
        """One alert per person-visit: seal the crop, spool the alert. Pass decisions stay on the device."""
        event_id = str(uuid7())
        self.metrics.alerts.inc()
        link = self.link
        if link is None:
            return event_id
        # offline, a file read faster than real time runs ahead of the clock: its times are brought back to now,
        # never later (an ID check recorded at once would otherwise come before its alert, and the hub refuses that)
        ahead = max(0.0, frame_wall - time.time()) if lane.camera.mode == "offline" else 0.0
        wall_offset, frame_wall = wall_offset - ahead, frame_wall - ahead
        kept = False
        shown = None  # the crop for the staff console's screen: JPEG bytes in memory, until the check is done
        if event.best_crop is not None:
            if link.evidence.enabled:
                kept = link.evidence.keep(event_id, event.best_crop, captured_at=event.last_seen + wall_offset)
                self.metrics.evidence.labels("kept").inc()
            shown = encode_crop(event.best_crop, self.cfg.evidence.max_side_px, self.cfg.evidence.jpeg_quality)
        event.best_crop = None  # the plain crop is not kept past this point
        # offline the clock is the video's (no later than now); live it is the wall clock
        decided_at = frame_wall if lane.camera.mode == "offline" else time.time()
        link.desk.add(event_id, lane.camera_id, decided_at, decision.age, shown)
        msg = self.messages.alert(
            event_id,
            event.track_id,
            event.first_seen + wall_offset,
            decided_at,
            decision,
            kept,
            camera_id=lane.camera_id,
        )
        self._put(link, "alert", event_id, msg)
        return event_id

    # -- status ------------------------------------------------------------------------------
    def _camera_changed(self, camera_id: str, state: str) -> None:
        self.metrics.camera_state(camera_id, state)
        self._status_now.set()

    def camera_status(self) -> list[dict]:
        """Every camera's state, in configured order (cameras not started yet are left out)."""
        out = []
        for lane in self.lanes:
            c = lane.reader
            if c is None:
                continue
            out.append(
                {
                    "camera_id": c.camera_id,
                    "zone": lane.camera.label,
                    "state": c.state,
                    "state_since": c.state_since,
                    "fps": c.fps,
                    "frames_skipped": c.frames_skipped,
                    "reconnects": c.reconnects,
                }
            )
        return out

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
        for lane in self.lanes:
            if lane.reader is None:
                continue
            now_skipped = lane.reader.frames_skipped
            skipped = now_skipped - lane.skipped_seen
            if skipped > 0:
                m.frames.labels("skipped_reader").inc(skipped)
                m.camera_frames.labels(lane.camera_id, "skipped_reader").inc(skipped)
            lane.skipped_seen = now_skipped

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
        for lane in self.lanes:
            if lane.reader is not None:
                lane.reader.stop()
        if self.batcher is not None:
            self.batcher.stop()
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
