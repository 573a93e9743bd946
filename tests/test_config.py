"""Typed configuration: YAML + environment, errors that name the field."""

from __future__ import annotations

import pytest

from humiao.config import ConfigError, load_config
from humiao.edge.config import EdgeConfig


def test_defaults_are_valid():
    cfg = load_config(EdgeConfig, environ={})
    assert cfg.models.detector == "blazeface-full-range" and cfg.policy.challenge_threshold == 25


def test_yaml_and_env_overrides(tmp_path):
    f = tmp_path / "edge.yaml"
    f.write_text("policy:\n  venue_type: ktv\n  challenge_threshold: 21\ndetector:\n  tiles: 3\n")
    cfg = load_config(EdgeConfig, f, environ={"HUMIAO__POLICY__CHALLENGE_THRESHOLD": "30"})
    assert cfg.policy.venue_type == "ktv" and cfg.policy.challenge_threshold == 30 and cfg.detector.tiles == 3


@pytest.mark.parametrize(
    "text, field",
    [
        ("policy:\n  challenge_threshold: 12\n", "policy.challenge_threshold"),
        ("policy:\n  venue_type: casino\n", "policy.venue_type"),
        ("detector:\n  score_threshold: 2\n", "detector.score_threshold"),
        ("models:\n  detector: yolo\n", "models.detector"),
        ("tracker:\n  max_gap: 3\n", "tracker.max_gap"),
    ],
)
def test_invalid_field_is_named(tmp_path, text, field):
    f = tmp_path / "edge.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(EdgeConfig, f, environ={})
    assert field in str(err.value)


def test_env_error_is_named():
    with pytest.raises(ConfigError, match="detect_fps"):
        load_config(EdgeConfig, environ={"HUMIAO__DETECT_FPS": "-1"})


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(EdgeConfig, tmp_path / "missing.yaml", environ={})
    f = tmp_path / "bad.yaml"
    f.write_text("policy: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(EdgeConfig, f, environ={})
    f.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(EdgeConfig, f, environ={})


def test_an_age_model_without_a_shipped_calibration_for_the_profile_is_refused_at_load(tmp_path):
    f = tmp_path / "edge.yaml"
    f.write_text("models:\n  age: cydral-age-v1\n")  # Cydral alone ships a calibration for 'all' only
    with pytest.raises(
        ConfigError, match=r"no shipped calibration for models.age 'cydral-age-v1'.*ensemble_east-asian"
    ):
        load_config(EdgeConfig, f, environ={})
    ok = load_config(EdgeConfig, f, environ={"HUMIAO__FUSION__CALIBRATION_PROFILE": "all"})
    assert ok.models.age == "cydral-age-v1"


@pytest.mark.parametrize(
    "weights", ["{cydral-age-v1: .nan, faceapi-agegender: 1}", "{cydral-age-v1: 0}", "{other-model: 1}"]
)
def test_ensemble_weights_must_be_known_positive_numbers(tmp_path, weights):
    f = tmp_path / "edge.yaml"
    f.write_text(f"models:\n  ensemble: {weights}\n")
    with pytest.raises(ConfigError, match="models.ensemble"):
        load_config(EdgeConfig, f, environ={})
