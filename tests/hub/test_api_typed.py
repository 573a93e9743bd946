"""The typed API (issue 11): one response model per audience made from the one table of field masks
(hub/access.py VIEWS), one request model per case action, errors people read in their language
(``?lang=`` or Accept-Language; Chinese by default), and an OpenAPI that documents every route and its errors."""

from __future__ import annotations

import pytest

from humiao.hub import access, cases, schemas
from humiao.hub.app import create_app

from tests.support.hubapi import Browser, make_hub, seed

EN = {"Accept-Language": "en-GB,en;q=0.9"}
OFFICERS = [{"user": "ct-d1", "enforcement_id": "1"}, {"user": "ct-x", "enforcement_id": "2"}]
CASE_WITHHELD = access.VIEWS["venue_operator"]["case"].withheld


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("typed")
    h = make_hub(tmp, f"sqlite:///{tmp / 'hub.db'}")
    h.alarm_ids = seed(h)
    yield h
    h.engine.dispose()


@pytest.fixture(scope="module")
def users(hub):
    return {u: Browser(hub, u) for u in ("ct-d1", "op-ktv", "admin", "auditor")}


@pytest.fixture(scope="module")
def case_id(hub, users):
    """A KTV case taken through assignment, inspection and legal review by culture & tourism."""
    ct = users["ct-d1"]
    cid = ct.post("/api/cases", json={"alarm_ids": [hub.alarm_ids["ktv1"]]}).json()["id"]
    for body in (
        {"action": "assign", "officers": OFFICERS},
        {"action": "inspect", "findings": "a minor in room 2", "evidence_notes": "photos 1-4", "minor": {"age": 15}},
        {"action": "legal_review", "opinion": "facts clear"},
    ):
        r = ct.post(f"/api/cases/{cid}/actions", json=body)
        assert r.status_code == 200, r.text
    return cid


@pytest.fixture(scope="module")
def spec(users):
    return users["admin"].get("/openapi.json").json()


def component(spec, name: str) -> dict:
    return spec["components"]["schemas"][name]


# -- per-audience masks: the JSON and the schema ------------------------------------------------------


def test_a_venue_operator_sees_its_case_without_the_inspectors_side(users, case_id, spec):
    inspector = users["ct-d1"].get(f"/api/cases/{case_id}").json()
    mine = users["op-ktv"].get(f"/api/cases/{case_id}").json()
    assert inspector["view"] == "inspector" and mine["view"] == "venue_operator"
    assert set(inspector) >= CASE_WITHHELD and inspector["facts"]["minor"] == {"age": 15}
    assert not CASE_WITHHELD & set(mine) and mine["history"] == [] and mine["findings"] == "a minor in room 2"
    assert set(inspector) - set(mine) == CASE_WITHHELD
    listed = users["op-ktv"].get("/api/cases").json()["cases"]
    assert [c["id"] for c in listed] == [case_id] and not CASE_WITHHELD & set(listed[0])
    # the schema says the same: one model per audience, the withheld fields absent from the operator's
    full, masked = component(spec, "CaseInspector")["properties"], component(spec, "CaseVenueOperator")["properties"]
    assert set(full) >= CASE_WITHHELD and not CASE_WITHHELD & set(masked)
    assert set(full) - set(masked) == CASE_WITHHELD
    answer = spec["paths"]["/api/cases/{case_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["discriminator"]["propertyName"] == "view"
    assert {r.rsplit("/", 1)[1] for r in answer["schema"]["discriminator"]["mapping"].values()} == {
        "CaseInspector",
        "CaseVenueOperator",
    }


def test_each_audience_sees_its_fields_of_a_venue(users, case_id, spec):
    police_view = users["ct-d1"].get("/api/venues/ktv1").json()
    mine = users["op-ktv"].get("/api/venues/ktv1").json()
    admin = users["admin"].get("/api/venues/ktv1").json()
    assert police_view["view"] == "inspector" and "escalation" in police_view
    assert [c["id"] for c in police_view["cases"]] == [case_id]
    assert mine["view"] == "venue_operator" and "escalation" not in mine  # the inspectors' next-penalty suggestion
    assert [c["id"] for c in mine["cases"]] == [case_id] and not CASE_WITHHELD & set(mine["cases"][0])
    assert admin["view"] == "admin" and not {"alarms", "cases", "escalation"} & set(admin)  # separation of duties
    assert admin["name"] == mine["name"] == "ktv ktv1"
    assert {v["view"] for v in users["op-ktv"].get("/api/venues").json()["venues"]} == {"venue_operator"}
    assert users["op-ktv"].get("/api/schools").json() == {"schools": []}  # no venue: none of an operator's
    for model, withheld in (("VenueVenueOperator", {"escalation"}), ("VenueAdmin", {"alarms", "cases", "escalation"})):
        props = component(spec, model)["properties"]
        assert not withheld & set(props) and withheld <= set(component(spec, "VenueInspector")["properties"])


# -- one request model per case action -----------------------------------------------------------------

MISSING = [  # (body, the field the words name, the words' gist in zh and en)
    ({"action": "assign"}, "officers", "必填", "required"),
    ({"action": "assign", "officers": OFFICERS[:1]}, "officers", "至少 2 项", "at least 2 entries"),
    ({"action": "assign", "officers": [{"user": "a"}, {"user": "b"}]}, "enforcement_id", "必填", "required"),
    ({"action": "inspect"}, "findings", "必填", "required"),
    ({"action": "inspect", "findings": "   "}, "findings", "不能为空", "must not be blank"),
    ({"action": "legal_review"}, "opinion", "必填", "required"),
    ({"action": "decide", "basis": "x"}, "decision", "必填", "required"),
    ({"action": "decide", "decision": "fine", "basis": "x"}, "fine_yuan", "罚款须填写金额", "a fine needs its amount"),
    ({"action": "decide", "decision": "suspension"}, "suspension_months", "须填写月数", "length in months"),
    ({"action": "decide", "decision": "jail"}, "decision", "应为以下之一", "one of"),
    ({"action": "transfer", "reason": "x"}, "to_department", "必填", "required"),
    ({"action": "transfer", "to_department": "police"}, "reason", "必填", "required"),
    ({"action": "pay", "fine_yuan": 5}, "fine_yuan", "不是此请求的字段", "not a field of this request"),
    ({"action": "reopen"}, "action", "没有这个操作", "no such action"),
    ({"findings": "x"}, "action", "必填", "required"),
]


@pytest.mark.parametrize(("body", "field", "zh", "en"), MISSING, ids=[f"{b.get('action')}-{f}" for b, f, *_ in MISSING])
def test_a_case_action_missing_a_field_is_a_422_in_words(users, case_id, body, field, zh, en):
    ct = users["ct-d1"]
    r = ct.post(f"/api/cases/{case_id}/actions", json=body)
    assert r.status_code == 422, r.text
    got = r.json()
    assert got["code"] == "error.invalid" and got["detail"].startswith("请求无效：")
    assert field in got["detail"] and zh in got["detail"], got["detail"]
    assert got["errors"] and all("loc" in e and "type" in e for e in got["errors"])  # kept for tools
    english = ct.post(f"/api/cases/{case_id}/actions", json=body, headers=dict(EN)).json()["detail"]
    assert english.startswith("The request is not valid: ") and field in english and en in english, english
    assert ct.post(f"/api/cases/{case_id}/actions?lang=en", json=body).json()["detail"] == english


def test_every_step_of_the_procedure_has_its_model():
    assert {m.model_fields["action"].annotation.__args__[0] for m in schemas.STEPS} == set(cases.TRANSITIONS)


def test_a_refused_step_is_a_409_in_words(users, case_id):
    ct = users["ct-d1"]
    r = ct.post(f"/api/cases/{case_id}/actions", json={"action": "decide", "decision": "warning", "basis": "x"})
    assert r.status_code == 409 and r.json()["code"] == "error.case.respond_first"
    assert r.json()["detail"] == "须先告知当事人陈述、申辩权利（《行政处罚法》第四十四条、第六十三条）"
    r = ct.post(f"/api/cases/{case_id}/actions", json={"action": "pay"}, headers=dict(EN))
    assert r.status_code == 409
    assert r.json()["detail"] == f"Case {ct.get(f'/api/cases/{case_id}').json()['number']} is inspected; this step " + (
        "needs it to be one of: decided"
    )


# -- errors in the caller's language --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "path", "status", "zh", "en"),
    [
        ("ct-d1", "/api/audit", 403, "文化和旅游不能查看审计日志", "culture & tourism may not read the audit log"),
        ("auditor", "/api/cases", 403, "审计员不能查看案件", "auditor may not see cases"),
        ("admin", "/api/cases", 403, "管理员不能查看案件", "administrator may not see cases"),
        ("op-ktv", "/api/devices/keys", 403, "场所经营者不能管理设备", "venue operator may not manage devices"),
        ("ct-d1", "/api/cases/999999", 404, "未找到", "Not found"),
        ("ct-d1", "/api/venues/ktv9", 404, "未找到", "Not found"),
        (None, "/api/cases", 401, "请先登录", "Sign in first"),
        ("admin", "/api/alerts/nope", 404, "没有告警 nope", "No alert nope"),
    ],
)
def test_problems_in_both_languages(hub, users, user, path, status, zh, en):
    b = users[user] if user else Browser(hub)
    for headers, params, words in (({}, {}, zh), (EN, {}, en), ({}, {"lang": "en"}, en), (EN, {"lang": "zh"}, zh)):
        r = b.get(path, headers=headers, params=params)
        assert (r.status_code, r.json()["detail"]) == (status, words), (headers, params)
        assert r.json()["code"].startswith("error.")


def test_sign_in_csrf_and_validation_errors_in_words(hub, users):
    anon = Browser(hub)
    r = anon.client.post("/api/login", json={"username": "ct-d1", "password": "nope"}, headers=dict(EN))
    assert (r.status_code, r.json()["detail"]) == (401, "Wrong name or password")
    r = anon.client.post("/api/login", json={"username": "ct-d1"})
    assert r.status_code == 422 and r.json()["detail"] == "请求无效：password：必填"
    r = users["ct-d1"].post("/api/cases", csrf=False, json={"alarm_ids": [1]}, headers=dict(EN))
    assert r.status_code == 403 and r.json()["code"] == "error.csrf" and "CSRF" in r.json()["detail"]
    r = users["ct-d1"].get("/api/cases", params={"limit": 0, "lang": "en"})
    assert r.status_code == 422 and r.json()["detail"] == "The request is not valid: limit: at least 1"
    assert r.json()["errors"][0]["loc"] == ["query", "limit"]


# -- the OpenAPI documents every route and its errors ----------------------------------------------------

NOT_JSON = {  # answers that are not JSON by design (each declares its own media type where it is ours)
    "GET /metrics",
    "GET /ingest",
    "GET /api/registry/{what}.csv",
    "GET /api/alarms/{alarm_id}/evidence",
    "GET /api/stream",
    "GET /api/reports/{district}/{period}.{fmt}",
    "GET /api/dashboard/charts/{name}.svg",
}
OURS = ("humiao.hub.api", "humiao.hub.api_auth", "humiao.hub.api_cases", "humiao.hub.api_registry")
OURS += ("humiao.hub.api_devices",)


def test_every_route_documents_its_answer_and_its_errors(hub, spec):
    problem = {"$ref": "#/components/schemas/ProblemOut"}
    invalid = {"$ref": "#/components/schemas/ValidationProblemOut"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's list-shaped 422: not ours
    public = {"GET /healthz", "GET /readyz", "GET /metrics", "POST /api/login", "GET /ingest"}
    public |= {"GET /api/catalogue", "GET /api/catalogue/{lang}"}
    wrong, seen = [], 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            label, seen = f"{method.upper()} {path}", seen + 1
            responses = op["responses"]
            ok = next((responses[s] for s in ("200", "201", "204") if s in responses), None)
            if ok is None or not op.get("summary"):
                wrong.append(f"{label}: no success answer or no summary")
                continue
            schema = (ok.get("content") or {}).get("application/json", {}).get("schema")
            if label not in NOT_JSON and not schema:
                wrong.append(f"{label}: no response schema")
            needed = set() if label in public else {"401", "403"}
            if "{" in path:
                needed.add("404")
            if op.get("parameters") or op.get("requestBody"):
                needed.add("422")
            if missing := needed - set(responses):
                wrong.append(f"{label}: errors not documented: {sorted(missing)}")
            for status, answer in responses.items():
                if status.startswith("4"):
                    got = answer.get("content", {}).get("application/json", {}).get("schema")
                    if got != (invalid if status == "422" else problem) or not answer.get("description"):
                        wrong.append(f"{label}: {status} is not a documented problem: {got}")
    assert seen > 30 and not wrong, "\n".join(wrong)
    # this change's routers: an explicit response model, summary and description for each route
    app = create_app(hub)
    mine = [r for r in schemas.api_routes(app.routes) if r.endpoint.__module__ in OURS and r.include_in_schema]
    assert len(mine) > 20
    for r in mine:
        label = f"{sorted(r.methods)} {r.path_format}"
        assert r.summary and r.description, label
        not_json = isinstance(r.response_class, type) and r.response_class.__name__ != "JSONResponse"
        typed = r.response_model not in (None, dict) or not_json
        assert typed or r.path_format == "/api/inspection-list", label  # its shape is being changed elsewhere
