"""The example configurations in deploy/ load, and document every field there is."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from humiao.config import load_config
from humiao.edge.config import EdgeConfig
from humiao.hub.config import ENV_PREFIX, HubConfig

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, info in model.model_fields.items():
        out.add(prefix + name)
        sub = info.annotation
        if typing.get_origin(sub) in (list, dict):  # items of a list or mapping are data, not fields
            continue
        for candidate in getattr(sub, "__args__", (sub,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out |= _fields(candidate, f"{prefix}{name}.")
    return out


def _keys(data: dict, fields: set[str], prefix: str = "") -> set[str]:
    """The documented keys; below a key that is not a section of the model (a mapping such as
    ``models.ensemble``) the keys are data."""
    out = set()
    for k, v in data.items():
        out.add(prefix + k)
        if isinstance(v, dict) and any(f.startswith(f"{prefix}{k}.") for f in fields):
            out |= _keys(v, fields, f"{prefix}{k}.")
    return out


@pytest.mark.parametrize(
    "name,model,prefix", [("edge.example.yaml", EdgeConfig, "HUMIAO__"), ("hub.example.yaml", HubConfig, ENV_PREFIX)]
)
def test_example_config_loads_and_is_complete(name, model, prefix):
    path = DEPLOY / name
    load_config(model, path, environ={}, prefix=prefix)
    documented = _keys(yaml.safe_load(path.read_text()), _fields(model))
    optional_packs = {
        "models.insightface_dir",
        "models.allow_non_commercial",
        "fusion.calibration_file",
        "detector.min_face_px",
        # the card reader's fields: an example in the comment beside idcheck.reader
        "idcheck.reader.kind",
        "idcheck.reader.name",
        "idcheck.reader.device",
        "idcheck.reader.baudrate",
    }
    missing = _fields(model) - documented - optional_packs
    assert not missing, f"{name} does not document {sorted(missing)}"
    assert not documented - _fields(model), f"{name} has fields the model does not know"
