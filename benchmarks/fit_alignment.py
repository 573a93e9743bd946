"""Fit the BlazeFace → dlib-chip alignment template on real faces.

For every face that both dlib (the age model's own front end) and BlazeFace find, map the
BlazeFace keypoints through dlib's frame→chip transform; the template is the per-point median,
and each point's weight is the inverse of its spread. Faces come from the *fit* half of a
subject-disjoint split, so the parity check (``benchmarks.alignment_parity``) runs on others.

    python -m benchmarks.fit_alignment --data ../shared/data/faces/fgnet --data ../shared/data/faces/utkface \
        --landmarks facemesh
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from humiao.edge.detect import build_detector, iou_matrix
from humiao.edge.landmarks import build_landmarks

from benchmarks.datasets import load_labels, scene, split
from benchmarks.dlib_reference import DlibReference

POINTS = {
    "blazeface": (0, 1, 2, 3),  # right eye, left eye, nose tip, mouth centre
    "facemesh": (33, 133, 362, 263, 2),  # the eye corners and nose base dlib's 5-point model finds
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", type=Path, required=True)
    ap.add_argument("--landmarks", choices=sorted(POINTS), default="facemesh")
    ap.add_argument("--out", type=Path, help="default: models/calibration/alignment_<landmarks>.json")
    ap.add_argument("--per-set", type=int, default=1500, help="at most this many fit images per folder")
    args = ap.parse_args(argv)

    ref = DlibReference()
    detector = build_detector("blazeface-full-range")
    marker = build_landmarks(args.landmarks)
    index = list(POINTS[args.landmarks])
    out = (
        args.out
        or Path(__file__).resolve().parent.parent / "models" / "calibration" / f"alignment_{args.landmarks}.json"
    )
    points = []
    for folder in args.data:
        fit, _ = split(load_labels(folder))
        for item in fit[: args.per_set]:
            rgb = item.load_rgb()
            if rgb is None:
                continue
            frame = scene(rgb)
            ref_faces = ref.faces(frame)
            dets = detector.detect(frame)
            if len(ref_faces) != 1 or not dets:
                continue
            box, transform = ref_faces[0]
            ious = iou_matrix(box[None], np.stack([d.box for d in dets]))[0]
            best = int(np.argmax(ious))
            if ious[best] < 0.3:
                continue
            kp = marker.landmarks(frame, dets[best])[0][index].astype(np.float64)
            points.append(kp @ transform[:, :2].T + transform[:, 2])
    pts = np.stack(points)
    template = np.median(pts, axis=0)
    spread = np.median(np.linalg.norm(pts - template, axis=2), axis=0)
    weights = 1.0 / np.maximum(spread, 0.25)
    weights = weights / weights.sum()
    result = {
        "chip_size": 64,
        "landmarks": args.landmarks,
        "keypoints": index,
        "points": np.round(template, 4).tolist(),
        "weights": np.round(weights, 4).tolist(),
        "median_spread_px": np.round(spread, 3).tolist(),
        "faces": len(points),
        "fitted_on": [str(p) for p in args.data],
        "how": "median position of these landmarks in dlib's 64px chip (padding 0.2), fit half of a subject split",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
