"""The README's demo command, run as a user would (one pass of the sample video)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.support.hubproc import ROOT
from tests.support.mosquitto import free_port

pytestmark = [pytest.mark.slow, pytest.mark.services]


def test_demo_shows_alerts_arriving_at_the_hub(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "humiao.cli",
            "demo",
            "--once",
            "--broker-port",
            str(free_port()),
            "--http-port",
            str(free_port()),
            "--console-port",
            str(free_port()),
        ],
        cwd=str(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    summary = re.search(r"(\d+) people decided, (\d+) alerts sent, (\d+) alerts in the hub database", out)
    assert summary, out[-2000:]
    decided, sent, stored = map(int, summary.groups())
    assert decided == 8 and sent >= 4 and stored == sent, out[-2000:]
    assert len(re.findall(r"^hub stored alert", out, re.M)) == sent
    assert "evidence for" in out and "the edge deleted its copy" in out
    # the simulated member of staff answered every alert through the desk; the hub stored each answer once
    answered = re.findall(r"^  staff: \S+ (?:ID read, age (\d+) — (.+)|showed no ID — refused)$", out, re.M)
    checks = re.search(r"ID checks stored: (\d+) \((.+)\)", out)
    assert checks and int(checks[1]) == len(answered) == sent, out[-3000:]
    by_outcome = dict(part.rsplit(": ", 1) for part in checks[2].split("; "))
    assert by_outcome["Minor admitted without a guardian"] == "1" and "Minor, refused entry" in by_outcome, by_outcome
    assert all((int(age) < 18) == ("minor" in what) for age, what in answered if age), answered
    assert "Traceback" not in done.stderr

    # the banner's line for the hub commands reads the demo's hub
    shown = re.search(r"^\s+(humiao hub report --config \S+ --district \S+ --month \S+)$", out, re.M)
    assert shown, out[:3000]
    hub_env = {k: v for k, v in env.items() if not k.startswith("HUMIAO_HUB__")}
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "humiao.cli",
            *shown[1].split()[1:],
            "--format",
            "csv",
            "--out",
            str(tmp_path / "r.csv"),
        ],
        cwd=str(ROOT),
        env={**hub_env, "XDG_DATA_HOME": str(tmp_path / "elsewhere")},  # nothing found by default
        capture_output=True,
        text=True,
        timeout=120,
    )
    # exit 0 means it found the demo's hub: without a hub database, or with a district that hub does not know,
    # the command refuses (exit 2). Its rows are not asserted: an alarm raised while its ID check was being
    # stored can stay pending until the check window ends (a hub race noted in the closing note).
    assert report.returncode == 0, report.stderr
    rows = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("时间,场所编号,场所,场所类型,结论"), rows  # a report is in Chinese unless asked otherwise
