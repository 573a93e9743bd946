"""Typed configuration: a YAML file, then environment overrides, validated once at start.

Environment overrides name a field by its path: ``HUMIAO__POLICY__CHALLENGE_THRESHOLD=21``
sets ``policy.challenge_threshold``; values are read as YAML scalars. An invalid field gives a
``ConfigError`` whose message names it (``policy.challenge_threshold: ...``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T", bound=BaseModel)
ENV_PREFIX = "HUMIAO__"


class ConfigError(ValueError):
    pass


class Section(BaseModel):
    """The base of every configuration section, edge and hub: an unknown field is an error (a typo in
    a YAML key must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid")


def _overlay_env(data: dict, environ: dict[str, str], prefix: str = ENV_PREFIX) -> dict:
    for key, raw in environ.items():
        if not key.startswith(prefix):
            continue
        path = [p.lower() for p in key[len(prefix) :].split("__") if p]
        node = data
        for part in path[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        try:
            node[path[-1]] = yaml.safe_load(raw)
        except yaml.YAMLError:
            node[path[-1]] = raw
    return data


def describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = e.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"  {where}: {e['msg']}{shown}")
    return "\n".join(lines)


def load_config(
    model: type[T], path: Path | str | None = None, environ: dict[str, str] | None = None, prefix: str = ENV_PREFIX
) -> T:
    """``prefix``: the edge reads ``HUMIAO__…``, the hub ``HUMIAO_HUB__…``."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            raise ConfigError(f"cannot read config file {path}: {err.strerror}") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: the top level must be a mapping of sections")
        data = loaded or {}
    data = _overlay_env(data, dict(os.environ if environ is None else environ), prefix)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid configuration ({source}):\n{describe(err)}") from err
