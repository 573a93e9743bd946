"""Mosquitto's identities and rights, from proto/acl.py: the one setup step (``init_broker``: the CA
and the broker's certificate, the dynamic-security file with the hub's identities, their passwords
for the hub, the Mosquitto settings that use them) and, at run time, the administration the hub
enrols and revokes devices with (``DynsecAdmin``: Mosquitto's ``$CONTROL/dynamic-security`` API,
as ``hub.admin``).

Roles: ``hub-worker`` (every ``hub.<name>`` worker), ``hub-cli``, ``hub-tail``, ``hub-admin`` and
one per device, ``device.<district>.<venue>.<device>`` (for ``edge.<district>.<venue>.<device>``).
Everything no role allows is denied (no default access but unsubscribing).

Mosquitto keeps the dynamic-security file itself: it writes it back whenever an identity or a role
changes. ``init_broker`` merges into what is there (devices enrolled since are kept), so run it
while Mosquitto is stopped, or restart Mosquitto right after it (deploy/mosquitto/setup.sh does).
"""

from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import json
import os
import pwd
import re
import secrets
import shutil
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import paho.mqtt.client as mqtt

from humiao import pki
from humiao.broker import BrokerSetupError, secure
from humiao.files import private_dir, read_private_text, write_private_text
from humiao.proto import acl

if TYPE_CHECKING:
    from humiao.hub.config import HubConfig

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
DYNSEC_FILE = "dynamic-security.json"
TLS_CONF = "humiao-tls.conf"
DEFAULT_PORT = 8883
DEFAULT_LISTEN = ["127.0.0.1"]
PLUGIN_GLOBS = (
    "/usr/lib/*/mosquitto_dynamic_security.so",  # Debian, Ubuntu (multiarch)
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/lib64/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)
# Mosquitto's own hashing of dynamic-security passwords: PBKDF2-HMAC-SHA512, a 12-byte salt
ITERATIONS = 101
SALT_BYTES = 12

ROLE_WORKER, ROLE_CLI, ROLE_TAIL, ROLE_ADMIN = "hub-worker", "hub-cli", "hub-tail", "hub-admin"
ACL_TYPES = {"publish": "publishClientSend", "receive": "publishClientReceive", "subscribe": "subscribePattern"}
DEFAULT_ACCESS = {"publishClientSend": False, "publishClientReceive": False, "subscribe": False, "unsubscribe": True}


class BrokerInitError(RuntimeError):
    """The broker's setup cannot be made (a bad worker name, a broken file, no plugin, no permission)."""


class BrokerAdminError(RuntimeError):
    """The broker did not do what was asked: its answer (naming the command), no answer, or no connection."""


# -- the dynamic-security file -----------------------------------------------------------------


def dynsec_acls(rules: list[acl.Rule]) -> list[dict[str, Any]]:
    return [{"acltype": ACL_TYPES[r.action], "topic": r.pattern, "allow": True} for r in rules]


def dynsec_role(rolename: str, rules: list[acl.Rule]) -> dict[str, Any]:
    return {"rolename": rolename, "acls": dynsec_acls(rules)}


def device_role(username: str) -> str:
    """The role of device identity ``edge.<district>.<venue>.<device>``: ``device.<district>.<venue>.<device>``;
    any other user name is refused (so enrolment can never touch a hub identity)."""
    ids = acl.device_of(username)
    if ids is None:
        raise ValueError(f"{username!r} is not a device identity (edge.<district>.<venue>.<device>)")
    return "device." + ".".join(ids)


def password_hash(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> dict[str, Any]:
    """The fields of a dynamic-security client that Mosquitto checks a password against."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": iterations,
    }


def password_matches(entry: dict[str, Any], password: str) -> bool:
    try:
        salt = base64.b64decode(entry["salt"], validate=True)
        expected = password_hash(password, salt, int(entry["iterations"]))["password"]
    except (KeyError, TypeError, ValueError):
        return False
    return hmac.compare_digest(expected, str(entry.get("password", "")))


def dynsec_client_entry(username: str, password: str, roles: list[str]) -> dict[str, Any]:
    return {
        "username": username,
        "textname": username,
        "roles": [{"rolename": r} for r in roles],
        **password_hash(password),
    }


def hub_roles(share_group: str | None) -> list[dict[str, Any]]:
    return [
        dynsec_role(ROLE_WORKER, acl.hub_worker_rules(share_group)),
        dynsec_role(ROLE_CLI, acl.hub_cli_rules()),
        dynsec_role(ROLE_TAIL, acl.tail_rules()),
        dynsec_role(ROLE_ADMIN, acl.admin_rules()),
    ]


def dynsec_config(
    clients: list[dict[str, Any]],
    share_group: str | None,
    devices: list[tuple[str, str, str]] | None = None,
) -> dict[str, Any]:
    """A whole dynamic-security file: deny by default, the hub's roles, a role per device given
    (district, venue, device), and ``clients`` (``dynsec_client_entry``)."""
    roles = hub_roles(share_group)
    for ids in devices or []:
        roles.append(dynsec_role(device_role(acl.device_username(*ids)), acl.device_rules(*ids)))
    return {"defaultACLAccess": dict(DEFAULT_ACCESS), "clients": clients, "groups": [], "roles": roles}


def hub_identities(workers: list[str]) -> dict[str, str]:
    """The hub's broker identities (user name → role): the administrator, the command line, the wire
    reader and each worker."""
    identities = {acl.ADMIN: ROLE_ADMIN, acl.CLI: ROLE_CLI, acl.TAIL: ROLE_TAIL}
    for worker in workers:
        name = worker.removeprefix(acl.HUB_PREFIX)
        try:
            valid = worker.startswith(acl.HUB_PREFIX) and acl.hub_username(name) == worker
        except ValueError:
            valid = False
        if not valid or worker in identities:
            raise BrokerInitError(f"{worker!r} is not a hub worker identity: hub.<name>, e.g. hub.w1")
        identities[worker] = ROLE_WORKER
    return identities


def _merge_dynsec(
    existing: dict[str, Any], share_group: str | None, passwords: dict[str, str], identities: dict[str, str]
) -> dict[str, Any]:
    config = dict(existing)
    config["defaultACLAccess"] = dict(DEFAULT_ACCESS)
    config.setdefault("groups", [])
    roles = {r.get("rolename"): r for r in config.get("roles", [])}
    for role in hub_roles(share_group):
        roles[role["rolename"]] = {**roles.get(role["rolename"], {}), **role}
    config["roles"] = list(roles.values())
    clients = {c.get("username"): c for c in config.get("clients", [])}
    for username, rolename in identities.items():
        entry = clients.get(username)
        if entry is None:
            clients[username] = dynsec_client_entry(username, passwords[username], [rolename])
            continue
        if not password_matches(entry, passwords[username]):  # the hub's password file is the truth
            entry.update(password_hash(passwords[username]))
        if rolename not in {r.get("rolename") for r in entry.get("roles", [])}:
            entry["roles"] = [*entry.get("roles", []), {"rolename": rolename}]
    config["clients"] = list(clients.values())
    return config


# -- the one setup step ------------------------------------------------------------------------


def find_plugin() -> Path:
    for pattern in PLUGIN_GLOBS:
        for found in sorted(glob.glob(pattern)):
            return Path(found)
    raise BrokerInitError("Mosquitto's dynamic security plugin is not installed: sudo apt-get install -y mosquitto")


_LISTENER = re.compile(r"^\s*listener\s+(\d+)(?:\s+(\S+))?\s*$")


def _listeners(conf: Path) -> list[str] | None:
    """The addresses of the listener lines of an existing settings file ('' for all addresses)."""
    if not conf.exists():
        return None
    found = [m.group(2) or "" for line in conf.read_text().splitlines() if (m := _LISTENER.match(line))]
    return found or None


def tls_conf_text(broker_dir: Path, port: int, listen: list[str], plugin: Path) -> str:
    d = Path(broker_dir).resolve()
    lines = [
        "# Written by `humiao hub broker init`: the broker's TLS listener, its certificate and the",
        "# identities (dynamic security). Run init again to change it; the listener lines (addresses)",
        f"# are kept: bind the venue-facing address by adding e.g. `listener {port} 10.20.0.5` with the same",
        f"# settings below it, or use `listener {port}` alone (all addresses). Needs per_listener_settings",
        "# false and allow_anonymous false (deploy/mosquitto/humiao.conf).",
    ]
    for address in listen:
        lines += [
            "",
            f"listener {port} {address}".rstrip(),
            # a listener setting: before any listener it would open a plaintext default listener (1883)
            "use_username_as_clientid true",
            f"cafile {d / pki.CA_CERT}",
            f"certfile {d / pki.SERVER_CERT}",
            f"keyfile {d / pki.SERVER_KEY}",
            "tls_version tlsv1.2",
        ]
    lines += ["", f"plugin {plugin}", f"plugin_opt_config_file {d / DYNSEC_FILE}", ""]
    return "\n".join(lines)


def _chown(paths: list[Path], user: str) -> None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise BrokerInitError(f"no user {user!r} (the user Mosquitto runs as)") from None
    for path in paths:
        try:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        except PermissionError:
            raise BrokerInitError(f"cannot give {path} to {user}: run as root") from None


def init_broker(
    broker_dir: Path,
    hub_broker_dir: Path,
    names: list[str],
    workers: list[str],
    share_group: str | None,
    mosquitto_user: str | None,
    *,
    port: int = DEFAULT_PORT,
    listen: list[str] | None = None,
    plugin: Path | None = None,
) -> dict[str, Path]:
    """Set the broker up, or bring an existing setup up to date; what was made, by name.

    Into ``broker_dir`` (Mosquitto's; e.g. /etc/mosquitto/humiao): the CA (kept once made), the
    broker's certificate for ``names`` (made again when the names change or its end nears),
    ``dynamic-security.json`` and ``humiao-tls.conf`` (the settings that use them: a TLS listener on
    ``port`` for each address of ``listen``, default those of the existing file, else 127.0.0.1).
    Into ``hub_broker_dir`` (the hub's <data_dir>/broker): ``ca.crt`` and a password per identity,
    ``<identity>.password`` (0600): hub.admin, hub.cli, hub.tail and each of ``workers`` (hub.<name>).
    Existing passwords, identities and enrolled devices are kept; missing identities are added.
    ``mosquitto_user``: the owner given what Mosquitto reads and writes (it reads them after dropping
    root); the CA key stays with the caller."""
    identities = hub_identities(workers)
    plugin = Path(plugin) if plugin else find_plugin()
    broker_dir, hub_dir = private_dir(Path(broker_dir).resolve()), private_dir(Path(hub_broker_dir).resolve())
    names = list(dict.fromkeys(names or pki.DEFAULT_NAMES))

    ca_cert, ca_key = pki.make_ca(broker_dir)
    server_cert, server_key = broker_dir / pki.SERVER_CERT, broker_dir / pki.SERVER_KEY
    if not pki.server_cert_current(server_cert, server_key, ca_cert, names):
        server_cert, server_key = pki.make_server_cert(broker_dir, ca_cert, ca_key, names)
    hub_ca = hub_dir / pki.CA_CERT
    shutil.copyfile(ca_cert, hub_ca)
    hub_ca.chmod(0o644)

    made: dict[str, Path] = {
        "CA certificate": ca_cert,
        "CA key": ca_key,
        "broker certificate": server_cert,
        "broker key": server_key,
    }
    passwords: dict[str, str] = {}
    for username in identities:
        path = hub_dir / f"{username}.password"
        password = read_private_text(path, "broker password") if path.exists() else ""
        if not password:
            password = secrets.token_urlsafe(24)
            write_private_text(path, password + "\n")
        passwords[username] = password
        made[f"password of {username}"] = path

    dynsec = broker_dir / DYNSEC_FILE
    existing: dict[str, Any] = {}
    if dynsec.exists():
        try:
            existing = json.loads(dynsec.read_text())
        except ValueError as err:
            raise BrokerInitError(f"{dynsec} is not valid JSON ({err}): repair or remove it") from None
        if not isinstance(existing, dict):
            raise BrokerInitError(f"{dynsec} is not a dynamic-security file: repair or remove it")
    write_private_text(dynsec, json.dumps(_merge_dynsec(existing, share_group, passwords, identities), indent=2))
    made["dynamic security"] = dynsec

    conf = broker_dir / TLS_CONF
    conf.write_text(tls_conf_text(broker_dir, port, listen or _listeners(conf) or DEFAULT_LISTEN, plugin))
    conf.chmod(0o644)
    made["Mosquitto settings"] = conf
    made["hub secrets"] = hub_dir
    if mosquitto_user:
        _chown([broker_dir, ca_cert, server_cert, server_key, dynsec, conf], mosquitto_user)
    return made


# -- administration at run time ----------------------------------------------------------------


class BrokerAdmin(Protocol):
    """What the hub asks of the broker: a device's identity and rights, its revocation."""

    def add_device(self, username: str, password: str, rules: list[acl.Rule]) -> None: ...
    def disable(self, username: str) -> None: ...
    def enable(self, username: str) -> None: ...


class DynsecAdmin:
    """Mosquitto's dynamic-security API over MQTT (TLS, as ``hub.admin``): each command is answered
    on the response topic, matched by its correlation data. Connects on first use or ``with``; the
    broker lets one ``hub.admin`` connection in at a time (client id = user name), so keep it short."""

    def __init__(self, host: str, port: int, ca_file: Path, password_file: Path, timeout: float = 10.0):
        self.host, self.port = host, port
        self.ca_file, self.password_file = Path(ca_file), Path(password_file)
        self.timeout = timeout
        self._client: mqtt.Client | None = None
        self._cond = threading.Condition()
        self._answers: dict[str, dict[str, Any] | None] = {}
        self._connected: bool | None = None  # None: no CONNACK yet
        self._refusal = ""
        self._suback: list[Any] | None = None

    @classmethod
    def from_config(cls, cfg: HubConfig) -> DynsecAdmin:
        return cls(cfg.mqtt.host, cfg.mqtt.port, cfg.ca_file(), cfg.broker_password_file(acl.ADMIN))

    def __enter__(self) -> DynsecAdmin:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # connection

    def open(self) -> DynsecAdmin:
        if self._client is not None:
            return self
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=acl.ADMIN, protocol=mqtt.MQTTv5
        )
        try:
            secure(client, self.ca_file, acl.ADMIN, self.password_file)
        except BrokerSetupError as err:
            raise BrokerAdminError(f"{acl.ADMIN}: {err}") from None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._connected, self._suback = None, None
        try:
            client.connect(self.host, self.port, keepalive=30)
        except OSError as err:
            raise BrokerAdminError(f"cannot reach the broker at {self.host}:{self.port}: {err}") from None
        self._client = client
        client.loop_start()
        try:
            with self._cond:
                if not self._cond.wait_for(lambda: self._connected is not None, self.timeout):
                    raise BrokerAdminError(
                        f"the broker at {self.host}:{self.port} did not answer {acl.ADMIN}'s connection"
                    )
                if not self._connected:
                    raise BrokerAdminError(f"the broker refused {acl.ADMIN}: {self._refusal}")
            client.subscribe(RESPONSE_TOPIC, qos=1)
            with self._cond:
                if not self._cond.wait_for(lambda: self._suback is not None, self.timeout):
                    raise BrokerAdminError("the broker did not acknowledge the subscription to its answers")
                codes = self._suback or []
            if any(getattr(rc, "is_failure", False) for rc in codes):
                raise BrokerAdminError(f"{acl.ADMIN} may not read {RESPONSE_TOPIC}: {codes[0]}")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        with self._cond:
            self._connected = not reason_code.is_failure
            self._refusal = str(reason_code)
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        with self._cond:
            if self._connected is None:  # refused (or cut) before any CONNACK
                self._connected, self._refusal = False, str(reason_code)
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None) -> None:
        with self._cond:
            self._suback = list(reason_codes)
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            return
        with self._cond:
            for response in responses if isinstance(responses, list) else []:
                key = response.get("correlationData") if isinstance(response, dict) else None
                if key in self._answers:
                    self._answers[key] = response
            self._cond.notify_all()

    # commands

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``commands`` (one message) and return the broker's answers in the same order, errors
        included (an answer with ``error``); no answer within the timeout is a ``BrokerAdminError``."""
        self.open()
        assert self._client is not None
        keys = [uuid.uuid4().hex for _ in commands]
        sent = [{**command, "correlationData": key} for command, key in zip(commands, keys, strict=True)]
        with self._cond:
            self._answers.update(dict.fromkeys(keys))
        try:
            info = self._client.publish(CONTROL_TOPIC, json.dumps({"commands": sent}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise BrokerAdminError(f"{_names(commands)}: not sent to the broker ({mqtt.error_string(info.rc)})")
            with self._cond:
                if not self._cond.wait_for(lambda: all(self._answers[k] is not None for k in keys), self.timeout):
                    raise BrokerAdminError(
                        f"{_names(commands)}: no answer from the broker at {self.host}:{self.port} "
                        f"within {self.timeout:g} s"
                    )
                return [dict(self._answers[k] or {}) for k in keys]
        finally:
            with self._cond:
                for k in keys:
                    self._answers.pop(k, None)

    def command(self, command: dict[str, Any], tolerate: tuple[str, ...] = ()) -> dict[str, Any]:
        """One command; its answer, or a ``BrokerAdminError`` naming it with the broker's error text
        (unless that text is one of ``tolerate``)."""
        (answer,) = self.run([command])
        _check(command, answer, tolerate)
        return answer

    def add_device(self, username: str, password: str, rules: list[acl.Rule]) -> None:
        """The device's role (its rules) and identity; a device enrolled again (a new key) gets the
        new password, exactly its role, and is enabled again (a connection with the old password is cut)."""
        role = device_role(username)
        acls = dynsec_acls(rules)
        create_role = {"command": "createRole", "rolename": role, "acls": acls}
        create_client = {
            "command": "createClient",
            "username": username,
            "password": password,
            "textname": username,
            "roles": [{"rolename": role}],
        }
        role_answer, client_answer = self.run([create_role, create_client])
        exists = ("Role already exists", "Client already exists")
        _check(create_role, role_answer, exists)
        _check(create_client, client_answer, exists)
        if role_answer.get("error"):
            self.command({"command": "modifyRole", "rolename": role, "acls": acls})
        if client_answer.get("error"):
            self.command(
                {"command": "modifyClient", "username": username, "password": password, "roles": [{"rolename": role}]}
            )
            self.enable(username)

    def disable(self, username: str) -> None:
        """Refuse the identity from now on; a connection it has is cut at once."""
        self.command({"command": "disableClient", "username": username})

    def enable(self, username: str) -> None:
        self.command({"command": "enableClient", "username": username})

    def get_client(self, username: str) -> dict[str, Any] | None:
        """The broker's record of an identity (roles, disabled…); None when there is none."""
        answer = self.command({"command": "getClient", "username": username}, ("Client not found",))
        return None if answer.get("error") else answer.get("data", {}).get("client")


def _names(commands: list[dict[str, Any]]) -> str:
    return ", ".join(str(c.get("command")) for c in commands)


def _check(command: dict[str, Any], answer: dict[str, Any], tolerate: tuple[str, ...] = ()) -> None:
    error = answer.get("error")
    if error and error not in tolerate:
        target = command.get("username") or command.get("rolename") or ""
        raise BrokerAdminError(f"the broker refused {command.get('command')} {target}: {error}".replace("  ", " "))
