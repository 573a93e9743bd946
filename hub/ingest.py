"""Ingest: MQTT in, rows committed, and only then acknowledged to the broker.

    broker ─► paho (manual ack) ─► bounded queue ─► writer thread: batch ─► validate ─► one transaction
                  └► statuses: the latest per device ─┘                      └► PUBACKs after the commit

At-least-once from the broker (a message is acknowledged only once its batch is committed, so a
hub killed mid-batch gets it again) plus a unique key per message (alert event id, check id)
makes every alert stored exactly once. Hub workers share the load with an MQTT shared
subscription; each worker has its own persistent session, so the broker queues for a stopped one.
Messages that fail to decode or validate go to ``dead_letters`` with the reason; nothing crashes
the writer (a failing database is retried with backoff, the messages stay unacknowledged).

Statuses do not queue behind or in front of alerts. A status is a device's whole state at a moment,
so only the latest one per device waits to be written (one received while an older one waits replaces
it, and the older is acknowledged at once); a batch takes the alerts, ID checks and other messages
first and fills up with statuses. After a broker restart every worker gets every device's retained
status again (and each live one twice: on the shared and on the direct subscription); in a FIFO of
20,000 these kept a 5,000-device fleet's alerts waiting half a minute (benchmarks.fleet_load).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import ssl
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter
from sqlalchemy import select
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from humiao.broker import secure
from humiao.hub import store
from humiao.hub.config import HubConfig
from humiao.hub.devices import KeyRing
from humiao.hub.tables import Alert, Evidence, EvidenceRequest, IdCheck
from humiao.hub.validate import (
    Rejected,
    alert_row,
    check_device_message,
    idcheck_row,
    status_json,
    ts,
    uuid7_text,
    venue_type_name,
)
from humiao.hub.verify import Verified, Verifier
from humiao.proto import acl, sealed, signing
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto.ids import uuid7
from humiao.proto.topics import HUB_KINDS
from humiao.proto.topics import topic as make_topic

log = logging.getLogger("humiao.hub.ingest")

DeviceKey = tuple[str, str, str]  # (district, venue, device), as in the device's topics
HUB_KIND_SUFFIXES = tuple(f"/{kind}" for kind in HUB_KINDS)


@dataclass(slots=True)
class Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    retain: bool
    received_at: datetime


@dataclass
class Batch:
    """What one transaction writes, built from a list of Incoming."""

    alerts: list[dict] = field(default_factory=list)
    id_checks: list[dict] = field(default_factory=list)
    dead: list[dict] = field(default_factory=list)
    devices: dict[DeviceKey, dict] = field(default_factory=dict)  # status, birth, death: per-device updates
    seen: dict[DeviceKey, datetime] = field(default_factory=dict)  # every device heard from: last_seen
    evidence: list[tuple[Verified, DeviceKey, Incoming]] = field(default_factory=list)
    sources: dict[str, Incoming] = field(default_factory=dict)  # alert and ID-check ids → their message
    # births, deaths, statuses: ids (and body digests) remembered once committed
    remember: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)  # → (kind, body digest)
    kinds: Counter[str] = field(default_factory=Counter)


def _reason(err: Exception) -> str:
    """The first line of why a message was refused (the database's own words for a statement)."""
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip() or type(err).__name__
    return text.splitlines()[0]


# The database away or busy: the batch is kept, unacknowledged, and tried again (anything else that a
# batch raises is a message to refuse: one by one, then a dead letter; no message can stall ingest).
RETRIED = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.messages = PromCounter(
            "humiao_hub_messages", "messages read off the broker, by kind", ["kind"], registry=registry
        )
        self.alerts = PromCounter("humiao_hub_alerts_stored", "alerts stored (new event ids)", registry=registry)
        self.duplicates = PromCounter(
            "humiao_hub_duplicates", "redelivered messages absorbed by their unique id", registry=registry
        )
        self.dead = PromCounter(
            "humiao_hub_dead_letters", "messages kept aside, by reason", ["reason"], registry=registry
        )
        self.batch = Histogram(
            "humiao_hub_batch_seconds",
            "validate + commit time per batch",
            registry=registry,
            buckets=(0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3),
        )
        self.queue = Gauge("humiao_hub_queue_depth", "received, not yet committed", registry=registry)
        self.statuses_replaced = PromCounter(
            "humiao_hub_statuses_replaced",
            "statuses acknowledged unwritten: a newer one from the same device came while they waited",
            registry=registry,
        )
        self.db_errors = PromCounter("humiao_hub_db_errors", "failed transactions (retried)", registry=registry)
        self.connected = Gauge("humiao_hub_broker_connected", "1 while connected to the broker", registry=registry)
        self.connect_failures = PromCounter(
            "humiao_hub_broker_connect_failures", "connection attempts that failed (retried)", registry=registry
        )


class HubPublisher:
    """A publish-only MQTT client for hub commands run beside the workers (``humiao hub
    request-evidence``): the broker identity ``hub.cli`` (its own client id and a clean session, so
    it neither takes over a worker's session nor joins the shared subscription; it may publish
    evidence requests only), every message signed with the hub's key."""

    def __init__(self, cfg: HubConfig, signer: signing.Signer):
        m = cfg.mqtt
        v5 = m.protocol == "5"
        self.cfg = cfg
        self.signer = signer
        self.client_id = acl.CLI
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else True,
        )
        secure(self.client, cfg.ca_file(), acl.CLI, cfg.broker_password_file(acl.CLI))
        self.connected = threading.Event()
        self.refused: str | None = None
        self.client.on_connect = self._on_connect
        self._sent: list[mqtt.MQTTMessageInfo] = []

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties=None) -> None:
        if reason_code.is_failure:
            self.refused = str(reason_code)
        else:
            self.connected.set()

    def __enter__(self) -> HubPublisher:
        m = self.cfg.mqtt
        self.client.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        self.client.loop_start()
        return self

    def __exit__(self, *_exc) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, message_id: str, body: bytes) -> None:
        self._sent.append(self.client.publish(topic, self.signer.sign(topic, message_id, body), qos=1))

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Whether the broker acknowledged everything published (QoS 1) within the time."""
        for info in self._sent:
            info.wait_for_publish(timeout_s)
        return all(info.is_published() for info in self._sent)


class Ingestor:
    def __init__(
        self,
        cfg: HubConfig,
        session_factory,
        registry: CollectorRegistry | None = None,
        private_key=None,
        on_stored: Callable[[list[str]], None] | None = None,
        signer: signing.Signer | None = None,
        keys: KeyRing | None = None,
    ):
        self.cfg = cfg
        self.sessions = session_factory
        self.private_key = private_key
        self.on_stored = on_stored
        self.signer = signer or signing.Signer.load_or_generate(cfg.signing_key_path(), "hub signing key")
        self.keys = keys or KeyRing(session_factory, cfg.security.key_refresh_s)
        self.verifier = Verifier(self.keys, cfg.security)
        self.metrics = IngestMetrics(registry or CollectorRegistry())
        m = cfg.mqtt
        v5 = m.protocol == "5"
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=m.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
        )
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        # paho annotates the delays as int, but they are seconds used in arithmetic: 0.5 s is meant
        self.client.reconnect_delay_set(0.5, 10)  # type: ignore[arg-type]
        self._queue: queue.Queue[Incoming] = queue.Queue(maxsize=cfg.ingest.queue_max)
        # statuses waiting to be written: the latest per topic (one per device), oldest waiting first
        self._statuses: OrderedDict[str, Incoming] = OrderedDict()
        self._statuses_lock = threading.Lock()
        self._stop = threading.Event()
        self._writer = threading.Thread(target=self._write_loop, name="hub-ingest-writer", daemon=True)
        self.connected = threading.Event()
        # why the ingest is not connected, in plain words (None while it is): /readyz shows it
        self.problem: str | None = f"broker {m.host}:{m.port} not connected yet"
        self._logged: str | None = None  # the problem last logged: one line per reason, not per retry
        self._refused = False  # the broker's CONNACK said no: the disconnect that follows says nothing new
        self.stats: Counter[str] = Counter()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        m = self.cfg.mqtt
        secure(self.client, self.cfg.ca_file(), m.client_id, self.cfg.broker_password_file())
        props = None
        if m.protocol == "5":
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = m.session_expiry_s
            props.ReceiveMaximum = min(65535, max(self.cfg.ingest.batch_max * 2, 100))
        self.client.connect_async(
            m.host,
            m.port,
            keepalive=m.keepalive_s,
            clean_start=False if m.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.client.loop_start()
        self._writer.start()

    def stop(self) -> None:
        """Commit what was received, then disconnect (the session stays on the broker)."""
        self._stop.set()
        if self._writer.is_alive():
            self._writer.join(timeout=30)
        self.client.disconnect()
        self.client.loop_stop()

    def subscriptions(self) -> list[str]:
        """The edge kinds, shared among the workers; statuses also directly (retained statuses are
        not delivered to shared subscriptions; their upserts are idempotent and ordered by sent_at)."""
        return acl.hub_subscriptions(self.cfg.mqtt.share_group)

    def publish(self, topic: str, message_id: str, body: bytes) -> mqtt.MQTTMessageInfo:
        """Send a hub → edge message, signed with the hub's key (QoS 1: the info says when the broker has it)."""
        return self.client.publish(topic, self.signer.sign(topic, message_id, body), qos=1)

    # -- paho callbacks ----------------------------------------------------------------------
    # paho retries by itself, 0.5 s doubling to 10 s apart; the log says why once per reason, not per retry.
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            self._refused = True
            self.metrics.connect_failures.inc()
            if reason_code.value == 0x84:  # "Unsupported protocol version"
                other = "3.1.1" if self.cfg.mqtt.protocol == "5" else "5"
                fix = f"the broker does not speak MQTT {self.cfg.mqtt.protocol}: set mqtt.protocol to {other!r}"
            else:
                fix = (
                    f"check the hub's broker identity {self.cfg.mqtt.client_id} and its password file "
                    f"{self.cfg.broker_password_file()} (humiao hub broker init)"
                )
            self._trouble(f"refused by the broker: {reason_code}", fix)
            return
        client.subscribe([(s, 1) for s in self.subscriptions()])
        self.connected.set()
        self.metrics.connected.set(1)
        again, self.problem, self._logged = self._logged is not None, None, None
        log.log(
            logging.WARNING if again else logging.INFO,  # seen wherever the trouble was seen
            "hub ingest connected to broker %s:%s%s, subscribed to %s",
            self.cfg.mqtt.host,
            self.cfg.mqtt.port,
            " again" if again else "",
            self.subscriptions(),
        )

    def _on_connect_fail(self, client, userdata) -> None:
        """paho could not open the connection; it calls this inside its ``except OSError``."""
        err = sys.exc_info()[1]
        self.metrics.connect_failures.inc()
        if isinstance(err, ssl.SSLError):
            self._trouble(
                f"TLS failed: {err}",
                f"check the broker's CA certificate {self.cfg.ca_file()} and that mqtt.host is a name in the "
                "broker's certificate",
            )
        else:
            why = (getattr(err, "strerror", None) or str(err) or type(err).__name__) if err else "no answer"
            self._trouble(f"cannot connect: {why}", "is mosquitto running? check mqtt.host/mqtt.port in the hub config")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        self.metrics.connected.set(0)
        refused, self._refused = self._refused, False
        if self._stop.is_set() or refused:
            return
        if was_connected:
            self._trouble(
                f"connection lost ({reason_code})", "is mosquitto running? check mqtt.host/mqtt.port in the hub config"
            )
        else:
            self.metrics.connect_failures.inc()
            self._trouble(
                f"the broker closed the connection before answering ({reason_code})",
                f"does it speak MQTT {self.cfg.mqtt.protocol} (mqtt.protocol)? its log says why",
            )

    def _trouble(self, reason: str, fix: str) -> None:
        """Record why the ingest is not connected; log it once while the reason stays the same."""
        m = self.cfg.mqtt
        self.problem = f"broker {m.host}:{m.port} not connected: {reason}"
        if self.problem != self._logged:
            self._logged = self.problem
            log.error(
                "hub ingest: %s — %s; retrying with backoff (logged again when the reason changes)", self.problem, fix
            )

    def _on_message(self, client, userdata, msg) -> None:
        item = Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain), datetime.now(UTC))
        if msg.topic.endswith("/status"):  # the latest per device waits; the one it replaces is done with
            with self._statuses_lock:
                replaced = self._statuses.get(msg.topic)
                self._statuses[msg.topic] = item  # keeps its place in the line
            if replaced is not None:
                self.metrics.statuses_replaced.inc()
                if replaced.qos > 0:
                    client.ack(replaced.mid, replaced.qos)
            return
        # blocks when the queue is full: paho stops reading the socket, the broker holds the rest
        self._queue.put(item)

    def _take_statuses(self, n: int) -> list[Incoming]:
        with self._statuses_lock:
            return [self._statuses.popitem(last=False)[1] for _ in range(min(n, len(self._statuses)))]

    def waiting(self) -> int:
        """Messages received and not yet taken into a batch (statuses: one per device at most)."""
        return self._queue.qsize() + len(self._statuses)

    # -- writer ------------------------------------------------------------------------------
    def _take_batch(self) -> list[Incoming]:
        """Alerts, ID checks and the other messages first (waiting up to batch_wait_ms for more), then
        statuses to fill the batch."""
        limit = self.cfg.ingest.batch_max
        try:
            first = self._queue.get_nowait() if self._statuses else self._queue.get(timeout=0.2)
        except queue.Empty:
            return self._take_statuses(limit)
        items = [first]
        deadline = time.monotonic() + self.cfg.ingest.batch_wait_ms / 1000
        while len(items) < limit:
            remaining = deadline - time.monotonic()
            try:
                items.append(self._queue.get(timeout=max(remaining, 0)) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return items + self._take_statuses(limit - len(items))

    def _write_loop(self) -> None:
        backoff = 0.2
        pending: list[Incoming] = []
        while True:
            if not pending:
                if self._stop.is_set() and self._queue.empty() and not self._statuses:
                    return
                pending = self._take_batch()
                if not pending:
                    continue
            self.metrics.queue.set(self.waiting())
            try:
                try:
                    self._commit(pending)
                except RETRIED:
                    raise
                except Exception as err:  # not the database being away: a message it (or a check) refuses
                    log.warning(
                        "a batch of %d was refused (%s); storing its messages one by one", len(pending), _reason(err)
                    )
                    self._commit_one_by_one(pending)
            except RETRIED:  # database down or busy: keep the messages, unacknowledged, and retry
                self.metrics.db_errors.inc()
                log.exception("ingest transaction failed; retrying in %.1f s", backoff)
                if self._stop.wait(backoff) and self._stop.is_set() and backoff >= 5:
                    return  # stopping and the database stays down: the broker redelivers after restart
                backoff = min(backoff * 2, 10)
                continue
            backoff = 0.2
            for item in pending:
                if item.qos > 0:
                    self.client.ack(item.mid, item.qos)
            pending = []

    def _commit_one_by_one(self, items: list[Incoming]) -> None:
        """Each message in its own transaction; one that is refused becomes a dead letter (a database
        that goes away meanwhile raises, and the whole batch is retried)."""
        for item in items:
            try:
                self._commit([item])
            except RETRIED:
                raise
            except Exception as err:
                self.metrics.dead.labels("invalid").inc()
                self.stats["dead_letters"] += 1
                with self.sessions() as session, session.begin():
                    store.dead_letters(session, [self._dead_letter(item, "invalid", f"refused: {_reason(err)}")])

    def _dead_letter(self, item: Incoming, reason: str, detail: str) -> dict:
        return {
            "received_at": item.received_at,
            "topic": item.topic[:1000],
            "reason": reason,
            "detail": detail[:2000],
            "size": len(item.payload),
            "payload_head": item.payload[: self.cfg.ingest.dead_letter_keep_bytes],
        }

    def _commit(self, items: list[Incoming]) -> None:
        started = time.perf_counter()
        batch = self._classify(items)
        acks: list[tuple[str, str, bytes]] = []
        with self.sessions() as session, session.begin():
            stored_at = datetime.now(UTC)
            self._check_id_checks(session, batch)
            for row in batch.alerts:
                row["stored_at"] = stored_at
            new_alerts = store.alerts(session, batch.alerts)
            new_alerts_conflicts = self._conflicting(session, Alert, batch.alerts, new_alerts, "event_id", batch)
            new_checks = store.id_checks(session, batch.id_checks)
            refused = new_alerts_conflicts | self._conflicting(
                session, IdCheck, batch.id_checks, new_checks, "check_id", batch
            )
            for verified, dev, item in batch.evidence:
                ack = self._store_evidence(session, verified, dev, item, batch, stored_at)
                if ack is not None:
                    acks.append(ack)
            store.devices_seen(session, batch.seen)
            for (district, venue, device), fields in batch.devices.items():
                store.touch_device(session, district, venue, device, **fields)
            store.dead_letters(session, batch.dead)
        self.verifier.remember(batch.remember)
        duplicates = len(batch.alerts) - len(new_alerts) + len(batch.id_checks) - len(new_checks)
        self.metrics.batch.observe(time.perf_counter() - started)
        self.metrics.alerts.inc(len(new_alerts))
        self.metrics.duplicates.inc(duplicates - len(refused))
        self.stats["alerts"] += len(new_alerts)
        self.stats["duplicates"] += duplicates - len(refused)
        self.stats["dead_letters"] += len(batch.dead)
        for kind, n in batch.kinds.items():
            self.metrics.messages.labels(kind).inc(n)
        for topic_name, message_id, body in acks:  # after the commit: the edge deletes its copy only then
            self.publish(topic_name, message_id, body)
        self._send_receipts(batch, stored_at, refused)
        if (new_alerts or new_checks) and self.on_stored:
            self.on_stored(sorted(new_alerts | new_checks))

    def _conflicting(self, session, model, rows: list[dict], new: set[str], key: str, batch: Batch) -> set[str]:
        """Ids that were already stored with another signed body: a replay under a used id, kept
        aside (and not receipted); a resend of the same body is a duplicate, absorbed."""
        repeats = {r[key]: r for r in rows if r[key] not in new}
        if not repeats:
            return set()
        column = getattr(model, key)
        stored = dict(session.execute(select(column, model.body_sha256).where(column.in_(list(repeats)))).all())
        bad = {k for k, r in repeats.items() if stored.get(k) is not None and stored[k] != r.get("body_sha256")}
        for k in bad:
            self._reject_late(batch, repeats[k], "replayed", f"{key} {k} is already stored with other content")
        return bad

    def _reject_late(self, batch: Batch, row: dict, reason: str, detail: str) -> None:
        """A dead letter decided inside the transaction (the message's row carries its Incoming)."""
        key = row.get("check_id") or row["event_id"]
        self._reject(batch, batch.sources[key], reason, detail)

    def _check_id_checks(self, session, batch: Batch) -> None:
        """An ID check must answer an alert of the same device. One whose alert is not stored yet is
        left out of this batch unconfirmed (the edge sends it again) until it is older than
        ``security.unknown_alert_grace_s``, then kept aside. A walk-up check answers no alert (its
        device is the one that signed it, on its own topic): stored as it is."""
        if not batch.id_checks:
            return
        wanted = {r["event_id"] for r in batch.id_checks if not r["walk_up"]}
        owners = {
            e: (d, v, dev)
            for e, d, v, dev in session.execute(
                select(Alert.event_id, Alert.district_id, Alert.venue_id, Alert.device_id).where(
                    Alert.event_id.in_(list(wanted))
                )
            ).all()
        }
        for r in batch.alerts:
            owners.setdefault(r["event_id"], (r["district_id"], r["venue_id"], r["device_id"]))
        keep = []
        now = datetime.now(UTC)
        for row in batch.id_checks:
            if row["walk_up"]:  # idcheck_row: a walk-up has no event id, every other check has one
                keep.append(row)
                continue
            dev = (row["district_id"], row["venue_id"], row["device_id"])
            owner = owners.get(row["event_id"])
            if owner is None:
                # from the check's own time: the edge signs each resend afresh
                if (now - row["checked_at"]).total_seconds() > self.cfg.security.unknown_alert_grace_s:
                    self._reject_late(batch, row, "unknown_alert", f"no alert {row['event_id']} is stored")
                else:
                    self.stats["deferred"] += 1
                continue
            if owner != dev:
                self._reject_late(
                    batch, row, "wrong_device", f"alert {row['event_id']} is {'/'.join(owner)}'s, not {'/'.join(dev)}'s"
                )
                continue
            keep.append(row)
        batch.id_checks = keep

    def _store_evidence(
        self, session, verified: Verified, dev: DeviceKey, item: Incoming, batch: Batch, stored_at: datetime
    ) -> tuple[str, str, bytes] | None:
        """Store a crop sent for an open request to the same device; the ack to send, or None when
        it is kept aside (no such request, another device's, one that does not open for its event,
        or a second, different crop). The request is checked before the box is opened."""
        msg = verified.message
        assert isinstance(msg, pb.Evidence)
        try:  # exact ids: the request and the alert are looked up by them
            request_id, event_id = uuid7_text(msg.request_id, "request_id"), uuid7_text(msg.event_id)
        except Rejected as err:
            self._reject(batch, item, err.reason, err.detail)
            return None
        req = session.get(EvidenceRequest, request_id)
        alert = session.scalars(select(Alert).where(Alert.event_id == event_id)).one_or_none()
        if req is None or req.event_id != event_id or alert is None:
            self._reject(batch, item, "no_request", f"no evidence request {request_id} for {event_id}")
            return None
        if (alert.district_id, alert.venue_id, alert.device_id) != dev:
            self._reject(batch, item, "wrong_device", f"alert {event_id} is not {'/'.join(dev)}'s")
            return None
        existing = session.get(Evidence, event_id)  # before any decryption: a repeat or a second crop
        if existing is not None and existing.stored_sha256 != hashlib.sha256(msg.ciphertext).hexdigest():
            self._reject(batch, item, "conflict", f"evidence for {event_id} is already stored, with another crop")
            return None
        try:
            row = self._evidence_row(msg, item) | verified.signature_fields()
        except Rejected as err:
            self._reject(batch, item, err.reason, err.detail)
            return None
        if existing is None and store.evidence(session, row) and req.fulfilled_at is None:
            req.fulfilled_at = stored_at
        ack = pb.EvidenceAck(request_id=row["request_id"], event_id=row["event_id"], stored_sha256=row["stored_sha256"])
        return make_topic(*dev, "evidence_ack"), row["request_id"], ack.SerializeToString()

    def _send_receipts(self, batch: Batch, stored_at: datetime, refused: Collection[str] = ()) -> None:
        """Tell each edge which of its alerts are committed (new or repeats): it drops them from its spool."""
        keys: dict[DeviceKey, list[str]] = {}
        for row in batch.alerts:
            if row["event_id"] not in refused:
                keys.setdefault((row["district_id"], row["venue_id"], row["device_id"]), []).append(row["event_id"])
        for row in batch.id_checks:
            if row["check_id"] not in refused:
                keys.setdefault((row["district_id"], row["venue_id"], row["device_id"]), []).append(row["check_id"])
        for dev, ids in keys.items():
            receipt = pb.Receipt(keys=ids)
            receipt.stored_at.FromDatetime(stored_at)
            self.publish(make_topic(*dev, "receipt"), str(uuid7()), receipt.SerializeToString())

    def _classify(self, items: list[Incoming]) -> Batch:
        batch = Batch()
        for item in items:
            try:
                verified = self.verifier.check(item.topic, item.payload, item.retain)
                replay_key = verified.replay_key if verified is not None else None
                if verified is not None and replay_key is not None:
                    if replay_key in batch.remember:  # twice in one batch: the same message absorbed, another refused
                        if verified.where.kind != "status" and batch.remember[replay_key][1] != verified.digest:
                            kind, env_id = verified.where.kind, verified.envelope.id
                            raise Rejected("replayed", f"{kind} {env_id!r} came twice, with other content")
                        verified = None
                    else:
                        batch.remember[replay_key] = (verified.where.kind, verified.digest)
                if verified is None:
                    batch.kinds["own" if item.topic.endswith(HUB_KIND_SUFFIXES) else "repeat"] += 1
                    continue
                self._route(batch, verified, item)
                batch.kinds[verified.where.kind] += 1
            except Rejected as err:
                self._reject(batch, item, err.reason, err.detail)
            except RETRIED:
                raise  # the key ring could not be read: the batch is tried again, nothing is refused for it
            except Exception as err:  # a message no check foresaw must not stall the batch: keep it aside
                log.exception("unexpected error classifying a message on %r", item.topic[:200])
                self._reject(batch, item, "invalid", f"unexpected {type(err).__name__}: {err}"[:500])
        return batch

    def _reject(self, batch: Batch, item: Incoming, reason: str, detail: str) -> None:
        batch.kinds["rejected"] += 1
        self.metrics.dead.labels(reason).inc()
        log.warning("dead letter (%s) on %r: %s", reason, item.topic[:200], detail)
        batch.dead.append(self._dead_letter(item, reason, detail))

    def _route(self, batch: Batch, verified: Verified, item: Incoming) -> None:
        where, msg, env = verified.where, verified.message, verified.envelope
        dev = (where.district, where.venue, where.device)
        kind = where.kind
        if kind == "alert":
            assert isinstance(msg, pb.Alert)
            row = alert_row(msg, where, item.received_at) | verified.signature_fields(keep_body=True)
            self._not_after_signing(row["decided_at"], env, "decided_at")
            if env.id != row["event_id"]:
                raise Rejected("invalid", f"signed as {env.id[:40]!r}, but the alert's event id is {row['event_id']}")
            batch.alerts.append(row)
            batch.sources[row["event_id"]] = item
        elif kind == "idcheck":
            assert isinstance(msg, pb.IdCheckOutcome)
            row = idcheck_row(msg, where, item.received_at) | verified.signature_fields(keep_body=True)
            if env.id != row["check_id"]:
                raise Rejected("invalid", f"signed as {env.id[:40]!r}, but the check id is {row['check_id']}")
            batch.id_checks.append(row)
            batch.sources[row["check_id"]] = item
        elif kind == "status":
            assert isinstance(msg, pb.Status)
            check_device_message(msg, where)
            # a Last Will has no sent_at (it was signed at connect time, maybe days ago): it speaks for when it
            # arrives; a status's own time may not be later than its signature
            sent_at = ts(msg.sent_at, "sent_at", required=msg.online)
            if sent_at is None:
                sent_at = item.received_at
            else:
                self._not_after_signing(sent_at, env, "sent_at")
            prior = batch.devices.get(dev, {})
            if prior.get("status_sent_at") and prior["status_sent_at"] > sent_at:
                return
            fields = {
                **prior,
                "seen": item.received_at,
                "online": msg.online,
                "status_sent_at": sent_at,
                "availability_changed": item.received_at,
            }
            if msg.HasField("sent_at"):  # a real status; a Last Will only says the device is gone
                fields.update(status=status_json(msg), software_version=msg.software_version or None)
            batch.devices[dev] = fields
        elif kind == "birth":
            assert isinstance(msg, pb.Birth)
            check_device_message(msg, where)
            batch.devices[dev] = {
                **batch.devices.get(dev, {}),
                "seen": item.received_at,
                "started_at": ts(msg.started_at, "started_at"),
                "software_version": msg.software_version,
                "venue_type": venue_type_name(msg.venue_type),
            }
        elif kind == "death":
            check_device_message(msg, where)
            batch.devices[dev] = {
                **batch.devices.get(dev, {}),
                "seen": item.received_at,
                "online": False,
                "availability_changed": item.received_at,
            }
        elif kind == "evidence":
            assert isinstance(msg, pb.Evidence)
            if env.id != msg.request_id:
                raise Rejected("invalid", f"signed as {env.id[:40]!r}, but the request id is {msg.request_id[:40]!r}")
            batch.evidence.append((verified, dev, item))  # checked against its request in the transaction
        self._seen(batch, dev, item.received_at)

    def _not_after_signing(self, when: datetime, env, field: str) -> None:
        """A time in the body may not be later than the signature (give or take the clock skew allowed):
        a status dated in the future would otherwise hide every later one."""
        if when.timestamp() > env.signed_at + self.cfg.security.max_future_s:
            raise Rejected("invalid", f"{field} {when:%Y-%m-%d %H:%M:%S} is later than the message was signed")

    @staticmethod
    def _seen(batch: Batch, dev: DeviceKey, when: datetime) -> None:
        batch.seen[dev] = max(when, batch.seen.get(dev, when))

    def _evidence_row(self, msg: pb.Evidence, item: Incoming) -> dict:
        event_id = uuid7_text(msg.event_id)
        if self.private_key is None:
            raise Rejected("invalid", "evidence arrived but this hub has no evidence key")
        try:
            plain = sealed.open_box(self.private_key, msg.ciphertext, event_id)
        except (sealed.SealError, ValueError) as err:
            raise Rejected("invalid", f"evidence for {event_id}: {err}") from None
        if hashlib.sha256(plain).hexdigest() != msg.plaintext_sha256:
            raise Rejected("invalid", f"evidence for {event_id}: plaintext hash mismatch")
        del plain  # verified, not kept: the crop stays sealed at rest
        return {
            "event_id": event_id,
            "request_id": msg.request_id,
            "ciphertext": msg.ciphertext,
            "cipher": msg.cipher,
            "plaintext_sha256": msg.plaintext_sha256,
            "stored_sha256": hashlib.sha256(msg.ciphertext).hexdigest(),
            "captured_at": ts(msg.captured_at, "captured_at"),
            "received_at": item.received_at,
            "purge_after": item.received_at + timedelta(days=self.cfg.evidence.retention_days),
            "held": False,
        }
