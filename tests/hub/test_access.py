"""The access matrix: the written one is the code's, and every cell behaves as its scope says."""

from __future__ import annotations

from pathlib import Path

import pytest

from humiao.hub.access import (
    AUDIENCES,
    KINDS,
    MATRIX,
    PERMISSIONS,
    ROLES,
    VIEWS,
    Principal,
    Target,
    allowed,
    markdown,
    mask,
    readers,
    redact,
)

ROOT = Path(__file__).resolve().parents[2]

# one object of each kind of relation to the principal below (district d1; venue v1 is its own)
TARGETS = {
    "own_dept": Target("d1", "v2", ("culture_tourism", "police")),
    "other_dept": Target("d1", "v2", ("market_regulation",)),
    "other_district": Target("d2", "v9", ("culture_tourism", "police", "market_regulation")),
    "own_venue": Target("d1", "v1", ("market_regulation",)),
    "other_venue_same_district": Target("d1", "v3", ("police",)),
}
# what each scope means, target by target (stated here independently of hub.access)
MEANS = {
    "none": set(),
    "all": set(TARGETS),
    "district": {"own_dept", "other_dept", "own_venue", "other_venue_same_district"},
    "own_venues": {"own_venue"},
}


def principal(role: str) -> Principal:
    return Principal("u", role, None if role in ("admin", "auditor") else "d1", frozenset({"v1"}))


def expected(role: str, scope: str) -> set[str]:
    if scope == "district+dept":  # in d1 and enforced by the role's department
        return {k for k, t in TARGETS.items() if t.district_id == "d1" and role in t.departments}
    return MEANS[scope]


def test_the_written_matrix_is_the_code():
    assert markdown() in (ROOT / "hub" / "ACCESS.md").read_text()
    assert set(MATRIX) == set(ROLES) and all(set(MATRIX[r]) == set(PERMISSIONS) for r in ROLES)
    assert set(AUDIENCES) == set(ROLES) and set(AUDIENCES.values()) == set(VIEWS)
    assert all(set(VIEWS[a]) == set(KINDS) for a in VIEWS)
    # a response model for each audience some role of which reads the kind
    assert readers("case") == readers("alarm") == ["inspector", "venue_operator"]
    assert readers("venue") == ["inspector", "venue_operator", "admin"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("permission", PERMISSIONS)
def test_every_cell(role, permission):
    who, scope = principal(role), MATRIX[role][permission]
    got = {name for name, t in TARGETS.items() if allowed(who, permission, t)}
    assert got == expected(role, scope), (role, permission, scope)


def test_the_rules_that_matter_most():
    """Spelled out: what the issue asks of the matrix."""
    ct, police, op = principal("culture_tourism"), principal("police"), principal("venue_operator")
    hotel = Target("d1", "h1", ("police", "market_regulation"))
    assert not allowed(ct, "evidence.view", hotel) and allowed(police, "evidence.view", hotel)
    assert not allowed(ct, "venues.read", Target("d2", "x", ())) and allowed(ct, "venues.read", Target("d1", "x", ()))
    assert allowed(op, "alarms.read", Target("d1", "v1", ())) and not allowed(op, "alarms.read", Target("d1", "v3", ()))
    assert not allowed(op, "evidence.view", Target("d1", "v1", ("police",)))
    assert not any(
        allowed(principal("admin"), p, TARGETS["own_dept"]) for p in ("alarms.read", "evidence.view", "cases.read")
    )
    assert [p for p in PERMISSIONS if allowed(principal("auditor"), p, TARGETS["own_dept"])] == ["audit.read"]
    proc = principal("procuratorate")
    assert allowed(proc, "evidence.view", TARGETS["other_dept"]) and not allowed(
        proc, "alarms.act", TARGETS["own_dept"]
    )


def test_what_a_role_sees_of_an_alarm_and_a_case():
    """The one field mask: a venue operator gets its alarm's state and the hub's own history entries,
    never the inspectors' side (who, assignee, comments, notes, the case's internal history)."""
    rules = {"at": "t0", "actor": "rules", "action": "verdict", "detail": "pending: waiting for the ID check"}
    note = {"at": "t1", "actor": "police-1", "action": "commented", "detail": "the manager looked nervous"}
    alarm = {
        "id": 1,
        "venue_id": "v1",
        "active": False,
        "acknowledged": True,
        "acknowledged_by": "police-1",
        "assignee": "police-1",
        "cleared_by": "police-1",
        "departments": ["police"],
        "history": [rules, note],
    }
    case = {"id": 2, "status": "inspected", "findings": "a minor", "officers": [{"user": "police-1"}]}
    case |= {"evidence_notes": "x", "legal_review_opinion": "y", "facts": {}, "opened_by": "p", "legal_review_by": "q"}
    case["history"] = [{"at": "t2", "actor": "police-1", "action": "opened", "detail": {}}]
    op = principal("venue_operator")
    assert redact(op, "alarm", alarm) == {
        "id": 1,
        "venue_id": "v1",
        "active": False,
        "acknowledged": True,
        "history": [rules],
    }
    assert redact(op, "case", case) == {"id": 2, "status": "inspected", "findings": "a minor", "history": []}
    assert alarm["history"] == [rules, note] and "officers" in case  # the caller's dicts are left as they were
    for role in ("police", "culture_tourism", "market_regulation", "procuratorate"):
        assert redact(principal(role), "alarm", alarm) == alarm and redact(principal(role), "case", case) == case
    with pytest.raises(ValueError, match="unknown kind"):
        redact(op, "school", {})
    # mask(): the same, and the audience the answer is for (the response models' discriminator)
    assert mask(op, "case", case) == {"id": 2, "status": "inspected", "findings": "a minor", "history": []} | {
        "view": "venue_operator"
    }
    assert mask(principal("procuratorate"), "case", case) == case | {"view": "inspector"}


def test_what_an_audience_sees_of_a_venue():
    venue = {"id": "v1", "name": "KTV", "devices": [], "alarms": [{"id": 1}], "cases": [{"id": 2}]}
    venue |= {"escalation": {"suggestion": "suspension 3-6 months"}}
    assert mask(principal("venue_operator"), "venue", venue) == {
        k: v for k, v in venue.items() if k != "escalation"
    } | {"view": "venue_operator"}
    assert mask(principal("admin"), "venue", venue) == {"id": "v1", "name": "KTV", "devices": [], "view": "admin"}
    assert mask(principal("police"), "venue", venue) == venue | {"view": "inspector"}
