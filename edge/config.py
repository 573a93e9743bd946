"""The edge agent's configuration: one typed section per stage, validated at start."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_serializer, model_validator

from humiao.config import Section
from humiao.edge.calibration import CALIBRATION_DIR, DEFAULT_ENSEMBLE, ENSEMBLE_MEMBERS, shipped_file
from humiao.edge.evidence import EvidenceConfig
from humiao.edge.idcheck.config import IdCheckConfig
from humiao.edge.motion import MotionConfig
from humiao.edge.policy import PolicyConfig
from humiao.edge.publisher import MqttConfig
from humiao.edge.quality import QualityConfig
from humiao.edge.track import TrackerConfig
from humiao.proto.topics import SEGMENT


class ModelsConfig(Section):
    detector: Literal["blazeface-full-range", "blazeface-short-range", "yunet-2023mar"] = Field(
        "blazeface-full-range",
        description="full-range for wide views, short-range for close entrance cameras, "
        "yunet-2023mar if the operator added it (humiao models prepare yunet-2023mar --from FILE)",
    )
    landmarks: Literal["facemesh", "blazeface"] = Field(
        "facemesh", description="alignment landmarks: FaceMesh eye corners (precise) or detector keypoints (cheaper)"
    )
    age: Literal["ensemble", "cydral-age-v1", "faceapi-agegender", "insightface-genderage"] = Field(
        "ensemble",
        description="ensemble: the members below, mixed; insightface-genderage needs pack 'insightface' and its "
        "own calibration file",
    )
    ensemble: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_ENSEMBLE),
        description="age model (cydral-age-v1, faceapi-agegender) → weight in the ensemble; the shipped "
        "calibrations are fitted for the default weights",
    )

    @field_validator("ensemble")
    @classmethod
    def _known_members(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - set(ENSEMBLE_MEMBERS)
        if unknown or not v:
            raise ValueError(f"members must be some of {', '.join(ENSEMBLE_MEMBERS)} (got {', '.join(sorted(v))})")
        if not all(math.isfinite(w) and w > 0 for w in v.values()):
            raise ValueError("every member's weight must be a positive number")
        return v

    threads: int = Field(1, ge=1, le=16, description="onnxruntime threads per model")
    workers: int = Field(
        0,
        ge=0,
        le=32,
        description="with several cameras: frames in the (shared) models at once, one thread each; 0: one per CPU core",
    )
    age_batch_wait_ms: float = Field(
        4.0,
        ge=0,
        le=50,
        description="with several cameras: how long the age model waits for other cameras' faces to batch "
        "them together; 0: each camera runs the age model on its own faces",
    )
    mode: Literal["production", "evaluation"] = Field(
        "production", description="production refuses model packs whose licence forbids commercial use"
    )
    pack: Literal["default", "insightface"] = Field(
        "default", description="default: the licence-clean PyPI pack; insightface: SCRFD from insightface_dir"
    )
    insightface_dir: Path | None = Field(None, description="directory of the operator's insightface model pack")
    allow_non_commercial: bool = Field(False, description="explicit override: run a non-commercial pack in production")

    @model_validator(mode="after")
    def _pack_needs_dir(self) -> ModelsConfig:
        if self.pack == "insightface" and self.insightface_dir is None:
            raise ValueError("pack 'insightface' needs models.insightface_dir")
        return self


class DetectorConfig(Section):
    score_threshold: float = Field(0.5, gt=0, lt=1)
    nms_iou: float = Field(0.3, gt=0, lt=1)
    tiles: int = Field(
        1, ge=0, le=4, description="0: whole frame only; N≥1: also N rows of overlapping square tiles (small faces)"
    )
    tile_overlap: float = Field(0.25, ge=0, lt=0.9)
    min_face_px: float = Field(0.0, ge=0, description="drop detections narrower than this")


class FusionConfig(Section):
    method: Literal["quality", "mean", "best"] = "quality"
    max_observations: int = Field(24, ge=1, le=500, description="frames kept per track (lowest quality dropped)")
    flip: bool = Field(True, description="also score the mirrored chip and average")
    calibration_profile: Literal["east-asian", "all"] = Field(
        "east-asian",
        description="the population the calibration is fitted on: east-asian (deployments in China) or all faces",
    )
    calibration_file: Path | None = Field(
        None, description="default: the shipped models/calibration/age_<models.age>_<calibration_profile>.json"
    )


SLUG = SEGMENT.pattern  # ids travel in MQTT topics: the wire's rule


class SourceConfig(Section):
    uri: str = Field(
        "sample", description="'sample' (generated demo video), a video file path, rtsp://…, or a USB index"
    )
    camera_id: str = Field("cam0", pattern=SLUG)
    mode: Literal["live", "offline"] = Field(
        "live",
        description="live: latest frame only (files paced at their frame rate); offline: every frame, "
        "as fast as processed (evaluation)",
    )
    on_end: Literal["stop", "loop", "reopen"] = Field(
        "stop", description="at the end of a file: stop the agent, loop, or wait for the file to come back"
    )
    max_frames: int | None = Field(None, ge=1)
    stall_timeout_s: float = Field(5.0, gt=0, description="no frame for this long: the camera is stalled, reconnect")
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)


class CameraPolicy(Section):
    """What one door may set differently from the venue's ``policy`` (unset: the venue's value). The venue
    type and the policy version stay the venue's: they travel in every alert."""

    challenge_threshold: float | None = Field(
        None, ge=18, le=40, description="'looks under T years → check ID' at this door; unset: policy's"
    )
    use_operating_point: bool | None = Field(
        None, description="also flag when calibrated P(minor) ≥ the operating point; unset: policy's"
    )
    min_frames: int | None = Field(None, ge=1, description="frames a track needs before it is decided early")
    decide_confidence: float | None = Field(
        None, gt=0.5, lt=1, description="decide before the track ends once P(under threshold) is this far from 0.5"
    )
    alert_within_s: float | None = Field(
        None, gt=0, le=30, description="a CHECK ID verdict alerts after this long, confident or not"
    )


class CameraConfig(SourceConfig):
    """One entrance camera of a multi-camera agent (``cameras:``): what ``source`` has, plus where it is
    and what its door does differently."""

    uri: str = Field(description="a video file path, rtsp://…, http(s):// (MJPEG), a USB index, or 'sample'")
    camera_id: str = Field(pattern=SLUG, description="unique on this device; in every alert and status")
    zone: str = Field(
        "",
        max_length=64,
        description="the entrance's name ('main-door', 'Side entrance'), in the metrics (humiao_edge_camera_info) "
        "and the run summary; empty: the camera id",
    )
    policy: CameraPolicy = Field(
        default_factory=CameraPolicy, description="this door's overrides of the venue's policy section"
    )

    @field_validator("zone")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if any(ch in v for ch in "\r\n\t") or v != v.strip():
            raise ValueError("a zone is a short name on one line, without leading or trailing spaces")
        return v

    @property
    def label(self) -> str:
        """How people name this camera: its zone, or its id."""
        return self.zone or self.camera_id


class DeviceConfig(Section):
    """Who this edge is: the ids in every topic and message."""

    district_id: str = Field("demo-district", pattern=SLUG)
    venue_id: str = Field("demo-venue", pattern=SLUG)
    device_id: str = Field("edge-1", pattern=SLUG)
    state_dir: Path = Field(
        Path("/var/lib/humiao-edge"), description="spool and sealed evidence; on the device's own disk"
    )

    @field_validator("state_dir")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()


class StatusConfig(Section):
    interval_s: float = Field(10.0, ge=0.5, le=3600, description="retained status (heartbeat) period")
    drain_timeout_s: float = Field(10.0, ge=0, description="at shutdown, wait this long for the spool to empty")


class MetricsConfig(Section):
    host: str = "127.0.0.1"
    port: int | None = Field(9108, ge=0, le=65535, description="Prometheus /metrics; 0: any free port; null: no server")


class SpoolConfig(Section):
    max_mb: float = Field(
        256.0, gt=0, description="spool budget; over it, the oldest evidence bytes go first, alerts never"
    )


class EdgeConfig(Section):
    models: ModelsConfig = ModelsConfig()
    detector: DetectorConfig = DetectorConfig()
    quality: QualityConfig = QualityConfig()
    tracker: TrackerConfig = TrackerConfig()
    fusion: FusionConfig = FusionConfig()
    policy: PolicyConfig = PolicyConfig()
    source: SourceConfig = Field(
        default_factory=SourceConfig, description="the agent's one camera (the same as a 'cameras' list of one)"
    )
    cameras: list[CameraConfig] | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="several cameras served by this agent with one copy of the models (instead of 'source')",
    )
    motion: MotionConfig = MotionConfig()
    device: DeviceConfig = DeviceConfig()
    mqtt: MqttConfig | None = Field(None, description="the broker; none: decisions are only printed (local trial)")
    spool: SpoolConfig = SpoolConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    status: StatusConfig = StatusConfig()
    metrics: MetricsConfig = MetricsConfig()
    idcheck: IdCheckConfig = IdCheckConfig()
    detect_fps: float = Field(10.0, gt=0, le=120, description="frames per second sent to detection")

    @model_validator(mode="after")
    def _one_camera_section(self) -> EdgeConfig:
        if self.cameras is not None and "source" in self.model_fields_set:
            raise ValueError(
                "give either 'source' (one camera) or 'cameras' (a list), not both: move source.uri, "
                "source.camera_id, … into an entry of 'cameras'"
            )
        seen: set[str] = set()
        for i, cam in enumerate(self.cameras or ()):
            if cam.camera_id in seen:
                raise ValueError(f"cameras.{i}.camera_id {cam.camera_id!r} is used twice: camera ids must be unique")
            seen.add(cam.camera_id)
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        """With ``cameras``, a dump leaves ``source`` out, so it loads again."""
        data = handler(self)
        if isinstance(data, dict) and self.cameras is not None:
            data.pop("source", None)
        return data

    def camera_configs(self) -> list[CameraConfig]:
        """The cameras this agent serves: ``cameras``, or ``source`` as a list of one (read now, so a
        ``model_copy(update={"source": …})`` is seen)."""
        if self.cameras is not None:
            return list(self.cameras)
        return [CameraConfig(**self.source.model_dump())]

    def camera_policy(self, camera: CameraConfig) -> PolicyConfig:
        """The venue's policy with this camera's overrides."""
        overrides = camera.policy.model_dump(exclude_none=True)
        return self.policy.model_copy(update=overrides) if overrides else self.policy

    @model_validator(mode="after")
    def _calibration_exists(self) -> EdgeConfig:
        """A shipped calibration for the age model and profile, unless a file is given (checked at start)."""
        m, f = self.models, self.fusion
        missing = f.calibration_file is None and not shipped_file(m.age, f.calibration_profile).is_file()
        if m.age != "insightface-genderage" and missing:
            shipped = sorted(p.stem.removeprefix("age_") for p in CALIBRATION_DIR.glob("age_*_*.json"))
            raise ValueError(
                f"no shipped calibration for models.age {m.age!r} with fusion.calibration_profile "
                f"{f.calibration_profile!r} (shipped: {', '.join(shipped)}); choose one of those or set "
                "fusion.calibration_file to one fitted with benchmarks.calibrate"
            )
        return self

    @model_validator(mode="after")
    def _landmarks_match_detector(self) -> EdgeConfig:
        if self.models.age == "insightface-genderage":
            if self.models.pack != "insightface":
                raise ValueError("models.age 'insightface-genderage' needs models.pack 'insightface'")
            if self.fusion.calibration_file is None:
                raise ValueError(
                    "models.age 'insightface-genderage' needs fusion.calibration_file fitted for it "
                    "(python -m benchmarks.calibrate --config … --out …); the shipped one is for cydral-age-v1"
                )
        if self.models.landmarks == "blazeface" and (
            self.models.pack != "default" or not self.models.detector.startswith("blazeface")
        ):
            raise ValueError("models.landmarks 'blazeface' needs a BlazeFace detector")
        return self
