"""Sign-in under attack: one answer for every failure, throttling per client address and per account
that an attacker cannot turn against the real user, and a cap on concurrent password hashing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from humiao.hub import api_auth, auth
from humiao.hub.app import create_app
from humiao.hub.tables import AuditEvent, User, utcnow

from tests.support.hubapi import PASSWORD, make_hub

pytestmark = pytest.mark.services

ATTACKER, USER_PC = "10.0.0.66", "10.0.0.7"


@pytest.fixture
def hub_with(tmp_path, db_url):
    """A hub with the given ``auth`` settings and three accounts (one of them disabled)."""
    made = []

    def make(**auth_cfg):
        h = make_hub(tmp_path / str(len(made)), db_url, auth=auth_cfg)
        with h.sessions() as s, s.begin():
            auth.create_user(s, "ct-d1", PASSWORD, "culture_tourism", "d1")
            auth.create_user(s, "police-d1", PASSWORD, "police", "d1")
            auth.create_user(s, "gone-d1", PASSWORD, "police", "d1")
            s.get(User, "gone-d1").active = False
        made.append(h)
        return h

    yield make
    for h in made:
        h.engine.dispose()


def at(hub, address: str) -> TestClient:
    """A client of the hub's API that connects from ``address``."""
    return TestClient(create_app(hub), client=(address, 50000))


def sign_in(c: TestClient, user: str, password: str):
    return c.post("/api/login", json={"username": user, "password": password})


def test_every_failure_gives_one_answer_and_the_audit_log_the_reason(hub_with):
    hub = hub_with()
    with hub.sessions() as s, s.begin():
        s.get(User, "police-d1").locked_until = utcnow() + timedelta(hours=1)  # locked by an administrator
    answers = [
        sign_in(at(hub, f"10.0.1.{i}"), user, password)
        for i, (user, password) in enumerate(
            (
                ("nobody", PASSWORD),  # unknown user
                ("ct-d1", "wrong password!"),  # wrong password
                ("gone-d1", PASSWORD),  # disabled account, right password
                ("police-d1", PASSWORD),  # locked-out account, right password
            )
        )
    ]
    assert {(r.status_code, r.text) for r in answers} == {
        (401, '{"detail":"用户名或密码错误","code":"error.sign_in.failed","params":{}}')
    }
    with hub.sessions() as s:
        why = {(e.user_id, e.why) for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "login.failed"))}
    assert why == {
        ("ct-d1", "wrong password"),
        ("gone-d1", "account disabled"),
        ("police-d1", "account locked"),
        ("-", "unknown user"),  # written too, so an unknown name takes as long; the name only hashed
    }
    with hub.sessions() as s:
        typed = s.scalars(select(AuditEvent.object_id).where(AuditEvent.user_id == "-")).one()
    assert typed.startswith("#") and "nobody" not in typed


def test_addresses_of_one_ipv6_network_count_as_one_client():
    key = auth.LoginGuard.client_key
    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:3::1") != key("2001:db8:1:2::1")
    assert key("10.0.0.7") == "10.0.0.7" and key("::ffff:10.0.0.7") == "10.0.0.7" and key("testclient") == "testclient"


def test_an_unknown_user_costs_the_same_argon2_work(hub_with):
    hub = hub_with()
    guard = api_auth.guard_for(hub)
    c = at(hub, "10.0.2.1")
    before = guard.hashes
    t0 = time.perf_counter()
    assert sign_in(c, "ct-d1", "wrong password!").status_code == 401
    known = time.perf_counter() - t0
    assert guard.hashes == before + 1
    t0 = time.perf_counter()
    assert sign_in(c, "no-such-user", "wrong password!").status_code == 401
    unknown = time.perf_counter() - t0
    assert guard.hashes == before + 2  # verified against a dummy hash
    assert unknown > known / 3, (known, unknown)


def test_a_failing_client_is_refused_with_429_without_hashing(hub_with):
    hub = hub_with(max_failed_logins=3, client_max_failures=6)
    guard = api_auth.guard_for(hub)
    attacker = at(hub, ATTACKER)
    for _ in range(3):
        assert sign_in(attacker, "ct-d1", "guess").status_code == 401
    hashed = guard.hashes
    t0 = time.perf_counter()
    r = sign_in(attacker, "ct-d1", PASSWORD)  # even the right password, from this client, for now
    assert time.perf_counter() - t0 < 0.5
    assert r.status_code == 429 and r.json()["code"] == "error.sign_in.failed"
    assert int(r.headers["Retry-After"]) >= 1
    assert guard.hashes == hashed  # refused before any argon2 work
    # per client: failures on any names add up; after six the address is refused whatever it tries
    for name in ("a", "b", "c"):
        assert sign_in(attacker, name, "guess").status_code == 401
    hashed = guard.hashes
    r = sign_in(attacker, "police-d1", PASSWORD)
    assert r.status_code == 429 and r.json()["code"] == "error.sign_in.failed"
    assert int(r.headers["Retry-After"]) > 60  # until the oldest failure leaves the window
    assert guard.hashes == hashed
    # another address is not affected
    assert sign_in(at(hub, USER_PC), "police-d1", PASSWORD).status_code == 200


def test_an_attacker_cannot_keep_the_real_user_out(hub_with):
    hub = hub_with(max_failed_logins=3, account_max_failures=5, backoff_seconds=30)
    attacker, user = at(hub, ATTACKER), at(hub, USER_PC)
    codes = [sign_in(attacker, "ct-d1", f"guess {i}").status_code for i in range(30)]
    assert codes[:3] == [401] * 3 and set(codes[3:]) == {429}
    # … and from many addresses, one guess each: the account is under attack
    for i in range(10):
        assert sign_in(at(hub, f"10.9.0.{i}"), "ct-d1", "guess").status_code == 401
    # every address that failed on the account now waits after a single failure
    assert sign_in(at(hub, "10.9.0.1"), "ct-d1", "guess").status_code == 429
    # the real user, from their own machine, signs in meanwhile with the right password
    r = sign_in(user, "ct-d1", PASSWORD)
    assert r.status_code == 200, r.text
    assert user.get("/api/me").json()["user"] == "ct-d1"
    # the attacker keeps hammering; the user signs in again
    assert sign_in(attacker, "ct-d1", "guess").status_code == 429
    assert sign_in(at(hub, USER_PC), "ct-d1", PASSWORD).status_code == 200


def test_delays_double_per_failure_and_are_forgotten():
    now = [1000.0]
    cfg = auth.AuthConfig(
        max_failed_logins=2, lockout_minutes=10, backoff_seconds=1, client_max_failures=100, account_max_failures=100
    )
    guard = auth.LoginGuard(cfg, clock=lambda: now[0])

    def fail() -> float:
        wait = guard.begin("u", "c")
        if wait:
            return wait
        guard.end("u", "c", ok=False)
        return 0.0

    assert fail() == 0 and fail() == 0  # the free failures
    waits = []
    for _ in range(12):
        waits.append(guard.begin("u", "c"))
        now[0] += waits[-1]
        assert fail() == 0
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]  # capped at the window
    now[0] += 600 + 600 + 1  # quiet for the window after the last delay ended: forgotten
    assert guard.begin("u", "c") == 0
    guard.end("u", "c", ok=True)
    assert guard.begin("u", "other client") == 0  # a pair is one account from one address


def test_concurrent_hashing_is_capped_and_healthz_answers(hub_with):
    hub = hub_with(max_concurrent_hashes=1, hash_wait_seconds=0.3)
    guard = api_auth.guard_for(hub)
    assert guard.slots.acquire(timeout=1)  # a sign-in hashing now, as far as the hub knows
    try:
        hashed = guard.hashes
        result = {}

        def second_login():
            t0 = time.perf_counter()
            result["r"] = sign_in(at(hub, USER_PC), "ct-d1", PASSWORD)
            result["s"] = time.perf_counter() - t0

        th = threading.Thread(target=second_login)
        th.start()
        t0 = time.perf_counter()
        assert at(hub, "10.0.3.1").get("/healthz").status_code == 200
        # not behind the hashing cap: the slot is held until the end of this test, so a health check waiting for
        # it would never answer (the bound only allows for a loaded machine's slow request)
        assert time.perf_counter() - t0 < 5.0
        th.join(10)
        r = result["r"]
        assert r.status_code == 429 and r.json()["code"] == "error.sign_in.busy" and r.headers["Retry-After"] == "1"
        assert result["s"] < 2.0
        assert guard.hashes == hashed
    finally:
        guard.slots.release()
    assert sign_in(at(hub, USER_PC), "ct-d1", PASSWORD).status_code == 200  # a busy answer is no failure


@pytest.mark.parametrize(
    ("base", "forced", "secure"),
    [
        ("https://hub.example", None, True),
        ("http://hub.example", None, False),
        ("http://hub.example", True, True),
        ("https://hub.example", False, False),
    ],
)
def test_the_session_cookie_is_secure_over_https_by_default(seeded_hub, base, forced, secure):
    from fastapi.testclient import TestClient

    from humiao.hub.app import create_app

    from tests.support.hubapi import PASSWORD

    seeded_hub.cfg.auth.secure_cookie = forced
    try:
        client = TestClient(create_app(seeded_hub), base_url=base)
        r = client.post("/api/login", json={"username": "ct-d1", "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert ("; Secure" in cookie) is secure and "HttpOnly" in cookie and "SameSite=strict" in cookie
        if secure and base.startswith("http:"):
            return  # a Secure cookie is not sent back over plain HTTP (by the browser, nor by this client)
        out = client.post("/api/logout", headers={"X-CSRF-Token": r.json()["csrf_token"]})
        assert out.status_code == 200 and ("; Secure" in out.headers["set-cookie"]) is secure
    finally:
        seeded_hub.cfg.auth.secure_cookie = None


def test_the_system_actors_name_cannot_be_an_account(tmp_path):
    from humiao.hub import auth
    from humiao.hub.db import make_engine, migrate, sessions

    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(engine)
    with sessions(engine)() as s, pytest.raises(auth.AuthError, match="reserved"):
        auth.create_user(s, "Rules", "a long enough password", "police", "d1")
    engine.dispose()
