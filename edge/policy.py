"""Venue policy (first cut): does this person's fused age call for an ID check?

Venue types closed to minors use the venue's challenge threshold ("looks under T → check ID")
and, independently, the calibrated operating point on P(minor); either one asks staff to check.
The full statute table, calendar and hotel rules come with the hub's rules engine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from humiao.edge.calibration import AgeCalibration
from humiao.edge.fuse import FusedAge
from humiao.edge.types import AgeDecision

VenueType = Literal["ktv", "bar", "internet_cafe", "arcade", "hotel", "esports_hotel", "script_entertainment"]


class PolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    venue_type: VenueType = "internet_cafe"
    challenge_threshold: float = Field(25.0, ge=18, le=40, description="'looks under T years → check ID'")
    use_operating_point: bool = Field(True, description="also flag when calibrated P(minor) ≥ the operating point")
    min_frames: int = Field(3, ge=1, description="frames a track needs before it is decided early")
    decide_confidence: float = Field(
        0.97, gt=0.5, lt=1, description="decide before the track ends once P(under threshold) is this far from 0.5"
    )
    alert_within_s: float = Field(
        0.8,
        gt=0,
        le=30,
        description="a track whose running verdict is CHECK ID after this "
        "long (and min_frames) alerts now, confident or not: staff need it at the door",
    )
    version: str = Field("policy-v1", max_length=64, description="recorded in every alert")


def decide(fused: FusedAge, cal: AgeCalibration, cfg: PolicyConfig) -> AgeDecision:
    p_minor = float(cal.p_under(fused.age, 18.0))
    p_thr = float(cal.p_under(fused.age, cfg.challenge_threshold))
    check = p_thr >= 0.5 or (cfg.use_operating_point and p_minor >= cal.operating_p_minor)
    return AgeDecision(
        age=float(cal.age(fused.age)),
        p_minor=p_minor,
        p_under_threshold=p_thr,
        threshold=cfg.challenge_threshold,
        frames_used=fused.frames,
        check_id=bool(check),
    )


def confident(decision: AgeDecision, cfg: PolicyConfig) -> bool:
    """Enough frames and far enough from the boundary to decide before the track ends."""
    p = decision.p_under_threshold
    return decision.frames_used >= cfg.min_frames and (p >= cfg.decide_confidence or p <= 1 - cfg.decide_confidence)


def alert_due(decision: AgeDecision, track_age_s: float, cfg: PolicyConfig) -> bool:
    """A CHECK ID verdict does not wait for confidence beyond ``alert_within_s``: the person is at the door."""
    return decision.check_id and decision.frames_used >= cfg.min_frames and track_age_s >= cfg.alert_within_s
