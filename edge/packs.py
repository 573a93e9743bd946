"""Models from an operator's insightface pack, loaded through the ``insightface`` library once
``humiao.models.insightface_pack`` has checked the pack's licence against the configured mode.

From the pack Humiao uses the detection model (SCRFD, ``humiao.edge.detect.InsightFaceDetector``)
and, with ``models.age: insightface-genderage``, the genderage attribute model
(``humiao.edge.age.GenderAgeEstimator``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from humiao.models.errors import ModelError

log = logging.getLogger("humiao.edge")


def find_model(directory: Path, task: str) -> Any:
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
