"""The check-ID rule (edge/policy.py), tested directly: no video, no models.

``decide`` turns a fused age into a verdict (P(<T) ≥ 0.5, or P(minor) ≥ the operating point);
``confident`` and ``alert_due`` say when a live track may be decided before it ends. The
pipeline tests at the end drive ``VisionPipeline.process`` with stand-ins for the three model
stages only (everything else real) to pin when the rule is consulted: not before
``alert_within_s``, at the track's end, once per visit.
"""

from __future__ import annotations

import math
import typing

import numpy as np
import pytest
from pydantic import ValidationError

import humiao.edge.pipeline as pipeline_module
from humiao.edge.calibration import AGES, AgeCalibration
from humiao.edge.config import EdgeConfig
from humiao.edge.fuse import FusedAge, fuse
from humiao.edge.landmarks import DetectorKeypoints
from humiao.edge.policy import PolicyConfig, VenueType, alert_due, confident, decide
from humiao.edge.types import AgeDecision, Detection

EPS = 1e-9


# -- inputs -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> AgeCalibration:
    return AgeCalibration.load()


def age_probs(age: float) -> np.ndarray:
    """An (81,) age distribution whose expected age is ``age`` (mass on the two nearest years)."""
    lo = math.floor(age)
    probs = np.zeros(81)
    probs[lo] = 1 - (age - lo)
    probs[min(lo + 1, 80)] += age - lo
    return probs


def fused_at(age: float, frames: int = 3) -> FusedAge:
    """What fusion makes of ``frames`` frames that all see the same age distribution."""
    return fuse(np.tile(age_probs(age), (frames, 1)), np.ones(frames))


def point_mass(weights: dict[int, float], operating_p_minor: float = 0.5) -> AgeCalibration:
    """A calibration whose posterior is exactly the prior over ``weights``' ages, whatever the estimate:
    the estimator is equally likely at those ages and every other age's likelihood underflows to 0."""
    mu = np.full(len(AGES), 60.0)  # log(1 + estimate) ≈ 60: never, so those ages are ruled out
    mu[list(weights)] = np.log1p(25.0)
    prior = np.zeros(len(AGES))
    prior[list(weights)] = list(weights.values())
    return AgeCalibration(tuple(mu), tuple(np.full(len(AGES), 0.05)), tuple(prior), operating_p_minor)


def boundary_estimate(cal: AgeCalibration, years: float, p: float) -> float:
    """The fused estimate at which calibrated P(age < years) crosses ``p`` (it falls as the estimate rises)."""
    lo, hi = 0.0, 80.0
    assert cal.p_under(lo, years) > p > cal.p_under(hi, years)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cal.p_under(mid, years) > p else (lo, mid)
    return (lo + hi) / 2


def verdict(check_id: bool, p_under_threshold: float = 0.7, frames: int = 3) -> AgeDecision:
    return AgeDecision(
        age=22.0,
        p_minor=0.3,
        p_under_threshold=p_under_threshold,
        threshold=25.0,
        frames_used=frames,
        check_id=check_id,
    )


# -- decide: the challenge threshold --------------------------------------------------------------
@pytest.mark.parametrize("threshold", [18, 21, 25, 30, 40])
@pytest.mark.parametrize(
    ("mass_below", "flagged"),
    [(0.5 - EPS, False), (0.5, True), (0.5 + EPS, True)],
    ids=["just-below", "at", "just-above"],
)
def test_threshold_flags_from_p_under_threshold_one_half(threshold, mass_below, flagged):
    """P(<T) ≥ 0.5 asks for ID; exactly 0.5 counts. Only the threshold rule is on."""
    cal = point_mass({threshold - 1: mass_below, threshold: 1 - mass_below})
    cfg = PolicyConfig(challenge_threshold=threshold, use_operating_point=False)
    d = decide(fused_at(25.0), cal, cfg)
    assert d.p_under_threshold == pytest.approx(mass_below, abs=1e-12)
    if mass_below == 0.5:
        assert d.p_under_threshold == 0.5  # exactly on the boundary, not merely near it
    assert d.check_id is flagged
    assert d.threshold == threshold


@pytest.mark.parametrize("threshold", [18.0, 21.0, 25.0, 30.0, 40.0])
def test_threshold_boundary_on_the_shipped_calibration(shipped, threshold):
    """Whoever looks a little younger than the P(<T) = 0.5 point is flagged, a little older is not."""
    cfg = PolicyConfig(challenge_threshold=threshold, use_operating_point=False)
    edge = boundary_estimate(shipped, threshold, 0.5)
    younger, older = decide(fused_at(edge - 0.01), shipped, cfg), decide(fused_at(edge + 0.01), shipped, cfg)
    assert younger.p_under_threshold > 0.5 > older.p_under_threshold
    assert younger.check_id and not older.check_id


def test_a_higher_threshold_never_turns_a_check_into_a_pass(shipped):
    for estimate in range(5, 61):
        flags = [
            decide(fused_at(float(estimate)), shipped, PolicyConfig(challenge_threshold=t, use_operating_point=False))
            for t in range(18, 41)
        ]
        verdicts = [d.check_id for d in flags]
        assert verdicts == sorted(verdicts), estimate  # False … False True … True


# -- decide: the operating point on P(minor) ------------------------------------------------------
@pytest.mark.parametrize(
    ("operating_point", "flagged"),
    [(0.25 + EPS, False), (0.25, True), (0.25 - EPS, True)],
    ids=["p-minor-just-below", "p-minor-at", "p-minor-just-above"],
)
@pytest.mark.parametrize("use_operating_point", [True, False])
def test_operating_point_flags_p_minor_at_or_above_it(operating_point, flagged, use_operating_point):
    """Four equally likely ages, one of them a minor: P(minor) = P(<25) = 0.25 exactly, so the
    threshold rule stays quiet and only the operating point can (when it is on) ask for ID."""
    cal = point_mass({16: 1, 30: 1, 35: 1, 40: 1}, operating_p_minor=operating_point)
    d = decide(fused_at(25.0), cal, PolicyConfig(challenge_threshold=25, use_operating_point=use_operating_point))
    assert d.p_minor == 0.25 and d.p_under_threshold == 0.25
    assert d.check_id is (flagged and use_operating_point)


def test_operating_point_boundary_on_the_shipped_calibration(shipped):
    """At T = 18 the threshold rule needs P(minor) ≥ 0.5; near the shipped operating point only it decides."""
    cfg = PolicyConfig(challenge_threshold=18)
    edge = boundary_estimate(shipped, 18.0, shipped.operating_p_minor)
    younger, older = decide(fused_at(edge - 0.01), shipped, cfg), decide(fused_at(edge + 0.01), shipped, cfg)
    assert younger.p_minor > shipped.operating_p_minor > older.p_minor
    assert younger.check_id and not older.check_id
    assert not decide(fused_at(edge - 0.01), shipped, cfg.model_copy(update={"use_operating_point": False})).check_id


@pytest.mark.parametrize(
    ("estimate", "with_operating_point", "threshold_only"),
    [(8.0, True, True), (22.0, True, True), (27.0, True, False), (50.0, False, False)],
)
def test_shipped_calibration_verdicts_at_the_default_threshold(shipped, estimate, with_operating_point, threshold_only):
    """A child, a young adult (looks under 25), a 27-year-look (caught only by P(minor)) and a 50-year-look."""
    assert decide(fused_at(estimate), shipped, PolicyConfig()).check_id is with_operating_point
    assert decide(fused_at(estimate), shipped, PolicyConfig(use_operating_point=False)).check_id is threshold_only


def test_decision_reports_the_calibrated_figures(shipped):
    fused = fused_at(23.4, frames=7)
    d = decide(fused, shipped, PolicyConfig(challenge_threshold=21.5))
    assert d.p_minor == pytest.approx(shipped.p_under(fused.age, 18.0))
    assert d.p_under_threshold == pytest.approx(shipped.p_under(fused.age, 21.5))
    assert d.age == pytest.approx(shipped.age(fused.age))
    assert (d.threshold, d.frames_used) == (21.5, 7)
    assert isinstance(d.check_id, bool)


@pytest.mark.parametrize("venue_type", typing.get_args(VenueType))
def test_venue_type_does_not_change_the_verdict_yet(shipped, venue_type):
    """First cut: every venue type uses the same rule (per-venue statutes come with the hub's rules engine)."""
    for estimate in (8.0, 22.0, 30.0, 35.0, 50.0):
        here = decide(fused_at(estimate), shipped, PolicyConfig(venue_type=venue_type))
        assert here == decide(fused_at(estimate), shipped, PolicyConfig())


# -- confident: deciding a live track before it ends ---------------------------------------------
@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.97 - EPS, False),
        (0.97, True),
        (1.0, True),
        (0.5, False),
        (1 - 0.97 + EPS, False),
        (1 - 0.97, True),
        (0.0, True),
    ],
    ids=["below-upper", "at-upper", "certain-minor", "coin-toss", "above-lower", "at-lower", "certain-adult"],
)
def test_confident_once_p_under_threshold_is_far_from_one_half(p, expected):
    cfg = PolicyConfig()  # decide_confidence 0.97
    assert confident(verdict(check_id=p >= 0.5, p_under_threshold=p), cfg) is expected


@pytest.mark.parametrize(("frames", "expected"), [(2, False), (3, True), (10, True)])
def test_confident_needs_min_frames(frames, expected):
    assert confident(verdict(True, p_under_threshold=1.0, frames=frames), PolicyConfig(min_frames=3)) is expected


# -- alert_due: a CHECK ID verdict does not wait past alert_within_s -----------------------------
@pytest.mark.parametrize("within", [0.8, 2.5, 30.0])
@pytest.mark.parametrize(
    ("offset", "expected"), [(-EPS, False), (0.0, True), (EPS, True)], ids=["before", "at", "after"]
)
def test_alert_due_from_alert_within_s(within, offset, expected):
    cfg = PolicyConfig(alert_within_s=within)
    assert alert_due(verdict(True), within + offset, cfg) is expected


def test_alert_due_only_for_check_id_and_enough_frames():
    cfg = PolicyConfig(min_frames=3, alert_within_s=0.8)
    assert not alert_due(verdict(False, p_under_threshold=0.4), 60.0, cfg)  # a pass never hurries
    assert not alert_due(verdict(True, frames=2), 60.0, cfg)
    assert alert_due(verdict(True, frames=3), 60.0, cfg)


def test_best_frame_fusion_still_alerts_within_alert_within_s(shipped):
    """'best' uses one frame's estimate, chosen among all the track's frames: min_frames counts them all
    (it once counted one, so a CHECK ID with best-frame fusion waited for the track's end)."""
    frames = 5
    d = decide(fuse(np.tile(age_probs(22.0), (frames, 1)), np.ones(frames), "best"), shipped, PolicyConfig())
    assert alert_due(d, track_age_s=5.0, cfg=PolicyConfig())


# -- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("challenge_threshold", 17.99),
        ("challenge_threshold", 40.01),
        ("decide_confidence", 0.5),
        ("decide_confidence", 1.0),
        ("alert_within_s", 0.0),
        ("alert_within_s", 30.01),
        ("min_frames", 0),
        ("venue_type", "casino"),
        ("version", "v" * 65),
        ("challenge_treshold", 21),  # a typo is an error, not a silent default
    ],
)
def test_config_rejects_out_of_range_values_naming_the_field(field, value):
    with pytest.raises(ValidationError) as err:
        PolicyConfig(**{field: value})
    assert [e["loc"] for e in err.value.errors()] == [(field,)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("challenge_threshold", 18),
        ("challenge_threshold", 40),
        ("decide_confidence", 0.51),
        ("alert_within_s", 30),
        ("min_frames", 1),
        ("venue_type", "hotel"),
    ],
)
def test_config_accepts_its_range_ends(field, value):
    assert getattr(PolicyConfig(**{field: value}), field) == value


# -- in the pipeline: when the rule is consulted ---------------------------------------------------
FRAME = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)


def face(x: float = 100, y: float = 60, s: float = 100) -> Detection:
    box = np.array([x, y, x + s, y + s], np.float32)
    kp = np.array(
        [[x + 0.3 * s, y + 0.4 * s], [x + 0.7 * s, y + 0.4 * s], [x + 0.5 * s, y + 0.6 * s]]
        + [[x + 0.5 * s, y + 0.8 * s], [x, y + 0.5 * s], [x + s, y + 0.5 * s]],
        np.float32,
    )
    return Detection(box, 0.9, kp)


class Scene:
    """Stands in for the detector: ``faces`` are what the next frame shows."""

    def __init__(self) -> None:
        self.faces: list[Detection] = []

    def detect(self, frame):
        return list(self.faces)


class FixedAge:
    """Stands in for the age model: every chip looks ``age``."""

    def __init__(self, age: float) -> None:
        self.age = age

    def predict_faces(self, faces):
        return np.tile(age_probs(self.age), (len(faces), 1)).astype(np.float32)


def make_pipeline(monkeypatch, age: float, **policy):
    scene = Scene()
    monkeypatch.setattr(pipeline_module, "build_stages", lambda cfg: (scene, DetectorKeypoints(), FixedAge(age)))
    cfg = EdgeConfig(models={"landmarks": "blazeface"}, metrics={"port": None}, policy=policy)
    pipe = pipeline_module.VisionPipeline(cfg)  # defaults: min_hits 2, max_gap_s 1.5, min_frames 3
    seen = []

    def show(times, present=True):
        for t in times:
            scene.faces = [face()] if present else []
            seen.extend((t, e) for e in pipe.process(FRAME, t))
        return seen

    return pipe, show, seen


def steps(start: float, stop: float, step: float = 0.1) -> list[float]:
    return [round(start + k * step, 6) for k in range(round((stop - start) / step) + 1)]


def decided(seen):
    return [(t, e) for t, e in seen if e.kind == "decided"]


@pytest.mark.parametrize("within", [0.8, 1.5])
def test_unsure_minor_waits_for_alert_within_s_then_alerts(monkeypatch, within):
    """Looks 22 (P(<25) ≈ 0.70: CHECK ID, not confident): no alert before alert_within_s, one at it."""
    pipe, show, seen = make_pipeline(monkeypatch, 22.0, alert_within_s=within)
    show(steps(0.0, within - 0.1))
    assert decided(seen) == []
    show([within])
    ((t, event),) = decided(seen)
    assert t == within and event.decision.check_id and not confident(event.decision, pipe.cfg.policy)


@pytest.mark.parametrize(("age", "check_id"), [(8.0, True), (50.0, False)])
def test_confident_verdicts_come_at_min_frames_before_alert_within_s(monkeypatch, age, check_id):
    _pipe, show, seen = make_pipeline(monkeypatch, age)
    show([0.0, 0.1])
    assert decided(seen) == []
    show([0.2])
    ((t, event),) = decided(seen)
    assert t == 0.2 and event.decision.check_id is check_id and event.decision.frames_used == 3


def test_unsure_pass_is_not_hurried_and_is_decided_at_the_end(monkeypatch):
    """Looks 35 (P(<25) ≈ 0.19, P(minor) below the operating point): pass, never due early."""
    pipe, show, seen = make_pipeline(monkeypatch, 35.0)
    show(steps(0.0, 3.0))
    assert decided(seen) == []
    kinds = [e.kind for e in pipe.flush()]
    assert kinds == ["decided", "ended"]


@pytest.mark.parametrize("frames", [2, 3])
@pytest.mark.parametrize("ending", ["gap", "flush"])
def test_a_track_that_ends_before_alert_within_s_is_decided_at_its_end(monkeypatch, frames, ending):
    """Seen for 0.1–0.2 s (< alert_within_s 0.8), even with fewer than min_frames: decided when it ends."""
    pipe, show, seen = make_pipeline(monkeypatch, 22.0)
    show(steps(0.0, 0.1 * (frames - 1)))
    assert decided(seen) == []
    if ending == "gap":
        show(steps(0.2, 2.0), present=False)  # unseen for more than max_gap_s 1.5
        events = [e for _t, e in seen]
    else:
        events = pipe.flush()
    assert [e.kind for e in events] == ["decided", "ended"]
    assert events[0].decision.check_id and events[0].decision.frames_used == frames


def test_a_face_seen_once_is_not_decided(monkeypatch):
    """Below the tracker's min_hits the track was never confirmed: it ends without a verdict."""
    pipe, show, _seen = make_pipeline(monkeypatch, 8.0)
    show([0.0])
    assert [e.kind for e in pipe.flush()] == ["ended"]


def test_one_alert_per_visit_and_a_new_visit_alerts_again(monkeypatch):
    pipe, show, seen = make_pipeline(monkeypatch, 22.0)
    show(steps(0.0, 1.5))  # alert at 0.8, then 0.7 s more at the door
    show(steps(1.6, 2.5), present=False)  # away 1.0 s < max_gap_s: the same visit
    show(steps(2.6, 3.0))
    show(steps(3.1, 4.8), present=False)  # gone: the visit ends
    first = decided(seen)
    assert [(t, e.decision.check_id) for t, e in first] == [(0.8, True)]
    ends = [e for _t, e in seen if e.kind == "ended"]
    assert [e.track_id for e in ends] == [first[0][1].track_id]

    back = steps(6.0, 7.0)
    show(back)  # back later: a new track, a new visit, alerted again once alert_within_s has passed
    again = decided(seen)[1:]
    assert [t for t, _e in again] == [next(t for t in back if t - back[0] >= pipe.cfg.policy.alert_within_s)]
    assert again[0][1].track_id != first[0][1].track_id and again[0][1].decision.check_id
