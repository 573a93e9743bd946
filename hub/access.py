"""Who may do what: the access matrix, in one place, as data. Every route asks ``allowed()`` (or
filters with ``scope_filter()``) and every evidence path goes through it; hub/ACCESS.md is the
matrix in words, generated from ``MATRIX`` (a test keeps them the same, another tests every cell).

Scopes:
- ``all``: every district.
- ``district``: objects in the user's district.
- ``district+dept``: objects in the user's district whose enforcing departments include the user's
  department (an inspector never sees another department's evidence or alarms it does not enforce).
- ``own_venues``: objects of the venues the operator account is bound to.
- ``none``.

What a role sees *of* an alarm, a case or a venue it may read is decided here too, once: each role has an
audience (``AUDIENCES``: inspector, venue operator, admin, auditor) and ``VIEWS`` says per audience and kind the
fields withheld and which history entries, applied by ``mask()`` (``redact()``) on every route and the live feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("police", "culture_tourism", "market_regulation", "procuratorate", "venue_operator", "admin", "auditor")
DEPARTMENTS = ("police", "culture_tourism", "market_regulation")
PERMISSIONS = (
    "alarms.read",
    "alarms.act",
    "evidence.request",
    "evidence.view",
    "cases.read",
    "cases.act",
    "venues.read",
    "venues.write",
    "reports.read",
    "audit.read",
    "users.manage",
    "ingest.read",
    "devices.manage",
)

_D, _DD, _OWN, _ALL, _NO = "district", "district+dept", "own_venues", "all", "none"
_INSPECTOR = {
    "alarms.read": _DD,
    "alarms.act": _DD,
    "evidence.request": _DD,
    "evidence.view": _DD,
    "cases.read": _DD,
    "cases.act": _DD,
    "venues.read": _D,
    "venues.write": _NO,
    "reports.read": _D,
    "audit.read": _NO,
    "users.manage": _NO,
    "ingest.read": _NO,
    "devices.manage": _NO,
}
MATRIX: dict[str, dict[str, str]] = {
    "police": dict(_INSPECTOR),
    "culture_tourism": dict(_INSPECTOR),
    "market_regulation": dict(_INSPECTOR),
    # reads every department's records in its district (public-interest litigation), acts on none
    "procuratorate": {
        **dict.fromkeys(PERMISSIONS, _NO),
        "alarms.read": _D,
        "evidence.view": _D,
        "cases.read": _D,
        "venues.read": _D,
        "reports.read": _D,
    },
    # its own venues' alarms and cases (redacted: no minor's identity, no face), never evidence
    "venue_operator": {**dict.fromkeys(PERMISSIONS, _NO), "alarms.read": _OWN, "cases.read": _OWN, "venues.read": _OWN},
    # runs the registry and the accounts; sees no alarms, faces or cases (separation of duties)
    "admin": {
        **dict.fromkeys(PERMISSIONS, _NO),
        "venues.read": _ALL,
        "venues.write": _ALL,
        "users.manage": _ALL,
        "reports.read": _ALL,
        "ingest.read": _ALL,
        "devices.manage": _ALL,
    },
    # reads the audit log, nothing else
    "auditor": {**dict.fromkeys(PERMISSIONS, _NO), "audit.read": _ALL},
}


@dataclass(frozen=True)
class Principal:
    user_id: str
    role: str
    district_id: str | None
    venue_ids: frozenset[str] = field(default_factory=frozenset)

    @property
    def department(self) -> str | None:
        return self.role if self.role in DEPARTMENTS else None


@dataclass(frozen=True)
class Target:
    """What an object exposes to the access check."""

    district_id: str | None = None
    venue_id: str | None = None
    departments: tuple[str, ...] = ()


def scope(principal: Principal, permission: str) -> str:
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return MATRIX.get(principal.role, {}).get(permission, _NO)


def allowed(principal: Principal, permission: str, target: Target | None = None) -> bool:
    s = scope(principal, permission)
    if s == _NO:
        return False
    if s == _ALL:
        return True
    if target is None:  # a list: filtered by scope_filter
        return True
    if s == _OWN:
        return target.venue_id is not None and target.venue_id in principal.venue_ids
    if principal.district_id is None or target.district_id != principal.district_id:
        return False
    if s == _DD:
        return principal.department in target.departments
    return True


def scope_filter(principal: Principal, permission: str, district_col, venue_col=None, departments_match=None):
    """A SQLAlchemy WHERE clause restricting a query to what ``permission`` lets the principal see
    (``departments_match``: a callable department → clause, for ``district+dept``); None for ``all``. Objects
    with no venue (``venue_col`` None: schools) are none of a venue operator's (``own_venues``)."""
    from sqlalchemy import false

    s = scope(principal, permission)
    if s == _NO:
        return false()
    if s == _ALL:
        return None
    if s == _OWN:
        return venue_col.in_(sorted(principal.venue_ids)) if principal.venue_ids and venue_col is not None else false()
    clause = district_col == principal.district_id if principal.district_id else false()
    if s == _DD:
        clause = clause & departments_match(principal.department)
    return clause


SYSTEM_ACTOR = "rules"
"""The actor of the hub's own history entries (alarm raised, verdicts, clears and re-activations by the rules)."""
KINDS = ("alarm", "case", "venue")
READ = {"alarm": "alarms.read", "case": "cases.read", "venue": "venues.read"}
"""The permission that lets a role read an object of each kind."""
HISTORIES = ("all", "system", "none")

AUDIENCES: dict[str, str] = {
    "police": "inspector",
    "culture_tourism": "inspector",
    "market_regulation": "inspector",
    "procuratorate": "inspector",
    "venue_operator": "venue_operator",
    "admin": "admin",
    "auditor": "auditor",
}
"""Each role's audience: who sees the same fields of what it may read (the API's response models are one per
audience and kind, hub/schemas.py, and answers say which in ``view``)."""


@dataclass(frozen=True)
class View:
    """What an audience sees of an object it may read: ``withheld`` fields are left out, and of its
    ``history``: ``all`` entries, only the hub's own (``system``), or ``none``."""

    withheld: frozenset[str] = frozenset()
    history: str = "all"


_FULL = {"alarm": View(), "case": View(), "venue": View()}
VIEWS: dict[str, dict[str, View]] = {
    # the enforcing departments and the procuratorate: everything of what their scope lets them read
    "inspector": _FULL,
    # the venue sees that it was alerted and what followed (verdicts, acknowledged, cleared) and its
    # cases' procedure; never the inspectors' side: who acted, the assignee, comments, internal notes
    # and history, the officers, the reasoning's sources (departments), the minor's facts, and of its
    # venue the inspectors' suggestion for the next penalty (escalation)
    "venue_operator": {
        "alarm": View(frozenset({"departments", "assignee", "acknowledged_by", "cleared_by"}), "system"),
        "case": View(
            frozenset({"officers", "evidence_notes", "legal_review_opinion", "facts", "opened_by", "legal_review_by"}),
            "none",
        ),
        "venue": View(frozenset({"escalation"})),
    },
    # runs the registry: of a venue its record, devices and counts; not its alarms, cases or what its
    # case record suggests (separation of duties); it reads no alarms and no cases (MATRIX)
    "admin": {**_FULL, "venue": View(frozenset({"alarms", "cases", "escalation"}))},
    # reads the audit log only (MATRIX); were that to change, it would see objects whole
    "auditor": _FULL,
}


def audience(principal: Principal) -> str:
    return AUDIENCES[principal.role]


def readers(kind: str) -> list[str]:
    """The audiences some role of which may read objects of ``kind`` (each has a response model)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    found = {AUDIENCES[r] for r in ROLES if MATRIX[r][READ[kind]] != _NO}
    return [a for a in VIEWS if a in found]


def view(principal: Principal, kind: str) -> View:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return VIEWS[audience(principal)][kind]


def redact(principal: Principal, kind: str, obj: dict) -> dict:
    """``obj`` (the JSON of an alarm, a case or a venue, with its ``history`` when it has one) as ``principal``
    may see it: a new dict; ``obj`` is left as it was."""
    v = view(principal, kind)
    out = {k: value for k, value in obj.items() if k not in v.withheld}
    if "history" in out and v.history != "all":
        out["history"] = [] if v.history == "none" else [e for e in out["history"] if e.get("actor") == SYSTEM_ACTOR]
    return out


def mask(principal: Principal, kind: str, obj: dict) -> dict:
    """``redact`` and the audience it was made for in ``view`` (the response model's discriminator): every
    route answering an object of ``kind`` answers through here."""
    return redact(principal, kind, obj) | {"view": audience(principal)}


def markdown() -> str:
    """The matrix and the views, as the tables of hub/ACCESS.md."""
    head = "| role | " + " | ".join(PERMISSIONS) + " |"
    rows = [head, "|" + "---|" * (len(PERMISSIONS) + 1)]
    for role in ROLES:
        rows.append(f"| {role} | " + " | ".join(MATRIX[role][p] for p in PERMISSIONS) + " |")
    rows += [
        "",
        "What each audience sees of an alarm, a case or a venue it may read (`mask()`, on every route and the live "
        "feed; history: `all`, `system` — only the hub's own entries, actor `rules` — or `none`; answers name their "
        "audience in `view`, and hub/schemas.py has one response model per audience):",
        "",
        "| audience | roles | alarm: fields withheld | alarm: history | case: fields withheld | case: history "
        "| venue: fields withheld |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, views in VIEWS.items():
        roles = ", ".join(r for r in ROLES if AUDIENCES[r] == name)
        cells = []
        for kind in KINDS:
            v = views[kind]
            cells.append(", ".join(f"`{f}`" for f in sorted(v.withheld)) or "none")
            if kind != "venue":
                cells.append(v.history)
        rows.append(f"| {name} | {roles} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
