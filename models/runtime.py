"""One interface to every model runtime: load a prepared, hash-checked file; run a batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from humiao.models.errors import ModelError
from humiao.models.manifest import Manifest, get
from humiao.models.prepare import ensure_prepared


@dataclass
class OnnxModel:
    manifest: Manifest
    path: Path
    session: ort.InferenceSession

    @property
    def input_name(self) -> str:
        return self.session.get_inputs()[0].name

    @property
    def input_shape(self) -> list:
        return list(self.session.get_inputs()[0].shape)

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})


def session_for(path: Path, threads: int = 1) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        raise ModelError(f"onnxruntime cannot load {path}: {err}; run `humiao models prepare --force`") from err


def open_model(model_id: str, threads: int = 1, root: Path | None = None) -> OnnxModel:
    manifest = get(model_id)
    path = ensure_prepared(model_id, root=root)
    return OnnxModel(manifest=manifest, path=path, session=session_for(path, threads))
