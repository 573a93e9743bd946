"""Face detection: MediaPipe BlazeFace on onnxruntime, with anchor decoding, weighted NMS,
six keypoints per face, and optional tiling so that small faces on a wide frame are found.

BlazeFace outputs, per anchor, 16 regressors (box centre offset x/y, width, height, then six
keypoints x/y, all in input pixels relative to the anchor centre) and one logit. Anchors use a
fixed unit size, so only their centres matter: one centre per grid cell per anchor, cells in
row-major order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from edge.types import Detection
from models.runtime import OnnxModel


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


class BlazeFaceDetector:
    """BlazeFace over the whole frame and, optionally, over a grid of overlapping square tiles."""

    def __init__(self, model: OnnxModel, score_threshold: float = 0.5, nms_iou: float = 0.3,
                 tiles: int = 0, tile_overlap: float = 0.25, min_face_px: float = 0.0):
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
        """Square regions (x0, y0, side) to run on: the whole frame, then tiles if configured."""
        regions = [(0, 0, max(height, width))]
        if self.tiles >= 2:
            side = int(round(min(height, width) / (1 + (self.tiles - 1) * (1 - self.tile_overlap)) * 1.0))
            side = max(side, self.spec.input_size)
            for y0 in _starts(height, side, self.tile_overlap):
                for x0 in _starts(width, side, self.tile_overlap):
                    regions.append((x0, y0, side))
        return regions

    def _prepare(self, frame: np.ndarray, x0: int, y0: int, side: int) -> tuple[np.ndarray, float]:
        size = self.spec.input_size
        crop = frame[y0:y0 + side, x0:x0 + side]
        scale = size / side
        h, w = crop.shape[:2]
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        small = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        canvas = np.zeros((size, size, 3), dtype=np.float32)
        canvas[:nh, :nw] = small
        canvas = canvas * (1.0 / 127.5) - 1.0
        return canvas.transpose(2, 0, 1), scale

    # -- inference ------------------------------------------------------------------------
    def detect(self, frame_rgb: np.ndarray) -> list[Detection]:
        h, w = frame_rgb.shape[:2]
        regions = self.regions(h, w)
        batch, scales = [], []
        for x0, y0, side in regions:
            tensor, scale = self._prepare(frame_rgb, x0, y0, side)
            batch.append(tensor)
            scales.append(scale)
        boxes, scores, kps = [], [], []
        for (x0, y0, _side), tensor, scale in zip(regions, batch, scales):
            regress, logits = self.model.run(tensor[None])
            b, s, k = self._decode(regress[0], logits[0, :, 0])
            if len(s):
                offset = np.array([x0, y0], dtype=np.float32)
                boxes.append(b / scale + np.tile(offset, 2))
                kps.append(k / scale + offset)
                scores.append(s)
        if not scores:
            return []
        merged = weighted_nms(np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps), self.nms_iou)
        out = []
        for box, score, kp in merged:
            box = np.clip(box, 0, [w, h, w, h]).astype(np.float32)
            if box[2] - box[0] < max(self.min_face_px, 2) or box[3] - box[1] < 2:
                continue
            out.append(Detection(box=box, score=score, keypoints=kp))
        return out

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
    if side >= length:
        return [0]
    step = max(1, int(side * (1 - overlap)))
    starts = list(range(0, length - side, step))
    starts.append(length - side)
    return sorted(set(starts))


def build_detector(model_id: str = "blazeface-full-range", threads: int = 1, **options) -> FaceDetector:
    """A detector from a model id; options go to the detector (score_threshold, tiles, ...)."""
    from models.runtime import open_model

    if model_id in SPECS:
        return BlazeFaceDetector(open_model(model_id, threads=threads), **options)
    raise ValueError(f"unknown detector {model_id!r}; known: {sorted(SPECS)}")
