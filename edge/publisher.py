"""Publisher: drains the spool to the broker with QoS 1. An entry leaves the spool on its PUBACK,
or, for alerts and ID checks when ``receipt_topic`` is given, on the hub's receipt (the broker's
PUBACK alone does not survive a broker crash); an acknowledged alert whose receipt is overdue is
sent again with backoff.

Every message is signed with the device's key when it is sent (proto/signing.py: a spooled alert
is signed afresh at each attempt, so the hub's replay window measures transit, not outages); every
message from the hub is checked against the hub's key and its age before anything acts on it, and
a receipt removes only alerts and ID checks this edge has sent (edge/spool.py).

One paho-mqtt client, TLS to the broker with the device's identity (the client id is its broker
user name, ``edge.<district>.<venue>.<device>``), and a persistent session (MQTT v5 by default, 3.1.1 as
a setting, for brokers such as amqtt that speak only 3.1.1). A pump thread sends spooled entries
in order, at most ``window`` in flight; on every (re)connect it starts again from the oldest
un-acknowledged entry, so anything the broker never acknowledged is sent again (the hub absorbs
the repeat by event id).

Beside the spool: a Last Will (the agent's retained ``status`` with ``online=false``), the
device's subscriptions (evidence requests and acks, kept by the persistent session while the
device is away) and ``on_connected``, with which the agent republishes its retained status on
every (re)connect.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

import paho.mqtt.client as mqtt
from google.protobuf.message import DecodeError, Message
from pydantic import Field

from humiao.broker import secure
from humiao.config import Section
from humiao.edge.identity import DeviceIdentity
from humiao.edge.spool import RECEIPTED, Spool
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import signing
from humiao.proto.ids import uuid7
from humiao.proto.topics import HUB_KINDS, TopicError
from humiao.proto.topics import parse as parse_topic

log = logging.getLogger("humiao.edge.mqtt")


class MqttConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8883, ge=1, le=65535, description="the broker's TLS port")
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: int = Field(15, ge=5, le=600)
    window: int = Field(64, ge=1, le=1000, description="QoS 1 messages in flight at once")
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    receipt_timeout_s: float | None = Field(
        30.0,
        gt=0,
        description="send an alert again when the hub's receipt is this late (doubling); "
        "null: trust the broker's PUBACK alone",
    )
    hub_message_max_age_s: float = Field(
        7 * 24 * 3600.0, gt=0, description="a message from the hub signed longer ago than this is ignored"
    )
    max_future_s: float = Field(300.0, ge=0, description="clock skew allowed for messages from the hub")


def message_id(key: str) -> str:
    """The signed id of a spooled entry: its key without the kind prefix ("evidence:<request id>" →
    the request id; an alert's key is its event id)."""
    return key.split(":", 1)[1] if ":" in key else key


class Publisher:
    def __init__(
        self,
        spool: Spool,
        identity: DeviceIdentity,
        cfg: MqttConfig | None = None,
        will: tuple[str, bytes] | None = None,
        subscriptions: Sequence[str] = (),
        on_message: Callable[[str, Message], None] | None = None,
        on_connected: Callable[[Publisher], None] | None = None,
        receipt_topic: str | None = None,
    ):
        self.spool = spool
        self.identity = identity
        self.signer = identity.signer
        self.cfg = cfg or MqttConfig()
        self.receipt_topic = receipt_topic
        self._receipt_timeout_s = self.cfg.receipt_timeout_s if receipt_topic is not None else None
        self.will = will
        self.subscriptions = list(subscriptions) + ([receipt_topic] if receipt_topic else [])
        self.on_message = on_message
        self.on_connected = on_connected
        v5 = self.cfg.protocol == "5"
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=identity.username,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else False,
        )
        self.client.max_inflight_messages_set(self.cfg.window)
        # paho sleeps on these as floats; its type hint says int
        self.client.reconnect_delay_set(self.cfg.reconnect_min_s, self.cfg.reconnect_max_s)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self._cond = threading.Condition()
        self._connected = False
        self._inflight: dict[int, tuple[int, str]] = {}  # mid → (spool seq, kind)
        self._early: set[int] = set()  # PUBACKs that arrived before publish() returned the mid
        self._next_seq = 0  # highest seq handed to the client in this connection
        self._generation = 0  # bumped on every connect: a batch from an older connection stops
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._run, name="spool-pump", daemon=True)
        self.published = 0
        self.confirmed = 0  # entries the hub's receipts removed
        self.resent = 0  # acknowledged by the broker, receipt overdue, sent again
        self.refused_from_hub = 0  # messages on our hub topics that failed the hub's signature or age

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        props = None
        if self.cfg.protocol == "5":
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 7 * 24 * 3600  # keep the session (and requests for us) across outages
        secure(self.client, self.identity.ca_file, self.identity.username, self.identity.password_file)
        self._set_will()
        self.client.connect_async(
            self.cfg.host,
            self.cfg.port,
            keepalive=self.cfg.keepalive_s,
            clean_start=False if self.cfg.protocol == "5" else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.client.loop_start()
        self._pump.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._pump.join(timeout=5)
        self.client.disconnect()
        self.client.loop_stop()

    def _set_will(self) -> None:
        """The Last Will, signed now with a fresh id (set again after every disconnect, so each will
        the broker sends is a new message to the hub)."""
        if self.will:
            topic, body = self.will
            self.client.will_set(topic, self.signer.sign(topic, str(uuid7()), body), qos=1, retain=True)

    def send_now(self, topic: str, body: bytes, retain: bool = False) -> bool:
        """Publish outside the spool (state such as the retained status, not events); False when offline."""
        if not self._connected:
            return False
        payload = self.signer.sign(topic, str(uuid7()), body)
        return self.client.publish(topic, payload, qos=1, retain=retain).rc == mqtt.MQTT_ERR_SUCCESS

    def from_hub(self, topic: str, payload: bytes, now: float | None = None) -> Message | None:
        """The message of a hub → edge publish, if the hub signed it for this topic recently; None
        (logged and counted) for anything else."""
        try:
            where = parse_topic(topic)
            if where.kind not in HUB_KINDS:
                raise TopicError(f"{where.kind} is not a message from the hub")
            env = signing.unwrap(payload)
            signing.verify(env, topic, self.identity.hub_public)
            age = (time.time() if now is None else now) - env.signed_at
            if age > self.cfg.hub_message_max_age_s or age < -self.cfg.max_future_s:
                raise signing.SignatureError(f"signed {age:.0f} s ago: outside the accepted window")
            msg = HUB_KINDS[where.kind]()
            msg.ParseFromString(env.body)
        except (TopicError, signing.SignatureError, DecodeError) as err:
            self.refused_from_hub += 1
            log.warning("ignoring a message on %s that is not from the hub: %s", topic[:200], err)
            return None
        return msg

    def wake(self) -> None:
        """Something new is in the spool."""
        with self._cond:
            self._cond.notify_all()

    @property
    def connected(self) -> bool:
        return self._connected

    # -- callbacks (paho's network thread) ---------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        log.info("connected to %s:%s as %s", self.cfg.host, self.cfg.port, self.identity.username)
        with self._cond:
            self._connected = True
            self._generation += 1
            # Resend everything not yet acknowledged. Messages paho had in flight keep their mids
            # (paho resends them itself), so their PUBACKs still find their spool entries; the
            # duplicates this makes are absorbed by the hub's unique event id.
            self._next_seq = 0
            self._cond.notify_all()
        if self.subscriptions:
            client.subscribe([(s, 1) for s in self.subscriptions])
        if self.on_connected:
            self.on_connected(self)

    def _on_message(self, client, userdata, msg) -> None:
        message = self.from_hub(msg.topic, bytes(msg.payload))
        if message is None:
            return
        if isinstance(message, pb.Receipt):
            if msg.topic == self.receipt_topic:
                self.confirmed += self.spool.confirm(list(message.keys))
            return
        if self.on_message:
            try:
                self.on_message(msg.topic, message)
            except Exception:  # a bad request must not take the network thread down
                log.exception("handling %s failed", msg.topic)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); spooling until it is back", reason_code)
            self._set_will()
        with self._cond:
            self._connected = False
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None) -> None:
        with self._cond:
            entry = self._inflight.pop(mid, None)
            if entry is None:
                self._early.add(mid)
            self._cond.notify_all()
        if entry is not None:
            self._acked(*entry)

    def _acked(self, seq: int, kind: str) -> None:
        if self._receipt_timeout_s is not None and kind in RECEIPTED:
            self.spool.await_receipt(seq, self._receipt_timeout_s)
        else:
            self.spool.ack(seq)
        self.published += 1

    # -- pump ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                if not self._connected or len(self._inflight) >= self.cfg.window:
                    self._cond.wait(0.5)
                    continue
                after, room, generation = self._next_seq, self.cfg.window - len(self._inflight), self._generation
            batch = self.spool.pending(limit=room, after_seq=after)
            resend = False
            if not batch and self._receipt_timeout_s is not None:
                batch = self.spool.due(limit=room)
                resend = bool(batch)
                if resend:
                    self.resent += len(batch)
                    log.info(
                        "%d alerts acknowledged by the broker but not confirmed by the hub: sending again", len(batch)
                    )
            if not batch:
                with self._cond:
                    self._cond.wait(0.5)
                continue
            for entry in batch:
                if entry.payload is None:  # evidence dropped for space: nothing left to send
                    self.spool.ack(entry.seq)
                    continue
                if not self._connected:
                    break
                self.spool.attempted(entry.seq)
                # never hold our lock across publish(): paho's network thread calls _on_publish
                payload = self.signer.sign(entry.topic, message_id(entry.key), entry.payload)
                info = self.client.publish(entry.topic, payload, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break  # the connection dropped; _on_connect resets and we start over
                with self._cond:
                    early = info.mid in self._early
                    self._early.discard(info.mid)
                    if not early:
                        self._inflight[info.mid] = (entry.seq, entry.kind)
                    current = generation == self._generation
                    if current and not resend:
                        self._next_seq = entry.seq
                if early:
                    self._acked(entry.seq, entry.kind)
                if not current:
                    break  # reconnected meanwhile: the new connection replays from the oldest entry
