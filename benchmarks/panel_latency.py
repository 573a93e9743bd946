"""Live-feed latency: from an alert published on MQTT (and from its ingestion at the hub) to its row
appearing in an inspector's open panel, in real headless Chromium.

    python -m benchmarks.panel_latency --json OUT.json [--alerts 20] [--interval 1.0]

A private Mosquitto, the hub (ingest, rules, HTTP) in this process, Debian's Chromium driven by
Playwright with a culture & tourism inspector signed in on the live-alarms page. Alerts are
published one at a time; a MutationObserver in the page records the wall-clock time each row
appears. Reported (seconds): publish → row and hub received → row, p50/p95/max, and n. The page
learns of changes by Server-Sent Events polled from the database every 0.5 s, after the hub's
alarm loop has turned the stored alert into an alarm.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import select

from humiao.hub.tables import Alarm, Alert
from humiao.proto import humiao_v1_pb2 as pb

from benchmarks.report import machine, write_json
from tests.support.browser import ARGS, CHROMIUM
from tests.support.devices import enroll_device
from tests.support.services import Mosquitto, free_port, hub_config, sample_alert

PASSWORD = "benchmark password"


def pct(values, q):
    return round(float(np.percentile(values, q)), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--alerts", type=int, default=20)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between alerts")
    args = ap.parse_args(argv)

    import uvicorn
    from playwright.sync_api import sync_playwright

    from humiao.hub import auth, registry
    from humiao.hub.app import Hub, create_app
    from humiao.hub.config import HubConfig

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto").start()
        hub = Hub(
            HubConfig.model_validate(hub_config(work, f"sqlite:///{work / 'hub.db'}", broker.port, broker=broker))
        )
        with hub.sessions() as s:
            registry.import_venues(s, "id,name,venue_type,district_id\nktv-bench,Bench KTV,ktv,d1\n")
            auth.create_user(s, "ct-bench", PASSWORD, "culture_tourism", "d1")
            s.commit()
        device = enroll_device(hub.cfg, broker, ("d1", "ktv-bench", "door-1"), venue_type="ktv")
        hub.start()
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        pub = device.client()  # TLS as the enrolled device; every alert signed
        published: dict[str, float] = {}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{port}/panel")
                page.fill("input[name=username]", "ct-bench")
                page.fill("input[name=password]", PASSWORD)
                page.click("#login-form button[type=submit]")
                page.wait_for_selector("#alarm-rows", state="attached")
                page.evaluate("""() => { window.appeared = {};
                    new MutationObserver(() => document.querySelectorAll('#alarm-rows tr').forEach(tr => {
                      if (!(tr.dataset.id in window.appeared)) window.appeared[tr.dataset.id] = Date.now() / 1000; }))
                    .observe(document.getElementById('alarm-rows'), {childList: true, subtree: true}); }""")
                for _ in range(args.alerts):
                    t, payload, eid = sample_alert(
                        ("d1", "ktv-bench", "door-1"), venue_type=pb.VENUE_TYPE_KTV, policy_version="bench"
                    )
                    published[eid] = time.time()
                    pub.publish(t, device.sign(t, payload, eid), qos=1).wait_for_publish(5)
                    time.sleep(args.interval)
                deadline = time.time() + 10
                while time.time() < deadline and len(page.evaluate("window.appeared")) < args.alerts:
                    time.sleep(0.2)
                appeared = page.evaluate("window.appeared")
                browser.close()
        finally:
            pub.loop_stop()
            server.should_exit = True
            hub.stop()
            broker.stop()
            with hub.sessions() as s:
                rows = s.execute(
                    select(Alarm.id, Alert.event_id, Alert.received_at).join(Alert, Alert.event_id == Alarm.event_id)
                ).all()

    from_publish, from_ingest = [], []
    for alarm_id, eid, received_at in rows:
        shown = appeared.get(str(alarm_id))
        if shown is not None and eid in published:
            from_publish.append(shown - published[eid])
            from_ingest.append(shown - received_at.timestamp())
    result = {
        "n": len(from_publish),
        "sent": args.alerts,
        "p50_s": pct(from_publish, 50),
        "p95_s": pct(from_publish, 95),
        "max_s": round(max(from_publish), 3),
        "from_hub_received": {
            "p50_s": pct(from_ingest, 50),
            "p95_s": pct(from_ingest, 95),
            "max_s": round(max(from_ingest), 3),
        },
        "browser": "Debian chromium (headless), Playwright",
        "sse_poll_s": 0.5,
        "machine": machine(),
        "target": {"from_hub_received_s": 1.0},
    }
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
