"""Regenerate ``humiao_v1_pb2.py`` (and its ``.pyi``) from ``humiao_v1.proto`` with grpcio-tools.

python -m humiao.proto.generate [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib.resources
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO = "humiao_v1.proto"


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc

    include = str(importlib.resources.files("grpc_tools") / "_proto")
    out.mkdir(parents=True, exist_ok=True)
    code = protoc.main(
        ["protoc", f"-I{HERE}", f"-I{include}", f"--python_out={out}", f"--pyi_out={out}", str(HERE / PROTO)]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    return [out / "humiao_v1_pb2.py", out / "humiao_v1_pb2.pyi"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    for path in generate(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
