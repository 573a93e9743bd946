"""End-to-end alert latency: from the frame in which a face is first seen to the alert row
committed at the hub.

    python -m benchmarks.end_to_end_latency --json OUT.json [--passes 2] [--store sqlite|postgresql]

The real system on one machine: a private Mosquitto, the hub as its own process (``humiao hub
run``), and the edge agent in live mode on the sample video (real face photographs walking past a
camera, played at its own 25 fps as a camera would deliver it, ``--passes`` times). For every
alert: ``first_seen`` (wall-clock time of the frame where its track began, stamped by the camera
reader) and the hub's ``stored_at`` (its batch's transaction time, just before the commit).
Reported: p50_s, p95_s, max_s, n, and where the time goes (edge decision, wire, hub).
The edge decides a CHECK ID track at the latest ``policy.alert_within_s`` (0.8 s) after it began.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import yaml
from sqlalchemy import create_engine, select, text

from benchmarks.report import write_json
from edge.agent import EdgeAgent, resolve_source
from edge.config import EdgeConfig
from hub.models import Alert
from humiao.localbroker import Mosquitto, free_port

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--passes", type=int, default=2, help="times the sample video is played")
    ap.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("HUMIAO_TEST_PG_URL", PG_ADMIN))
    ap.add_argument("--config", type=Path, help="edge config to start from")
    args = ap.parse_args(argv)

    from humiao.config import load_config

    base = load_config(EdgeConfig, args.config)
    video = resolve_source(base.model_copy(update={"source": base.source.model_copy(update={"uri": "sample"})}))
    import cv2

    cap = cv2.VideoCapture(video)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto").start()
        admin, dbname = None, None
        if args.store == "postgresql":
            admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            dbname = f"humiao_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{dbname}"'))
            url = admin.url.set(database=dbname).render_as_string(hide_password=False)
        else:
            url = f"sqlite:///{work / 'hub.db'}"
        hub_cfg = {"data_dir": str(work / "hub"), "database": {"url": url},
                   "mqtt": {"port": broker.port, "client_id": "latency-hub"}, "http": {"port": free_port()}}
        (work / "hub.yaml").write_text(yaml.safe_dump(hub_cfg))
        hub = subprocess.Popen([sys.executable, "-m", "humiao.cli", "-v", "hub", "run", "--config", str(work / "hub.yaml")],
                               stdout=open(work / "hub.log", "wb"), stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 60
            while b"subscribed to" not in (work / "hub.log").read_bytes():
                if hub.poll() is not None or time.time() > deadline:
                    raise RuntimeError((work / "hub.log").read_text()[-2000:])
                time.sleep(0.1)
            cfg = EdgeConfig.model_validate({
                **base.model_dump(mode="json", exclude={"mqtt", "source", "device", "evidence", "metrics"}),
                "mqtt": {"port": broker.port, "client_id": "latency-edge"},
                "device": {"state_dir": str(work / "edge")},
                "evidence": {"hub_public_key": str(work / "hub" / "evidence.pub")},
                "metrics": {"port": None},
                "source": {"uri": video, "mode": "live", "on_end": "loop", "max_frames": frames * args.passes},
            })
            summary = EdgeAgent(cfg).run()
            engine = create_engine(url)
            deadline = time.time() + 30
            rows = []
            while time.time() < deadline:
                with engine.connect() as conn:
                    rows = conn.execute(select(Alert.first_seen, Alert.decided_at, Alert.received_at,
                                               Alert.stored_at)).all()
                if len(rows) >= len(summary.alerts):
                    break
                time.sleep(0.2)
            engine.dispose()
        finally:
            hub.terminate()
            hub.wait(30)
            broker.stop()
            if admin is not None:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
                admin.dispose()

    total = [(s - f).total_seconds() for f, d, r, s in rows]
    edge = [(d - f).total_seconds() for f, d, r, s in rows]
    wire = [(r - d).total_seconds() for f, d, r, s in rows]
    hubt = [(s - r).total_seconds() for f, d, r, s in rows]
    result = {
        "p50_s": pct(total, 50), "p95_s": pct(total, 95), "max_s": round(max(total), 3) if total else None,
        "n": len(total), "alerts_sent": len(summary.alerts), "people_decided": len(summary.decisions),
        "store": args.store, "video_frames": frames * args.passes,
        "parts_p50_s": {"edge_first_seen_to_decided": pct(edge, 50), "decided_to_hub_received": pct(wire, 50),
                        "hub_received_to_stored": pct(hubt, 50)},
        "parts_p95_s": {"edge_first_seen_to_decided": pct(edge, 95), "decided_to_hub_received": pct(wire, 95),
                        "hub_received_to_stored": pct(hubt, 95)},
        "alert_within_s": cfg.policy.alert_within_s, "detect_fps": cfg.detect_fps,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "target": {"p95_s": 1.0},
    }
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
