"""The broker connection both roles make: TLS (the CA given, certificate and host name checked,
TLS 1.2 at least) and a user name with its password, the client id being the user name (the
broker binds the two: proto/acl.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt

from humiao.files import read_private_text


class BrokerSetupError(RuntimeError):
    """A missing CA or password: the identity was not set up (``humiao hub broker init``, ``humiao edge enroll``)."""


def tls_context(ca_file: Path) -> ssl.SSLContext:
    if not Path(ca_file).is_file():
        raise BrokerSetupError(
            f"the broker's CA certificate {ca_file} is missing: a hub gets it from `humiao hub broker init`, "
            "a device from its enrolment (`humiao edge enroll`)"
        )
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    except ssl.SSLError as err:
        raise BrokerSetupError(f"the broker's CA certificate {ca_file} is not usable: {err}") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def read_password(path: Path) -> str:
    try:
        password = read_private_text(path, "broker password")
    except FileNotFoundError as err:
        raise BrokerSetupError(str(err)) from None
    if not password:
        raise BrokerSetupError(f"broker password file {path} is empty")
    return password


def secure(client: mqtt.Client, ca_file: Path, username: str, password_file: Path) -> None:
    """Make ``client`` connect over TLS as ``username``; errors name the missing file."""
    client.tls_set_context(tls_context(ca_file))
    client.username_pw_set(username, read_password(password_file))
