"""Who may do what on the broker: the one source of the broker's identities and topic rules, from
which Mosquitto's dynamic-security roles (hub/broker_admin.py) and the demo broker's ACL plugin
(humiao/embedded_broker.py) are both made.

Identities (MQTT user names; the broker makes the client id equal to the user name, so nobody can
take over another's session):

- an edge device ``edge.<district>.<venue>.<device>``: publishes only its own edge kinds under
  ``humiao/v1/<district>/<venue>/<device>/``, subscribes to and receives only its own hub kinds;
- a hub worker ``hub.<name>``: joins the hub's shared subscription (``$share/<group>/…``, for edge
  kinds), reads statuses directly (retained messages skip shared subscriptions) and publishes the
  hub kinds to any device;
- the hub's command-line publisher ``hub.cli``: publishes evidence requests only;
- the wire reader ``hub.tail`` (``humiao mqtt tail``, for debugging): reads everything under
  ``humiao/v1/``, publishes nothing (what it sees is signed, and carries no pixels but sealed crops);
- the broker administrator ``hub.admin`` (Mosquitto's ``$CONTROL/dynamic-security`` API), with
  which the hub enrols and revokes devices.

Everything else is denied: no anonymous access, no other shared-subscription group, no wildcard
subscription for a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from humiao.proto.topics import EDGE_KINDS, HUB_KINDS, ROOT, VERSION, TopicError, _check_segment

Action = Literal["publish", "subscribe", "receive"]
HUB_PREFIX = "hub."
ADMIN = "hub.admin"
CLI = "hub.cli"
TAIL = "hub.tail"
DYNSEC_CONTROL = "$CONTROL/dynamic-security/#"


@dataclass(frozen=True)
class Rule:
    action: Action
    pattern: str  # an MQTT topic filter ('+', '#'); for subscribe, the filter as the client sends it


def device_username(district: str, venue: str, device: str) -> str:
    for label, value in (("district", district), ("venue", venue), ("device", device)):
        _check_segment(label, value)
    return f"edge.{district}.{venue}.{device}"


def device_of(username: str) -> tuple[str, str, str] | None:
    """(district, venue, device) of an edge identity; None for any other user name."""
    parts = username.split(".")
    if len(parts) != 4 or parts[0] != "edge":
        return None
    try:
        device_username(parts[1], parts[2], parts[3])
    except TopicError:
        return None
    return parts[1], parts[2], parts[3]


def hub_username(name: str) -> str:
    _check_segment("hub worker", name)
    return HUB_PREFIX + name


def _base(district: str, venue: str, device: str) -> str:
    return "/".join((ROOT, VERSION, district, venue, device))


def device_rules(district: str, venue: str, device: str) -> list[Rule]:
    base = _base(district, venue, device)
    rules = [Rule("publish", f"{base}/{kind}") for kind in EDGE_KINDS]
    for kind in HUB_KINDS:
        rules += [Rule("subscribe", f"{base}/{kind}"), Rule("receive", f"{base}/{kind}")]
    return rules


def hub_worker_rules(share_group: str | None) -> list[Rule]:
    any_device = "/".join((ROOT, VERSION, "+", "+", "+"))
    rules = [Rule("publish", f"{any_device}/{kind}") for kind in HUB_KINDS]
    for kind in EDGE_KINDS:
        rules.append(Rule("receive", f"{any_device}/{kind}"))
        rules.append(
            Rule("subscribe", f"$share/{share_group}/{any_device}/{kind}" if share_group else f"{any_device}/{kind}")
        )
    if share_group:  # retained statuses are not delivered to shared subscriptions
        rules.append(Rule("subscribe", f"{any_device}/status"))
    return rules


def hub_cli_rules() -> list[Rule]:
    return [Rule("publish", "/".join((ROOT, VERSION, "+", "+", "+", "evidence_request")))]


def tail_rules() -> list[Rule]:
    everything = "/".join((ROOT, VERSION, "#"))
    return [Rule("subscribe", everything), Rule("receive", everything)]


def admin_rules() -> list[Rule]:
    return [Rule(action, DYNSEC_CONTROL) for action in ("publish", "subscribe", "receive")]


def hub_subscriptions(share_group: str | None) -> list[str]:
    """The filters a hub worker subscribes to: exactly what ``hub_worker_rules`` allows."""
    return [r.pattern for r in hub_worker_rules(share_group) if r.action == "subscribe"]


def matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching ('+' one level, '#' the rest), for a topic or, for subscribe rules, a
    filter taken literally (a device may not subscribe with wildcards its rule does not have)."""
    p, t = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p):
        if part == "#":
            return i == len(p) - 1
        if i >= len(t):
            return False
        if part == "+":
            if t[i] in ("#", "+") or (i == 0 and t[i].startswith("$") and not pattern.startswith("$")):
                return False
            continue
        if part != t[i]:
            return False
    return len(p) == len(t)


def allowed(rules: list[Rule], action: Action, topic: str) -> bool:
    if action == "subscribe":
        return any(r.action == "subscribe" and (r.pattern == topic or matches(r.pattern, topic)) for r in rules)
    return any(r.action == action and matches(r.pattern, topic) for r in rules)
