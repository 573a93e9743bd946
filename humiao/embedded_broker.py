"""An embedded MQTT broker (amqtt 0.12, MQTT 3.1.1 only) for ``humiao demo``. Never production:
production uses Mosquitto (README, deploy/), whose rules this broker mirrors for the demo.

What it enforces, from the same source as Mosquitto's dynamic-security roles (proto/acl.py):

- TLS only: one listener on 127.0.0.1, with the certificate and key it is given; no plaintext port.
- Authentication (``PasswordAuthPlugin``): a user name and its password, checked against an
  in-memory table of salted PBKDF2-SHA512 hashes; no anonymous client; the client id must equal the
  user name, so nobody takes over another identity's session; a Last Will must be on a topic the
  identity may publish to (Mosquitto checks the will at CONNECT too). amqtt itself looks up, takes
  over or deletes the session named by the client id *before* it asks the plugins, so this broker
  authenticates first and refuses (CONNACK 5, not authorised) before amqtt touches any session.
- Topic rights (``AclTopicPlugin``): publish, subscribe and receive checked with
  ``proto.acl.allowed`` against the identity's rules; subscribe against the filter exactly as the
  client sends it (a ``$share/<group>/`` prefix included: amqtt has no shared subscriptions, so the
  demo's hub subscribes without one). amqtt checks "receive" on every delivery, and, here, also
  on retained messages sent when a client subscribes or reconnects (amqtt sends those unchecked,
  and on a reconnect even for *other* clients' filters: this broker sends them for the client's
  own subscriptions only, each retained topic checked).
- ``disable(username)`` (``hub.devices.BrokerRights``): the identity is removed, its live
  connection closed at once (without its Last Will, like Mosquitto's kick) and its session,
  subscriptions and queued messages dropped; it cannot connect again.

Identities live in memory only: the demo registers them again at every start.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.utils import gen_client_id

from humiao.proto import acl

HOST = "127.0.0.1"
PBKDF2_ITERATIONS = 210_000  # OWASP's figure for PBKDF2-HMAC-SHA512; hashed off the broker's event loop
_ACTIONS: dict[str, acl.Action] = {"publish": "publish", "subscribe": "subscribe", "receive": "receive"}


@dataclass(frozen=True)
class _Identity:
    salt: bytes
    digest: bytes
    rules: tuple[acl.Rule, ...]


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)


class Identities:
    """User name → salted PBKDF2-SHA512 password hash and topic rules; thread-safe (the demo adds
    identities from its own thread, the broker reads them on its event loop)."""

    _DUMMY_SALT = secrets.token_bytes(16)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[str, _Identity] = {}

    def set(self, username: str, password: str, rules: list[acl.Rule]) -> None:
        if not username or not password:
            raise ValueError("a broker identity needs a user name and a password")
        salt = secrets.token_bytes(16)
        identity = _Identity(salt, _hash(password, salt), tuple(rules))
        with self._lock:
            self._by_name[username] = identity

    def remove(self, username: str) -> bool:
        with self._lock:
            return self._by_name.pop(username, None) is not None

    def rules(self, username: str) -> tuple[acl.Rule, ...] | None:
        with self._lock:
            identity = self._by_name.get(username)
        return identity.rules if identity else None

    def verify(self, username: str, password: str) -> _Identity | None:
        """The identity when the password is right; None otherwise (an unknown name costs the same)."""
        with self._lock:
            identity = self._by_name.get(username)
        digest = _hash(password, identity.salt if identity else self._DUMMY_SALT)
        if identity is None or not hmac.compare_digest(digest, identity.digest):
            return None
        return identity


class PasswordAuthPlugin(BaseAuthPlugin):
    """User name + password against ``Identities``; anonymous refused; client id = user name; the
    Last Will's topic must be one the identity may publish to."""

    @dataclass
    class Config:
        identities: Any = None  # an ``Identities`` (amqtt builds this from the broker's plugin settings)

    async def authenticate(self, *, session) -> bool | None:
        table: Identities = self.config.identities
        username, password = session.username, session.password
        if not username or password is None or session.client_id != username:
            return False
        identity = await asyncio.to_thread(table.verify, username, password)
        if identity is None:
            return False
        return not session.will_flag or acl.allowed(list(identity.rules), "publish", session.will_topic or "")


class AclTopicPlugin(BaseTopicPlugin):
    """publish / subscribe / receive through ``proto.acl.allowed``, with the identity's rules; an
    identity removed since it connected is allowed nothing."""

    @dataclass
    class Config:
        identities: Any = None

    async def topic_filtering(self, *, session=None, topic=None, action=None) -> bool | None:
        what = _ACTIONS.get(str(action))
        if session is None or not topic or what is None:
            return False
        username = session.username
        if not username or session.client_id != username:
            return False
        table: Identities = self.config.identities
        rules = table.rules(username)
        return rules is not None and acl.allowed(list(rules), what, topic)


class _Broker(Broker):
    """amqtt's broker, authenticating before any session is looked up, sending retained messages
    only where "receive" allows, and able to cut a client off."""

    async def _initialize_client_session(self, reader, writer, remote_address, remote_port):
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(reader, writer, self.plugins_manager)
        except (AMQTTError, MQTTError, NoDataError) as exc:
            with contextlib.suppress(Exception):
                await writer.close()
            raise AMQTTError(exc) from exc
        if not await self._authenticate(session, self.listeners_config["default"]):
            with contextlib.suppress(Exception):
                await ConnackPacket.build(0, NOT_AUTHORIZED).to_stream(writer)
                await writer.close()
            raise AMQTTError(f"refused {session.client_id!r} from {remote_address}:{remote_port}")
        # from here on as amqtt 0.12.1's Broker._initialize_client_session
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            existing, _ = self._sessions[session.client_id]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive", "username", "password"):
                setattr(existing, name, getattr(session, name))
            existing.will_retain = session.will_retain
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _publish_retained_messages_for_subscription(self, subscription, session) -> None:
        topic_filter, qos = subscription
        if all(s.client_id != session.client_id for s, _ in self._subscriptions.get(topic_filter, ())):
            return  # amqtt replays every client's filters on a reconnect: only this client's own count
        handler = self._get_handler(session)
        if handler is None:
            return
        tasks = []
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and await self._topic_filtering(session, topic, Action.RECEIVE):
                qos_out = min(qos, retained.qos or qos)
                tasks.append(asyncio.ensure_future(handler.mqtt_publish(topic, retained.data, qos_out, retain=True)))
        if tasks:
            await asyncio.wait(tasks)

    async def cut_off(self, client_id: str) -> bool:
        """Close the client's connection now (no Last Will) and drop its session; whether there was one."""
        session, handler = self._sessions.get(client_id, (None, None))
        if session is None:
            return False
        session.will_flag = False
        if handler is not None:
            await handler.handle_connection_closed()  # ends amqtt's message loop for the client
        await self._cleanup_session(client_id)  # closes the socket, drops subscriptions and queues
        return True


def _quiet_connection_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A client that goes away mid-handshake or mid-write is routine for a broker; asyncio would
    print each one with a trace. Anything else is reported as asyncio would."""
    if isinstance(context.get("exception"), (ConnectionError, ssl.SSLError, TimeoutError)):
        return
    loop.default_exception_handler(context)


class EmbeddedBroker:
    """The demo's broker on ``127.0.0.1:<port>``, TLS with ``certfile``/``keyfile``; implements
    ``hub.devices.BrokerRights`` (``add_device``, ``disable``)."""

    def __init__(self, certfile: Path, keyfile: Path, port: int = 18830):
        self.host, self.port = HOST, port
        self.certfile, self.keyfile = Path(certfile), Path(keyfile)
        self.identities = Identities()
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_connection_errors)
        self._broker: _Broker | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)

    # -- identities (hub.devices.BrokerRights) -------------------------------------------------
    def add_identity(self, username: str, password: str, rules: list[acl.Rule]) -> None:
        """Allow ``username`` (its client id too) with ``password``, to do what ``rules`` allow."""
        self.identities.set(username, password, rules)

    def add_device(self, username: str, password: str, rules: list[acl.Rule]) -> None:
        self.add_identity(username, password, rules)

    def disable(self, username: str) -> None:
        """Remove the identity and close its live connection at once (its session is dropped)."""
        self.identities.remove(username)
        if self._broker is not None and self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._broker.cut_off(username), self._loop).result(timeout=10)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> EmbeddedBroker:
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # it logs every probe and disconnect as an error
        plugin = {"identities": self.identities}
        config = {
            "listeners": {
                "default": {
                    "type": "tcp",
                    "bind": f"{self.host}:{self.port}",
                    "ssl": True,
                    "certfile": str(self.certfile),
                    "keyfile": str(self.keyfile),
                }
            },
            "plugins": {
                f"{__name__}.{PasswordAuthPlugin.__name__}": dict(plugin),
                f"{__name__}.{AclTopicPlugin.__name__}": dict(plugin),
            },
        }
        self._thread.start()

        async def boot() -> None:
            broker = _Broker(config)
            self._broker = broker
            await broker.start()

        try:
            asyncio.run_coroutine_threadsafe(boot(), self._loop).result(timeout=15)
        except Exception as err:
            self.stop()
            raise RuntimeError(f"the embedded broker did not start on {self.host}:{self.port}: {err}") from err
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._broker is not None:
            with contextlib.suppress(Exception):  # a broker that did not start cannot shut down
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
