"""deploy/emqx (EMQX is not installable here, so no broker runs): acl.conf and the README's topic table are
what deploy/emqx/make_acl.py generates from proto/, and acl.conf's rules, evaluated as EMQX's file authorizer
does (first match wins, then deny), allow exactly what proto/acl.py allows each sample identity."""

from __future__ import annotations

import importlib.util
import re

import pytest

from humiao.proto import acl
from humiao.proto.topics import EDGE_KINDS, HUB_KINDS, KINDS, topic

from tests.support.services import ROOT

EMQX = ROOT / "deploy" / "emqx"


def _make_acl():
    spec = importlib.util.spec_from_file_location("make_acl", EMQX / "make_acl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_acl_file_and_topic_table_are_generated_from_proto():
    make_acl = _make_acl()
    stale = "stale: run `python deploy/emqx/make_acl.py`"
    assert (EMQX / "acl.conf").read_text() == make_acl.acl_conf(), stale
    readme = (EMQX / "README.md").read_text()
    assert make_acl.topic_table() in readme, stale
    for kind in KINDS:  # every kind of proto/topics.py, with its direction
        direction = "edge → hub" if kind in EDGE_KINDS else "hub → edge"
        assert f"| `{kind}` | {direction} |" in readme, kind


RULE = re.compile(r"^\{allow, (\{username, .*?\}), (publish|subscribe), \[(.*)\]\}\.$")


def _rules() -> list[tuple[str, str, list[tuple[bool, str]]]]:
    """(user-name regex, action, [(literal, topic)]) of each allow rule; the file must end with a deny."""
    rules = []
    lines = [line for line in (EMQX / "acl.conf").read_text().splitlines() if line and not line.startswith("%%")]
    assert lines[-1] == "{deny, all}."
    for line in lines[:-1]:
        m = RULE.match(line)
        assert m, line
        who, action, topics = m.groups()
        if exact := re.fullmatch(r'\{username, "([^"]+)"\}', who):
            pattern = "^" + re.escape(exact[1]) + "$"
        else:
            pattern = re.fullmatch(r'\{username, \{re, "(.+)"\}\}', who)[1].replace("\\\\", "\\")
        items = [
            (t.startswith("{eq"), re.search(r'"([^"]+)"', t)[1]) for t in re.findall(r'\{eq, "[^"]+"\}|"[^"]+"', topics)
        ]
        rules.append((pattern, action, items))
    return rules


def _emqx_allows(username: str, action: str, name: str) -> bool:
    """EMQX's file authorizer: the first rule whose user and action match and one of whose topics matches."""
    parts = username.split(".")
    attrs = dict(zip(("district", "venue", "device"), parts[1:], strict=False)) if parts[0] == "edge" else {}
    for pattern, rule_action, topics in _rules():
        if rule_action != action or not re.search(pattern, username):
            continue
        for literal, t in topics:
            if literal:
                if t == name:
                    return True
                continue
            for key, value in attrs.items():
                t = t.replace("${client_attrs." + key + "}", value)
            if "${" not in t and (t == name or acl.matches(t, name)):
                return True
    return False


IDENTITIES = {
    "edge.d1.venue1.edge1": acl.device_rules("d1", "venue1", "edge1"),
    "edge.d2.ktv9.cam-2": acl.device_rules("d2", "ktv9", "cam-2"),
    "hub.w1": acl.hub_worker_rules("hub"),
    "hub.w12": acl.hub_worker_rules("hub"),
    "hub.cli": acl.hub_cli_rules(),
    "hub.tail": acl.tail_rules(),
    "hub.admin": [],  # Mosquitto's dynamic-security API: EMQX is administered over its REST API instead
    "hub.web": [],
    "someone": [],
}


def _topics() -> list[str]:
    devices = [("d1", "venue1", "edge1"), ("d1", "venue1", "edge2"), ("d2", "ktv9", "cam-2")]
    names = [topic(*d, k) for d in devices for k in KINDS]
    names += acl.hub_subscriptions("hub") + acl.hub_subscriptions(None) + acl.hub_subscriptions("other")
    names += ["humiao/v1/#", "#", "humiao/v1/d1/#", "humiao/v1/d1/venue1/+/alert", "$CONTROL/dynamic-security/v1"]
    return names


@pytest.mark.parametrize("username", IDENTITIES)
def test_acl_file_allows_each_identity_exactly_what_proto_acl_allows(username):
    rules = IDENTITIES[username]
    for action in ("publish", "subscribe"):
        for name in _topics():
            expected = acl.allowed(rules, action, name)
            assert _emqx_allows(username, action, name) == expected, (username, action, name, expected)


def test_every_topic_an_edge_uses_is_covered():
    device = "edge.d1.venue1.edge1"
    for kind in EDGE_KINDS:
        assert _emqx_allows(device, "publish", topic("d1", "venue1", "edge1", kind)), kind
        assert not _emqx_allows(device, "publish", topic("d1", "venue1", "edge2", kind)), kind  # not another's
    for kind in HUB_KINDS:
        assert _emqx_allows(device, "subscribe", topic("d1", "venue1", "edge1", kind)), kind
        assert _emqx_allows("hub.w1", "publish", topic("d1", "venue1", "edge1", kind)), kind
    for sub in acl.hub_subscriptions("hub"):
        assert _emqx_allows("hub.w1", "subscribe", sub), sub


def test_the_example_configuration_names_the_acl_file_tls_and_shared_subscriptions():
    conf = (EMQX / "emqx.conf.example").read_text()
    for needle in (
        'path = "/etc/emqx/acl.conf"',
        'bind = "0.0.0.0:8883"',
        "listeners.tcp.default { enable = false }",
        "shared_subscription = true",
        "no_match = deny",
        "mechanism = password_based",
        "discovery_strategy = static",
        "discovery_strategy = dns",
    ):
        assert needle in conf, needle
    for attr in ("district", "venue", "device"):  # what acl.conf's device rules name
        assert f"set_as_attr = {attr}" in conf
        assert "${client_attrs." + attr + "}" in (EMQX / "acl.conf").read_text()
    assert conf.count("{") == conf.count("}") and conf.count("[") == conf.count("]")
