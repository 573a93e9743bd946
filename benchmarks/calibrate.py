"""Fit the age calibration and the operating point; write models/calibration/age_calibration.json.

On the *fit* half of a subject-disjoint split of each folder: run the product's stages on
simulated tracks (``faceeval``), fuse each track as configured, fit ``edge.calibration`` (true
age given fused estimate), and choose the P(minor) operating point that flags ``--target`` of
the minors. Reliability is reported on the *test* half, which the fit never saw.

    python -m benchmarks.calibrate --data ../shared/data/faces/fgnet --data ../shared/data/faces/utkface
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from humiao.config import load_config
from humiao.edge import calibration
from humiao.edge.config import EdgeConfig
from humiao.edge.fuse import fuse
from humiao.edge.pipeline import build_stages

from benchmarks.datasets import load_labels, split
from benchmarks.faceeval import FaceEvaluator
from benchmarks.metrics import operating_threshold


def fused_estimates(evaluator: FaceEvaluator, items, n_views: int, method: str):
    est, true = [], []
    for item in items:
        rec = evaluator.record(item, n_views)
        if rec is None or not rec.detected:
            continue
        est.append(fuse(np.stack(rec.probs), np.array(rec.weights), method).age)
        true.append(item.age)
    return np.array(est), np.array(true)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", type=Path, required=True)
    ap.add_argument("--views", type=int, default=6, help="frames per simulated track")
    ap.add_argument("--target", type=float, default=0.99, help="share of minors the operating point must flag")
    ap.add_argument("--max-per-set", type=int, default=3000)
    ap.add_argument("--out", type=Path, help="default: the config's fusion.calibration_file, else the shipped file")
    ap.add_argument(
        "--config", type=Path, help="edge config YAML (e.g. another model pack); default settings otherwise"
    )
    ap.add_argument("--json", type=Path, help="also write the fit report here")
    ap.add_argument(
        "--estimates",
        type=Path,
        help="npz cache of the fused estimates: read if it exists, else written "
        "(to refit without re-running the models)",
    )
    args = ap.parse_args(argv)

    cfg = load_config(EdgeConfig, args.config)
    args.out = args.out or cfg.fusion.calibration_file or calibration.DEFAULT_FILE
    evaluator = FaceEvaluator(cfg, *build_stages(cfg)) if not (args.estimates and args.estimates.exists()) else None
    fit_items, test_items = [], []
    for folder in args.data:
        fit, test = split(load_labels(folder))
        fit_items += fit[: args.max_per_set]
        test_items += test[: args.max_per_set]
    t0 = time.time()
    if args.estimates and args.estimates.exists():
        z = np.load(args.estimates)
        est, true, test_est, test_true = z["est"], z["true"], z["test_est"], z["test_true"]
    else:
        est, true = fused_estimates(evaluator, fit_items, args.views, cfg.fusion.method)
        test_est, test_true = fused_estimates(evaluator, test_items, args.views, cfg.fusion.method)
        if args.estimates:
            np.savez(args.estimates, est=est, true=true, test_est=test_est, test_true=test_true)
    cal = calibration.fit(est, true)
    p_fit = cal.p_under(est, 18.0)
    op = operating_threshold(p_fit, true, args.target)
    p_test = cal.p_under(test_est, 18.0)
    meta = {
        "fitted_on": [p.name for p in args.data],
        "fit_tracks": int(len(est)),
        "views_per_track": args.views,
        "fusion": cfg.fusion.method,
        "landmarks": cfg.models.landmarks,
        "age_model": cfg.models.age,
        "target_minor_flag_rate": args.target,
        "test_reliability_p_minor": calibration.reliability(p_test, test_true < 18),
        "test_tracks": int(len(test_est)),
        "seconds": round(time.time() - t0, 1),
    }
    final = calibration.AgeCalibration(cal.mu, cal.sigma, cal.prior, op, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(final.to_json(), indent=2) + "\n")
    if args.json:
        args.json.write_text(json.dumps(final.to_json(), indent=2) + "\n")
    print(json.dumps(final.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
