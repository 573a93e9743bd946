"""Choose the age ensemble's weights and check the levers by cross-dataset validation, from the
cached model outputs of ``benchmarks.age_features``.

    python -m benchmarks.age_select --features artifacts/bench/features_fgnet.npz \\
        --features artifacts/bench/features_utkface.npz --json benchmarks/results/age_select.json

Face-api was trained on most of UTKFace and FG-NET, so no choice is made on one data set and
judged on the same one: every candidate (a model alone, an ensemble weight, test-time
augmentation, a logistic "minor or adult" head, quality gating) is calibrated and given its
operating point on one data set, then judged on the other, in both directions, on the fit halves
only (FG-NET's fit half → UTKFace's fit half and back): the test halves, which the accuracy tables
report, play no part. The weight kept is the one with the fewest adults 25+ flagged over both
directions, among those that keep 99 % of the minors and 97 % of the 13-17-year-olds flagged (a
shortfall costs ten times its size). Every operating point is the largest P(minor) cut that flags
99 % of the fit data's minors and 97 % of its 13-17-year-olds. Both data sets are contaminated for
face-api, so its share of the result is an optimistic bound; the rows say so. The calibration
profiles are compared on the test halves per population (the only East Asian faces here are
UTKFace's): that comparison chose the default profile, so it is not an independent check of it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humiao.edge import calibration

from benchmarks.age_features import contamination, faceapi_expected, fused
from benchmarks.metrics import flag_rates, operating_cut
from benchmarks.report import machine

TARGET = 0.99
TARGET_TEENS = 0.97
WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.1))  # Cydral's share; face-api has the rest


@dataclass
class Faces:
    """One data set's detected faces: true age, each model's fused expected age, and labels."""

    name: str
    true: np.ndarray
    models: dict[str, np.ndarray]  # model key → fused expected age per face
    fit: np.ndarray  # in the fit half of the subject-disjoint split
    race: np.ndarray

    def subset(self, mask: np.ndarray, name: str) -> Faces:
        return Faces(
            name, self.true[mask], {k: v[mask] for k, v in self.models.items()}, self.fit[mask], self.race[mask]
        )


def load_faces(path: Path, min_quality: float = 0.0) -> Faces:
    """One data set's faces from an age_features file; with ``min_quality``, frames below it are left
    out of a track's fusion (its best frame is always kept)."""
    z = np.load(path)
    seen, weight = z["seen"], z["weight"]
    if min_quality > 0:
        best = np.argmax(np.where(seen, weight, -1.0), 1)
        gate = weight >= min_quality
        gate[np.arange(len(gate)), best] = True
        seen = seen & gate
    detected = seen.any(1)
    fa = z["faceapi"]  # (n, views, crops): regressed ages
    cy = z["cydral"] if z["cydral"].ndim == 3 else z["cydral"][:, :, None]  # (n, views, crops): expected ages
    models = {
        "cydral-age-v1": fused(cy[:, :, 0], weight, seen),
        "cydral-age-v1+tta": fused(cy.mean(2), weight, seen),
        "faceapi-agegender": fused(faceapi_expected(fa[:, :, 0]), weight, seen),
        "faceapi-agegender+tta": fused(faceapi_expected(fa.mean(2)), weight, seen),
    }
    name = Path(path).stem.removeprefix("features_").split("_")[0]
    faces = Faces(name, z["age"], models, z["fit"], z["race"])
    return faces.subset(detected, name)


def ensemble(faces: Faces, w_cydral: float, tta: str = "") -> np.ndarray:
    """The ensemble's expected age; ``tta="+tta"``: both members averaged over the augmented crops."""
    return w_cydral * faces.models["cydral-age-v1" + tta] + (1 - w_cydral) * faces.models["faceapi-agegender" + tta]


def judge(est_fit: np.ndarray, true_fit: np.ndarray, est_test: np.ndarray, true_test: np.ndarray) -> dict:
    """Calibrate and cut on the fit data; the rates on the test data."""
    cal = calibration.fit(est_fit, true_fit)
    cut = operating_cut(np.asarray(cal.p_under(est_fit, 18.0)), true_fit)
    p_test = np.asarray(cal.p_under(est_test, 18.0))
    age_test = np.asarray(cal.age(est_test))
    m1030 = (true_test >= 10) & (true_test <= 30)
    return {
        **flag_rates(p_test >= cut, true_test),
        "mae_10_30": round(float(np.abs(age_test - true_test)[m1030].mean()), 3) if m1030.any() else None,
        "p_minor_cut": round(cut, 6),
        "ece": calibration.reliability(p_test, true_test < 18)["ece"],
    }


def logistic_head(x_fit: np.ndarray, y_fit: np.ndarray, iters: int = 50, ridge: float = 1e-3) -> np.ndarray:
    """Logistic regression by Newton's method (a handful of parameters): P(minor | features)."""
    x = np.column_stack([np.ones(len(x_fit)), x_fit])
    beta = np.zeros(x.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -30, 30)))
        grad = x.T @ (p - y_fit) + ridge * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(len(beta))
        beta -= np.linalg.solve(hess, grad)
    return beta


def judge_logistic(fit: Faces, test: Faces, keys: tuple[str, ...]) -> dict:
    def feats(f: Faces) -> np.ndarray:
        return np.column_stack([np.log1p(np.maximum(f.models[k], 0)) for k in keys])

    beta = logistic_head(feats(fit), (fit.true < 18).astype(float))

    def prob(f: Faces) -> np.ndarray:
        return 1 / (1 + np.exp(-(beta[0] + feats(f) @ beta[1:])))

    cut = operating_cut(prob(fit), fit.true)
    return {
        **flag_rates(prob(test) >= cut, test.true),
        "p_minor_cut": round(cut, 6),
        "coefficients": [round(float(b), 4) for b in beta],
    }


def directions(sets: dict[str, Faces]) -> list[tuple[str, Faces, Faces]]:
    """(label, fit, judge) pairs across data sets, both ways, on the fit halves only: the test halves
    stay out of every choice, so the accuracy tables that report them are not what chose."""
    fg, utk = sets["fgnet"], sets["utkface"]
    fg_fit, utk_fit = fg.subset(fg.fit, "fgnet:fit"), utk.subset(utk.fit, "utkface:fit")
    return [("fgnet:fit → utkface:fit", fg_fit, utk_fit), ("utkface:fit → fgnet:fit", utk_fit, fg_fit)]


def score(rows: list[dict]) -> float:
    """Adults 25+ flagged (mean over directions), plus ten times any shortfall below the targets for
    minors (99 %) and for 13-17-year-olds (97 %)."""
    adults = np.mean([r["adult25_flag_rate"] for r in rows])
    shortfall = np.mean([max(0.0, TARGET - r["minor_flag_rate"]) for r in rows])
    teens = np.mean([max(0.0, TARGET_TEENS - r["minor13_17_flag_rate"]) for r in rows])
    return float(adults + 10 * (shortfall + teens))


def profiles(sets: dict[str, Faces], w_cydral: float) -> dict:
    """The chosen ensemble under each calibration profile — ``all`` fitted on the fit halves of
    every data set, ``east-asian`` on UTKFace's Asian fit half — judged on the test halves, per
    population: which profile serves East Asian faces better, and what it costs the others."""
    fg, utk = sets["fgnet"], sets["utkface"]
    asian = utk.race == "asian"
    fits = {
        "all": (
            np.concatenate([ensemble(fg, w_cydral)[fg.fit], ensemble(utk, w_cydral)[utk.fit]]),
            np.concatenate([fg.true[fg.fit], utk.true[utk.fit]]),
        ),
        "east-asian": (ensemble(utk, w_cydral)[utk.fit & asian], utk.true[utk.fit & asian]),
    }
    tests = {
        "utkface asian, test half": ~utk.fit & asian,
        "utkface other races, test half": ~utk.fit & ~asian,
    }
    out = {}
    for name, (est, true) in fits.items():
        rows = {label: judge(est, true, ensemble(utk, w_cydral)[mask], utk.true[mask]) for label, mask in tests.items()}
        rows["fgnet, test half"] = judge(est, true, ensemble(fg, w_cydral)[~fg.fit], fg.true[~fg.fit])
        for label, mask in (*tests.items(), ("fgnet, test half", ~fg.fit)):
            t = (utk if label.startswith("utk") else fg).true[mask]
            rows[label]["n_13_17"] = int(((t >= 13) & (t < 18)).sum())
            rows[label]["n_25_plus"] = int((t >= 25).sum())
        out[name] = {"fitted_faces": int(len(true)), "rows": rows}
    return out


def quality_gating(paths: list[Path], w_cydral: float) -> dict:
    """Fusion lever, on simulated tracks: leave frames below a quality weight out of the fusion."""
    out = {}
    for q in (0.0, 0.2, 0.4, 0.6):
        sets = {f.name: f for f in (load_faces(p, q) for p in paths)}
        rows = [
            {"direction": label, **judge(ensemble(fit, w_cydral), fit.true, ensemble(test, w_cydral), test.true)}
            for label, fit, test in directions(sets)
        ]
        out[f"min quality {q:g}"] = {"rows": rows, "score": round(score(rows), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, action="append", required=True, help="age_features npz (fgnet, utkface)")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--tracks", type=Path, action="append", help="age_features npz with --views > 1 (fusion levers)")
    args = ap.parse_args(argv)
    sets = {f.name: f for f in map(load_faces, args.features)}
    pairs = directions(sets)

    def rows_for(est) -> list[dict]:
        return [{"direction": label, **judge(est(fit), fit.true, est(test), test.true)} for label, fit, test in pairs]

    candidates: dict[str, dict] = {}
    for key, members in (
        ("cydral-age-v1", ["cydral-age-v1"]),
        ("cydral-age-v1+tta", ["cydral-age-v1"]),
        ("faceapi-agegender", ["faceapi-agegender"]),
        ("faceapi-agegender+tta", ["faceapi-agegender"]),
    ):
        rows = rows_for(lambda f, k=key: f.models[k])
        candidates[key] = {"rows": rows, "score": round(score(rows), 4), "members": members}
    for tta in ("", "+tta"):
        for w in WEIGHTS[1:-1]:
            rows = rows_for(lambda f, w=w, t=tta: ensemble(f, w, t))
            candidates[f"ensemble cydral-age-v1{tta} {w:g} / faceapi-agegender{tta} {1 - w:g}"] = {
                "rows": rows,
                "score": round(score(rows), 4),
                "members": ["cydral-age-v1", "faceapi-agegender"],
                "w_cydral": w,
                "tta": bool(tta),
            }
    logistic = [
        {"direction": label, **judge_logistic(fit, test, ("cydral-age-v1", "faceapi-agegender"))}
        for label, fit, test in pairs
    ]
    candidates["logistic head (cydral, face-api)"] = {
        "rows": logistic,
        "score": round(score(logistic), 4),
        "members": ["cydral-age-v1", "faceapi-agegender"],
    }
    for c in candidates.values():
        for r in c["rows"]:
            r["contaminated_by"] = contamination(c["members"], r["direction"].split(" → ")[1])
    ensembles = {k: v for k, v in candidates.items() if k.startswith("ensemble") and not v["tta"]}
    best = min(ensembles, key=lambda k: ensembles[k]["score"])
    out = {
        "machine": machine(),
        "target_minor_flag_rate": TARGET,
        "how": __doc__.split("\n\n")[2].replace("\n", " "),
        "chosen": {"candidate": best, "w_cydral": ensembles[best]["w_cydral"]},
        "profiles": profiles(sets, ensembles[best]["w_cydral"]),
        "quality_gating": quality_gating(args.tracks, ensembles[best]["w_cydral"]) if args.tracks else None,
        "candidates": candidates,
        "n_faces": {k: int(len(v.true)) for k, v in sets.items()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    for k, c in sorted(candidates.items(), key=lambda kv: kv[1]["score"]):
        rates = "  ".join(
            f"{r['minor_flag_rate']:.3f}/{r['minor13_17_flag_rate']:.3f}/{r['adult25_flag_rate']:.3f}"
            for r in c["rows"]
        )
        print(f"{c['score']:.3f}  {k:55}  <18 / 13-17 / 25+ flagged: {rates}")
    print(f"chosen: {best}")
    for name, g in (out["quality_gating"] or {}).items():
        print(
            f"tracks, {name}: score {g['score']:.3f}  "
            + "  ".join(
                f"{r['minor_flag_rate']:.3f}/{r['minor13_17_flag_rate']:.3f}/{r['adult25_flag_rate']:.3f}"
                for r in g["rows"]
            )
        )
    for name, p in out["profiles"].items():
        print(
            f"profile {name}: "
            + "; ".join(
                f"{k}: {r['minor_flag_rate']:.3f}/{r['minor13_17_flag_rate']:.3f}/{r['adult25_flag_rate']:.3f}"
                for k, r in p["rows"].items()
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
