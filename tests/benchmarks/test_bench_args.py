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


class _Parsed(Exception):
    pass


def _run_all_commands() -> list[tuple[str, list[str]]]:
    """Every ``$PY -m benchmarks.NAME ARGS`` line of run_all.sh, its variables filled in."""
    import shlex
    from pathlib import Path

    text = Path(__file__).resolve().parents[2].joinpath("benchmarks", "run_all.sh").read_text()
    text = text.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        if "-m benchmarks." not in line:
            continue
        words = shlex.split(line.replace("$OUT", "/tmp/out").replace("$FACES", "/tmp/faces").replace("${set}", "x"))
        words = words[words.index("-m") + 1 :]
        out.append((words[0].removeprefix("benchmarks."), words[1:]))
    return out


def test_run_all_names_only_benchmarks_that_take_its_arguments(monkeypatch):
    import argparse
    import importlib

    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        real(self, args, namespace)  # exits 2 on an argument the benchmark does not know
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    commands = _run_all_commands()
    assert {name for name, _ in commands} >= {"id_ocr", "hub_ingest", "age_accuracy", "table"}
    for name, args in commands:
        if name == "table":  # takes a folder, no options
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        with pytest.raises(_Parsed):
            module.main(args)


def test_the_table_shows_the_card_reading_with_its_wrong_readings(tmp_path):
    import json
    import shutil
    from pathlib import Path

    from benchmarks import table

    shutil.copy(Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "id_ocr.json", tmp_path)
    rows = table.id_ocr_rows(tmp_path)
    d = json.loads((tmp_path / "id_ocr.json").read_text())
    assert len([r for r in rows if r.startswith("| ") and "---" not in r]) == len(d["conditions"]) + 2
    assert f"| **all** | {d['totals']['read']}/{d['totals']['attempts']} |" in "\n".join(rows)
    assert table.id_ocr_rows(tmp_path / "none") == []
