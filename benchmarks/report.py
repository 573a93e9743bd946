"""Writing a benchmark's JSON result."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path, result: dict, echo: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=2) + "\n"
    path.write_text(text)
    if echo:
        print(text, end="")
