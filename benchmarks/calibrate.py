"""Fit an age calibration and its operating point for a population profile.

On the *fit* half of a subject-disjoint split of each data set: the configured age model's fused
estimate per face, ``edge.calibration`` fitted to it (true age given the estimate), and the
P(minor) operating point that flags ``--target`` of the minors. Reliability is reported on the
*test* half, which the fit never saw. ``--profile east-asian`` keeps only the faces the data set
labels Asian (UTKFace's attributes.csv); ``all`` keeps every face.

Two sources of estimates:
- ``--features NPZ …`` (from ``benchmarks.age_features``, one per data set): the shipped age
  models' outputs, combined as the configuration's ``models.age`` / ``models.ensemble`` say (the
  mixture's expected age is the weighted mean of the members'), on single photos unless the
  features were made with ``--views``; the shipped files (``models/calibration/age_<model>_<profile>.json``)
  are fitted on single photos and applied to fused tracks, whose estimates vary less (measured in
  the accuracy tables' track rows):

    python -m benchmarks.calibrate --features artifacts/bench/features_fgnet.npz \
        --features artifacts/bench/features_utkface.npz --profile east-asian

- ``--data DIR …``: runs the configured stages on simulated tracks (``faceeval``), for other
  estimators such as an insightface pack (``--config pack.yaml --out FILE``).
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

from benchmarks.age_features import races
from benchmarks.datasets import load_labels, split
from benchmarks.faceeval import FaceEvaluator
from benchmarks.metrics import operating_cut


def fused_estimates(evaluator: FaceEvaluator, items, n_views: int, method: str):
    est, true = [], []
    for item in items:
        rec = evaluator.record(item, n_views)
        if rec is None or not rec.detected:
            continue
        est.append(fuse(np.stack(rec.probs), np.array(rec.weights), method).age)
        true.append(item.age)
    return np.array(est), np.array(true)


def from_features(paths: list[Path], cfg: EdgeConfig, profile: str):
    """(fit estimates, fit truths, test estimates, test truths) from cached model outputs."""
    from benchmarks.age_select import load_faces

    members = cfg.models.ensemble if cfg.models.age == "ensemble" else {cfg.models.age: 1.0}
    total = sum(members.values())
    est, true, test_est, test_true = [], [], [], []
    for path in paths:
        faces = load_faces(path)
        keep = faces.race == "asian" if profile == "east-asian" else np.ones(len(faces.true), bool)
        mixed = sum(w / total * faces.models[k] for k, w in members.items())
        est.append(mixed[keep & faces.fit])
        true.append(faces.true[keep & faces.fit])
        test_est.append(mixed[keep & ~faces.fit])
        test_true.append(faces.true[keep & ~faces.fit])
    return tuple(np.concatenate(parts) for parts in (est, true, test_est, test_true))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", action="append", type=Path, help="labelled folder (runs the configured stages)")
    source.add_argument("--features", action="append", type=Path, help="age_features npz (the shipped models)")
    ap.add_argument("--profile", choices=calibration.PROFILES, help="default: the config's fusion.calibration_profile")
    ap.add_argument("--views", type=int, default=6, help="frames per simulated track")
    ap.add_argument("--target", type=float, default=0.99, help="share of minors the operating point must flag")
    ap.add_argument("--target-teens", type=float, default=0.97, help="share of 13-17-year-olds it must flag")
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
    profile = args.profile or cfg.fusion.calibration_profile
    args.out = args.out or cfg.fusion.calibration_file or calibration.shipped_file(cfg.models.age, profile)
    t0 = time.time()
    if args.features:
        est, true, test_est, test_true = from_features(args.features, cfg, profile)
    elif args.estimates and args.estimates.exists():
        z = np.load(args.estimates)
        est, true, test_est, test_true = z["est"], z["true"], z["test_est"], z["test_true"]
    else:
        evaluator = FaceEvaluator(cfg, *build_stages(cfg))
        fit_items, test_items = [], []
        for folder in args.data:
            fit, test = split(load_labels(folder))
            race = races(folder)

            def wanted(item, race=race, folder=folder) -> bool:
                return profile != "east-asian" or race.get(str(item.path.relative_to(folder))) == "asian"

            fit_items += [it for it in fit if wanted(it)][: args.max_per_set]
            test_items += [it for it in test if wanted(it)][: args.max_per_set]
        est, true = fused_estimates(evaluator, fit_items, args.views, cfg.fusion.method)
        test_est, test_true = fused_estimates(evaluator, test_items, args.views, cfg.fusion.method)
        if args.estimates:
            np.savez(args.estimates, est=est, true=true, test_est=test_est, test_true=test_true)
    cal = calibration.fit(est, true)
    p_fit = cal.p_under(est, 18.0)
    op = operating_cut(p_fit, true, args.target, args.target_teens)
    p_test = cal.p_under(test_est, 18.0)
    meta = {
        "profile": profile,
        "ensemble": cfg.models.ensemble if cfg.models.age == "ensemble" else None,
        "fitted_on": [p.name for p in (args.features or args.data)],
        "fit_tracks": int(len(est)),
        "views_per_track": 1 if args.features else args.views,
        "fusion": cfg.fusion.method,
        "landmarks": cfg.models.landmarks,
        "age_model": cfg.models.age,
        "target_minor_flag_rate": args.target,
        "target_13_17_flag_rate": args.target_teens,
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
