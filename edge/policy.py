"""The check-ID rule at the door: does this person's fused age call for an ID check, and when?

``decide``: CHECK ID when the calibrated probability of being under the venue's challenge
threshold is at least one half ("looks under T → check ID"), or, with ``use_operating_point``,
when the calibrated P(minor) reaches the calibration's operating point; either one asks staff.
The rule is the same for every venue type today: ``venue_type`` travels in each alert, and the
hub's statute rules (``humiao.hub.rules``) decide what an alert means for that type of venue
(closed to minors, holidays only, hotels' registration duties).

When: ``confident`` lets the pipeline decide a track early once it has ``min_frames`` and its
P(under threshold) is at least ``decide_confidence`` from either end; ``alert_due`` sends a
CHECK ID verdict after ``alert_within_s`` even if it is not confident (the person is at the door);
anything else is decided when the track ends. One decision per track (``humiao.edge.pipeline``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from humiao.config import Section
from humiao.edge.calibration import AgeCalibration
from humiao.edge.fuse import FusedAge
from humiao.edge.types import AgeDecision

VenueType = Literal["ktv", "bar", "internet_cafe", "arcade", "hotel", "esports_hotel", "script_entertainment"]


class PolicyConfig(Section):
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
