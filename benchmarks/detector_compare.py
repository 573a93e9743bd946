"""Compare face detectors on 720p frames: detection rate by face size, false positives, speed.

    python -m benchmarks.detector_compare --data ../shared/data/faces/fgnet --json OUT.json

Each photo's face is measured by dlib's HOG detector (independent of the detectors compared),
then the photo is scaled so that the face is 40, 64, 100 or 160 px wide and pasted at a random
place on a 1280×720 corridor background. A face counts as found when a detection's centre lies
in its box and the widths agree within a factor of two; any other detection is a false
positive. Detectors: BlazeFace full-range (whole frame; with 1 and 2 rows of tiles),
BlazeFace short-range, and YuNet 2023mar when the operator has added it
(``humiao models prepare yunet-2023mar --from FILE``; otherwise it is listed as skipped).
Times are per 720p frame on one thread.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from humiao.edge.detect import build_detector
from humiao.edge.sample_video import _background
from humiao.models import ModelError

from benchmarks.datasets import load_labels, shuffled
from benchmarks.dlib_reference import DlibReference

SIZES = (40, 64, 100, 160)
CANDIDATES = {
    "blazeface-full-range": ("blazeface-full-range", {"tiles": 0}),
    "blazeface-full-range+tiles1": ("blazeface-full-range", {"tiles": 1}),
    "blazeface-full-range+tiles2": ("blazeface-full-range", {"tiles": 2}),
    "blazeface-short-range+tiles1": ("blazeface-short-range", {"tiles": 1}),
    "yunet-2023mar": ("yunet-2023mar", {}),
}


def scenes(items, n: int, seed: int = 11):
    """[(frame, face box, size)] with every photo at every size."""
    ref = DlibReference()
    rng = np.random.default_rng(seed)
    bg = _background(1280, 720, np.random.default_rng(3))
    out = []
    for item in items:
        if len(out) >= n * len(SIZES):
            break
        rgb = item.load_rgb()
        if rgb is None:
            continue
        faces = ref.faces(rgb)
        if len(faces) != 1:
            continue
        x1, y1, x2, y2 = faces[0][0]
        for size in SIZES:
            s = size / max(x2 - x1, 1)
            photo = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
            ph, pw = photo.shape[:2]
            if ph >= 700 or pw >= 1260:
                continue
            ox, oy = int(rng.integers(0, 1280 - pw)), int(rng.integers(0, 720 - ph))
            frame = bg.copy()
            frame[oy : oy + ph, ox : ox + pw] = photo
            box = np.array([x1 * s + ox, y1 * s + oy, x2 * s + ox, y2 * s + oy])
            out.append((frame, box, size))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, action="append", required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--faces", type=int, default=150, help="photos per folder")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)

    frames = []
    for folder in args.data:
        frames += scenes(shuffled(load_labels(folder)), args.faces)
    blank = [_background(1280, 720, np.random.default_rng(100 + i)) for i in range(20)]
    results = {}
    for name, (model_id, opts) in CANDIDATES.items():
        try:
            det = build_detector(model_id, **opts)
        except ModelError as err:
            results[name] = {"skipped": str(err)}
            continue
        hits = {s: [] for s in SIZES}
        false_pos, t = 0, 0.0
        for frame, box, size in frames:
            t0 = time.perf_counter()
            dets = det.detect(frame)
            t += time.perf_counter() - t0
            found = False
            for d in dets:
                cx, cy = (d.box[0] + d.box[2]) / 2, (d.box[1] + d.box[3]) / 2
                ok = box[0] <= cx <= box[2] and box[1] <= cy <= box[3] and 0.5 < d.width / (box[2] - box[0]) < 2
                found |= ok
                false_pos += not ok
            hits[size].append(found)
        blank_fp = sum(len(det.detect(b)) for b in blank)
        results[name] = {
            "detection_rate_by_face_px": {str(s): round(float(np.mean(h)), 4) for s, h in hits.items() if h},
            "detection_rate": round(float(np.mean([x for h in hits.values() for x in h])), 4),
            "false_positives_per_frame": round(false_pos / len(frames), 4),
            "false_positives_on_empty_frames": blank_fp,
            "ms_per_720p_frame": round(1000 * t / len(frames), 2),
        }
        print(name, json.dumps(results[name]))
    out = {
        "frames": len(frames),
        "face_sizes_px": list(SIZES),
        "data": [str(p) for p in args.data],
        "detectors": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
