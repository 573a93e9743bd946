"""Simulated edge devices for benchmarks/fleet_load.py: one process multiplexes many MQTT clients (paho
with an external loop on one ``selectors`` selector: no thread per device) that behave as edge/publisher.py
does: TLS as the device's own broker identity, MQTT 5 with a persistent session (clean_start false, a
7-day session expiry), a Last Will (retained Status online=false, signed), QoS 1 with at most ``window``
in flight, every message signed with the device's Ed25519 key when it is sent (a resend is signed
afresh), an outbox (in memory: these devices never crash) from which alerts and ID checks leave only on
the hub's signed receipt — acknowledged by the broker but not receipted within ``receipt_timeout_s``
(doubling, at most 1 h) they are sent again — and everything not acknowledged replayed on every
reconnect (reconnect backoff 0.5 s doubling to 30 s, as the publisher's defaults). Messages from the
hub are checked against the hub's public key and the device's own topic before anything acts on them.

What each device sends: a Birth at its first connection; its retained Status every
``status_interval_s`` and on every (re)connect; alerts at the fleet's rate of the moment (the day's
curve, ``rate_at``), each answered after ``check_delay_s`` by an ID-check outcome; and, for every
evidence request the hub signs for one of its alerts, the sealed crop (random bytes of a crop's size,
sealed to the hub's evidence key for that event, as edge/evidence.py seals).
"""

from __future__ import annotations

import contextlib
import heapq
import os
import queue
import random
import selectors
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# the day at a venue entrance (KTV, bars, internet cafés, arcades, hotels): people let in per hour,
# relative, hour 0 = 00:00-01:00. Quiet mornings, after-school and evening rises, the peak at 22:00.
HOURLY = (
    1.6, 1.1, 0.7, 0.4, 0.2, 0.15, 0.15, 0.2, 0.3, 0.45, 0.6, 0.8,
    0.95, 1.0, 1.05, 1.15, 1.3, 1.45, 1.7, 2.0, 2.35, 2.65, 2.85, 2.3,
)  # fmt: skip
MEAN_HOURLY = sum(HOURLY) / 24
# how staff answer an alert (vocabulary.RESULTS keys), and how often
ANSWERS = (
    ("adult_admitted", 0.58),
    ("minor_refused", 0.12),
    ("minor_admitted_with_guardian", 0.04),
    ("minor_admitted", 0.05),  # a confirmed violation: the hub's rules ask the edge for the crop
    ("no_id_refused", 0.06),
    ("left_before_check", 0.05),
    ("not_checked", 0.10),  # sent by the agent itself when the check window runs out
)
RECEIPTED = ("alert", "idcheck")
CROP_BYTES = 6400  # a 256 px JPEG face crop, about
MAX_RESEND_S = 3600.0


def day_weight(hour: float) -> float:
    """The hourly curve at ``hour`` (0-24, fractional), linear between hour midpoints, mean 1."""
    h = (hour - 0.5) % 24
    i = int(h)
    f = h - i
    return (HOURLY[i] * (1 - f) + HOURLY[(i + 1) % 24] * f) / MEAN_HOURLY


@dataclass
class Params:
    host: str
    port: int
    ca_file: str
    hub_public: str  # the hub's signing key (text, as the trust file has it)
    evidence_public: bytes  # the hub's X25519 evidence key, raw
    fleet_devices: int
    alerts_per_device_day: float
    day_factor: float  # the simulated day's multiplier (a holiday: > 1)
    day_seconds: float  # the simulated day lasts this many real seconds (the compression)
    start_hour: float
    status_interval_s: float
    check_delay_s: tuple[float, float]
    receipt_timeout_s: float
    keepalive_s: int = 15
    window: int = 64
    seed: int = 0


def rate_at(p: Params, elapsed_s: float) -> float:
    """Alerts per second over the whole fleet at ``elapsed_s`` into the simulated day (cycling)."""
    hour = (p.start_hour + 24 * elapsed_s / p.day_seconds) % 24
    return p.fleet_devices * p.alerts_per_device_day * p.day_factor / 86400 * day_weight(hour)


def sim_hour(p: Params, elapsed_s: float) -> float:
    return (p.start_hour + 24 * elapsed_s / p.day_seconds) % 24


@dataclass
class Entry:
    seq: int
    key: str  # the signed message id (event id, check id, request id, birth id)
    kind: str
    topic: str
    body: bytes
    state: str = "new"  # new → inflight → (awaiting receipt) → gone
    attempts: int = 0
    resend_at: float = 0.0


@dataclass
class Device:
    idx: int
    ids: tuple[str, str, str]
    venue_type: int
    signer: Any
    client: Any = None
    sock: Any = None
    connected: bool = False
    connecting: bool = False
    tried: bool = False
    ever_connected: bool = False
    backoff: float = 0.5
    outbox: dict[str, Entry] = field(default_factory=dict)
    mids: dict[int, str] = field(default_factory=dict)
    inflight: int = 0
    alerts: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.time)


def _topic(ids, kind: str) -> str:
    from humiao.proto.topics import topic

    return topic(*ids, kind)


class Fleet:
    """The devices of one process and its loop."""

    def __init__(self, specs: list[tuple], p: Params, ctl: dict, out):
        import paho.mqtt.client as mqtt
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

        from humiao.broker import tls_context
        from humiao.proto import signing

        self.mqtt = mqtt
        self.p = p
        self.ctl = ctl
        self.out = out
        self.rnd = random.Random(p.seed)
        self.sel = selectors.DefaultSelector()
        self.hub_check = signing.checker(signing.public_from_text(p.hub_public))
        self.evidence_public = X25519PublicKey.from_public_bytes(p.evidence_public)
        ctx = tls_context(p.ca_file)  # one context for every client of the process (the CA is the same)
        self.devices: list[Device] = []
        self.seq = 0
        self.timers: list[tuple[float, int, int, str, Any]] = []  # (when, tiebreak, device, what, arg)
        self._tie = 0
        self.counts: dict[str, int] = dict.fromkeys(
            (
                "alert",
                "idcheck",
                "status",
                "birth",
                "evidence",
                "alert_published",
                "idcheck_published",
                "status_acked",
                "receipts",
                "receipted_alerts",
                "receipted_idchecks",
                "resent",
                "replayed_on_reconnect",
                "evidence_requests",
                "evidence_acks",
                "reconnects",
                "connect_failures",
                "refused_from_hub",
                "puback_failures",
            ),
            0,
        )
        self.alert_times: dict[str, list] = {}  # event id → [first publish (wall), first PUBACK, receipt, device]
        self.check_acked: dict[str, bool] = {}
        for idx, ids, private_raw, password, venue_type in specs:
            d = Device(idx, ids, venue_type, signing.Signer(Ed25519PrivateKey.from_private_bytes(private_raw)))
            username = "edge." + ".".join(ids)
            c = mqtt.Client(
                callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=username, protocol=mqtt.MQTTv5
            )
            c.tls_set_context(ctx)
            c.username_pw_set(username, password)
            c.max_inflight_messages_set(0)  # the window is kept here (as the publisher's pump does)
            c.user_data_set(d)
            c.on_connect = self._on_connect
            c.on_disconnect = self._on_disconnect
            c.on_publish = self._on_publish
            c.on_message = self._on_message
            d.client = c
            self._set_will(d)
            self.devices.append(d)
        self.by_idx = {d.idx: d for d in self.devices}
        # statuses spread over the interval, devices connected over a ramp
        for i, d in enumerate(self.devices):
            self._at(time.monotonic() + i * 0.004, d.idx, "connect")

    # -- timers ---------------------------------------------------------------------------------
    def _at(self, when: float, idx: int, what: str, arg: Any = None) -> None:
        self._tie += 1
        heapq.heappush(self.timers, (when, self._tie, idx, what, arg))

    def _dev(self, idx: int) -> Device:
        return self.by_idx[idx]

    # -- messages ---------------------------------------------------------------------------------
    def _status_body(self, d: Device, online: bool) -> bytes:
        from humiao.proto import humiao_v1_pb2 as pb

        msg = pb.Status(origin=pb.Origin(district_id=d.ids[0], venue_id=d.ids[1], device_id=d.ids[2]), online=online)
        if online:
            now = time.time()
            msg.sent_at.FromNanoseconds(int(now * 1e9))
            msg.spool_depth = len(d.outbox)
            msg.spool_bytes = sum(len(e.body) for e in d.outbox.values())
            msg.uptime_s = now - d.started
            msg.software_version = "fleet-sim"
            cam = msg.cameras.add(camera_id="cam0", state=pb.CAMERA_STATE_STREAMING, fps=25.0)
            cam.state_since.FromNanoseconds(int(d.started * 1e9))
        return msg.SerializeToString()

    def _set_will(self, d: Device) -> None:
        from humiao.proto.ids import uuid7

        t = _topic(d.ids, "status")
        d.client.will_set(t, d.signer.sign(t, str(uuid7()), self._status_body(d, False)), qos=1, retain=True)

    def _put(self, d: Device, kind: str, key: str, body: bytes) -> None:
        self.seq += 1
        d.outbox[key] = Entry(self.seq, key, kind, _topic(d.ids, kind), body)
        self.counts[kind] += 1
        self._pump(d)

    def _pump(self, d: Device) -> None:
        """Send new entries, oldest first, while the window has room."""
        if not d.connected:
            return
        for e in sorted((e for e in d.outbox.values() if e.state == "new"), key=lambda e: e.seq):
            if d.inflight >= self.p.window:
                return
            self._send(d, e)

    def _send(self, d: Device, e: Entry) -> bool:
        payload = d.signer.sign(e.topic, e.key, e.body)  # signed afresh at every attempt
        info = d.client.publish(e.topic, payload, qos=1)
        if info.rc != self.mqtt.MQTT_ERR_SUCCESS:
            return False
        d.mids[info.mid] = e.key
        if e.state != "inflight":
            d.inflight += 1
        e.state = "inflight"
        e.attempts += 1
        if e.kind == "alert" and e.attempts == 1:
            self.alert_times[e.key][0] = time.time()
            self.counts["alert_published"] += 1
        return True

    def new_alert(self, d: Device) -> None:
        from humiao.proto import humiao_v1_pb2 as pb

        from tests.support.services import sample_alert

        age = self.rnd.uniform(12.0, 24.0)
        _t, body, eid = sample_alert(d.ids, age=age, venue_type=d.venue_type, track_id=self.seq, policy_version="fleet")
        msg = pb.Alert.FromString(body)  # as an edge sends it: the ensemble's two models and its calibration
        msg.models.append(pb.ModelRef(id="faceapi-agegender", graph_sha256="1" * 64))
        msg.calibration = "ensemble/east-asian"
        msg.evidence_available = True  # the edge keeps the crop (sealed) until asked or 72 h
        msg.p_minor = min(0.99, max(0.05, (24 - age) / 10))
        self.alert_times[eid] = [None, None, None, d.idx]
        d.alerts.add(eid)
        self._put(d, "alert", eid, msg.SerializeToString())
        lo, hi = self.p.check_delay_s
        self._at(time.monotonic() + self.rnd.uniform(lo, hi), d.idx, "idcheck", (eid, time.time()))

    def new_check(self, d: Device, eid: str, alerted_at: float) -> None:
        from tests.hub.outcomes import outcome

        r, acc = self.rnd.random(), 0.0
        kind = ANSWERS[-1][0]
        for name, share in ANSWERS:
            acc += share
            if r < acc:
                kind = name
                break
        msg = outcome(d.ids, kind, answers=eid, alerted_at=datetime.fromtimestamp(alerted_at, UTC))
        self.check_acked[msg.check_id] = False
        self._put(d, "idcheck", msg.check_id, msg.SerializeToString())

    def send_status(self, d: Device) -> None:
        if not d.connected:
            return
        from humiao.proto.ids import uuid7

        t = _topic(d.ids, "status")
        info = d.client.publish(t, d.signer.sign(t, str(uuid7()), self._status_body(d, True)), qos=1, retain=True)
        if info.rc == self.mqtt.MQTT_ERR_SUCCESS:
            d.mids[info.mid] = ""  # not spooled: state, not an event
            self.counts["status"] += 1

    # -- paho callbacks ----------------------------------------------------------------------------
    def _on_connect(self, client, d: Device, flags, reason_code, properties=None) -> None:
        d.connecting = False
        if reason_code.is_failure:
            self.counts["connect_failures"] += 1
            return
        d.connected = True
        d.backoff = 0.5
        client.subscribe([(_topic(d.ids, k), 1) for k in ("evidence_request", "evidence_ack", "receipt")])
        if not d.ever_connected:
            d.ever_connected = True
            from humiao.proto import humiao_v1_pb2 as pb
            from humiao.proto.ids import uuid7

            birth = pb.Birth(
                origin=pb.Origin(district_id=d.ids[0], venue_id=d.ids[1], device_id=d.ids[2]),
                software_version="fleet-sim",
                venue_type=d.venue_type,
                challenge_threshold=25.0,
            )
            birth.started_at.FromNanoseconds(int(d.started * 1e9))
            self._put(d, "birth", str(uuid7()), birth.SerializeToString())
            self._at(time.monotonic() + self.rnd.uniform(0, self.p.status_interval_s), d.idx, "status")
        else:
            self.counts["reconnects"] += 1
        # everything not acknowledged is sent again (paho also resends its own in-flight messages: the
        # hub absorbs the repeats by id), as the publisher replays its spool on every reconnect
        d.inflight = 0
        d.mids.clear()
        for e in d.outbox.values():
            if e.state == "inflight":
                e.state = "new"
                self.counts["replayed_on_reconnect"] += 1
        self.send_status(d)
        self._pump(d)

    def _on_disconnect(self, client, d: Device, flags, reason_code, properties=None) -> None:
        was = d.connected or d.connecting
        d.connected = d.connecting = False
        if d.sock is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.sel.unregister(d.sock)
            d.sock = None
        self._set_will(d)
        if was and not self.ctl["finish"].is_set():
            self._schedule_reconnect(d)

    def _schedule_reconnect(self, d: Device) -> None:
        delay = d.backoff * self.rnd.uniform(0.8, 1.2)
        d.backoff = min(d.backoff * 2, 30.0)
        self._at(time.monotonic() + delay, d.idx, "connect")

    def _on_publish(self, client, d: Device, mid, reason_code=None, properties=None) -> None:
        key = d.mids.pop(mid, None)
        if key is None:
            return
        if key == "":
            self.counts["status_acked"] += 1
            return
        e = d.outbox.get(key)
        if e is None or e.state != "inflight":
            return
        d.inflight -= 1
        if reason_code is not None and getattr(reason_code, "is_failure", False):
            self.counts["puback_failures"] += 1
            e.state = "new"
            return
        if e.kind in RECEIPTED:
            e.state = "awaiting"
            wait = min(self.p.receipt_timeout_s * 2 ** (e.attempts - 1), MAX_RESEND_S)
            e.resend_at = time.monotonic() + wait
            self._at(e.resend_at, d.idx, "resend", key)
            if e.kind == "alert":
                t = self.alert_times[key]
                t[1] = t[1] or time.time()
            else:
                self.check_acked[key] = True
        else:
            del d.outbox[key]
        self._pump(d)

    def _on_message(self, client, d: Device, msg) -> None:
        from humiao.proto import humiao_v1_pb2 as pb
        from humiao.proto import signing
        from humiao.proto.topics import HUB_KINDS, parse

        try:
            where = parse(msg.topic)
            if (where.district, where.venue, where.device) != d.ids or where.kind not in HUB_KINDS:
                raise ValueError(f"{msg.topic} is not this device's hub topic")
            env = signing.unwrap(bytes(msg.payload))
            signing.verify(env, msg.topic, self.hub_check)
            if abs(time.time() - env.signed_at) > 300:
                raise ValueError("outside the accepted window")
            body = HUB_KINDS[where.kind]()
            body.ParseFromString(env.body)
        except Exception:  # noqa: BLE001 - anything not signed by the hub for this device is ignored
            self.counts["refused_from_hub"] += 1
            return
        if isinstance(body, pb.Receipt):
            self.counts["receipts"] += 1
            for key in body.keys:
                e = d.outbox.get(key)
                if e is None or e.kind not in RECEIPTED:
                    continue
                if e.state == "inflight":
                    d.inflight -= 1
                del d.outbox[key]
                if e.kind == "alert":
                    self.counts["receipted_alerts"] += 1
                    t = self.alert_times[key]
                    t[2] = t[2] or time.time()
                    t[1] = t[1] or t[2]
                else:
                    self.counts["receipted_idchecks"] += 1
                    self.check_acked[key] = True
            self._pump(d)
        elif isinstance(body, pb.EvidenceRequest):
            self.counts["evidence_requests"] += 1
            if body.event_id in d.alerts and body.request_id not in d.outbox:
                self._answer(d, body)
        elif isinstance(body, pb.EvidenceAck):
            self.counts["evidence_acks"] += 1

    def _answer(self, d: Device, req) -> None:
        import hashlib

        from humiao.proto import humiao_v1_pb2 as pb
        from humiao.proto import sealed

        crop = os.urandom(CROP_BYTES)
        box, cipher = sealed.seal(self.evidence_public, crop, req.event_id)
        msg = pb.Evidence(
            request_id=req.request_id,
            event_id=req.event_id,
            ciphertext=box,
            cipher=cipher,
            plaintext_sha256=hashlib.sha256(crop).hexdigest(),
        )
        msg.captured_at.FromNanoseconds(int((time.time() - 30) * 1e9))
        self.seq += 1
        key = req.request_id
        d.outbox[key] = Entry(self.seq, key, "evidence", _topic(d.ids, "evidence"), msg.SerializeToString())
        self.counts["evidence"] += 1
        self._pump(d)

    # -- the loop ---------------------------------------------------------------------------------
    def _connect(self, d: Device) -> None:
        if d.connected or d.connecting:
            return
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 7 * 24 * 3600
        try:
            if not d.tried:
                d.tried = True
                d.client.connect(self.p.host, self.p.port, self.p.keepalive_s, clean_start=False, properties=props)
            else:
                d.client.reconnect()
        except (OSError, ValueError):
            self.counts["connect_failures"] += 1
            self._schedule_reconnect(d)
            return
        d.connecting = True
        d.sock = d.client.socket()
        self.sel.register(d.sock, selectors.EVENT_READ, d)

    def run(self) -> None:
        ctl, p = self.ctl, self.p
        last_misc = last_report = time.monotonic()
        next_alert = None
        share = len(self.devices) / p.fleet_devices
        while not ctl["finish"].is_set():
            now = time.monotonic()
            for key, _ in self.sel.select(0.02):
                key.data.client.loop_read()
            for d in self.devices:
                if d.sock is not None and d.client.want_write():
                    d.client.loop_write()
            now = time.monotonic()
            budget = 40  # connections opened per turn: the loop keeps serving the others meanwhile
            while self.timers and self.timers[0][0] <= now:
                when, _tie, idx, what, arg = self.timers[0]
                if what == "connect" and budget <= 0:
                    break
                heapq.heappop(self.timers)
                d = self._dev(idx)
                if what == "connect":
                    budget -= 1
                    self._connect(d)
                elif what == "status":
                    self.send_status(d)
                    self._at(when + p.status_interval_s, idx, "status")
                elif what == "idcheck":
                    if ctl["generate"].is_set():
                        self.new_check(d, *arg)
                elif what == "resend":
                    e = d.outbox.get(arg)
                    if e is not None and e.state == "awaiting" and e.resend_at <= now + 1e-6:
                        e.state = "new"
                        self.counts["resent"] += 1
                        self._pump(d)
            # alerts: a Poisson process at this process's share of the fleet's rate of the moment
            if ctl["generate"].is_set() and ctl["t0"].value > 0:
                elapsed = time.time() - ctl["t0"].value
                rate = rate_at(p, elapsed) * share
                if next_alert is None:
                    next_alert = now + self.rnd.expovariate(rate) if rate > 0 else now + 1
                while next_alert <= now:
                    live = [d for d in self.devices if d.ever_connected]
                    if live:
                        self.new_alert(self.rnd.choice(live))
                    next_alert += self.rnd.expovariate(rate) if rate > 0 else 1
            else:
                next_alert = None
            if now - last_misc >= 1.0:
                last_misc = now
                for d in self.devices:
                    if d.sock is not None:
                        d.client.loop_misc()
            if now - last_report >= 1.0:
                last_report = now
                self.out.put(("report", os.getpid(), self.report()))
        for d in self.devices:
            if d.connected:
                d.client.disconnect()
                with contextlib.suppress(Exception):
                    d.client.loop_write()
        self.out.put(("final", os.getpid(), self.final()))

    def report(self) -> dict:
        unconfirmed = sum(1 for d in self.devices for e in d.outbox.values() if e.kind in RECEIPTED)
        return {
            "connected": sum(d.connected for d in self.devices),
            "unconfirmed": unconfirmed,
            "outbox": sum(len(d.outbox) for d in self.devices),
            "counts": dict(self.counts),
        }

    def final(self) -> dict:
        left: dict[str, int] = {}
        for d in self.devices:
            for e in d.outbox.values():
                left[e.kind] = left.get(e.kind, 0) + 1
        return {
            **self.report(),
            "alerts": [(eid, *t[:3]) for eid, t in self.alert_times.items()],
            "checks": [cid for cid, acked in self.check_acked.items() if acked],
            "checks_made": len(self.check_acked),
            "left_in_outbox": left,
        }


def run_process(specs: list[tuple], p: Params, ctl: dict, out) -> None:
    """A generator process's body (spawned): its devices until ``ctl['finish']``."""
    try:
        Fleet(specs, p, ctl, out).run()
    except BaseException as err:  # the parent must not wait for a process that died
        with contextlib.suppress(Exception):
            out.put(("error", os.getpid(), f"{type(err).__name__}: {err}"))
        raise


def drain(q, timeout: float = 0.0) -> list:
    """Everything on ``q`` now (waiting up to ``timeout`` for the first)."""
    items = []
    with contextlib.suppress(queue.Empty):
        items.append(q.get(timeout=timeout) if timeout else q.get_nowait())
        while True:
            items.append(q.get_nowait())
    return items
