"""The lists the panel renders from (``GET /api/meta``) and the case procedure as one table
(``hub.cases.TRANSITIONS``): each list from its one source, every service step checked against the table,
and a case's ``allowed_actions`` following it — on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from humiao.hub import access, audit, cases
from humiao.hub.access import Principal
from humiao.hub.api_meta import venue_types
from humiao.hub.rules.statutes import RULES
from humiao.proto import humiao_v1_pb2 as pb
from humiao.proto import vocabulary

from tests.support.hubapi import Browser

pytestmark = pytest.mark.services
CT = Principal("ct-d1", "culture_tourism", "d1")
OFFICERS = [{"user": "ct-d1", "enforcement_id": "31010001"}, {"user": "ct-d1b", "enforcement_id": "31010002"}]

# each step of the procedure, as its service is called (arguments that pass every check but the status)
STEPS = {
    "assign": lambda s, c: cases.assign_officers(s, c, CT, OFFICERS),
    "inspect": lambda s, c: cases.record_inspection(s, c, CT, "a minor in room 3"),
    "respond_notice": lambda s, c: cases.notify_right_to_respond(s, c, CT),
    "legal_review": lambda s, c: cases.legal_review(s, c, CT, "facts clear"),
    "decide": lambda s, c: cases.decide(s, c, CT, "warning", "art. 48"),
    "pay": lambda s, c: cases.record_payment(s, c, CT),
    "close": lambda s, c: cases.close(s, c, CT, "done"),
    "transfer": lambda s, c: cases.transfer(s, c, CT, "police", "a hotel matter"),
}
STATUS_REFUSED = "this step needs it"


def test_every_step_has_a_service_and_every_status_its_steps():
    assert set(STEPS) == set(cases.TRANSITIONS)
    assert {s for statuses in cases.TRANSITIONS.values() for s in statuses} <= set(cases.STATUSES)
    assert [cases.allowed_actions(s) for s in cases.STATUSES] == [
        ["assign", "transfer"],
        ["assign", "inspect", "transfer"],
        ["inspect", "respond_notice", "legal_review", "decide", "transfer"],
        ["pay", "close"],
        [],
    ]


def test_each_service_refuses_exactly_the_steps_the_table_refuses(seeded_hub):
    hub = seeded_hub
    with hub.sessions() as s:
        case = cases.open_case(s, CT, [hub.alarm_ids["ktv1"]])
        s.commit()
        for advance in ("assign", "inspect", "decide", "close", None):
            status = case.status
            for action, step in STEPS.items():
                nested = s.begin_nested()
                try:
                    step(s, case)
                    refused = None
                except cases.CaseError as err:
                    refused = str(err)
                finally:
                    nested.rollback()
                s.refresh(case)
                if action in cases.TRANSITIONS and status in cases.TRANSITIONS[action]:
                    assert refused is None or STATUS_REFUSED not in refused, (status, action, refused)
                else:
                    assert refused is not None and STATUS_REFUSED in refused, (status, action)
            if advance == "decide":  # no penalty: the one decision that needs no notice or review first
                cases.decide(s, case, CT, "no_penalty", "facts not proven")
            elif advance:
                STEPS[advance](s, case)
            s.commit()
        assert case.status == "closed"


def test_meta_serves_each_list_from_its_source(seeded_hub):
    r = Browser(seeded_hub, "ct-d1").get("/api/meta")
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["timezone"] == seeded_hub.cfg.rules.violations.timezone == "Asia/Shanghai"
    wire = [vocabulary.wire_name(v.name, "VENUE_TYPE_") for v in pb.VenueType.DESCRIPTOR.values if v.number]
    assert [t["code"] for t in meta["venue_types"]] == wire == venue_types()
    assert set(wire) == set(RULES)  # the statute table covers exactly the wire's venue types
    ktv = meta["venue_types"][0]
    assert ktv == {"code": "ktv", "words": {"zh": RULES["ktv"].name_zh, "en": RULES["ktv"].name_en}}
    assert meta["roles"] == list(access.ROLES) and meta["departments"] == list(access.DEPARTMENTS)
    assert meta["case_statuses"] == list(cases.STATUSES) and meta["case_decisions"] == list(cases.DECISIONS)
    assert meta["case_transitions"]["inspected"] == cases.allowed_actions("inspected")
    assert [(t["code"], t["words"]) for t in meta["id_check_results"]] == [
        (k, dict(w)) for k, w in vocabulary.RESULTS.items()
    ]
    assert [(t["code"], t["words"]) for t in meta["audit_actions"]] == [(a, audit.WORDS[a]) for a in audit.ACTIONS]
    assert Browser(seeded_hub).get("/api/meta").status_code == 401


def _actions_written() -> dict[str, list[str]]:
    """Each audit action the hub's code writes (the literal ``action`` of every ``audit.record`` call in hub/)
    → where; a call whose action is not a literal (or a choice between literals) fails the test."""
    hub = Path(audit.__file__).parent

    def literals(node: ast.expr, where: str) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return literals(node.body, where) | literals(node.orelse, where)
        raise AssertionError(f"{where}: the audit action is not written as a literal: {ast.unparse(node)}")

    written: dict[str, list[str]] = {}
    for path in sorted(hub.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "record"):
                continue
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id in ("audit", "audit_log")):
                continue
            where = f"{path.relative_to(hub.parent)}:{node.lineno}"
            action = node.args[2] if len(node.args) > 2 else next(k.value for k in node.keywords if k.arg == "action")
            for code in literals(action, where):
                written.setdefault(code, []).append(where)
    return written


def test_every_audit_action_written_is_known_and_has_words():
    written = _actions_written()
    assert len(written) >= 9, written  # the call sites were found
    unknown = {code: where for code, where in written.items() if code not in audit.ACTIONS}
    assert not unknown, f"audit actions written but not in hub/audit.py's Action: {unknown}"
    # and nothing in the list that nothing writes; each with words in both languages
    assert set(audit.ACTIONS) == set(written)
    assert len(set(audit.ACTIONS)) == len(audit.ACTIONS)
    for code in audit.ACTIONS:
        words = audit.WORDS[code]
        assert set(words) == {"zh", "en"} and all(w.strip() and w != code for w in words.values()), code
    assert (
        len({w["zh"] for w in audit.WORDS.values()})
        == len({w["en"] for w in audit.WORDS.values()})
        == len(audit.ACTIONS)
    )  # no two actions read alike


def test_record_refuses_an_unknown_action(seeded_hub):
    with seeded_hub.sessions() as s, pytest.raises(ValueError, match="unknown audit action"):
        audit.record(s, CT, "evidence.delete", "evidence", "e1")  # type: ignore[arg-type]


def test_a_case_says_which_steps_its_viewer_may_take(seeded_hub):
    hub = seeded_hub
    ct = Browser(hub, "ct-d1")
    r = ct.post("/api/cases", json={"alarm_ids": [hub.alarm_ids["ktv1"]]})
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    assert ct.get(f"/api/cases/{cid}").json()["allowed_actions"] == ["assign", "transfer"]
    r = ct.post(f"/api/cases/{cid}/actions", json={"action": "assign", "officers": OFFICERS})
    assert r.status_code == 200, r.text
    assert ct.get(f"/api/cases/{cid}").json()["allowed_actions"] == ["assign", "inspect", "transfer"]
    # a step the status does not allow is refused, and one that is not a step at all is malformed
    assert ct.post(f"/api/cases/{cid}/actions", json={"action": "close", "note": "x"}).status_code == 409
    assert ct.post(f"/api/cases/{cid}/actions", json={"action": "reopen"}).status_code == 422
    # a decided case is paid only when it is an unpaid fine
    with hub.sessions() as s:
        case = cases.get(s, cid)
        for decision, paid, steps in (("warning", None, ["close"]), ("fine", None, ["pay", "close"])):
            case.status, case.decision, case.paid_at = "decided", decision, paid
            assert cases.steps_for(case) == steps, decision
        case.paid_at = case.opened_at
        assert cases.steps_for(case) == ["close"]
    # who may only read the case is offered no step
    for reader in ("proc-d1", "op-ktv"):
        body = Browser(hub, reader).get(f"/api/cases/{cid}").json()
        assert body["allowed_actions"] == [], reader
