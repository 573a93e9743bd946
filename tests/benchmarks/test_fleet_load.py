"""benchmarks/fleet_load.py end to end in miniature: 20 devices through a real Mosquitto into two hub workers on
PostgreSQL, a compressed day of a few seconds, then a soak with the broker killed and restarted and a worker
killed and restarted: every alert a device got a PUBACK or receipt for is one alarm, none twice, and the JSON has
the figures the README's table reads."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_a_tiny_fleet_loses_nothing_through_a_broker_crash_and_a_worker_kill(tmp_path, pg_server_url, capsys):
    import shutil

    from benchmarks import fleet_load

    if not shutil.which("mosquitto") and not __import__("pathlib").Path("/usr/sbin/mosquitto").exists():
        from tests.conftest import _missing

        _missing("mosquitto is not installed: sudo apt-get install -y mosquitto")
    from sqlalchemy.engine import make_url

    admin = make_url(pg_server_url).set(database="postgres").render_as_string(hide_password=False)
    out = tmp_path / "fleet.json"
    code = fleet_load.main(
        [
            *("--devices", "20", "--minutes", "0.1", "--soak-minutes", "0.22"),
            *("--broker-restarts", "1", "--worker-kills", "1", "--real-enrolments", "2"),
            *("--alerts-per-device-day", "20000", "--check-delay", "0.5,2", "--receipt-timeout", "2"),
            *("--status-interval", "3", "--drain-timeout", "30", "--pg-url", admin, "--json", str(out)),
        ]
    )
    capsys.readouterr()
    d = json.loads(out.read_text())
    assert code == 0, d.get("delivery")
    soak, delivery = d["soak"], d["delivery"]
    assert soak["restarts"] == {"broker_clean": 0, "broker_sigkill": 1, "worker_sigkill": 1}
    assert soak["lost"] == 0 and soak["duplicated"] == 0 and soak["idchecks_lost"] == 0, delivery
    assert delivery["alerts_acknowledged"] >= 20 and delivery["alarms"] >= delivery["alerts_acknowledged"]
    assert delivery["not_from_the_fleet"] == 0 and soak["unconfirmed_at_end"] == 0
    assert d["connections"]["held_at_end_of_load_devices"] == 20
    assert d["connections"]["held_at_end_of_load_broker_tcp"] >= 20  # the devices and the hub workers
    lat = d["latency"]
    for name in ("alert_to_alarm", "alarm_to_panel"):
        assert lat[name]["n"] > 0, name
        assert 0 <= lat[name]["p50_s"] <= lat[name]["p95_s"] <= lat[name]["p99_s"] <= lat[name]["max_s"] < 30, name
    assert set(d["messages"]["load_phase"]) == {"alert", "idcheck", "status", "birth", "evidence"}
    assert d["messages"]["load_phase"]["status"] >= 20 and d["messages"]["whole_run"]["birth"] == 20
    cpu = d["processes_load"]["cpu_cores"]
    assert len(cpu["hub_workers"]) == 2 and cpu["mosquitto"] >= 0
    assert {"mosquitto", "hub.w1", "hub.w2", "postgres_all", "devices_all"} <= set(d["processes_load"]["rss_mb"])
    db = d["database"]
    assert db["bytes_per_message"]["alert"] > 0 and db["per_day_holiday"]["total_mb"] > 0
    assert len(soak["rss_series"]) >= 5 and {"mosquitto", "hub.w1", "hub.w2"} <= set(soak["rss_series"][-1])
    assert len(soak["rss_series_pids"]["hub.w1"]) == 2 and len(soak["rss_series_pids"]["mosquitto"]) == 2
    assert soak["rss_slope"]["hub.w2"]["mb_per_min"] is not None
    assert {"cpu", "cpus"} <= set(d["machine"])
