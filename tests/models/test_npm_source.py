"""face-api's weights: an npm tarball checked against the registry's integrity, converted to ONNX by
the project's own graph builder, deterministically, and refused with the fix when anything is off."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import onnxruntime as ort
import pytest

from humiao.models import ModelError, digest, manifests, tfjs_agegender
from humiao.models.prepare import cache_dir, npm_integrity, prepare_one, receipt_path

ID = "faceapi-agegender"


@pytest.fixture(scope="module")
def tarballs(tmp_path_factory):
    """The face-api tarball the main cache fetched (`humiao models prepare`), copied for the test."""
    m = manifests()[ID]
    found = sorted((cache_dir() / "npm").glob("vladmandic-face-api-*.tgz"))
    if not found:
        pytest.skip("run `humiao models prepare` first (it fetches the face-api tarball with npm)")
    folder = tmp_path_factory.mktemp("npm")
    (folder / found[0].name).write_bytes(found[0].read_bytes())
    assert npm_integrity(found[0].read_bytes()) == m.source.integrity
    return folder


def test_manifest_records_source_licence_and_training_data():
    m = manifests()[ID]
    assert m.source.kind == "npm" and m.source.package == "@vladmandic/face-api" and m.source.integrity
    assert m.licence.spdx == "MIT" and m.licence.commercial_use
    assert {"utkface", "fgnet", "megaage-asian"} <= set(m.training.datasets)  # contaminated evaluations
    assert manifests()["cydral-age-v1"].training.datasets == ()


def test_prepare_builds_the_same_verified_graph_every_time(tmp_path, tarballs, monkeypatch):
    monkeypatch.setenv("HUMIAO_NPM_TARBALLS", str(tarballs))
    m = manifests()[ID]
    first = prepare_one(m, root=tmp_path)
    sha = digest.file_sha256(first)
    second = prepare_one(m, root=tmp_path, force=True)
    assert digest.file_sha256(second) == sha
    assert json.loads(receipt_path(second).read_text())["graph_sha256"] == m.prepared.graph_sha256
    session = ort.InferenceSession(str(second), providers=["CPUExecutionProvider"])
    grey = np.full((2, 3, 112, 112), 128, np.float32)
    ages = session.run(None, {"image": grey})[0]
    assert ages.shape == (2,) and np.all(np.isfinite(ages)) and ages[0] == pytest.approx(ages[1])


def _tampered(tarball, member: str) -> bytes:
    """The tarball with one byte of a member changed, re-packed (so its integrity changes too)."""
    out = io.BytesIO()
    with tarfile.open(tarball) as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read() if info.isfile() else None
            if info.name == member:
                data = bytes([data[0] ^ 1]) + data[1:]
            dst.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def test_a_tarball_that_is_not_the_registrys_is_refused(tmp_path, tarballs, monkeypatch):
    name = next(tarballs.glob("*.tgz")).name
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / name).write_bytes(_tampered(tarballs / name, "package/model/age_gender_model.bin"))
    monkeypatch.setenv("HUMIAO_NPM_TARBALLS", str(bad))
    with pytest.raises(ModelError, match="integrity .* the manifest says"):
        prepare_one(manifests()[ID], root=tmp_path / "cache")


def test_without_npm_the_error_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("HUMIAO_NPM_TARBALLS", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on the PATH
    with pytest.raises(ModelError, match=r"apt-get install -y npm.*HUMIAO_NPM_TARBALLS"):
        prepare_one(manifests()[ID], root=tmp_path / "cache")


def test_weights_that_do_not_match_their_manifest_are_refused():
    spec = [{"paths": ["w.bin"], "weights": [{"name": "a", "shape": [2, 2], "dtype": "float32"}]}]
    with pytest.raises(ModelError, match="has 12 bytes, the manifest describes 16"):
        tfjs_agegender.read_weights(json.dumps(spec).encode(), b"\0" * 12)
    with pytest.raises(ModelError, match="not a TF.js weights manifest"):
        tfjs_agegender.read_weights(b"{}", b"")


def test_dequantisation_follows_tfjs():
    spec = [
        {
            "paths": ["w.bin"],
            "weights": [
                {
                    "name": "q",
                    "shape": [3],
                    "dtype": "float32",
                    "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1.0},
                },
                {"name": "f", "shape": [1], "dtype": "float32"},
            ],
        }
    ]
    w = tfjs_agegender.read_weights(json.dumps(spec).encode(), bytes([0, 2, 255]) + np.float32(3.25).tobytes())
    assert w["q"].tolist() == [-1.0, 0.0, 126.5] and w["f"].tolist() == [3.25]
