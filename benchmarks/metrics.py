"""Accuracy figures shared by the calibration step and the accuracy benchmark."""

from __future__ import annotations

import numpy as np

BANDS = {"0-12": (0, 13), "13-17": (13, 18), "18-24": (18, 25), "25-39": (25, 40), "40+": (40, 1000)}


def mae_by_band(est: np.ndarray, true: np.ndarray) -> dict[str, float | None]:
    out = {}
    for name, (lo, hi) in BANDS.items():
        m = (true >= lo) & (true < hi)
        out[name] = round(float(np.mean(np.abs(est[m] - true[m]))), 3) if m.any() else None
    return out


def flag_rates(flagged: np.ndarray, true: np.ndarray) -> dict[str, float | None]:
    def share(mask):
        return round(float(flagged[mask].mean()), 4) if mask.any() else None

    return {
        "minor_flag_rate": share(true < 18),
        "minor13_17_flag_rate": share((true >= 13) & (true < 18)),
        "adult25_flag_rate": share(true >= 25),
        "adult18_24_flag_rate": share((true >= 18) & (true < 25)),
    }


def operating_threshold(p_minor: np.ndarray, true: np.ndarray, target: float) -> float:
    """Largest P(minor) cut that still flags at least ``target`` of the minors."""
    return _cut(p_minor[true < 18], target)


def operating_cut(p_minor: np.ndarray, true: np.ndarray, minors: float = 0.99, teens: float = 0.97) -> float:
    """Largest P(minor) cut that flags at least ``minors`` of the under-18s and ``teens`` of the
    13-17-year-olds (the targets both; a data set of mostly small children would otherwise set a
    cut that misses the teenagers who actually come to a venue's door)."""
    teen = (true >= 13) & (true < 18)
    return min(_cut(p_minor[true < 18], minors), _cut(p_minor[teen], teens))


def _cut(p: np.ndarray, target: float) -> float:
    p = np.sort(p)
    if len(p) == 0:
        return 0.5
    k = int(np.floor((1 - target) * len(p)))
    return float(p[min(k, len(p) - 1)])
