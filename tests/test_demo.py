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
    assert "Traceback" not in done.stderr
