"""The wheel as a production box gets it: one import package, its data, and each role's extra alone.

The wheel is built once from a copy of the checkout (the repository is left as it was), then
installed with ``[edge]``, ``[hub]`` and ``[demo]`` into three fresh virtual environments outside
the repository (concurrently), where each role's entry points are imported and ``humiao`` is run
from a directory outside the checkout. A dependency in the wrong extra, or a module-level import
that a role lacks, fails here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# the repository's folders and the import packages they become (pyproject's package-dir)
PACKAGE_DIRS = {
    "humiao": "humiao",
    "edge": "humiao/edge",
    "hub": "humiao/hub",
    "models": "humiao/models",
    "proto": "humiao/proto",
}
# package data: repository globs that must be in the wheel (at their package's path)
DATA_GLOBS = [
    "hub/static/panel.js",
    "hub/static/panel.html",
    "hub/static/panel.css",
    "hub/alembic.ini",
    "hub/migrations/env.py",
    "hub/migrations/script.py.mako",
    "hub/migrations/versions/*.py",
    "models/manifests/*.yaml",
    "models/calibration/*.json",
    "proto/*.proto",
    "humiao/py.typed",
]
# left out of the copy the wheel is built from: top-level build output, environments, caches
_TOP_SKIP = {".git", ".venv", "build", "dist", "artifacts", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_ANY_SKIP = ("__pycache__", "*.pyc", "*.egg-info")

# role -> (modules to import, modules that must not be installed, `humiao` arguments that must exit 0,
# `humiao` arguments that must fail as an operator error: exit 2 and a one-line "error: …", no traceback).
# The failing ones go through `humiao`'s generic error handler: a missing camera file or an unprepared
# model on the edge (the environment has no pip, so models are not fetched), a database path that is
# a directory on the hub (HUMIAO_HUB__DATABASE__URL, set below).
_EDGE_FAILS = ["edge", "run", "--source", "/nonexistent/entrance.mp4"]
_HUB_FAILS = ["hub", "users", "list"]
ROLES = {
    "edge": (
        ["humiao.cli", "humiao.edge.agent", "humiao.models.prepare", "humiao.models", "humiao.proto.sealed",
         "humiao.proto.jsonmap", "paho.mqtt.client"],
        ["fastapi", "sqlalchemy", "reportlab", "uvicorn", "alembic", "amqtt"],
        [["--help"], ["edge", "--help"], ["edge", "run", "--help"], ["models", "list"]],
        [_EDGE_FAILS],
    ),
    "hub": (
        ["humiao.cli", "humiao.hub.app", "humiao.hub.reports", "humiao.hub.db", "humiao.proto.sealed",
         "humiao.proto.jsonmap", "paho.mqtt.client"],
        ["onnxruntime", "cv2", "amqtt"],
        [["--help"], ["hub", "--help"], ["hub", "run", "--help"], ["hub", "report", "--help"]],
        [_HUB_FAILS],
    ),
    "demo": (
        ["humiao.cli", "humiao.demo", "humiao.embedded_broker", "humiao.edge.agent", "humiao.hub.app",
         "humiao.hub.reports", "humiao.models.prepare", "amqtt", "skimage.data"],
        [],
        [["--help"], ["demo", "--help"], ["edge", "--help"], ["hub", "--help"]],
        [_EDGE_FAILS, _HUB_FAILS],
    ),
}  # fmt: skip

# run inside a role's environment: import the modules (from that environment, not the checkout),
# check what must be absent, and, where the hub code is installed, migrate a scratch SQLite database
# with the installed Alembic scripts and find the panel's files.
_CHECK = textwrap.dedent(
    """
    import importlib, importlib.util, json, sys
    from pathlib import Path

    imports, absent, hub = json.loads(sys.argv[1])
    failed = []
    for name in imports:
        try:
            mod = importlib.import_module(name)
        except Exception as err:  # report every failing module, not just the first
            failed.append(f"import {name}: {type(err).__name__}: {err}")
            continue
        where = Path(getattr(mod, "__file__", None) or sys.prefix).resolve()
        if name.startswith("humiao") and not where.is_relative_to(Path(sys.prefix).resolve()):
            failed.append(f"{name} imported from {where}, not from the environment {sys.prefix}")
    for name in absent:
        if importlib.util.find_spec(name) is not None:
            failed.append(f"{name} is installed but this role must not have it")
    if hub and not failed:
        from humiao.hub.api import STATIC
        from humiao.hub.db import make_engine, migrate

        if not (Path(STATIC) / "panel.js").is_file():
            failed.append(f"panel.js missing under {STATIC}")
        engine = make_engine("sqlite:///" + str(Path("hub-check.db").resolve()))
        migrate(engine)
        engine.dispose()
    print("\\n".join(failed))
    sys.exit(1 if failed else 0)
    """
)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra or {})
    return env


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout
    )


def _build_artefacts() -> set[str]:
    """Build output in the repository that is not the type-check tree (.ci/lint's build/typecheck)."""
    found = {p.name for p in ROOT.iterdir() if p.name == "dist" or p.name.endswith(".egg-info")}
    if (ROOT / "build").is_dir():
        found |= {f"build/{p.name}" for p in (ROOT / "build").iterdir() if p.name != "typecheck"}
    return found


def _ignore(directory: str, names: list[str]) -> set[str]:
    skip = {n for n in names if any(fnmatch.fnmatch(n, pat) for pat in _ANY_SKIP)}
    if Path(directory).resolve() == ROOT:
        skip |= _TOP_SKIP.intersection(names) | {n for n in names if n.startswith(".venv")}
    return skip


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    before = _build_artefacts()
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=_ignore, symlinks=True)
    out = _run([sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", src], cwd=work, timeout=300)
    assert out.returncode == 0, f"building the wheel failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert _build_artefacts() == before, "building the wheel left build output in the repository"
    (whl,) = (work / "dist").glob("humiao-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict[str, tuple[Path, str | None]]:
    """role -> (its environment, None or why installing failed); the three are made concurrently."""
    base = tmp_path_factory.mktemp("roles")

    def install(role: str) -> tuple[Path, str | None]:
        venv = base / f"venv-{role}"
        # no pip inside: the dev environment's pip installs into it (--python), which saves ensurepip
        made = _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base, timeout=120)
        if made.returncode:
            return venv, f"python -m venv failed: {made.stderr[-2000:]}"
        cmd = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q"]
        got = _run([*cmd, "--disable-pip-version-check", f"{wheel}[{role}]"], cwd=base, timeout=600)
        if got.returncode:
            return venv, f"pip install '{wheel.name}[{role}]' failed:\n{got.stdout[-3000:]}\n{got.stderr[-3000:]}"
        return venv, None

    with ThreadPoolExecutor(max_workers=len(ROLES)) as pool:
        return dict(zip(ROLES, pool.map(install, ROLES), strict=True))


def test_wheel_is_one_package_with_its_data(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        dist_info = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        assert len(dist_info) == 1, dist_info
        (info,) = dist_info
        top_level = f"{info}/top_level.txt"
        if top_level in names:
            assert z.read(top_level).decode().split() == ["humiao"]
        entry_points = z.read(f"{info}/entry_points.txt").decode()
    assert "humiao = humiao.cli:main" in entry_points

    tops = {n.split("/")[0] for n in names}
    assert tops == {"humiao", info}, f"top-level entries besides humiao/ and {info}: {sorted(tops - {'humiao', info})}"
    stray = [n for n in names if {"tests", "benchmarks", "conftest.py"} & set(n.split("/"))]
    assert not stray, f"tests or benchmarks in the wheel: {stray}"

    # every module of the five folders (a subpackage missing from pyproject's list would be absent)
    expected = set()
    for folder, package in PACKAGE_DIRS.items():
        for py in (ROOT / folder).rglob("*.py"):
            expected.add(f"{package}/{py.relative_to(ROOT / folder).as_posix()}")
    for pattern in DATA_GLOBS:
        files = list(ROOT.glob(pattern))
        assert files, f"{pattern}: nothing in the repository"
        for f in files:
            folder, rest = f.relative_to(ROOT).as_posix().split("/", 1)
            expected.add(f"{PACKAGE_DIRS[folder]}/{rest}")
    missing = sorted(expected - set(names))
    assert not missing, f"missing from the wheel: {missing}"


@pytest.mark.parametrize("role", list(ROLES))
def test_role_installs_and_runs_alone(role, installed, tmp_path):
    venv, error = installed[role]
    assert error is None, error
    imports, absent, commands, failing = ROLES[role]
    py = venv / "bin" / "python"
    hub = role in ("hub", "demo")
    env = _env(
        {
            "HOME": str(tmp_path),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "MPLCONFIGDIR": str(tmp_path / "mpl"),
            "PIP_NO_INDEX": "1",  # never fetch a model's wheel here
            "HUMIAO_HUB__DATABASE__URL": f"sqlite:///{tmp_path}",  # a directory: the database cannot open
        }
    )
    check = _run([py, "-c", _CHECK, json.dumps([imports, absent, hub])], cwd=tmp_path, timeout=300, env=env)
    assert check.returncode == 0, f"[{role}] {check.stdout}\n{check.stderr[-3000:]}"

    problems = []
    for args in commands:
        got = _run([venv / "bin" / "humiao", *args], cwd=tmp_path, timeout=120, env=env)
        if got.returncode != 0 or not got.stdout.strip():
            problems.append(f"humiao {' '.join(args)} exited {got.returncode}:\n{got.stderr[-2000:]}")
    for args in failing:
        got = _run([venv / "bin" / "humiao", *args], cwd=tmp_path, timeout=120, env=env)
        if got.returncode != 2 or "Traceback" in got.stderr or not got.stderr.startswith("error: "):
            problems.append(
                f"humiao {' '.join(args)} should fail with exit 2 and one 'error: …' line; "
                f"exited {got.returncode}:\n{got.stderr[-2000:]}"
            )
    assert not problems, f"[{role}] " + "\n".join(problems)
