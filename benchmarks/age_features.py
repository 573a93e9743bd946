"""Each age model's raw output for every labelled photo, once, so that ensembles, weights, cuts,
calibration profiles and test-time augmentation can be compared without running the models again.

    python -m benchmarks.age_features --data ../shared/data/faces/fgnet --out artifacts/bench/features_fgnet.npz

Every photo goes through the product's own stages (``datasets.scene`` → detect → landmarks →
align → quality), then each age model sees the same face: Cydral's expected age on the shipped
aligned chip and face-api's regressed age on the shipped crop (both flip-averaged, as shipped), and
each on shifted / scaled versions of its crop (test-time augmentation candidates). With
``--views N`` each photo becomes a simulated track (``faceeval.views``) and the per-frame outputs
and quality weights are kept, so fusion is exact:
the quality-weighted mean of per-frame expected ages is the expected age of the fused mixture.
The arrays also record the subject-disjoint split (fit/test) and, where the data set says, race.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from humiao.config import load_config
from humiao.edge.age import AgeEstimator, FaceApiEstimator, build_age_estimator, expected_age, regressed_distribution
from humiao.edge.align import CHIP_SIZE, chip_transform, warp_chip
from humiao.edge.config import EdgeConfig
from humiao.edge.detect import build_detector
from humiao.edge.fuse import MIN_WEIGHT
from humiao.edge.landmarks import build_landmarks
from humiao.edge.pipeline import observe_face
from humiao.models.manifest import manifests

from benchmarks.datasets import bucket, load_labels, scene, shuffled, split
from benchmarks.faceeval import views

# test-time augmentation candidates for both models: (dx, dy, scale) of the crop, in crop widths
# (face-api's 112 px crop; Cydral's aligned 64 px chip); index 0 is what the product uses
CROPS = (
    (0.0, 0.0, 1.0),
    (-0.05, 0.0, 1.0),
    (0.05, 0.0, 1.0),
    (0.0, -0.05, 1.0),
    (0.0, 0.05, 1.0),
    (0.0, 0.0, 0.9),
    (0.0, 0.0, 1.1),
)


def shifted_chip(face, source: str, dx: float, dy: float, scale: float) -> np.ndarray:
    """Cydral's aligned chip, its window moved by (dx, dy) chip widths and widened by ``scale``."""
    m = np.vstack([chip_transform(face.points, source), [0, 0, 1]])
    c, size = (CHIP_SIZE - 1) / 2, float(CHIP_SIZE)
    window = np.array(
        [[1 / scale, 0, c - (c + dx * size) / scale], [0, 1 / scale, c - (c + dy * size) / scale], [0, 0, 1]]
    )
    return warp_chip(face.frame, (window @ m)[:2])


def races(folder: Path) -> dict[str, str]:
    """file → race, from the data set's attributes.csv (UTKFace), else nothing."""
    path = folder / "attributes.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["file"]: row.get("race", "") for row in csv.DictReader(fh)}


def fused(values: np.ndarray, weights: np.ndarray, seen: np.ndarray, method: str = "quality") -> np.ndarray:
    """Per face: the fused expected age over its frames (quality-weighted / mean / best frame), as
    ``edge.fuse`` fuses (the expected age of the mixture is the weighted mean of the frames')."""
    v = np.where(seen, values, 0.0)
    if method == "best":
        best = np.argmax(np.where(seen, weights, -1.0), 1)
        return v[np.arange(len(v)), best]
    w = np.where(seen, 1.0 if method == "mean" else np.maximum(weights, MIN_WEIGHT), 0.0)
    return (v * w).sum(1) / np.maximum(w.sum(1), 1e-12)


def faceapi_expected(regressed: np.ndarray) -> np.ndarray:
    """The expected age of the distribution the product builds around a regressed age."""
    flat = np.nan_to_num(regressed.ravel())
    return expected_age(regressed_distribution(flat, FaceApiEstimator.SPREAD)).reshape(regressed.shape)


def contamination(keys, data: str) -> list[str]:
    """The models among ``keys`` known to have been trained on this data set (``fgnet``, ``utkface:fit`` …)."""
    known = manifests()
    return [k for k in keys if k in known and data.split(":")[0] in known[k].training.datasets]


def made_with(cfg: EdgeConfig, n_views: int, limit: int | None) -> str:
    """What the outputs depend on besides the photos: a file made otherwise is not reused."""
    m = cfg.models
    return f"detector={m.detector} landmarks={m.landmarks} views={n_views} limit={limit} flip={cfg.fusion.flip}"


def extract(folder: Path, cfg: EdgeConfig, n_views: int, limit: int | None = None) -> dict[str, np.ndarray]:
    detector = build_detector(
        cfg.models.detector,
        threads=1,
        score_threshold=cfg.detector.score_threshold,
        nms_iou=cfg.detector.nms_iou,
        tiles=cfg.detector.tiles,
        tile_overlap=cfg.detector.tile_overlap,
        min_face_px=cfg.detector.min_face_px,
    )
    landmarks = build_landmarks(cfg.models.landmarks)
    cydral = build_age_estimator("cydral-age-v1", flip=cfg.fusion.flip)
    faceapi = build_age_estimator("faceapi-agegender", flip=cfg.fusion.flip)
    assert isinstance(cydral, AgeEstimator) and isinstance(faceapi, FaceApiEstimator)
    items = load_labels(folder)
    fit, _test = split(items)
    fit_paths = {str(it.path) for it in fit}
    race_of = races(folder)
    if limit:
        items = shuffled(items)[:limit]
    n, v = len(items), n_views
    out = {
        "made_with": np.array(made_with(cfg, n_views, limit)),
        "path": np.array([str(it.path.relative_to(folder)) for it in items]),
        "age": np.array([it.age for it in items], dtype=np.float64),
        "subject": np.array([it.subject for it in items]),
        "fit": np.array([str(it.path) in fit_paths for it in items]),
        "race": np.array([race_of.get(str(it.path.relative_to(folder)), "") for it in items]),
        "seen": np.zeros((n, v), dtype=bool),  # the face was detected and confirmed in this view
        "weight": np.zeros((n, v), dtype=np.float64),
        "cydral": np.full((n, v, len(CROPS)), np.nan),
        "faceapi": np.full((n, v, len(CROPS)), np.nan),
    }
    for i, item in enumerate(items):
        rgb = item.load_rgb()
        if rgb is None:
            continue
        frames = views(scene(rgb), v, int(bucket(str(item.path), "views") * 2**31))
        for j, frame in enumerate(frames):
            dets = detector.detect(frame)
            if not dets:
                continue
            det = max(dets, key=lambda d: d.width * d.height)
            seen = observe_face(frame, det, landmarks, cfg.quality)
            if seen is None:
                continue
            face, quality = seen
            out["seen"][i, j] = True
            out["weight"][i, j] = quality.weight
            chips = np.stack([face.chip] + [shifted_chip(face, landmarks.source, *c) for c in CROPS[1:]])
            out["cydral"][i, j] = expected_age(cydral.predict(chips))
            for k, crop in enumerate(CROPS):
                faceapi.crops = (crop,)
                out["faceapi"][i, j, k] = float(faceapi.regress([face])[0])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder with labels.csv")
    ap.add_argument("--out", type=Path, required=True, help="npz to write")
    ap.add_argument("--views", type=int, default=1)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--config", type=Path)
    args = ap.parse_args(argv)
    t0 = time.time()
    arrays = extract(args.data, load_config(EdgeConfig, args.config), args.views, args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(
        f"{args.out}: {len(arrays['age'])} photos, {arrays['seen'].any(1).mean():.1%} detected, "
        f"{time.time() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
