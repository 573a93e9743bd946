"""Optional detectors: operator-supplied YuNet (hash-verified) and the insightface pack (licence-gated)."""

from __future__ import annotations

import shutil

import pytest

from humiao.edge.config import EdgeConfig
from humiao.models import ModelError, prepare
from humiao.models.manifest import get

CANDIDATES = "models-candidates"


@pytest.fixture(scope="module")
def candidates(shared_faces):
    return shared_faces.parent.parent / CANDIDATES


def test_yunet_is_refused_until_the_operator_supplies_it(tmp_path):
    with pytest.raises(ModelError, match="--from"):
        prepare(["yunet-2023mar"], root=tmp_path)


def test_yunet_wrong_file_is_refused_by_hash(tmp_path, candidates):
    with pytest.raises(ModelError, match="has sha256"):
        prepare(["yunet-2023mar"], root=tmp_path, supplied=candidates / "yunet_n_dynamic.onnx")


def test_yunet_supplied_and_verified_finds_faces(tmp_path, candidates, group_photo):
    from humiao.edge.detect import YuNetDetector
    from humiao.models.runtime import open_model

    prepare(["yunet-2023mar"], root=tmp_path, supplied=candidates / "face_detection_yunet_2023mar.onnx")
    det = YuNetDetector(open_model("yunet-2023mar", root=tmp_path))
    faces = det.detect(group_photo)
    assert len(faces) == 6
    assert all(f.keypoints.shape == (5, 2) and f.keypoints[0, 0] < f.keypoints[1, 0] for f in faces)
    assert get("yunet-2023mar").licence.commercial_use


@pytest.fixture
def scrfd_pack(tmp_path, candidates):
    pytest.importorskip("insightface.model_zoo", reason="insightface is not installed")
    shutil.copy(candidates / "scrfd_500m_bnkps.onnx", tmp_path)
    return tmp_path


def _cfg(pack_dir, **models):
    return EdgeConfig.model_validate({"models": {"pack": "insightface", "insightface_dir": str(pack_dir), **models}})


def test_insightface_pack_without_licence_is_non_commercial_and_refused_in_production(scrfd_pack):
    from humiao.edge.pipeline import build_stages
    from humiao.models import insightface_pack

    licence = insightface_pack.inspect(scrfd_pack)
    assert licence.status == "default_non_commercial" and not licence.commercial_use
    with pytest.raises(ModelError, match="default_non_commercial"):
        build_stages(_cfg(scrfd_pack))


def test_insightface_pack_runs_in_evaluation_mode_or_with_explicit_override(scrfd_pack, group_photo, caplog):
    from humiao.edge.pipeline import build_stages

    detector, _, _ = build_stages(_cfg(scrfd_pack, mode="evaluation"))
    assert len(detector.detect(group_photo)) == 6
    detector, _, _ = build_stages(_cfg(scrfd_pack, allow_non_commercial=True))
    assert "may breach its licence" in caplog.text


def test_insightface_pack_needs_a_directory():
    from humiao.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="insightface_dir"):
        load_config(EdgeConfig, environ={"HUMIAO__MODELS__PACK": "insightface"})


def _genderage_stand_in(path, age_years: float) -> None:
    """An ONNX file with insightface genderage's signature (96×96 input, 3 outputs: two gender
    scores and age/100) that answers one fixed age. The real genderage weights cannot be obtained
    here (insightface's model zoo is not on PyPI); this checks Humiao's wiring through the real
    insightface loader, not the model's accuracy."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.array([0.2, 0.8, age_years / 100], np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["data"], ["pooled"], name="pool"),
            helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
            helper.make_node("Gemm", ["flat", "w", "b"], ["fc1"], name="fc"),
        ],
        "genderage_stand_in",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 96, 96])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 3])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_insightface_genderage_is_used_through_insightfaces_own_attribute_model(scrfd_pack, astronaut, tmp_path):
    import numpy as np

    from humiao.edge.pipeline import build_stages, estimate_ages
    from humiao.edge.types import FaceView

    _genderage_stand_in(scrfd_pack / "genderage.onnx", 30.0)
    cal = tmp_path / "cal.json"
    cal.write_text("{}")
    cfg = EdgeConfig.model_validate(
        {
            "models": {
                "pack": "insightface",
                "insightface_dir": str(scrfd_pack),
                "mode": "evaluation",
                "age": "insightface-genderage",
            },
            "fusion": {"calibration_file": str(cal)},
        }
    )
    detector, _, age = build_stages(cfg)
    dets = detector.detect(astronaut)
    faces = [FaceView(astronaut, d, d.keypoints, np.zeros((64, 64, 3), np.uint8)) for d in dets]
    probs = estimate_ages(age, faces)
    assert probs.shape == (1, 81)
    assert int(np.argmax(probs[0])) == 30 and probs[0].sum() == pytest.approx(1.0, abs=1e-4)


def test_genderage_needs_the_pack_and_its_own_calibration(scrfd_pack):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="its own|fitted for it"):
        _cfg(scrfd_pack, age="insightface-genderage")
    with pytest.raises(ValidationError, match="needs models.pack"):
        EdgeConfig.model_validate({"models": {"age": "insightface-genderage"}})
