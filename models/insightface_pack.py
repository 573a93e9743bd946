"""The licence of an optional model pack that the operator supplies as a directory and that runs
through the ``insightface`` library (insightface's pretrained models are not on PyPI and are for
non-commercial research unless a signed MODEL.LICENSE grants commercial use). Loading and running
the pack's models is the edge's job (``humiao.edge.packs``, ``humiao.edge.age``).

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
