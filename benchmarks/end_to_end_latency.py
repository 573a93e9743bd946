"""End-to-end alert latency: from the frame in which a face is first seen to the alert row
committed at the hub.

    python -m benchmarks.end_to_end_latency --json OUT.json [--passes 2] [--store sqlite|postgresql]

The real system on one machine, security on (TLS, the device enrolled, signed messages): a private
Mosquitto, the hub as its own process (``humiao hub
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
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, select

from humiao.edge.agent import EdgeAgent, resolve_source
from humiao.edge.config import EdgeConfig
from humiao.hub.tables import Alert

from benchmarks.report import machine, write_json
from tests.support.devices import enroll_device
from tests.support.services import PG_ADMIN_URL, HubProcess, Mosquitto, hub_config, scratch_database


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--passes", type=int, default=2, help="times the sample video is played")
    ap.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("HUMIAO_TEST_PG_URL", PG_ADMIN_URL))
    ap.add_argument("--config", type=Path, help="edge config to start from")
    args = ap.parse_args(argv)

    from humiao.config import load_config

    base = load_config(EdgeConfig, args.config)
    video = resolve_source(base.model_copy(update={"source": base.source.model_copy(update={"uri": "sample"})}))
    import cv2

    cap = cv2.VideoCapture(video)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        url = (
            stack.enter_context(scratch_database(args.pg_url, "humiao_bench"))
            if args.store == "postgresql"
            else f"sqlite:///{work / 'hub.db'}"
        )
        broker = Mosquitto(work / "mosquitto").start()
        stack.callback(broker.stop)
        hub_cfg = hub_config(work, url, broker.port, broker=broker)
        hub_cfg["ingest"] = {}  # production batching
        ids = (base.device.district_id, base.device.venue_id, base.device.device_id)
        enroll_device(hub_cfg, broker, ids, state_dir=work / "edge")  # as production: TLS, signatures
        hub = HubProcess(work, hub_cfg).start()
        stack.callback(hub.stop)
        cfg = EdgeConfig.model_validate(
            {
                **base.model_dump(mode="json", exclude={"mqtt", "source", "device", "metrics"}),
                "mqtt": {"port": broker.port},
                "device": {**base.device.model_dump(mode="json"), "state_dir": str(work / "edge")},
                "metrics": {"port": None},
                "source": {"uri": video, "mode": "live", "on_end": "loop", "max_frames": frames * args.passes},
            }
        )
        summary = EdgeAgent(cfg).run()
        engine = create_engine(url)
        deadline = time.time() + 30
        rows = []
        while time.time() < deadline:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(Alert.first_seen, Alert.decided_at, Alert.received_at, Alert.stored_at)
                ).all()
            if len(rows) >= summary.alerted:
                break
            time.sleep(0.2)
        engine.dispose()

    total = [(s - f).total_seconds() for f, d, r, s in rows]
    edge = [(d - f).total_seconds() for f, d, r, s in rows]
    wire = [(r - d).total_seconds() for f, d, r, s in rows]
    hubt = [(s - r).total_seconds() for f, d, r, s in rows]
    result = {
        "p50_s": pct(total, 50),
        "p95_s": pct(total, 95),
        "max_s": round(max(total), 3) if total else None,
        "n": len(total),
        "alerts_sent": summary.alerted,
        "people_decided": summary.decided,
        "store": args.store,
        "video_frames": frames * args.passes,
        "parts_p50_s": {
            "edge_first_seen_to_decided": pct(edge, 50),
            "decided_to_hub_received": pct(wire, 50),
            "hub_received_to_stored": pct(hubt, 50),
        },
        "parts_p95_s": {
            "edge_first_seen_to_decided": pct(edge, 95),
            "decided_to_hub_received": pct(wire, 95),
            "hub_received_to_stored": pct(hubt, 95),
        },
        "alert_within_s": cfg.policy.alert_within_s,
        "detect_fps": cfg.detect_fps,
        "machine": machine(),
        "target": {"p95_s": 1.0},
    }
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
