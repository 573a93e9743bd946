"""The benchmarks' own arguments: a bad run spec is refused with a message naming it."""

from __future__ import annotations

import pytest

from benchmarks import hub_ingest


@pytest.mark.parametrize("spec", ["mysql:1", "postgresql:0", "sqlite:two"])
def test_hub_ingest_refuses_a_bad_run_spec(spec, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        hub_ingest.main(["--json", str(tmp_path / "out.json"), "--runs", spec])
    assert exc.value.code == 2
    assert f"--runs: {spec!r}" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("args", [["--cards", "0"], ["--threads", "0"]])
def test_id_ocr_refuses_bad_counts_before_loading_anything(args, tmp_path, capsys):
    from benchmarks import id_ocr

    with pytest.raises(SystemExit) as exc:
        id_ocr.main([*args, "--out", str(tmp_path / "out.json")])
    assert exc.value.code == 2
    assert f"{args[0]}: 0 is not between" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
