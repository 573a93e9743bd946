"""Calibration: a fused age estimate → calibrated P(age < T) for any T, and an operating point.

The model's own class probabilities are not calibrated, and a regression of true age on the
estimate would silently bake in the age mix of whatever data it was fitted on. So we keep
the two parts apart and combine them by Bayes' rule:

- likelihood, how the estimator errs at each true age a (fitted on labelled faces):
      log(1 + estimate) | a  ~  Normal(alpha + beta·log(1 + a),  s0 + s1·log(1 + a))
- prior, the age mix of the people walking in, over ages 0..90: by default the smoothed mix of
  the calibration data; a venue can set its own (``prior`` in the calibration file).

P(age < T | estimate) sums the posterior below T; the calibrated age is the posterior median.
``benchmarks.calibrate`` fits it on the fit half of a subject-disjoint split and reports its
reliability on the other half; it also records the operating point: the P(minor) at or above
which staff are asked to check ID, chosen on the fit half to flag the target share of minors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "models" / "calibration" / "age_calibration.json"
AGES = np.arange(0, 91, dtype=np.float64)  # the prior's support, in years (a = 90 stands for 90+)
_X = np.log1p(AGES + 0.5)  # log(1 + age) at each year's middle


@dataclass(frozen=True)
class AgeCalibration:
    alpha: float = 0.0
    beta: float = 1.0
    s0: float = 0.2
    s1: float = 0.0
    prior: tuple[float, ...] = field(default_factory=lambda: tuple(np.full(len(AGES), 1 / len(AGES))))
    operating_p_minor: float = 0.5  # check ID when calibrated P(minor) is at least this
    meta: dict | None = None

    def posterior(self, estimate: np.ndarray | float) -> np.ndarray:
        """(N, 91) posterior over ages for each estimate."""
        y = np.log1p(np.maximum(np.atleast_1d(np.asarray(estimate, dtype=np.float64)), 0.0))[:, None]
        sigma = np.maximum(self.s0 + self.s1 * _X, 0.02)[None, :]
        z = (y - (self.alpha + self.beta * _X)[None, :]) / sigma
        loglik = -0.5 * z ** 2 - np.log(sigma)
        logpost = loglik + np.log(np.maximum(np.asarray(self.prior), 1e-12))[None, :]
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

    def with_prior(self, prior: np.ndarray) -> "AgeCalibration":
        prior = np.asarray(prior, dtype=np.float64)
        if prior.shape != AGES.shape or (prior < 0).any() or prior.sum() <= 0:
            raise ValueError(f"a prior needs {len(AGES)} non-negative weights (ages 0..90)")
        return AgeCalibration(self.alpha, self.beta, self.s0, self.s1, tuple(prior / prior.sum()),
                              self.operating_p_minor, self.meta)

    def to_json(self) -> dict:
        return {"alpha": self.alpha, "beta": self.beta, "s0": self.s0, "s1": self.s1,
                "prior": [round(p, 6) for p in self.prior], "operating_p_minor": self.operating_p_minor,
                "meta": self.meta or {}}

    @classmethod
    def load(cls, path: Path | None = None) -> "AgeCalibration":
        path = Path(path or DEFAULT_FILE)
        try:
            data = json.loads(path.read_text())
            cal = cls(**{k: data[k] for k in ("alpha", "beta", "s0", "s1", "operating_p_minor")},
                      meta=data.get("meta"))
            return cal.with_prior(np.asarray(data["prior"], dtype=np.float64))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"calibration file {path}: {err}; run `python -m benchmarks.calibrate`") from err


def fit(estimates: np.ndarray, truths: np.ndarray, bins: int = 10, prior_smoothing: float = 2.0,
        prior_floor: float = 0.002) -> AgeCalibration:
    """Likelihood by least squares of log-estimate on log-true age; spread from binned residuals;
    prior from the smoothed histogram of true ages (with a floor, so no age is ruled out)."""
    y = np.log1p(np.maximum(np.asarray(estimates, dtype=np.float64), 0))
    t = np.clip(np.asarray(truths, dtype=np.float64), 0, AGES[-1])
    x = np.log1p(t + 0.5)
    (alpha, beta), *_ = np.linalg.lstsq(np.stack([np.ones_like(x), x], 1), y, rcond=None)
    resid = y - (alpha + beta * x)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    centres, spreads, counts = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (x >= lo) & (x <= hi)
        if m.sum() >= 10:
            centres.append(x[m].mean())
            spreads.append(np.sqrt(np.mean(resid[m] ** 2)))
            counts.append(m.sum())
    w = np.sqrt(np.asarray(counts, dtype=np.float64))
    B = np.stack([np.ones(len(centres)), centres], 1) * w[:, None]
    (s0, s1), *_ = np.linalg.lstsq(B, np.asarray(spreads) * w, rcond=None)
    hist = np.bincount(np.floor(t).astype(int), minlength=len(AGES))[: len(AGES)].astype(np.float64)
    kernel = np.exp(-0.5 * (np.arange(-8, 9) / prior_smoothing) ** 2)
    prior = np.convolve(hist, kernel / kernel.sum(), mode="same")
    prior = prior / prior.sum() + prior_floor
    return AgeCalibration(float(alpha), float(beta), float(s0), float(s1)).with_prior(prior)


def reliability(p: np.ndarray, outcome: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error, Brier score and a reliability table."""
    p = np.asarray(p, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.any():
            rows.append({"bin": [round(lo, 2), round(hi, 2)], "n": int(m.sum()),
                         "mean_p": round(float(p[m].mean()), 4), "observed": round(float(o[m].mean()), 4)})
            ece += m.mean() * abs(p[m].mean() - o[m].mean())
    return {"ece": round(float(ece), 4), "brier": round(float(np.mean((p - o) ** 2)), 4), "table": rows}
