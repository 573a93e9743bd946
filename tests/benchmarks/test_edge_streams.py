"""benchmarks/edge_streams.py in miniature (1 and 2 live streams of a two-person corridor, 2 s runs): the JSON
has the figures the README's table reads, and each camera's counts add up."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.slow]


def test_a_tiny_run_writes_consistent_figures(tmp_path, capsys):
    from benchmarks import edge_streams, table

    out = tmp_path / "edge_streams.json"
    args = ["--streams", "1,2", "--seconds", "2", "--decode-seconds", "0.5", "--warmup-s", "0.5", "--people", "2"]
    assert edge_streams.main([*args, "--json", str(out)]) == 0
    capsys.readouterr()
    d = json.loads(out.read_text())
    assert d["mode"] == ("one_agent" if edge_streams.has_multi_camera() else "agents")
    assert {"cpu", "cpus", "platform", "python", "cores_used"} <= set(d["machine"])
    assert d["config"]["streams"] == [1, 2] and d["config"]["size"] == [1280, 720] and d["config"]["fps"] == 10
    assert set(d["by_streams"]) == {"1", "2"}
    for n, v in d["by_streams"].items():
        assert v["sustained"] == (v["quiet"]["sustained"] and v["busy"]["sustained"])
        for scene in ("quiet", "busy"):
            run, dec = v[scene]["pipeline"], v[scene]["decode_only"]
            assert len(run["cameras"]) == len(dec["cameras"]) == int(n), (n, scene)
            assert 2 <= run["wall_s"] < 30 and 0.5 <= dec["wall_s"] < 30
            assert 0 < dec["cpu_s"] < run["cpu_s"] and 0 < run["cpu_per_wall_s"] < d["machine"]["cpus"]
            # the whole pipeline costs more than decoding alone
            ratio = v[scene]["ratio_to_decode_only"]
            assert ratio == round(run["cpu_per_wall_s"] / dec["cpu_per_wall_s"], 2) and ratio > 1
            for cam_id, c in run["cameras"].items():
                # every frame the reader decoded was taken by the worker, overwritten (skipped) or is the last one
                assert 0 <= c["frames_read"] - c["frames_skipped"] - c["frames_taken"] <= 1, (cam_id, c)
                assert c["frames_skipped_with_faces"] + c["frames_skipped_idle"] <= c["frames_skipped"]
                assert 12 <= c["frames_read_in_window"] <= min(30, c["frames_read"])  # 10 fps for 2 s
                taken = c["frames_over_detect_fps"] + c["frames_gated_by_motion"] + c["frames_processed"]
                assert taken == c["frames_taken"], (cam_id, c)
                assert c["frames_processed"] > 0 and c["check_id"] <= c["decisions"]
                assert c["kept_pace"] == (c["frames_read_in_window"] / run["wall_s"] >= 9.5)
            assert run["decisions"] == sum(c["decisions"] for c in run["cameras"].values())
            assert {"detect", "align", "age"} <= set(run["stage_ms_per_processed_frame"]) or scene == "quiet"
            assert v[scene]["sustained"] == all(
                c["frames_skipped_with_faces"] == 0 and c["kept_pace"] and c["decisions"] > 0
                for c in run["cameras"].values()
            )
    best = d["streams_sustained"]
    assert best in (0, 1, 2) and d["ratio_to_decode_only"]["streams"] == best
    if best:
        assert d["by_streams"]["1"]["sustained"]
        for scene in ("quiet", "busy"):
            assert d["ratio_to_decode_only"][scene] == d["by_streams"][str(best)][scene]["ratio_to_decode_only"]
    else:
        assert d["ratio_to_decode_only"]["quiet"] is None and d["ratio_to_decode_only"]["busy"] is None
    # the README's table reads it: a row per stream count
    rows = table.edge_streams_rows(tmp_path)
    assert sum(1 for r in rows if r.startswith(("| 1 |", "| 2 |"))) == 2
    assert f"Sustained: **{best}** streams" in "\n".join(rows)


def test_bad_arguments_are_refused_by_name(tmp_path, capsys):
    from benchmarks import edge_streams

    for args, words in ((["--streams", "0,2"], "--streams"), (["--size", "720p"], "--size")):
        with pytest.raises(SystemExit) as exc:
            edge_streams.main([*args, "--json", str(tmp_path / "out.json")])
        assert exc.value.code == 2
        assert words in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()
