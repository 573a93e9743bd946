"""Optional model pack loaded through the ``insightface`` library from a directory the operator
supplies (insightface's pretrained models are not on PyPI and are for non-commercial research
unless a signed MODEL.LICENSE grants commercial use).

From the pack Humiao uses the detection model (SCRFD) and, with ``models.age:
insightface-genderage``, the genderage attribute model, run through insightface's own
``Attribute.get`` so its preprocessing is exactly the library's. genderage regresses one age, so
its "distribution" is a narrow Gaussian around that age; how wrong it tends to be is learned by
the calibration, which must be fitted for this model (``fusion.calibration_file``).

The licence status is what insightface 2.1 itself computes
(``insightface.model_zoo.model_license.inspect_model_package_license``): ``verified_commercial``,
``verified_non_commercial``, ``default_non_commercial`` (no MODEL.LICENSE), or an invalid /
expired / not-yet-active state. In ``mode: production`` a pack whose status does not permit
commercial use is refused, unless ``allow_non_commercial`` is set explicitly (logged loudly).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from humiao.models.errors import ModelError

log = logging.getLogger("humiao.models")


@dataclass(frozen=True)
class PackLicence:
    directory: Path
    status: str
    commercial_use: bool
    message: str


def inspect(directory: Path) -> PackLicence:
    try:
        from insightface.model_zoo.model_license import inspect_model_package_license
    except ImportError as err:
        raise ModelError(
            f"the insightface pack needs the insightface library ({err}); "
            "run `pip install --no-deps insightface==2.1` and its dependencies (see README)"
        ) from err
    if not Path(directory).is_dir():
        raise ModelError(f"insightface pack directory {directory} does not exist")
    result = inspect_model_package_license(directory)
    return PackLicence(Path(directory), result.status, bool(result.commercial_use_permitted), result.message)


def check_allowed(licence: PackLicence, mode: str, allow_non_commercial: bool) -> None:
    if licence.commercial_use or mode != "production":
        return
    if allow_non_commercial:
        log.warning(
            "insightface pack %s is %s (%s) but allow_non_commercial is set: running it in production "
            "may breach its licence",
            licence.directory,
            licence.status,
            licence.message,
        )
        return
    raise ModelError(
        f"insightface pack {licence.directory}: licence status {licence.status} ({licence.message}); "
        "production mode needs a pack whose signed MODEL.LICENSE grants commercial use "
        "(or set models.allow_non_commercial: true, at your own legal risk)"
    )


def find_model(directory: Path, task: str):
    """The first model in the directory whose insightface task name is ``task`` (e.g. 'detection')."""
    from insightface.model_zoo import get_model

    for path in sorted(Path(directory).glob("*.onnx")):
        try:
            model = get_model(str(path), providers=["CPUExecutionProvider"])
        except Exception as err:  # insightface raises assorted errors on files it cannot read
            log.warning("insightface pack: skipping %s: %s", path.name, err)
            continue
        if model is not None and getattr(model, "taskname", None) == task:
            return model
    raise ModelError(f"insightface pack {directory}: no {task} model found")


class GenderAgeEstimator:
    """insightface genderage behind Humiao's age-estimator interface (needs the frame and box)."""

    needs_frame = True
    SPREAD_YEARS = 1.0  # width of the distribution put around the regressed age

    def __init__(self, model):
        import numpy as np

        self._np = np
        self.model = model
        self.name = "insightface-genderage"
        model.prepare(-1)

    def predict_faces(self, frames, detections):
        """One distribution per detection; ``frames[i]`` (RGB) is the frame of detection i."""
        from insightface.app.common import Face

        np = self._np
        ages = np.arange(81, dtype=np.float64)
        out = []
        for frame_rgb, det in zip(frames, detections):
            bgr = np.ascontiguousarray(frame_rgb[:, :, ::-1])
            face = Face(bbox=np.asarray(det.box, dtype=np.float32))
            self.model.get(bgr, face)  # sets face["age"] (rounded) with insightface's own crop
            blob_age = float(face["age"])
            dist = np.exp(-0.5 * ((ages - min(blob_age, 80.0)) / self.SPREAD_YEARS) ** 2)
            out.append(dist / dist.sum())
        return np.asarray(out, dtype=np.float32).reshape(len(out), 81)
