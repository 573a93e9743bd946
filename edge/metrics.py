"""Prometheus metrics of one edge agent, served on ``/metrics`` (``metrics.port``; 0 disables).

A registry per agent (not the process-global one), so several agents in one process (tests, the
demo) keep their own counts.
"""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

CAMERA_STATES = ("streaming", "reconnecting", "stalled", "down", "ended")


class EdgeMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.stage = Histogram(
            "humiao_edge_stage_seconds",
            "time per stage per processed frame",
            ["stage"],
            registry=r,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1),
        )
        self.frames = Counter(
            "humiao_edge_frames",
            "frames by fate: read, processed, skipped_reader (overwritten "
            "before use), skipped_rate (detection fps), skipped_motion (nothing moved)",
            ["fate"],
            registry=r,
        )
        self.decisions = Counter("humiao_edge_decisions", "person-visits decided, by verdict", ["verdict"], registry=r)
        # per camera (the totals above stay, for dashboards of one-camera boxes)
        self.camera_frames = Counter(
            "humiao_edge_camera_frames",
            "frames by camera and fate (as humiao_edge_frames)",
            ["camera", "fate"],
            registry=r,
        )
        self.camera_decisions = Counter(
            "humiao_edge_camera_decisions",
            "person-visits decided, by camera and verdict",
            ["camera", "verdict"],
            registry=r,
        )
        self.camera_info = Gauge(
            "humiao_edge_camera_info", "1 for each configured camera, with its zone", ["camera", "zone"], registry=r
        )
        self.age_batch = Histogram(
            "humiao_edge_age_batch_faces",
            "faces per age-model batch, across cameras (several cameras only)",
            registry=r,
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
        )
        self.alerts = Counter("humiao_edge_alerts", "alerts written to the spool", registry=r)
        self.id_checks = Counter(
            "humiao_edge_id_checks",
            "ID-check outcomes spooled, by outcome (not_checked: the window ran out)",
            ["result"],
            registry=r,
        )
        self.evidence = Counter(
            "humiao_edge_evidence", "evidence crops by event: kept, sent, deleted_acked, expired", ["event"], registry=r
        )
        self.evidence_held = Gauge("humiao_edge_evidence_held", "sealed crops held on this device", registry=r)
        self.spool_depth = Gauge("humiao_edge_spool_depth", "messages waiting for a PUBACK", registry=r)
        self.spool_bytes = Gauge("humiao_edge_spool_bytes", "bytes waiting for a PUBACK", registry=r)
        self.connected = Gauge("humiao_edge_broker_connected", "1 while connected to the broker", registry=r)
        self.camera = Gauge(
            "humiao_edge_camera_state", "1 for the camera's current state", ["camera", "state"], registry=r
        )
        self.reconnects = Gauge(
            "humiao_edge_camera_reconnects", "camera reconnects since start", ["camera"], registry=r
        )
        self.fps = Gauge("humiao_edge_camera_fps", "frames/s read from the camera", ["camera"], registry=r)
        self._server: WSGIServer | None = None

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage.labels(stage).observe(seconds)

    def camera_state(self, camera: str, state: str) -> None:
        for s in CAMERA_STATES:
            self.camera.labels(camera, s).set(1 if s == state else 0)

    def serve(self, host: str, port: int) -> int:
        """Start the /metrics server; the port it listens on."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        return server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
