"""``humiao``: one command line for every role; each subcommand imports only what its role has
installed (an edge box has no hub libraries, a hub no vision libraries).

    humiao models list | prepare [--force] [--from FILE] [ID ...]      model files (edge)
    humiao edge run [--config FILE] [--source URI]                     the edge agent
    humiao edge sample-video --out PATH                                the demo's entrance video
    humiao edge staff add|remove|list [NAME] [--pin-stdin]             the staff console's accounts
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
    from humiao.edge.agent import EdgeAgent, resolve_uri
    from humiao.edge.capture import redact_uri

    cameras = cfg.camera_configs()
    if source and len(cameras) > 1:
        print(
            f"error: --source replaces the camera of a one-camera configuration; this one has {len(cameras)} "
            "cameras (give each camera's uri in its entry under 'cameras')",
            file=sys.stderr,
        )
        return 2
    uris = {c.camera_id: resolve_uri(c.uri) for c in cameras}
    if source:
        uris[cameras[0].camera_id] = source
    several = len(cameras) > 1
    people: dict[str, list] = {}
    for camera_id, uri in uris.items():
        truth_file = Path(uri + ".json")
        if show_truth and truth_file.is_file():
            people[camera_id] = json.loads(truth_file.read_text())
    where = "; ".join(
        f"camera {c.camera_id}{f' ({c.zone})' if c.zone else ''} {redact_uri(uris[c.camera_id])}" for c in cameras
    )
    print(
        f"edge: {cfg.models.detector} + {cfg.models.landmarks} alignment + {cfg.models.age}; "
        f"venue {cfg.policy.venue_type}, challenge threshold {cfg.policy.challenge_threshold:g}; "
        + (where if several else f"source {redact_uri(uris[cameras[0].camera_id])}")
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
            known = people.get(event.camera_id)
            line = _format(event, _truth_for(event, known) if known else None)
            print(f"{event.camera_id}: {line}" if several else line, flush=True)

    summary = agent.run(show, source)
    if any(p.get("age") is not None for known in people.values() for p in known):
        print(
            "(age≈: calibrated estimate; P(minor): calibrated probability of being under 18; CHECK ID when "
            f"P(<{cfg.policy.challenge_threshold:g}) ≥ 0.5 or P(minor) ≥ the operating point "
            f"{agent.pipeline.calibration.operating_p_minor:.3f}; the true age is shown for the demo only)"
        )
    stages = "  ".join(f"{k} {v:.1f} ms" for k, v in summary.stage_ms.items() if k != "decode")
    print(
        f"done: {summary.frames_read} frames read ({summary.stage_ms.get('decode', 0):.1f} ms each to decode), "
        f"{summary.frames_processed} processed, {summary.decided} decisions, {summary.seconds:.1f} s; "
        f"per processed frame: {stages}"
    )
    if several:
        for camera_id, c in summary.cameras.items():
            print(
                f"  camera {camera_id}: {c.frames_read} frames read, {c.frames_skipped} skipped by the reader, "
                f"{c.frames_processed} processed, {c.decisions} decisions, {c.alerts} alerts; now {c.state}"
            )
    return 0


def _hub(args) -> int:
    from humiao.hub.config import ENV_PREFIX, HubConfig

    cfg = load_config(HubConfig, args.config, prefix=ENV_PREFIX)
    if args.hub_command == "run":
        from humiao.hub.app import serve

        if args.role:
            cfg = cfg.model_copy(update={"role": args.role})
        if args.port is not None:
            cfg = cfg.model_copy(update={"http": cfg.http.model_copy(update={"port": args.port})})
        broker = (
            "no broker (web worker: hub → edge messages go to the outbox)"
            if cfg.role == "web"
            else f"broker {cfg.mqtt.host}:{cfg.mqtt.port} (MQTT {cfg.mqtt.protocol}, "
            f"{'shared group ' + cfg.mqtt.share_group if cfg.mqtt.share_group else 'no shared subscription'})"
        )
        print(
            f"hub ({cfg.role}): database {cfg.database_url()}; {broker}; http://{cfg.http.host}:{cfg.http.port}/",
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
    if args.hub_command == "devices":
        return _devices(cfg, args)
    if args.hub_command == "broker":
        return _broker_init(cfg, args)
    return _request_evidence(cfg, args)


def _broker_init(cfg, args) -> int:
    from humiao.hub.broker_admin import init_broker

    workers = args.worker or [cfg.mqtt.client_id]
    made = init_broker(
        args.broker_dir,
        cfg.broker_dir(),
        args.name or ["localhost", "127.0.0.1"],
        workers,
        cfg.mqtt.share_group,
        args.mosquitto_user,
        listen=args.listen or None,
    )

    for what, where in made.items():
        print(f"{what}: {where}")
    return 0


def _devices(cfg, args) -> int:
    from humiao.hub import devices
    from humiao.hub.access import allowed
    from humiao.hub.evidence import EvidenceError
    from humiao.proto import signing
    from humiao.proto.enrolment import EnrolmentError, EnrolmentRequest

    if args.action == "trust-file":
        trust = devices.trust_file(cfg, args.broker_host or cfg.mqtt.host, args.broker_port or cfg.mqtt.port)
        _write_out(args.out, trust.dumps())
        return 0
    with _hub_db(cfg) as s:
        if args.action == "list":
            for k in devices.listing(s):
                state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M} by {k.revoked_by}" if k.revoked_at else "active"
                print(f"{k.device_key}\tkey {k.key_id}\tenrolled {k.enrolled_at:%Y-%m-%d} by {k.enrolled_by}\t{state}")
            return 0
        try:
            who = _account(s, args.by or "")
            if not allowed(who, "devices.manage"):
                raise EnrolmentError(f"account {args.by!r} ({who.role}) may not enrol or revoke devices")
            if args.action == "enroll":
                source = sys.stdin.read() if args.target == "-" else Path(args.target or "")
                request = EnrolmentRequest.load(source)
                with devices.broker_rights(cfg) as broker:
                    row = devices.enroll(s, broker, request, cfg, who, args.replace, "cli")
                print(f"enrolled {row.device_key} as {row.username}; key {row.key_id}")
                print(f"fingerprint {signing.fingerprint(request.public())}: compare with the device's")
            else:  # at the hub first (refused from now on), then at the broker
                row = devices.revoked_or_revoke(s, args.target or "", who, args.reason or "", "cli")
                with devices.broker_rights(cfg) as broker:
                    broker.disable(row.username)
                print(f"revoked {row.device_key} (key {row.key_id}): its broker identity is disabled")
        except (EnrolmentError, EvidenceError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except devices.BrokerUnavailable as err:
            done = (
                "revoked at the hub (its messages are refused); " if args.action == "revoke" else "nothing enrolled: "
            )
            print(f"error: {done}the broker did not confirm: {err}", file=sys.stderr)
            return 2
    return 0


def _write_out(out: Path | None, text: str) -> None:
    if out is None or str(out) == "-":
        sys.stdout.write(text)
    else:
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)


def _audit(cfg, args) -> int:
    from humiao.hub import audit

    if args.action == "custody":
        return _custody(cfg, args.event_id)
    with _hub_db(cfg) as s:
        verdict = audit.verify(s)
        problem = audit.holds(s, args.expect_head) if verdict.ok and args.expect_head else None
    print(audit.describe(verdict), file=sys.stdout if verdict.ok else sys.stderr)
    if problem:
        print(f"audit log TAMPERED: {problem}", file=sys.stderr)
        return 1
    return 0 if verdict.ok else 1


def _custody(cfg, event_id: str | None) -> int:
    from humiao.hub import custody

    if not event_id:
        print("error: custody needs an alert's event id", file=sys.stderr)
        return 2
    with _hub_db(cfg) as s:
        try:
            findings = custody.check(s, event_id)
        except LookupError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    for f in findings:
        print(f, file=sys.stdout if f.ok else sys.stderr)
    return 0 if all(f.ok for f in findings) else 1


def _account(session, user_id: str):
    """The account a hub command acts for (the audit log records it); EvidenceError if none."""
    from humiao.hub.access import Principal
    from humiao.hub.evidence import EvidenceError
    from humiao.hub.tables import User

    user = session.get(User, user_id)
    if user is None or not user.active:
        raise EvidenceError("evidence.no_account", user=user_id)
    return Principal(user.id, user.role, user.district_id)


def _request_evidence(cfg, args) -> int:
    from humiao.hub.evidence import EvidenceError, may_request, request, requestable
    from humiao.hub.ingest import HubPublisher
    from humiao.proto.signing import Signer

    try:
        with _hub_db(cfg) as s:  # who asks, and for what, before anything is sent
            who = _account(s, args.by)
            requestable(s, args.event_id)
            if not may_request(s, who, args.event_id):
                raise EvidenceError("evidence.not_allowed", user=args.by, role=who.role, event_id=args.event_id)
    except EvidenceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with HubPublisher(cfg, Signer.load(cfg.signing_key_path(), "hub signing key")) as link:
        if not link.connected.wait(10):
            why = f"it refused {acl_cli()}: {link.refused}" if link.refused else "cannot reach it"
            print(f"error: broker at {cfg.mqtt.host}:{cfg.mqtt.port}: {why}", file=sys.stderr)
            return 2
        try:
            with _hub_db(cfg) as s:
                rid = request(s, link.publish, args.event_id, args.reason, who, args.why)
        except EvidenceError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if not link.flush():
            print(f"error: the broker did not acknowledge evidence request {rid}", file=sys.stderr)
            return 2
    print(f"evidence request {rid} sent for {args.event_id}; the crop is stored when the edge answers")
    return 0


def _shown(url: str) -> str:
    """A database URL as it may be printed (no password)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


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
    """A district's report from the hub's database. Refused (nothing written) when the configuration
    points at no hub database (a report of nothing would look like a quiet month: the database is
    not created either) or the district is one the hub does not know."""
    from humiao.hub import reports
    from humiao.hub.config import ENV_PREFIX
    from humiao.hub.db import not_a_hub_database
    from humiao.hub.rules.calendar import HolidayCalendar

    try:
        period = reports.Period.parse(args.month or args.quarter)
    except reports.ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    url = cfg.database_url()
    why = not_a_hub_database(url)
    if why is not None:
        print(
            f"error: no hub database at {_shown(url)} ({why}); point the command at the hub's: --config FILE "
            f"(the hub's configuration) or {ENV_PREFIX}DATABASE__URL=… (or {ENV_PREFIX}DATA_DIR=…, for SQLite)",
            file=sys.stderr,
        )
        return 2
    with _hub_db(cfg) as s:
        known = reports.known_districts(s)
        if args.district not in known:
            listed = ", ".join(known[:10]) + (f" … ({len(known)} in all)" if len(known) > 10 else "")
            print(
                f"error: the hub at {_shown(url)} knows no district {args.district!r} (no venue in the registry, "
                f"no alert); known districts: {listed or 'none yet'}",
                file=sys.stderr,
            )
            return 2
        data, _mime = reports.render(
            reports.figures(
                s,
                args.district,
                period,
                HolidayCalendar(cfg.rules.calendar),
                cfg.rules.violations.id_check_window_min,
            ),
            args.format,
            args.lang,
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


CONNACK_WAIT_S = 10.0  # how long ``mqtt tail`` waits for the broker to answer its CONNECT


def _mqtt_tail(args) -> int:
    """Print the wire as JSON lines until ``--count`` messages or Ctrl-C. A broker that refuses the
    connection, closes it or says nothing within ``CONNACK_WAIT_S`` ends the command with exit code 2
    and why; when the cause may be the MQTT version, the error names the other ``--protocol``."""
    import threading

    import paho.mqtt.client as mqtt

    from humiao.proto.jsonmap import render

    done = threading.Event()
    answered = threading.Event()  # the broker sent its CONNACK
    failure: list[str] = []
    seen = [0]
    other = "3.1.1" if args.protocol == "5" else "5"

    def on_connect(client, userdata, flags, reason_code, properties=None):
        answered.set()
        if reason_code.is_failure:
            why = f"the broker at {host}:{port} refused the connection: {reason_code}"
            if reason_code.value == 0x84:  # "Unsupported protocol version" (MQTT 3.1.1's return code 1)
                why += f"; it does not speak MQTT {args.protocol}: try --protocol {other}"
            failure.append(why)
            done.set()
            return
        client.subscribe(args.filter, qos=1)
        print(f"# subscribed to {args.filter} as {acl_tail_identity()}", file=sys.stderr, flush=True)

    def on_disconnect(client, userdata, flags, reason_code, properties=None):
        if not answered.is_set() and not done.is_set():  # closed without a CONNACK: paho would retry forever
            failure.append(
                f"the broker at {host}:{port} closed the connection without answering the MQTT {args.protocol} "
                f"CONNECT (a broker that does not speak MQTT {args.protocol} may do that): try --protocol {other}"
            )
            done.set()

    def on_message(client, userdata, msg):
        print(render(msg.topic, msg.payload), flush=True)
        seen[0] += 1
        if args.count and seen[0] >= args.count:
            done.set()

    from humiao.broker import secure
    from humiao.hub.config import ENV_PREFIX, HubConfig

    cfg = load_config(HubConfig, args.config, prefix=ENV_PREFIX)
    host, port = args.host or cfg.mqtt.host, args.port or cfg.mqtt.port
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=acl_tail_identity(),
        protocol=mqtt.MQTTv5 if args.protocol == "5" else mqtt.MQTTv311,
    )
    secure(client, cfg.ca_file(), acl_tail_identity(), cfg.broker_password_file(acl_tail_identity()))
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    try:
        client.connect(host, port, keepalive=30)
    except OSError as err:
        print(f"error: cannot reach the broker at {host}:{port}: {err}", file=sys.stderr)
        return 2
    client.loop_start()
    with suppress(KeyboardInterrupt):
        if done.wait(CONNACK_WAIT_S) or answered.is_set():
            done.wait()
        else:  # amqtt, the demo's broker, waits like this for the rest of an MQTT 5 CONNECT it misreads
            failure.append(
                f"the broker at {host}:{port} did not answer the MQTT {args.protocol} CONNECT within "
                f"{CONNACK_WAIT_S:g} s (a broker that does not speak MQTT {args.protocol} may do that): "
                f"try --protocol {other}"
            )
    client.disconnect()
    client.loop_stop()
    if failure:
        print(f"error: {failure[0]}", file=sys.stderr)
        return 2
    return 0


def _edge(args) -> int:
    from humiao.edge.config import EdgeConfig

    if args.edge_command == "sample-video":
        from humiao.edge.sample_video import build

        path, people = build(args.out)
        print(f"wrote {path} ({len(people)} people); ground truth in {path}.json")
        return 0
    if args.edge_command == "enroll":
        return _edge_enroll(load_config(EdgeConfig, args.config), args.trust, args.new_key)
    if args.edge_command == "staff":
        return _edge_staff(load_config(EdgeConfig, args.config), args)
    return _edge_run(load_config(EdgeConfig, args.config), args.source, show_truth=True)


def _edge_staff(cfg, args) -> int:
    """The staff console's accounts: a name and a PIN (asked twice, or one line on standard input)."""
    import getpass

    from humiao.edge.console.staff import StaffBook, StaffError, check_name, check_pin

    book = StaffBook(cfg.idcheck.console.staff_file or cfg.device.state_dir / "staff.json")
    try:
        if args.action == "list":
            for m in book.members():
                print(f"{m.name}\tadded {m.added}")
            return 0
        name = check_name(args.name or "")
        if args.action == "remove":
            if not book.remove(name):
                print(f"error: no staff account {name!r} in {book.path}", file=sys.stderr)
                return 2
            print(f"staff account {name} removed (its open sessions end)")
            return 0
        if args.pin_stdin:
            pin = check_pin(sys.stdin.readline().strip())
        else:
            pin = check_pin(getpass.getpass(f"PIN for {name} (6-12 digits): "))
            if getpass.getpass("the same PIN again: ") != pin:
                print("error: the two PINs differ; nothing saved", file=sys.stderr)
                return 2
        new = book.add(name, pin)
    except StaffError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"staff account {name} {'added' if new else 'given a new PIN'} in {book.path}")
    return 0


def _edge_enroll(cfg, trust: Path, new_key: bool) -> int:
    from humiao.edge.identity import enroll
    from humiao.proto import signing

    out, request = enroll(cfg, trust, new_key)
    print(f"device {request.device_key}: key {request.key_id}")
    print(f"fingerprint {signing.fingerprint(request.public())}")
    print(f"enrolment request: {out} — give it to the hub's administrator (humiao hub devices enroll)")
    return 0


def _demo(args) -> int:
    from humiao import demo
    from humiao.edge.config import EdgeConfig

    return demo.run(
        args.broker_port,
        args.http_port,
        args.once,
        load_config(EdgeConfig, args.config),
        simulated_staff=not args.no_simulated_staff,
        console_port=args.console_port,
    )


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
    enr = esub.add_parser(
        "enroll", help="make this device's key and broker password; write the request the hub's administrator enrols"
    )
    enr.add_argument("--config", type=Path)
    enr.add_argument("--trust", type=Path, required=True, help="the hub's trust file (humiao hub devices trust-file)")
    enr.add_argument(
        "--new-key", action="store_true", help="replace an existing key (the hub enrols it with --replace)"
    )
    sv = esub.add_parser("sample-video", help="write the sample entrance video")
    sv.add_argument("--out", type=Path, required=True)
    st = esub.add_parser("staff", help="the staff console's accounts: add (or change a PIN), remove, list")
    st.add_argument("action", choices=["add", "remove", "list"])
    st.add_argument("name", nargs="?", help="the account: lower-case letters, digits, '-', '_'")
    st.add_argument("--pin-stdin", action="store_true", help="add: read the PIN from standard input (one line)")
    st.add_argument("--config", type=Path)


def _add_hub(sub) -> None:
    h = sub.add_parser("hub", help="the hub")
    h.set_defaults(handler=_hub)
    hsub = h.add_subparsers(dest="hub_command", required=True)
    hrun = hsub.add_parser("run", help="ingest from the broker and serve the HTTP API")
    hrun.add_argument(
        "--role",
        choices=["all", "web", "ingest"],
        help="all: everything (default, or the configuration's role); web: the API and panel only (several behind "
        "a reverse proxy); ingest: the broker, the alarm rules, the purges and the outbox, with /healthz and /metrics",
    )
    hrun.add_argument("--port", type=int, help="the HTTP port (default http.port of the configuration)")
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
    rep.add_argument(
        "--lang", default="zh-CN", help="the report's language: a catalogue of hub/catalogue (zh-CN, en); default zh-CN"
    )
    rep.add_argument("--config", type=Path)
    aud = hsub.add_parser("audit", help="the audit log: verify its hash chain")
    aud.add_argument("action", choices=["verify", "custody"])
    aud.add_argument("event_id", nargs="?", help="custody: the alert whose records to check against their signatures")
    aud.add_argument(
        "--expect-head", help="ID:HASH, the head an earlier verify printed: the log must still contain it unchanged"
    )
    aud.add_argument("--config", type=Path)
    dev = hsub.add_parser("devices", help="edge devices: trust-file, enroll, revoke, list")
    dev.add_argument("action", choices=["trust-file", "enroll", "revoke", "list"])
    dev.add_argument(
        "target", nargs="?", help="enroll: the device's request file ('-': stdin); revoke: DISTRICT/VENUE/DEVICE"
    )
    dev.add_argument("--by", help="the administrator's account (audited); enroll and revoke")
    dev.add_argument("--reason", help="revoke: why (audited)")
    dev.add_argument("--replace", action="store_true", help="enroll: revoke the device's current key")
    dev.add_argument("--out", type=Path, help="trust-file: where to write it (default stdout)")
    dev.add_argument("--broker-host", help="trust-file: the broker's address as devices reach it (default mqtt.host)")
    dev.add_argument("--broker-port", type=int, help="trust-file: its TLS port (default mqtt.port)")
    dev.add_argument("--config", type=Path)
    brk = hsub.add_parser("broker", help="init: the broker's CA, certificate, identities and rights (Mosquitto)")
    brk.add_argument("action", choices=["init"])
    brk.add_argument("--broker-dir", type=Path, required=True, help="e.g. /etc/mosquitto/humiao")
    brk.add_argument(
        "--name", action="append", default=[], help="a DNS name or IP in the broker's certificate (repeat)"
    )
    brk.add_argument("--worker", action="append", default=[], help="a hub worker identity hub.<name> (repeat)")
    brk.add_argument("--mosquitto-user", help="the user Mosquitto runs as (owner of the broker's files)")
    brk.add_argument(
        "--listen",
        action="append",
        default=[],
        help="an address the TLS listener binds (repeat; default: as before, else 127.0.0.1)",
    )
    brk.add_argument("--config", type=Path)
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


def acl_cli() -> str:
    from humiao.proto import acl

    return acl.CLI


def acl_tail_identity() -> str:
    from humiao.proto import acl

    return acl.TAIL


def _add_mqtt(sub) -> None:
    mq = sub.add_parser("mqtt", help="wire debugging")
    mq.set_defaults(handler=_mqtt_tail)
    mqsub = mq.add_subparsers(dest="mqtt_command", required=True)
    tail = mqsub.add_parser(
        "tail", help="print humiao messages from the broker as JSON lines (as the hub's read-only identity hub.tail)"
    )
    tail.add_argument("--config", type=Path, help="the hub's configuration (broker, CA, the identity's password)")
    tail.add_argument("--host", help="default: the hub's mqtt.host")
    tail.add_argument("--port", type=int, help="default: the hub's mqtt.port")
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
    d.add_argument("--console-port", type=int, default=8810, help="the staff console (loopback)")
    d.add_argument(
        "--no-simulated-staff",
        action="store_true",
        help="nobody answers the ID checks but you, in the staff console (default: a simulated member of staff)",
    )


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
    if isinstance(err, FileNotFoundError) and err.filename is None and err.args:
        return str(err)  # ours name the file and what it is (a key, a password: humiao/files.py)
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
