"""Age accuracy of the edge vision stages on a folder of labelled faces: the configured age model
(the product, with its shipped calibration) and each age model alone.

    python -m benchmarks.age_accuracy --data DIR --json OUT.json [--views 6] [--split test]

DIR holds ``labels.csv`` (file, age[, subject]; UTKFace also ``attributes.csv`` with race). Every
photo goes through the product's stages (``benchmarks.age_features``: detect → landmarks → align
→ each age model); with ``--views N`` each photo becomes a simulated track of N frames, fused as the
product fuses. The configured estimate is computed from the members' outputs exactly as the
product computes it (the expected age of a mixture is the weighted mean of its members').

The top-level keys describe the product as configured (model, ensemble weights, calibration
profile): detection rate; MAE overall, over 10-30 and per band, of the calibrated and the raw
estimate; the shares of minors, of 13-17-year-olds and of adults 25+ asked for ID at challenge
thresholds 18, 21, 25 and at the shipped operating point, with bootstrap 90 % intervals (by
subject: FG-NET's halves are small, one or two faces move the cut); the reliability of P(minor)
per decile; and, for tracks, the fusion methods. Added here:
- ``models``: each age model and the ensemble alone, with a calibration and cut fitted on the
  *fit* half of this data set (same population) and judged on the chosen split: a like-for-like
  comparison; ``contaminated_by`` names models known to have been trained on this data set, whose
  rows are inflated (face-api saw most of UTKFace and FG-NET);
- ``by_race``: the product's rates per population group (where the data set gives race);
- a PNG: adults 25+ flagged against minors flagged as the P(minor) cut moves, per model, with the
  shipped operating point marked; and estimate against truth.
Rates are over detected faces; ``*_end_to_end`` counts an undetected face as not flagged.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from humiao.config import load_config
from humiao.edge import calibration
from humiao.edge.calibration import AgeCalibration
from humiao.edge.config import EdgeConfig
from humiao.edge.pipeline import calibration_for, calibration_name

from benchmarks.age_features import contamination, extract, faceapi_expected, fused, made_with
from benchmarks.metrics import BANDS, flag_rates, mae_by_band, operating_cut, operating_threshold

THRESHOLDS = (18, 21, 25)
METHODS = ("quality", "mean", "best")
MODELS = ("cydral-age-v1", "faceapi-agegender")
BOOTSTRAP = 1000


def per_view(z: dict) -> dict[str, np.ndarray]:
    """Each model's expected age per face and frame (meaningless where the face was not seen: ``seen``
    masks those frames out of every fusion)."""
    cydral = z["cydral"] if z["cydral"].ndim == 2 else z["cydral"][:, :, 0]  # the shipped chip (no augmentation)
    return {"cydral-age-v1": cydral, "faceapi-agegender": faceapi_expected(z["faceapi"][:, :, 0])}


def mixed(views: dict[str, np.ndarray], members: dict[str, float]) -> np.ndarray:
    total = sum(members.values())
    return sum(w / total * views[k] for k, w in members.items())


def bootstrap(flagged: np.ndarray, true: np.ndarray, groups: np.ndarray, seed: int = 7) -> dict:
    """90 % intervals of the flag rates, resampling people (subjects) with replacement."""
    rng = np.random.default_rng(seed)
    ids, index = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(index == i) for i in range(len(ids))]
    draws: dict[str, list[float]] = {"minor_flag_rate": [], "minor13_17_flag_rate": [], "adult25_flag_rate": []}
    for _ in range(BOOTSTRAP):
        pick = np.concatenate([members[i] for i in rng.integers(0, len(ids), len(ids))])
        rates = flag_rates(flagged[pick], true[pick])
        for k in draws:
            if rates[k] is not None:
                draws[k].append(rates[k])
    return {
        k: [round(float(np.percentile(v, 5)), 4), round(float(np.percentile(v, 95)), 4)] if v else None
        for k, v in draws.items()
    }


def summary(raw: np.ndarray, true: np.ndarray, cal: AgeCalibration, subjects: np.ndarray, n_images: int) -> dict:
    est = np.asarray(cal.age(raw)) if len(raw) else raw
    p_minor = np.asarray(cal.p_under(raw, 18.0)) if len(raw) else raw
    out = {
        "n_images": n_images,
        "n_detected": int(len(true)),
        "detection_rate": round(len(true) / max(n_images, 1), 4),
        "mae": round(float(np.mean(np.abs(est - true))), 3),
        "mae_raw": round(float(np.mean(np.abs(raw - true))), 3),
        "mae_10_30": None,
        "mae_by_band": mae_by_band(est, true),
        "mae_by_band_raw": mae_by_band(raw, true),
        "by_threshold": {str(t): flag_rates(est < t, true) for t in THRESHOLDS},
        "by_threshold_raw": {str(t): flag_rates(raw < t, true) for t in THRESHOLDS},
    }
    m1030 = (true >= 10) & (true <= 30)
    if m1030.any():
        out["mae_10_30"] = round(float(np.mean(np.abs(est[m1030] - true[m1030]))), 3)
        out["mae_10_30_raw"] = round(float(np.mean(np.abs(raw[m1030] - true[m1030]))), 3)
    flagged = p_minor >= cal.operating_p_minor
    out["operating_point"] = {
        **flag_rates(flagged, true),
        "p_minor_threshold": round(cal.operating_p_minor, 6),
        "interval_90": bootstrap(flagged, true, subjects),
    }
    out["p_minor_reliability"] = calibration.reliability(p_minor, true < 18) if len(true) else None
    return out


def curve(p_minor: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(minors flagged, adults 25+ flagged) as the P(minor) cut sweeps from high to low."""
    cuts = np.unique(np.concatenate([[1.0], p_minor]))[::-1]
    minors, adults = p_minor[true < 18], p_minor[true >= 25]
    return (np.array([(minors >= c).mean() for c in cuts]), np.array([(adults >= c).mean() for c in cuts]))


def plot(rows: dict, product: dict, png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5))
    for name, (p_minor, true) in rows.items():
        x, y = curve(p_minor, true)
        a1.plot(y, x, label=name)
    op = product["operating_point"]
    a1.plot([op["adult25_flag_rate"]], [op["minor_flag_rate"]], "k*", ms=12, label="shipped operating point")
    a1.axhline(0.99, color="g", ls=":", lw=1, label="99 % of minors")
    a1.axvline(0.15, color="r", ls=":", lw=1, label="15 % of adults")
    a1.set(
        xlabel="adults 25+ flagged",
        ylabel="minors (<18) flagged",
        title=f"{title}: who is asked for ID",
        xlim=(0, 1),
        ylim=(0.8, 1.005),
    )
    a1.legend(loc="lower right", fontsize=8)
    true, est = product["_true"], product["_est"]
    a2.scatter(true, est, s=4, alpha=0.35)
    a2.plot([0, 80], [0, 80], "k--", lw=1)
    a2.axhline(18, color="r", lw=0.8)
    a2.set(
        xlabel="true age",
        ylabel="estimated age (calibrated)",
        title="product: estimate vs truth",
        xlim=(0, 80),
        ylim=(0, 80),
    )
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with labels.csv")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--views", type=int, default=1, help="frames per simulated track (1: each photo once)")
    ap.add_argument(
        "--split",
        choices=["all", "fit", "test"],
        default="all",
        help="'test': only the subjects the shipped calibration was not fitted on",
    )
    ap.add_argument("--limit", type=int, help="at most this many photos (a fixed pseudo-random sample)")
    ap.add_argument("--config", type=Path, help="edge config YAML (default settings otherwise)")
    ap.add_argument("--features", type=Path, help="reuse (or write) the models' outputs here (npz)")
    ap.add_argument("--plot", type=Path, help="PNG path (default: beside the JSON)")
    args = ap.parse_args(argv)

    cfg = load_config(EdgeConfig, args.config)
    if cfg.models.age not in ("ensemble", *MODELS):
        ap.error(f"models.age {cfg.models.age!r}: this benchmark measures the shipped age models")
    cal = calibration_for(cfg)
    t0 = time.time()
    if args.features and args.features.exists():
        z = dict(np.load(args.features))
        wanted = made_with(cfg, args.views, args.limit)
        if str(z.get("made_with", "")) != wanted:
            ap.error(f"{args.features} was made with {z.get('made_with', 'unknown settings')}, this run needs {wanted}")
    else:
        z = extract(args.data, cfg, args.views, args.limit)
        if args.features:
            np.savez_compressed(args.features, **z)
    z.pop("made_with", None)  # one string for the file, not a per-photo array
    full = z  # both halves: the per-model calibrations below are fitted on the fit half
    keep = np.ones(len(z["age"]), bool) if args.split == "all" else (z["fit"] if args.split == "fit" else ~z["fit"])
    z = {k: v[keep] for k, v in z.items()}
    seen, weights, truth = z["seen"], z["weight"], z["age"]
    det = seen.any(1)
    views = per_view(z)
    members = cfg.models.ensemble if cfg.models.age == "ensemble" else {cfg.models.age: 1.0}
    product_views = mixed(views, members)
    raw = fused(product_views, weights, seen, cfg.fusion.method)[det]
    true, subjects = truth[det], z["subject"][det]
    data_name = args.data.name
    out = {
        "data": str(args.data),
        "split": args.split,
        "views_per_track": args.views,
        "unreadable_images": 0,
        "config": {
            "detector": cfg.models.detector,
            "landmarks": cfg.models.landmarks,
            "fusion": cfg.fusion.method,
            "flip": cfg.fusion.flip,
            "age": cfg.models.age,
            "ensemble": members,
            "calibration": calibration_name(cfg),
        },
        "contaminated_by": contamination(members, data_name),
        **summary(raw, true, cal, subjects, int(len(truth))),
    }
    op = out["operating_point"]
    n_minors, n_adults = int((truth < 18).sum()), int((truth >= 25).sum())
    if op["minor_flag_rate"] is not None and n_minors:
        op["minor_flag_rate_end_to_end"] = round(op["minor_flag_rate"] * int((true < 18).sum()) / n_minors, 4)
    if op["adult25_flag_rate"] is not None and n_adults:
        op["adult25_flag_rate_end_to_end"] = round(op["adult25_flag_rate"] * int((true >= 25).sum()) / n_adults, 4)

    # each model alone and the ensemble, calibrated and cut on this data set's fit half (same population);
    # judged on the test half (with --split test), else on the same faces (then the rows are optimistic)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    model_rows = {}
    fit_arrays = {k: v[full["fit"]] for k, v in full.items()} if args.split == "test" else None
    for key, mem in [*[(m, {m: 1.0}) for m in MODELS], ("ensemble", members)]:
        est = fused(mixed(views, mem), weights, seen, cfg.fusion.method)[det]
        if fit_arrays is not None:
            f_det = fit_arrays["seen"].any(1)
            f_est = fused(
                mixed(per_view(fit_arrays), mem), fit_arrays["weight"], fit_arrays["seen"], cfg.fusion.method
            )[f_det]
            f_true = fit_arrays["age"][f_det]
        else:
            f_est, f_true = est, true
        own = calibration.fit(f_est, f_true)
        cut = operating_cut(np.asarray(own.p_under(f_est, 18.0)), f_true)
        p_minor = np.asarray(own.p_under(est, 18.0))
        age = np.asarray(own.age(est))
        m1030 = (true >= 10) & (true <= 30)
        model_rows[key] = {
            "members": mem,
            "calibrated_on": f"{data_name} fit half" if fit_arrays is not None else f"{data_name} (same faces)",
            "contaminated_by": contamination(mem, data_name),
            "mae_10_30": round(float(np.abs(age - true)[m1030].mean()), 3) if m1030.any() else None,
            "mae_raw": round(float(np.abs(est - true).mean()), 3),
            "at_99pct_minors_of_fit_half": {
                **flag_rates(p_minor >= cut, true),
                "p_minor_threshold": round(cut, 6),
                "interval_90": bootstrap(p_minor >= cut, true, subjects),
            },
        }
        curves[key] = (p_minor, true)
    out["models"] = model_rows

    races = z["race"][det]
    if (races != "").any():
        p_minor = np.asarray(cal.p_under(raw, 18.0))
        out["by_race"] = {
            r: {
                "n": int((races == r).sum()),
                **flag_rates((p_minor >= cal.operating_p_minor)[races == r], true[races == r]),
                "p_minor_reliability": {
                    k: v
                    for k, v in calibration.reliability(p_minor[races == r], true[races == r] < 18).items()
                    if k != "table"
                },
            }
            for r in sorted(set(races))
            if r
        }

    fusion = {}
    for method in METHODS if args.views > 1 else ("quality",):
        f_raw = fused(product_views, weights, seen, method)[det]
        p_minor = np.asarray(cal.p_under(f_raw, 18.0))
        oracle = operating_threshold(p_minor, true, 0.99)
        fusion[method] = {
            "mae": round(float(np.mean(np.abs(np.asarray(cal.age(f_raw)) - true))), 3),
            "at_operating_point": flag_rates(p_minor >= cal.operating_p_minor, true),
            "at_99pct_minors_oracle": {**flag_rates(p_minor >= oracle, true), "p_minor_threshold": round(oracle, 6)},
        }
    out["fusion"] = fusion
    out["bands"] = {k: list(v) for k, v in BANDS.items()}
    out["targets"] = {
        "minor_flag_rate": ">= 0.99",
        "minor13_17_flag_rate": ">= 0.97",
        "adult25_flag_rate": "<= 0.15",
        "mae_10_30": "<= 4",
        "p_minor_reliability": "within 0.05 in every decile",
    }
    out["seconds"] = round(time.time() - t0, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    png = args.plot or args.json.with_suffix(".png")
    if len(true):
        product = {"operating_point": op, "_true": true, "_est": np.asarray(cal.age(raw))}
        plot(
            {
                **{f"{k} (own calibration)": v for k, v in curves.items() if k != "ensemble"},
                "product (shipped calibration)": (np.asarray(cal.p_under(raw, 18.0)), true),
            },
            product,
            png,
            data_name,
        )
        out["plot"] = str(png)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    brief = {k: out[k] for k in ("n_images", "detection_rate", "mae", "mae_10_30", "operating_point")}
    print(json.dumps(brief, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
