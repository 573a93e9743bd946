"""Face detection: MediaPipe BlazeFace on onnxruntime, with anchor decoding, weighted NMS,
six keypoints per face, and optional tiling so that small faces on a wide frame are found.

BlazeFace outputs, per anchor, 16 regressors (box centre offset x/y, width, height, then six
keypoints x/y, all in input pixels relative to the anchor centre) and one logit. Anchors use a
fixed unit size, so only their centres matter: one centre per grid cell per anchor, cells in
row-major order.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from humiao.edge.types import Detection
from humiao.models.runtime import OnnxModel


class FaceDetector(Protocol):
    name: str

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]: ...


@dataclass(frozen=True)
class BlazeFaceSpec:
    input_size: int
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per cell)


SPECS = {
    "blazeface-short-range": BlazeFaceSpec(128, ((8, 2), (16, 6))),
    "blazeface-full-range": BlazeFaceSpec(192, ((4, 1),)),
}


def anchor_centres(spec: BlazeFaceSpec) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1] input coordinates, in the model's output order."""
    parts = []
    for stride, per_cell in spec.layers:
        cells = math.ceil(spec.input_size / stride)
        ys, xs = np.mgrid[0:cells, 0:cells]
        centres = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 2)
        parts.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(parts).astype(np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box of a (N,4) and b (M,4), boxes as x1,y1,x2,y2."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray, iou: float):
    """Blend every cluster of overlapping candidates into one, weighted by score (as MediaPipe does)."""
    order = np.argsort(-scores)
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    alive = np.ones(len(scores), dtype=bool)
    out = []
    overlaps = iou_matrix(boxes, boxes)
    for i in range(len(scores)):
        if not alive[i]:
            continue
        members = alive & (overlaps[i] >= iou)
        members[i] = True
        w = scores[members][:, None]
        box = (boxes[members] * w).sum(0) / w.sum()
        kp = (kps[members] * w[:, :, None]).sum(0) / w.sum()
        out.append((box.astype(np.float32), float(scores[i]), kp.astype(np.float32)))
        alive &= ~members
    return out


def to_detections(merged, width: int, height: int, min_face_px: float) -> list[Detection]:
    """Merged (box, score, keypoints) candidates → Detections clipped to the frame, tiny ones dropped."""
    out = []
    for box, score, kp in merged:
        box = np.clip(box, 0, [width, height, width, height]).astype(np.float32)
        if box[2] - box[0] >= max(min_face_px, 2) and box[3] - box[1] >= 2:
            out.append(Detection(box=box, score=score, keypoints=kp))
    return out


class BlazeFaceDetector:
    """BlazeFace over the whole frame and, optionally, over a grid of overlapping square tiles."""

    def __init__(
        self,
        model: OnnxModel,
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        tiles: int = 0,
        tile_overlap: float = 0.25,
        min_face_px: float = 0.0,
    ):
        spec = SPECS.get(model.manifest.id)
        if spec is None:
            raise ValueError(f"{model.manifest.id} is not a BlazeFace model")
        self.name = model.manifest.id
        self.model = model
        self.spec = spec
        self.anchors = anchor_centres(spec)
        self.score_threshold = score_threshold
        self.logit_threshold = math.log(score_threshold / (1.0 - score_threshold))
        self.nms_iou = nms_iou
        self.tiles = tiles
        self.tile_overlap = tile_overlap
        self.min_face_px = min_face_px
        n_out = model.session.get_outputs()[0].shape[1]
        if n_out != len(self.anchors):
            raise ValueError(f"{self.name}: model has {n_out} anchors, decoder expects {len(self.anchors)}")

    # -- regions --------------------------------------------------------------------------
    def regions(self, height: int, width: int) -> list[tuple[int, int, int]]:
        """Square regions (x0, y0, side) to run on. ``tiles`` = 0: the whole frame; N ≥ 1: N rows
        of overlapping squares (N = 1: squares as tall as the frame) spread over it, plus the whole
        frame for faces too big to be whole in one tile. A face narrower than the overlap between
        neighbouring tiles is whole in one of them, so when that overlap is at least half the
        frame's short side (N = 1 on a 16:9 frame) the whole-frame pass adds nothing and is skipped."""
        whole = (0, 0, max(height, width))
        if self.tiles < 1:
            return [whole]
        side = int(round(min(height, width) / (1 + (self.tiles - 1) * (1 - self.tile_overlap))))
        side = max(side, self.spec.input_size)
        ys, xs = _starts(height, side, self.tile_overlap), _starts(width, side, self.tile_overlap)
        tiles = [(x0, y0, side) for y0 in ys for x0 in xs]
        overlap = min(
            [side]
            + [side - (b - a) for a, b in itertools.pairwise(ys)]
            + [side - (b - a) for a, b in itertools.pairwise(xs)]
        )
        return tiles if overlap >= 0.5 * min(height, width) and side >= min(height, width) else [whole, *tiles]

    def _inputs(self, frame: np.ndarray, regions: list[tuple[int, int, int]]) -> list[tuple[np.ndarray, float]]:
        """Model inputs for the regions. The frame is shrunk once per region size (all tiles share
        one), then each region is cut from the small image: far cheaper than shrinking every crop."""
        size = self.spec.input_size
        h, w = frame.shape[:2]
        small_by_side: dict[int, tuple[np.ndarray, float]] = {}
        out = []
        for x0, y0, side in regions:
            if side not in small_by_side:
                scale = size / side
                dims = (max(1, round(w * scale)), max(1, round(h * scale)))
                source, left = frame, scale
                while left <= 0.5:  # halve through a pyramid first: an area resize of a full frame is slow
                    source = cv2.pyrDown(source)
                    left *= 2
                interp = cv2.INTER_AREA if left < 1 else cv2.INTER_LINEAR
                small = cv2.resize(source, dims, interpolation=interp).astype(np.float32)
                small *= 1.0 / 127.5
                small -= 1.0
                small_by_side[side] = (small, scale)
            small, scale = small_by_side[side]
            sx, sy = round(x0 * scale), round(y0 * scale)
            crop = small[sy : sy + size, sx : sx + size]
            canvas = np.full((size, size, 3), -1.0, dtype=np.float32)  # padding is black, as before
            canvas[: crop.shape[0], : crop.shape[1]] = crop
            out.append((canvas.transpose(2, 0, 1), scale))
        return out

    # -- inference ------------------------------------------------------------------------
    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        h, w = frame_rgb.shape[:2]
        regions = self.regions(h, w)
        boxes, scores, kps = [], [], []
        for (x0, y0, _side), (tensor, scale) in zip(regions, self._inputs(frame_rgb, regions), strict=True):
            regress, logits = self.model.run(tensor[None])
            b, s, k = self._decode(regress[0], logits[0, :, 0])
            if len(s):
                # the region's origin in input pixels was rounded: map back through the same rounding
                origin = np.array([round(x0 * scale), round(y0 * scale)], dtype=np.float32) / scale
                boxes.append(b / scale + np.tile(origin, 2))
                kps.append(k / scale + origin)
                scores.append(s)
        if not scores:
            return []
        merged = weighted_nms(np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps), self.nms_iou)
        return to_detections(merged, w, h, self.min_face_px)

    def _decode(self, regress: np.ndarray, logits: np.ndarray):
        keep = logits >= self.logit_threshold
        if not keep.any():
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32)
        size = float(self.spec.input_size)
        r = regress[keep] / size
        a = self.anchors[keep]
        cx, cy = r[:, 0] + a[:, 0], r[:, 1] + a[:, 1]
        half_w, half_h = r[:, 2] / 2, r[:, 3] / 2
        boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1) * size
        kps = (r[:, 4:16].reshape(-1, 6, 2) + a[:, None, :]) * size
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100, 100)))
        return boxes.astype(np.float32), scores.astype(np.float32), kps.astype(np.float32)


def _starts(length: int, side: int, overlap: float) -> list[int]:
    """Evenly spread tile starts, neighbours sharing at least ``overlap`` of a tile."""
    if side >= length:
        return [0]
    count = math.ceil((length - side) / max(1.0, side * (1 - overlap))) + 1
    return [int(round(v)) for v in np.linspace(0, length - side, count)]


class YuNetDetector:
    """YuNet (operator-supplied, 640×640 BGR input). Per stride s and grid cell (row, col):
    score = sqrt(cls · obj); box centre = (col + dx, row + dy)·s, size = exp(dw, dh)·s; five
    keypoints (right eye, left eye, nose tip, mouth corners) at (col + kx, row + ky)·s."""

    STRIDES = (8, 16, 32)
    SIZE = 640

    def __init__(
        self, model: OnnxModel, score_threshold: float = 0.6, nms_iou: float = 0.3, min_face_px: float = 0.0, **_ignored
    ):  # tiling options do not apply: 640×640 input
        self.name = model.manifest.id
        self.model = model
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.min_face_px = min_face_px
        names = model.output_names
        self._index = {n: i for i, n in enumerate(names)}
        self._grids = {}
        for s in self.STRIDES:
            cells = self.SIZE // s
            ys, xs = np.mgrid[0:cells, 0:cells]
            self._grids[s] = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        h, w = frame_rgb.shape[:2]
        scale = self.SIZE / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(frame_rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        canvas = np.zeros((self.SIZE, self.SIZE, 3), np.float32)
        canvas[:nh, :nw] = small[:, :, ::-1]
        outs = self.model.run(canvas.transpose(2, 0, 1)[None])
        boxes, scores, kps = [], [], []
        for s in self.STRIDES:
            cls = outs[self._index[f"cls_{s}"]].reshape(-1)
            obj = outs[self._index[f"obj_{s}"]].reshape(-1)
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = score >= self.score_threshold
            if not keep.any():
                continue
            grid = self._grids[s][keep]
            bb = outs[self._index[f"bbox_{s}"]].reshape(-1, 4)[keep]
            kp = outs[self._index[f"kps_{s}"]].reshape(-1, 10)[keep]
            centre = (grid + bb[:, :2]) * s
            size = np.exp(bb[:, 2:]) * s
            boxes.append(np.concatenate([centre - size / 2, centre + size / 2], 1))
            kps.append((grid[:, None, :] + kp.reshape(-1, 5, 2)) * s)
            scores.append(score[keep])
        if not scores:
            return []
        merged = weighted_nms(
            np.concatenate(boxes) / scale, np.concatenate(scores), np.concatenate(kps) / scale, self.nms_iou
        )
        return to_detections(merged, w, h, self.min_face_px)


class InsightFaceDetector:
    """SCRFD (or another insightface detection model) from an operator's insightface pack.
    Its five keypoints are right eye, left eye, nose, mouth corners, as our stages expect."""

    def __init__(
        self, model, score_threshold: float = 0.5, input_size: int = 640, min_face_px: float = 0.0, **_ignored
    ):
        self.name = "insightface-" + Path(getattr(model, "model_file", "scrfd")).stem
        self.model = model
        self.input_size = input_size
        self.min_face_px = min_face_px
        model.prepare(-1, input_size=(input_size, input_size), det_thresh=score_threshold)

    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        bgr = np.ascontiguousarray(frame_rgb[:, :, ::-1])
        boxes, kps = self.model.detect(bgr, input_size=(self.input_size, self.input_size))
        out = []
        for i, b in enumerate(boxes):
            if b[2] - b[0] >= max(self.min_face_px, 2):
                kp = kps[i].astype(np.float32) if kps is not None else np.zeros((5, 2), np.float32)
                out.append(Detection(box=b[:4].astype(np.float32), score=float(b[4]), keypoints=kp))
        return out


DETECTORS = {**dict.fromkeys(SPECS, BlazeFaceDetector), "yunet-2023mar": YuNetDetector}


def build_detector(model_id: str = "blazeface-full-range", threads: int = 1, **options) -> FaceDetector:
    """A detector from a model id; options go to the detector (score_threshold, tiles, ...)."""
    from humiao.models.runtime import open_model

    try:
        kind = DETECTORS[model_id]
    except KeyError:
        raise ValueError(f"unknown detector {model_id!r}; known: {sorted(DETECTORS)}") from None
    return kind(open_model(model_id, threads=threads), **options)
