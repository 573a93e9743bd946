"""The edge's wire messages, built from its decisions and state (proto/humiao_v1.proto)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from humiao.edge.config import EdgeConfig
from humiao.edge.idcheck.desk import RecordedCheck
from humiao.edge.pipeline import calibration_name
from humiao.edge.types import AgeDecision
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.topics import topic

try:
    SOFTWARE_VERSION = version("humiao")
except PackageNotFoundError:  # running from a source tree
    SOFTWARE_VERSION = "0+source"

# policy.venue_type → the wire's enum value name (protobuf takes the name for an enum field)
VENUE_TYPES: dict[str, str] = {name.removeprefix("VENUE_TYPE_").lower(): name for name, _ in pb.VenueType.items()}
CAMERA_STATES = {
    "streaming": pb.CAMERA_STATE_STREAMING,
    "reconnecting": pb.CAMERA_STATE_RECONNECTING,
    "stalled": pb.CAMERA_STATE_STALLED,
    "down": pb.CAMERA_STATE_DOWN,
    "ended": pb.CAMERA_STATE_DOWN,
}


def _enum(enum, prefix: str, code: str) -> Any:
    """The wire value whose name is ``prefix`` + ``code`` upper-cased ('' → the enum's UNSPECIFIED)."""
    return enum.Value(prefix + (code or "unspecified").upper())


def _stamp(field, unix: float) -> None:
    field.FromNanoseconds(int(unix * 1e9))


class Messages:
    def __init__(self, cfg: EdgeConfig, models: list[tuple[str, str]]):
        self.cfg = cfg
        d = cfg.device
        self.ids = (d.district_id, d.venue_id, d.device_id)
        self.camera_id = cfg.camera_configs()[0].camera_id
        self.models = [pb.ModelRef(id=mid, graph_sha256=sha) for mid, sha in models]

    def topic(self, kind: str) -> str:
        return topic(*self.ids, kind)

    def origin(self, camera_id: str | None = None) -> pb.Origin:
        """This device, and ``camera_id`` (default: the first configured camera: Birth, Status, Death)."""
        return pb.Origin(
            district_id=self.ids[0],
            venue_id=self.ids[1],
            device_id=self.ids[2],
            camera_id=camera_id or self.camera_id,
        )

    def alert(
        self,
        event_id: str,
        track_id: int,
        first_seen: float,
        decided_at: float,
        d: AgeDecision,
        evidence: bool,
        camera_id: str | None = None,
    ) -> pb.Alert:
        """``camera_id``: the camera that saw the person (default: the first configured camera)."""
        msg = pb.Alert(
            event_id=event_id,
            origin=self.origin(camera_id),
            track_id=track_id,
            age_estimate=d.age,
            p_minor=d.p_minor,
            p_under_threshold=d.p_under_threshold,
            threshold=d.threshold,
            decision=pb.DECISION_CHECK_ID if d.check_id else pb.DECISION_PASS,
            venue_type=VENUE_TYPES[self.cfg.policy.venue_type],
            frames_used=d.frames_used,
            models=self.models,
            policy_version=self.cfg.policy.version,
            evidence_available=evidence,
            calibration=calibration_name(self.cfg),
        )
        _stamp(msg.first_seen, first_seen)
        _stamp(msg.decided_at, decided_at)
        return msg

    def status(
        self, online: bool, now: float, cameras: list[dict], spool_depth: int, spool_bytes: int, uptime_s: float
    ) -> pb.Status:
        msg = pb.Status(
            origin=self.origin(),
            online=online,
            spool_depth=spool_depth,
            spool_bytes=spool_bytes,
            uptime_s=uptime_s,
            software_version=SOFTWARE_VERSION,
        )
        _stamp(msg.sent_at, now)
        for c in cameras:
            cs = msg.cameras.add(
                camera_id=c["camera_id"],
                state=CAMERA_STATES[c["state"]],
                fps=c["fps"],
                frames_skipped=c["frames_skipped"],
                reconnects=c["reconnects"],
            )
            _stamp(cs.state_since, c["state_since"])
        return msg

    def birth(self, started_at: float) -> pb.Birth:
        msg = pb.Birth(
            origin=self.origin(),
            software_version=SOFTWARE_VERSION,
            models=self.models,
            venue_type=VENUE_TYPES[self.cfg.policy.venue_type],
            challenge_threshold=self.cfg.policy.challenge_threshold,
        )
        _stamp(msg.started_at, started_at)
        return msg

    def death(self, at: float, reason: str) -> pb.Death:
        msg = pb.Death(origin=self.origin(), reason=reason)
        _stamp(msg.at, at)
        return msg

    def evidence(self, request_id: str, sealed) -> pb.Evidence:
        msg = pb.Evidence(
            request_id=request_id,
            event_id=sealed.event_id,
            ciphertext=sealed.box,
            cipher=sealed.cipher,
            plaintext_sha256=sealed.plaintext_sha256,
        )
        _stamp(msg.captured_at, sealed.captured_at)
        return msg

    def idcheck(self, rec: RecordedCheck) -> pb.IdCheckOutcome:
        """What staff found, as it leaves the box: no number, no name, no image (``RecordedCheck`` has none)."""
        origin = self.origin()
        origin.camera_id = rec.camera_id
        msg = pb.IdCheckOutcome(
            event_id=rec.event_id,
            check_id=rec.check_id,
            origin=origin,
            result=_enum(pb.IdCheckResult, "ID_CHECK_RESULT_", rec.result),
            age_years=rec.age_years or 0,
            age_known=rec.age_years is not None,
            under_14=rec.under_14,
            id_keyed_hash=rec.id_keyed_hash,
            checksum_valid=rec.checksum_valid,
            document=_enum(pb.DocumentType, "DOCUMENT_TYPE_", rec.document),
            method=_enum(pb.ReadMethod, "READ_METHOD_", rec.method),
            walk_up=rec.walk_up,
            guardian_contact_recorded=rec.guardian_contact_recorded,
            co_occupants_recorded=rec.co_occupants_recorded,
            staff=rec.staff,
        )
        _stamp(msg.checked_at, rec.checked_at)
        if rec.alerted_at is not None:
            _stamp(msg.alerted_at, rec.alerted_at)
        return msg
