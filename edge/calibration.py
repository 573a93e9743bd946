"""Calibration: a fused age estimate → calibrated P(age < T) for any T, and an operating point.

The model's own class probabilities are not calibrated, and a regression of true age on the
estimate would silently bake in the age mix of whatever data it was fitted on. So we keep
the two parts apart and combine them by Bayes' rule:

- likelihood, how the estimator errs at each true age a (fitted on labelled faces):
      log(1 + estimate) | a  ~  Normal(mu[a], sigma[a])
  with mu and sigma given for every year 0..90, estimated by kernel smoothing over true age
  (the model compresses ages towards the middle, so its error is not a straight line);
- prior, the age mix of the people walking in, over ages 0..90: by default the smoothed mix of
  the calibration data; a venue can set its own (``prior`` in the calibration file).

P(age < T | estimate) sums the posterior below T; the calibrated age is the posterior median.
``benchmarks.calibrate`` fits it on the fit half of a subject-disjoint split and reports its
reliability on the other half; it also records the operating point: the P(minor) at or above
which staff are asked to check ID, chosen on the fit half to flag the target share of minors.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

CALIBRATION_DIR = Path(str(files("humiao.models") / "calibration"))
# The ensemble's members and weights, chosen by cross-dataset validation (benchmarks.age_select);
# the shipped ensemble calibrations are fitted for exactly these.
DEFAULT_ENSEMBLE: dict[str, float] = {"cydral-age-v1": 0.4, "faceapi-agegender": 0.6}
ENSEMBLE_MEMBERS = ("cydral-age-v1", "faceapi-agegender")
PROFILES = ("east-asian", "all")


def shipped_file(age_model: str, profile: str) -> Path:
    """The shipped calibration of an age model (or "ensemble") for a population profile."""
    return CALIBRATION_DIR / f"age_{age_model}_{profile}.json"


DEFAULT_FILE = shipped_file("ensemble", "east-asian")
AGES = np.arange(0, 91, dtype=np.float64)  # the prior's support, in years (a = 90 stands for 90+)
_X = np.log1p(AGES + 0.5)  # log(1 + age) at each year's middle


def _uniform() -> tuple[float, ...]:
    return tuple(np.full(len(AGES), 1 / len(AGES)))


@dataclass(frozen=True)
class AgeCalibration:
    mu: tuple[float, ...] = tuple(_X)  # E[log(1 + estimate) | true age a], a = 0..90
    sigma: tuple[float, ...] = tuple(np.full(len(AGES), 0.2))
    prior: tuple[float, ...] = field(default_factory=_uniform)
    operating_p_minor: float = 0.5  # check ID when calibrated P(minor) is at least this
    meta: dict | None = None

    def __post_init__(self) -> None:
        for name in ("mu", "sigma", "prior"):
            if len(getattr(self, name)) != len(AGES):
                raise ValueError(f"{name} needs {len(AGES)} values (ages 0..90)")
        if min(self.sigma) <= 0 or min(self.prior) < 0 or sum(self.prior) <= 0:
            raise ValueError("sigma must be positive and the prior non-negative")
        if not 0 < self.operating_p_minor < 1:
            raise ValueError("operating_p_minor must be between 0 and 1")

    def posterior(self, estimate: np.ndarray | float) -> np.ndarray:
        """(N, 91) posterior over ages for each estimate."""
        y = np.log1p(np.maximum(np.atleast_1d(np.asarray(estimate, dtype=np.float64)), 0.0))[:, None]
        sigma = np.asarray(self.sigma)[None, :]
        z = (y - np.asarray(self.mu)[None, :]) / sigma
        prior = np.asarray(self.prior) / np.sum(self.prior)
        logpost = -0.5 * z**2 - np.log(sigma) + np.log(np.maximum(prior, 1e-12))[None, :]
        logpost -= logpost.max(1, keepdims=True)
        post = np.exp(logpost)
        return post / post.sum(1, keepdims=True)

    def p_under(self, estimate: np.ndarray | float, years: float) -> np.ndarray | float:
        post = self.posterior(estimate)
        whole = int(np.clip(np.floor(years), 0, len(AGES)))
        p = post[:, :whole].sum(1)
        if whole < len(AGES):
            p = p + (years - whole) * post[:, whole]
        p = np.clip(p, 0.0, 1.0)
        return float(p[0]) if np.ndim(estimate) == 0 else p

    def age(self, estimate: np.ndarray | float) -> np.ndarray | float:
        cdf = np.cumsum(self.posterior(estimate), axis=1)
        med = np.array([np.interp(0.5, row, AGES + 0.5) for row in cdf])
        return float(med[0]) if np.ndim(estimate) == 0 else med

    def with_prior(self, prior: np.ndarray) -> AgeCalibration:
        prior = np.asarray(prior, dtype=np.float64)
        return AgeCalibration(self.mu, self.sigma, tuple(prior / prior.sum()), self.operating_p_minor, self.meta)

    def to_json(self) -> dict:
        return {
            "mu": [round(v, 6) for v in self.mu],
            "sigma": [round(v, 6) for v in self.sigma],
            "prior": [round(p, 6) for p in self.prior],
            "operating_p_minor": self.operating_p_minor,
            "meta": self.meta or {},
        }

    @classmethod
    def load(cls, path: Path | None = None) -> AgeCalibration:
        path = Path(path or DEFAULT_FILE)
        try:
            data = json.loads(path.read_text())
            return cls(
                tuple(data["mu"]),
                tuple(data["sigma"]),
                tuple(data["prior"]),
                float(data["operating_p_minor"]),
                data.get("meta"),
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"calibration file {path}: {err}; run `python -m benchmarks.calibrate`") from err


def for_models(
    age_model: str, profile: str, members: dict[str, float] | None = None, path: Path | None = None
) -> AgeCalibration:
    """The calibration a configuration asks for: ``path`` if given, else the shipped file of the
    age model and profile. An ensemble's calibration must have been fitted for its members and
    weights (recorded in the file's meta); anything else is refused with the way to fit one."""
    target = Path(path) if path else shipped_file(age_model, profile)
    refit = (
        "fit one from a checkout of the repository with `python -m benchmarks.calibrate --config EDGE.yaml "
        f"--profile {profile} --features NPZ … --out FILE` (see benchmarks.age_features) and set "
        "fusion.calibration_file"
    )
    if path is None and not target.is_file():
        raise ValueError(f"no shipped calibration for models.age {age_model!r} and profile {profile!r}: {refit}")
    cal = AgeCalibration.load(target)
    fitted_for = (cal.meta or {}).get("age_model")
    if fitted_for and fitted_for != age_model:
        raise ValueError(f"calibration {target} was fitted for models.age {fitted_for!r}, not {age_model!r}: {refit}")
    if age_model == "ensemble":
        fitted = (cal.meta or {}).get("ensemble")
        wanted = {k: round(v / sum((members or {}).values()), 4) for k, v in (members or {}).items()}
        got = {k: round(v / sum(fitted.values()), 4) for k, v in fitted.items()} if fitted else None
        if got != wanted:
            raise ValueError(
                f"calibration {target} was fitted for the ensemble {got}, the configuration has {wanted}: {refit}"
            )
    return cal


def fit(
    estimates: np.ndarray,
    truths: np.ndarray,
    bandwidth: float = 0.18,
    min_sigma: float = 0.04,
    min_support: float = 30.0,
    prior_smoothing: float = 2.0,
    prior_floor: float = 0.002,
) -> AgeCalibration:
    """mu[a], sigma[a]: Gaussian-kernel weighted mean and spread of log(1 + estimate) over faces
    whose log(1 + true age) is near log(1 + a) (bandwidth in log-age units, widened where fewer
    than ``min_support`` faces fall in the window); the prior is the
    smoothed histogram of true ages, with a floor so that no age is ruled out."""
    y = np.log1p(np.maximum(np.asarray(estimates, dtype=np.float64), 0))
    t = np.clip(np.asarray(truths, dtype=np.float64), 0, AGES[-1])
    x = np.log1p(t + 0.5)
    if len(x) < 50:
        raise ValueError(f"too few faces to fit the calibration ({len(x)}; need 50 or more)")
    mu, sigma = np.empty(len(AGES)), np.empty(len(AGES))
    for i, centre in enumerate(_X):
        h = bandwidth
        w = np.exp(-0.5 * ((x - centre) / h) ** 2)
        while w.sum() < min_support and h < 4:  # few faces of this age: widen the window
            h *= 1.25
            w = np.exp(-0.5 * ((x - centre) / h) ** 2)
        mu[i] = (w * y).sum() / w.sum()
        sigma[i] = np.sqrt((w * (y - mu[i]) ** 2).sum() / w.sum())
    hist = np.bincount(np.floor(t).astype(int), minlength=len(AGES))[: len(AGES)].astype(np.float64)
    kernel = np.exp(-0.5 * (np.arange(-8, 9) / prior_smoothing) ** 2)
    prior = np.convolve(hist, kernel / kernel.sum(), mode="same")
    prior = prior / prior.sum() + prior_floor
    return AgeCalibration(tuple(mu), tuple(np.maximum(sigma, min_sigma)), tuple(prior / prior.sum()))


def reliability(p: np.ndarray, outcome: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error, Brier score, a reliability table by tenth of P, and the largest
    gap between mean P and the observed share in a tenth holding at least 20 faces."""
    p = np.asarray(p, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece, gaps = [], 0.0, []
    for lo, hi in itertools.pairwise(edges):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.sum() >= 20:
            gaps.append(abs(float(p[m].mean()) - float(o[m].mean())))
        if m.any():
            rows.append(
                {
                    "bin": [round(lo, 2), round(hi, 2)],
                    "n": int(m.sum()),
                    "mean_p": round(float(p[m].mean()), 4),
                    "observed": round(float(o[m].mean()), 4),
                }
            )
            ece += m.mean() * abs(p[m].mean() - o[m].mean())
    return {
        "ece": round(float(ece), 4),
        "brier": round(float(np.mean((p - o) ** 2)), 4),
        "max_gap": round(max(gaps), 4) if gaps else None,
        "table": rows,
    }
