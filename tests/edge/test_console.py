"""The staff console over HTTP: a real ``ConsoleServer`` on a free port with a real ``CheckDesk`` (its outcomes
collected in a list), a ``SimulatedReader`` for the chip and the real OCR (``CardOcr``) on cards rendered by
``tests.support.idcards``. Requests go through ``http.client`` as a browser would send them."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import logging
import random
import socket
import ssl
import stat
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from humiao.edge.console import server as console_server
from humiao.edge.console import staff as staff_mod
from humiao.edge.console.server import ROUTES, ConsoleError, ConsoleServer
from humiao.edge.console.staff import StaffBook
from humiao.edge.idcheck.config import ConsoleConfig
from humiao.edge.idcheck.desk import CheckDesk, RecordedCheck
from humiao.edge.idcheck.number import REASONS
from humiao.edge.idcheck.readers import CardRead, SimulatedReader
from humiao.proto import vocabulary

from tests.support.idcards import encode, render_card, valid_number

TZ = ZoneInfo("Asia/Shanghai")
STAFF, PIN = "wang-li", "246802"
NAME = "李小明"
READING_KEYS = {"reading_id", "age", "under_14", "minor", "document", "method"}
CSRF = {"X-Humiao-Console": "1"}


def birth_at_age(years: int, days_past: int = 30) -> date:
    today = datetime.now(UTC).astimezone(TZ).date()
    return (
        date(today.year - years, 1, 1) if today.timetuple().tm_yday > days_past else date(today.year - years - 1, 1, 1)
    )


ADULT_BIRTH, MINOR_BIRTH, CHILD_BIRTH = birth_at_age(34), birth_at_age(16), birth_at_age(12)
_rng = random.Random(20260501)
ADULT, MINOR, CHILD = (valid_number(_rng, b) for b in (ADULT_BIRTH, MINOR_BIRTH, CHILD_BIRTH))
INVALID = ADULT[:17] + ("0" if ADULT[17] != "0" else "1")  # wrong check character


@pytest.fixture(scope="module")
def ocr():
    from humiao.edge.idcheck.ocr import CardOcr

    return CardOcr(threads=1).read_bytes


class Client:
    """A browser's requests: its cookie jar of one, the console's CSRF header on POSTs."""

    def __init__(self, srv: ConsoleServer | int, source: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
        self.port = srv if isinstance(srv, int) else srv.port
        self.source = source
        self.tls = tls
        self.cookie: str | None = None

    def conn(self) -> http.client.HTTPConnection:
        if self.tls is not None:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, context=self.tls, source_address=(self.source, 0), timeout=30
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, source_address=(self.source, 0), timeout=30)

    def request(self, method, path, body=None, headers=None, ctype="application/json", csrf=True):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        data = body
        if method == "POST":
            if csrf:
                h.update(CSRF)
            if ctype:
                h["Content-Type"] = ctype
            if not isinstance(body, bytes):
                data = json.dumps(body if body is not None else {}).encode()
        c = self.conn()
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
        finally:
            c.close()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                pair = v.split(";")[0]
                self.cookie = None if "Max-Age=0" in v else pair
        return r, raw

    def json(self, method, path, body=None, **kw):
        r, raw = self.request(method, path, body, **kw)
        return r.status, json.loads(raw) if raw else None

    def sign_in(self, name=STAFF, pin=PIN, lang="zh"):
        return self.json("POST", "/api/session", {"name": name, "pin": pin, "lang": lang})


@pytest.fixture
def make(tmp_path, ocr):
    """Start a console for a desk: (server, desk, sink, reader); a hotel whose camera is cam0, with staff wang-li
    (PIN 246802) and zhao (975313). Stopped at the end of the test."""
    book = StaffBook(tmp_path / "staff.json")
    book.add(STAFF, PIN)
    book.add("zhao", "975313")
    started: list[ConsoleServer] = []

    def _make(venue: str = "hotel", idle_min: float = 30.0):
        sink: list[RecordedCheck] = []
        desk = CheckDesk(600.0, sink.append, b"v" * 32, TZ)
        reader = SimulatedReader()
        cfg = ConsoleConfig(host="127.0.0.1", port=0, session_idle_min=idle_min, staff_file=tmp_path / "staff.json")
        srv = ConsoleServer(cfg, desk, tmp_path, venue, ocr=ocr, reader=reader, cameras=["cam0"])
        srv.start()
        started.append(srv)
        return srv, desk, sink, reader

    yield _make
    for srv in started:
        srv.stop()


@pytest.fixture
def made(make):
    return make()


def signed_in_to(made) -> tuple[Client, CheckDesk, list[RecordedCheck], SimulatedReader]:
    srv, desk, sink, reader = made
    c = Client(srv)
    status, body = c.sign_in()
    assert status == 200, body
    return c, desk, sink, reader


@pytest.fixture
def signed_in(made):
    return signed_in_to(made)


def post(c: Client, path: str, body=None, **kw):
    return c.json("POST", path, body, **kw)


def assert_no_id(text: str, *numbers: str) -> None:
    for n in numbers:
        assert n not in text
        assert n[:17] not in text
        assert n[6:14] not in text  # the birth date in the number
    assert NAME not in text


# -- signing in --------------------------------------------------------------------------------------
def test_every_api_route_but_sign_in_needs_a_session(made):
    srv, desk, _, _ = made
    desk.add("ev-1", "cam0", time.time(), 15.0, b"\xff\xd8\xff\xe0jpeg")
    c = Client(srv)
    checked = 0
    for route in ROUTES:
        path = route.name.replace("{id}", "ev-1")
        if not route.session:
            continue
        r, raw = c.request(route.method, path, {} if route.method == "POST" else None)
        assert r.status == 401, (route.name, r.status)
        assert json.loads(raw)["error"] == "请先登录"
        checked += 1
    assert checked == len([r for r in ROUTES if r.session]) >= 11
    # a forged cookie is no session either
    c.cookie = "humiao_console=" + "A" * 43
    assert c.json("GET", "/api/state")[0] == 401
    # the page, its files and the words are public; the page carries no data
    for path in ("/", "/static/console.js", "/static/console.css", "/static/words.json"):
        r, raw = Client(srv).request("GET", path)
        assert r.status == 200 and raw
        assert b"ev-1" not in raw


def test_wrong_pin_unknown_account_and_malformed_pin_answer_alike(made):
    srv, *_ = made
    answers = set()
    for i, (name, pin) in enumerate([(STAFF, "111111"), ("nobody", "246802"), (STAFF, "1234ab"), ("", ""), (7, None)]):
        c = Client(srv, source=f"127.0.0.{10 + i}")  # fresh addresses: no throttle in the way
        r, raw = c.request("POST", "/api/session", {"name": name, "pin": pin, "lang": "en"})
        answers.add((r.status, raw))
        assert c.cookie is None
    words = {"error": "Wrong account or PIN (after several failures, wait a little)", "retry_after": 0}
    assert answers == {(401, json.dumps(words).encode())}


def test_sign_in_is_throttled_with_backoff_then_lets_the_right_pin_in(made):
    srv, *_ = made
    c = Client(srv, source="127.0.0.20")
    for _ in range(5):
        status, body = c.sign_in(pin="000000")
        assert status == 401
    status, body = c.sign_in(pin="000000")  # the 6th failure: from now on, wait
    assert status == 401 and body["retry_after"] >= 1
    status, body = c.sign_in()  # even the right PIN waits: the same words, no hint
    assert status == 401 and body["retry_after"] >= 1 and c.cookie is None
    # another address is held back on this account too (someone guessing from many devices)...
    other = Client(srv, source="127.0.0.21")
    assert other.sign_in()[0] == 401
    # ... but only for seconds, and another member of staff signs in from there at once
    assert Client(srv, source="127.0.0.21").sign_in("zhao", "975313")[0] == 200
    time.sleep(body["retry_after"] + 0.2)
    status, body = c.sign_in()
    assert status == 200 and body["staff"] == STAFF


def test_session_cookie_attributes_and_sign_out_ends_the_live_stream(signed_in):
    c, desk, _, _ = signed_in
    r, _ = c.request("POST", "/api/session", {"name": STAFF, "pin": PIN})
    cookie = r.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback
    stream = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    stream.request("GET", "/api/events", headers={"Cookie": c.cookie})
    resp = stream.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
    assert resp.getheader("Cache-Control") == "no-store"
    first = _event(resp)
    assert first[0] == "state" and first[1]["staff"] == STAFF and first[1]["pending"] == []
    desk.add("ev-live", "cam0", time.time(), 16.6, None)  # pushed at once
    kind, state = _event(resp)
    assert kind == "state" and [p["event_id"] for p in state["pending"]] == ["ev-live"]
    assert post(c, "/api/signout") == (200, {})
    t0 = time.monotonic()
    assert _event(resp)[0] == "end"
    assert resp.read() == b""  # the server closed it
    assert time.monotonic() - t0 < 3
    assert c.json("GET", "/api/state")[0] == 401


def _event(resp) -> tuple[str, dict | None]:
    kind, data = "message", None
    while True:
        line = resp.fp.readline().decode()
        if line == "":
            return "eof", None
        line = line.rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            return kind, data


def test_idle_session_expires_and_its_stream_ends(make):
    c, _, _, _ = signed_in_to(make(idle_min=0.02))
    assert c.json("GET", "/api/state")[0] == 200
    stream = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    stream.request("GET", "/api/events", headers={"Cookie": c.cookie})
    resp = stream.getresponse()
    assert _event(resp)[0] == "state"
    t0 = time.monotonic()
    assert _event(resp)[0] == "end"  # the open stream does not keep the session alive
    assert 0.5 < time.monotonic() - t0 < 4
    assert c.json("GET", "/api/state") == (401, {"error": "请先登录"})


def test_stop_ends_open_streams(made):
    srv, *_ = made
    c = Client(srv)
    c.sign_in()
    stream = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    stream.request("GET", "/api/events", headers={"Cookie": c.cookie})
    resp = stream.getresponse()
    assert _event(resp)[0] == "state"
    t0 = time.monotonic()
    srv.stop()
    assert _event(resp)[0] == "eof"
    assert time.monotonic() - t0 < 4
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", c.port), timeout=2).close()


def test_live_streams_are_capped_and_a_closed_page_frees_its_stream(signed_in):
    c, *_ = signed_in

    def open_stream(i=0):  # from several devices (one address has at most MAX_PER_ADDRESS connections)
        conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10, source_address=(f"127.0.1.{i % 4}", 0))
        conn.request("GET", "/api/events", headers={"Cookie": c.cookie})
        return conn, conn.getresponse()

    streams = [open_stream(i) for i in range(console_server.MAX_STREAMS)]
    for _, resp in streams:
        assert resp.status == 200 and _event(resp)[0] == "state"
    conn, resp = open_stream()
    assert resp.status == 503 and json.loads(resp.read()) == {"error": "系统繁忙，请稍后再试"}
    conn.close()
    for conn, resp in streams:  # the pages go away (closed tabs, a phone that slept)
        resp.close()
        conn.close()
    deadline = time.monotonic() + 5
    while True:
        conn, resp = open_stream()
        if resp.status == 200:
            break
        conn.close()
        assert time.monotonic() < deadline, "closed streams still held"
        time.sleep(0.2)
    assert _event(resp)[0] == "state"
    conn.close()


def test_removing_an_account_ends_its_sessions(signed_in, tmp_path):
    c, *_ = signed_in
    assert c.json("GET", "/api/session")[1]["staff"] == STAFF
    assert StaffBook(tmp_path / "staff.json").remove(STAFF)
    assert c.json("GET", "/api/session")[0] == 401


# -- CSRF, sizes, headers ------------------------------------------------------------------------------
def test_posts_need_the_console_header_json_and_a_same_origin(signed_in):
    c, _, sink, _ = signed_in
    body = {"event_id": None, "outcome": "no_id_refused", "reading_id": None}
    assert post(c, "/api/record", body, csrf=False) == (403, {"error": "请求被拒绝：请在查验台页面操作"})
    assert post(c, "/api/record", body, headers={"Origin": "http://evil.example"})[0] == 403
    assert post(c, "/api/record", body, headers={"Sec-Fetch-Site": "cross-site"})[0] == 403
    r, raw = c.request("POST", "/api/record", b"outcome=no_id_refused", ctype="application/x-www-form-urlencoded")
    assert r.status == 415
    r, raw = c.request("POST", "/api/record", b"outcome=no_id_refused", ctype="text/plain")
    assert r.status == 415
    assert sink == []
    origin = {"Origin": f"http://127.0.0.1:{c.port}", "Sec-Fetch-Site": "same-origin"}
    assert post(c, "/api/record", body, headers=origin)[0] == 200
    assert [s.result for s in sink] == ["no_id_refused"]


def _oversized(c: Client, path: str, ctype: str, length: int) -> tuple[int, dict]:
    conn = c.conn()
    conn.putrequest("POST", path)
    for k, v in {**CSRF, "Cookie": c.cookie, "Content-Type": ctype, "Content-Length": str(length)}.items():
        conn.putheader(k, v)
    conn.endheaders()  # the body is never sent: the answer comes first
    r = conn.getresponse()
    out = (r.status, json.loads(r.read()))
    conn.close()
    return out


def test_oversized_bodies_are_refused_unread(signed_in):
    c, *_ = signed_in
    assert _oversized(c, "/api/read/number", "application/json", 64 * 1024 + 1) == (413, {"error": "内容过大"})
    assert _oversized(c, "/api/read/photo", "image/jpeg", 8 * 1024 * 1024 + 1) == (
        413,
        {"error": "照片过大（上限 8 MB）"},
    )
    # and the console still answers
    assert c.json("GET", "/api/state")[0] == 200


def test_security_headers_and_no_store(signed_in):
    c, desk, _, _ = signed_in
    r, _ = c.request("GET", "/")
    csp = r.getheader("Content-Security-Policy")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp
    assert r.getheader("X-Content-Type-Options") == "nosniff"
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    page = Client(c.port).request("GET", "/")[1].decode()
    assert "<script>" not in page and "<script src=" in page and "http://" not in page and "https://" not in page
    r, _ = c.request("GET", "/api/state")
    assert r.getheader("Cache-Control") == "no-store" and r.getheader("X-Frame-Options") == "DENY"


def test_bad_requests_get_words_never_a_500(signed_in):
    c, desk, sink, _ = signed_in
    assert c.json("GET", "/nope") == (404, {"error": "未找到"})
    r, raw = c.request("PUT", "/api/record", b"{}")
    assert r.status == 405 and "POST" in r.getheader("Allow")
    r, raw = c.request("POST", "/api/record", b"{not json")
    assert r.status == 400 and json.loads(raw) == {"error": "请求内容不对"}
    assert post(c, "/api/record", [1, 2])[0] == 400
    weird = [
        {},
        {"outcome": 3},
        {"outcome": "adult_admitted", "reading_id": ["x"]},
        {"outcome": "nonsense"},
        {"outcome": "not_checked"},
        {"outcome": "adult_admitted", "reading_id": "forged"},
        {"outcome": "no_id_refused", "event_id": "gone"},
        {"outcome": "no_id_refused", "guardian_contact_recorded": "yes"},
        {"outcome": "adult_admitted"},
    ]
    for body in weird:
        status, answer = post(c, "/api/record", body)
        assert 400 <= status < 500 and isinstance(answer["error"], str) and answer["error"], (body, status)
    assert post(c, "/api/record", {"outcome": "not_checked"})[1] == {"error": "该结果由系统自动记录"}
    assert post(c, "/api/record", {"outcome": "adult_admitted", "reading_id": "forged"}) == (
        409,
        {"error": "读取结果已过期，请重新读取证件"},
    )
    for body in [{"number": 12}, {"number": "x" * 10_000}, {}, {"document": None}, {"document": "passport"}]:
        path = "/api/read/document" if "document" in body else "/api/read/number"
        status, answer = post(c, path, body)
        assert status == 422 and answer["error"] and "reading_id" not in answer
    # a request line http.server refuses: JSON words, nothing echoed
    with socket.create_connection(("127.0.0.1", c.port), timeout=5) as s:
        s.sendall(b"GET /a " + ADULT.encode() + b" HTTP/1.1\r\n\r\n")
        answer = s.recv(65536)
    assert b" 400 " in answer.split(b"\r\n")[0] and ADULT.encode() not in answer
    assert sink == []


def test_odd_lengths_and_deep_json_are_bad_requests(signed_in):
    c, *_ = signed_in
    for length in ["-1", "+5", "5 ", "5_0", "1e3", "0x10", "1" * 10, "٥"]:
        with socket.create_connection(("127.0.0.1", c.port), timeout=5) as s:
            head = (
                f"POST /api/record HTTP/1.1\r\nHost: x\r\nCookie: {c.cookie}\r\nX-Humiao-Console: 1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            )
            s.sendall(head.encode())
            answer = s.recv(65536)
        assert answer.split(b"\r\n")[0].split(b" ")[1] == b"400", length
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    r, raw = c.request("POST", "/api/record", b'{"outcome": ' + deep + b"}")
    assert r.status == 413  # over 64 KiB: refused unread
    deep = ("[" * 30_000 + "]" * 30_000).encode()
    r, raw = c.request("POST", "/api/record", deep)
    assert r.status == 400 and json.loads(raw) == {"error": "请求内容不对"}
    assert c.json("GET", "/api/state")[0] == 200


def _closed_within(s: socket.socket, seconds: float) -> float:
    """Seconds until the server closed ``s`` (it sends nothing more), failing after ``seconds``."""
    t0 = time.monotonic()
    s.settimeout(seconds)
    with contextlib.suppress(ConnectionResetError):
        while s.recv(65536):
            pass
    return time.monotonic() - t0


def test_a_client_trickling_its_request_loses_its_connection(made, monkeypatch):
    srv, *_ = made
    monkeypatch.setattr(console_server, "HEADER_S", 1.5)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /api/state HTTP/1.1\r\n")
        t0 = time.monotonic()
        for i in range(12):  # one header line every 0.3 s: each read is quick, the whole is not
            try:
                s.sendall(f"X-Slow-{i}: 1\r\n".encode())
            except OSError:
                break
            time.sleep(0.3)
        assert _closed_within(s, 5) + (time.monotonic() - t0) < 4.5
    # a kept-alive connection left idle is closed too
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /static/console.css HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        assert _closed_within(s, 5) < 3.5
    # a slow body too
    monkeypatch.setattr(console_server, "BODY_S", 1.5)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(
            b"POST /api/session HTTP/1.1\r\nHost: x\r\nX-Humiao-Console: 1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"
        )
        t0 = time.monotonic()
        for _ in range(12):
            try:
                s.sendall(b" ")
            except OSError:
                break
            time.sleep(0.3)
        assert _closed_within(s, 5) + (time.monotonic() - t0) < 4.5
    assert Client(srv).request("GET", "/")[0].status == 200


def test_one_address_cannot_take_every_connection(made):
    srv, *_ = made
    hogs = []
    try:
        for _ in range(console_server.MAX_PER_ADDRESS):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5, source_address=("127.0.0.60", 0))
            hogs.append(s)
        time.sleep(0.3)  # all accepted and waiting for their requests
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=5, source_address=("127.0.0.60", 0))
        with extra:
            assert _closed_within(extra, 3) < 3  # closed at once, unanswered
        # another device is served meanwhile
        assert Client(srv, source="127.0.0.61").request("GET", "/")[0].status == 200
    finally:
        for s in hogs:
            s.close()
    deadline = time.monotonic() + 5
    while True:  # and the address gets its connections back once it closes them
        try:
            if Client(srv, source="127.0.0.60").request("GET", "/")[0].status == 200:
                break
        except (ConnectionError, http.client.RemoteDisconnected):
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_a_slow_tls_handshake_is_dropped(made, tmp_path, monkeypatch):
    _, desk, _, _ = made
    monkeypatch.setattr(console_server, "HANDSHAKE_S", 1.5)
    srv = ConsoleServer(
        ConsoleConfig(host="0.0.0.0", port=0, staff_file=tmp_path / "staff.json"), desk, tmp_path, "bar"
    )
    with srv, socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01")  # the start of a ClientHello, and then nothing
        assert _closed_within(s, 5) < 3.5


def test_parallel_sign_ins_cannot_beat_the_throttle(made):
    srv, *_ = made
    checked = []
    real = srv.staff.verify

    def counting(name, pin):
        checked.append(name)
        return real(name, pin)

    srv.staff.verify = counting
    answers: list[int] = []

    def attempt():
        answers.append(Client(srv, source="127.0.0.70").sign_in(pin="000000")[0])

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [401] * 10 and len(checked) == staff_mod.FREE_FAILURES


# -- reading an ID -------------------------------------------------------------------------------------
def test_pending_checks_their_crop_and_the_state(signed_in):
    c, desk, sink, _ = signed_in
    jpeg = encode(render_card(ADULT).resize((64, 80)))  # any JPEG will do for a face crop
    now = time.time()
    desk.add("ev-a", "cam0", now - 30, 16.6, jpeg)
    desk.add("ev-b", "cam0", now - 5, 21.2, None)
    status, state = c.json("GET", "/api/state")
    assert status == 200
    pending = state["pending"]
    assert [p["event_id"] for p in pending] == ["ev-a", "ev-b"]
    a = pending[0]
    assert a["camera_id"] == "cam0" and a["age_estimate"] == 17 and a["crop"] is True
    assert 565 <= a["seconds_left"] <= 571 and a["alerted_at"] == pytest.approx(now - 30)
    assert pending[1]["crop"] is False and state["reader"] and state["ocr"] and state["cameras"] == ["cam0"]
    assert state["guardian_questions"] is True and state["venue"] == {"zh": "旅馆", "en": "Hotel"}
    r, raw = c.request("GET", "/api/checks/ev-a/crop")
    assert r.status == 200 and raw == jpeg
    assert r.getheader("Content-Type") == "image/jpeg" and r.getheader("Cache-Control") == "no-store"
    assert c.request("GET", "/api/checks/ev-b/crop")[0].status == 404  # no crop kept
    assert c.request("GET", "/api/checks/ev-zzz/crop")[0].status == 404
    assert Client(c.port).request("GET", "/api/checks/ev-a/crop")[0].status == 401
    assert post(c, "/api/record", {"event_id": "ev-a", "outcome": "left_before_check"})[0] == 200
    assert c.request("GET", "/api/checks/ev-a/crop")[0].status == 404  # gone once answered
    status, state = c.json("GET", "/api/state")
    assert [p["event_id"] for p in state["pending"]] == ["ev-b"]
    recent = state["recent"][0]
    assert recent["result"] == dict(vocabulary.RESULTS["left_before_check"]) and recent["staff"] == STAFF
    assert recent["age_years"] is None and recent["walk_up"] is False and recent["camera_id"] == "cam0"


def test_chip_read_then_adult_verified_reaches_the_sink_without_the_id(signed_in):
    c, desk, sink, reader = signed_in
    desk.add("ev-1", "cam0", time.time() - 10, 16.2, b"\xff\xd8\xff\xe0face")
    reader.feed(CardRead(ADULT, NAME, ADULT_BIRTH))
    r, raw = c.request("POST", "/api/read/chip", {})
    assert r.status == 200
    reading = json.loads(raw)
    assert set(reading) == READING_KEYS
    assert reading["age"] == 34 and reading["minor"] is False and reading["under_14"] is False
    assert reading["document"] == dict(vocabulary.DOCUMENTS["citizen_id"])
    assert reading["method"] == dict(vocabulary.READ_METHODS["chip"])
    assert_no_id(raw.decode(), ADULT)
    status, answer = post(
        c, "/api/record", {"event_id": "ev-1", "outcome": "adult_admitted", "reading_id": reading["reading_id"]}
    )
    assert status == 200 and answer["recorded"]["result"]["zh"] == "成年人，核验后放行"
    [rec] = sink
    assert rec.event_id == "ev-1" and rec.camera_id == "cam0" and rec.result == "adult_admitted"
    assert rec.age_years == 34 and rec.under_14 is False and rec.document == "citizen_id" and rec.method == "chip"
    assert rec.checksum_valid is True and rec.walk_up is False and rec.staff == STAFF
    assert len(rec.id_keyed_hash) == 64 and rec.guardian_contact_recorded is False
    assert_no_id(repr(dataclasses.asdict(rec)), ADULT)
    # the reading is used once
    assert (
        post(c, "/api/record", {"event_id": None, "outcome": "adult_admitted", "reading_id": reading["reading_id"]})[0]
        == 409
    )


def test_chip_without_a_card_or_with_a_mismatched_one(signed_in, monkeypatch):
    c, _, sink, reader = signed_in
    monkeypatch.setattr(console_server, "CHIP_WAIT_S", 0.2)
    status, answer = post(c, "/api/read/chip")
    assert status == 422 and answer == {"error": "未检测到证件，请将身份证放在读卡器上后重试", "retry": True}
    reader.feed(CardRead(ADULT, NAME, MINOR_BIRTH))  # the chip's birth date is not the number's
    status, answer = post(c, "/api/read/chip")
    assert status == 422 and answer["reason"] == REASONS["birth date"] and "reading_id" not in answer


def test_no_reader_configured(made, tmp_path):
    srv, desk, _, _ = made
    bare = ConsoleServer(ConsoleConfig(port=0, staff_file=tmp_path / "staff.json"), desk, tmp_path, "ktv")
    with bare:
        c = Client(bare)
        assert c.sign_in()[0] == 200
        assert c.json("GET", "/api/state")[1]["reader"] is False
        assert post(c, "/api/read/chip") == (409, {"error": "未配置读卡器"})
        assert post(c, "/api/read/photo", b"\xff\xd8\xff", ctype="image/jpeg") == (409, {"error": "本机未启用拍照识读"})


def test_typed_numbers_valid_and_refused(signed_in):
    c, _, _, _ = signed_in
    full_width = "".join(chr(0xFF10 + int(ch)) if ch.isdigit() else ch for ch in MINOR)
    status, reading = post(c, "/api/read/number", {"number": f" {full_width[:6]} {full_width[6:]}\n"})
    assert status == 200 and set(reading) == READING_KEYS
    assert reading["age"] == 16 and reading["minor"] is True and reading["under_14"] is False
    assert reading["method"] == dict(vocabulary.READ_METHODS["manual"])
    for text, reason in [(INVALID, "check character"), (ADULT[:17], "wrong length"), ("99" + ADULT[2:], "region code")]:
        r, raw = c.request("POST", "/api/read/number", {"number": text})
        answer = json.loads(raw)
        assert r.status == 422 and answer["reason"] == REASONS[reason] and answer["error"] == REASONS[reason]["zh"]
        assert answer["unreadable"] is True and "reading_id" not in answer
        assert_no_id(raw.decode(), text if len(text) == 18 else ADULT)
    assert post(c, "/api/lang", {"lang": "en"})[0] == 200
    assert post(c, "/api/read/number", {"number": INVALID})[1]["error"] == "check character"
    assert post(c, "/api/lang", {"lang": "fr"}) == (422, {"error": "Unknown language"})


def test_other_document_with_a_typed_birth_date(signed_in):
    c, desk, sink, _ = signed_in
    status, reading = post(
        c, "/api/read/document", {"document": "passport", "birth_date": CHILD_BIRTH.strftime("%Y年%m月%d日")}
    )
    assert status == 200 and set(reading) == READING_KEYS
    assert reading["age"] == 12 and reading["under_14"] is True and reading["minor"] is True
    assert reading["document"] == dict(vocabulary.DOCUMENTS["passport"])
    for body, reason in [
        ({"document": "passport", "birth_date": "2099-01-01"}, "birth date"),
        ({"document": "passport", "birth_date": "20080231"}, "birth date"),
        ({"document": "citizen_id", "birth_date": "2008-01-01"}, "document type"),
        ({"document": "library_card", "birth_date": "2008-01-01"}, "document type"),
    ]:
        assert post(c, "/api/read/document", body) == (
            422,
            {"error": REASONS[reason]["zh"], "reason": REASONS[reason], "unreadable": True},
        )
    status, _ = post(
        c, "/api/record", {"event_id": None, "outcome": "minor_refused", "reading_id": reading["reading_id"]}
    )
    assert status == 200
    [rec] = sink
    assert rec.document == "passport" and rec.method == "manual" and rec.age_years == 12 and rec.under_14
    assert rec.id_keyed_hash == "" and rec.walk_up is True and rec.camera_id == ""


def test_photo_read_by_the_real_ocr(signed_in):
    c, _, sink, _ = signed_in
    card = render_card(MINOR, NAME, angle=4.0, blur=0.6)
    r, raw = c.request("POST", "/api/read/photo", encode(card), ctype="image/jpeg")
    assert r.status == 200, raw
    reading = json.loads(raw)
    assert set(reading) == READING_KEYS and reading["age"] == 16 and reading["minor"] is True
    assert reading["method"] == dict(vocabulary.READ_METHODS["ocr"])
    assert_no_id(raw.decode(), MINOR)
    # PNG too
    status, again = post(c, "/api/read/photo", encode(card, "PNG"), ctype="image/png")
    assert status == 200 and again["age"] == 16
    # a card whose number is invalid is never accepted
    r, raw = c.request("POST", "/api/read/photo", encode(render_card(INVALID, NAME)), ctype="image/jpeg")
    answer = json.loads(raw)
    assert r.status == 422 and answer["unreadable"] is True and "reading_id" not in answer
    assert answer["error"] == REASONS.get("unreadable", {"zh": "未能识读证件号码，请重拍或手工输入"})["zh"]
    # not a picture at all, or not the type it claims
    assert post(c, "/api/read/photo", b"GIF89a....", ctype="image/jpeg")[0] == 415
    assert post(c, "/api/read/photo", encode(card), ctype="image/png")[0] == 415
    assert post(c, "/api/read/photo", encode(card), ctype="image/gif") == (
        415,
        {"error": "照片格式不对（仅支持 JPEG 或 PNG）"},
    )
    status, answer = post(c, "/api/read/photo", b"\xff\xd8\xff" + b"\x00" * 500, ctype="image/jpeg")
    assert status == 422 and answer["unreadable"] is True
    assert sink == []


# -- recording -----------------------------------------------------------------------------------------
def test_outcome_must_agree_with_the_age_read(signed_in):
    c, desk, sink, _ = signed_in
    desk.add("ev-1", "cam0", time.time(), 15.0, None)
    adult = post(c, "/api/read/number", {"number": ADULT})[1]["reading_id"]
    minor = post(c, "/api/read/number", {"number": MINOR})[1]["reading_id"]
    for outcome, rid, words in [
        ("minor_refused", adult, "证件显示已满18周岁"),
        ("minor_admitted", adult, "证件显示已满18周岁"),
        ("adult_admitted", minor, "证件显示未满18周岁"),
        ("no_id_refused", minor, "已读取证件，请选择成年或未成年的结果"),
        ("adult_admitted", None, "请先读取证件"),
    ]:
        body = {"event_id": "ev-1", "outcome": outcome, "reading_id": rid}
        if outcome == "minor_admitted":  # at this hotel it asks the guardian record (art. 57: a minor alone too)
            body |= {"guardian_contact_recorded": True, "co_occupants_recorded": True}
        assert post(c, "/api/record", body) == (422, {"error": words})
    assert sink == [] and [p.event_id for p in desk.pending()] == ["ev-1"]
    assert post(c, "/api/lang", {"lang": "en"})[0] == 200
    assert post(c, "/api/record", {"event_id": "ev-1", "outcome": "adult_admitted", "reading_id": minor}) == (
        422,
        {"error": "the ID shows a minor"},
    )
    assert post(c, "/api/record", {"event_id": "ev-1", "outcome": "minor_refused", "reading_id": minor})[0] == 200
    assert post(c, "/api/record", {"event_id": "ev-1", "outcome": "left_before_check"})[1] == {
        "error": "this alert was already answered or its window ran out"
    }
    assert [s.result for s in sink] == ["minor_refused"]


def test_walk_up_checks_name_a_configured_camera_or_none(signed_in):
    c, _, sink, _ = signed_in
    rid = post(c, "/api/read/number", {"number": ADULT})[1]["reading_id"]
    assert post(
        c, "/api/record", {"event_id": None, "outcome": "adult_admitted", "reading_id": rid, "camera_id": "cam9"}
    ) == (
        422,
        {"error": "未知的摄像头"},
    )
    assert (
        post(c, "/api/record", {"event_id": None, "outcome": "adult_admitted", "reading_id": rid, "camera_id": "cam0"})[
            0
        ]
        == 200
    )
    assert post(c, "/api/record", {"event_id": None, "outcome": "left_before_check", "camera_id": None})[0] == 200
    a, b = sink
    assert (a.walk_up, a.camera_id, a.event_id, a.alerted_at, a.age_years) == (True, "cam0", "", None, 34)
    assert (b.walk_up, b.camera_id, b.result, b.age_years, b.method) == (True, "", "left_before_check", None, "")


def test_guardian_answers_only_for_the_outcome_that_asks(signed_in):
    c, desk, sink, _ = signed_in
    desk.add("ev-1", "cam0", time.time(), 15.0, None)
    rid = post(c, "/api/read/number", {"number": MINOR})[1]["reading_id"]
    base = {"event_id": "ev-1", "reading_id": rid}
    assert post(c, "/api/record", {**base, "outcome": "minor_admitted_with_guardian"}) == (
        422,
        {"error": "请回答两项监护人登记问题"},
    )
    assert (
        post(c, "/api/record", {**base, "outcome": "minor_admitted_with_guardian", "guardian_contact_recorded": True})[
            0
        ]
        == 422
    )
    refused = {**base, "outcome": "minor_refused", "guardian_contact_recorded": True, "co_occupants_recorded": True}
    assert post(c, "/api/record", refused) == (422, {"error": "该结果无需监护人登记"})
    ok = {
        **base,
        "outcome": "minor_admitted_with_guardian",
        "guardian_contact_recorded": True,
        "co_occupants_recorded": False,
    }
    assert post(c, "/api/record", ok)[0] == 200
    [rec] = sink
    assert rec.result == "minor_admitted_with_guardian" and rec.age_years == 16
    assert rec.guardian_contact_recorded is True and rec.co_occupants_recorded is False


def test_guardian_questions_are_a_hotels_only(make):
    c, _, sink, _ = signed_in_to(make(venue="ktv"))
    assert c.json("GET", "/api/state")[1]["guardian_questions"] is False
    rid = post(c, "/api/read/number", {"number": MINOR})[1]["reading_id"]
    asked = {"event_id": None, "outcome": "minor_admitted_with_guardian", "reading_id": rid}
    assert post(c, "/api/record", {**asked, "guardian_contact_recorded": True, "co_occupants_recorded": True})[0] == 422
    assert post(c, "/api/record", asked)[0] == 200
    assert sink[0].guardian_contact_recorded is False and sink[0].co_occupants_recorded is False


# -- TLS -----------------------------------------------------------------------------------------------
def test_lan_address_is_served_over_https_with_a_self_signed_certificate(made, tmp_path, caplog):
    _, desk, _, _ = made
    caplog.set_level(logging.INFO, logger="humiao.edge.console")
    cfg = ConsoleConfig(host="0.0.0.0", port=0, staff_file=tmp_path / "staff.json")
    state = tmp_path / "lan"
    srv = ConsoleServer(cfg, desk, state, "hotel")
    with srv:
        assert srv.tls and srv.url.startswith("https://")
        cert, key = state / "console-tls" / "console.crt", state / "console-tls" / "console.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE((state / "console-tls").stat().st_mode) == 0o700
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = x509.load_pem_x509_certificate(cert.read_bytes())
        assert isinstance(pem.public_key(), ec.EllipticCurvePublicKey)
        names = pem.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert socket.gethostname().lower() in names.get_values_for_type(x509.DNSName)
        assert srv.fingerprint and srv.fingerprint in caplog.text
        # a browser that trusts this certificate (the staff compared the fingerprint) verifies it fully
        trust = ssl.create_default_context(cafile=str(cert))
        c = Client(srv, tls=trust)
        r, raw = c.request("GET", "/")
        assert r.status == 200 and b"console.js" in raw
        r, raw = c.request("POST", "/api/session", {"name": STAFF, "pin": PIN})
        cookie = r.getheader("Set-Cookie")
        assert r.status == 200 and cookie.startswith("__Host-humiao_console=") and "; Secure" in cookie
        assert c.json("GET", "/api/state")[0] == 200
        # without trusting it, the handshake fails
        with pytest.raises(ssl.SSLCertVerificationError):
            Client(srv, tls=ssl.create_default_context()).request("GET", "/")
        # plain HTTP to the HTTPS port is refused with the address to use, and never answered with data
        plain = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        plain.request("GET", "/api/state", headers={"Cookie": c.cookie})
        resp = plain.getresponse()
        text = resp.read().decode()
        assert resp.status == 400 and "HTTPS" in text and "https://" in text and "pending" not in text
        first = srv.fingerprint
    # made once: the next start keeps it
    again = ConsoleServer(cfg, desk, state, "hotel")
    with again:
        assert again.fingerprint == first


def test_tls_misconfiguration_is_a_clear_error(made, tmp_path):
    _, desk, _, _ = made
    half = ConsoleConfig(host="0.0.0.0", port=0, tls_cert=tmp_path / "c.pem")
    with pytest.raises(ConsoleError, match="tls_cert and console.tls_key go together"):
        ConsoleServer(half, desk, tmp_path, "bar").start()
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    bad = ConsoleConfig(host="0.0.0.0", port=0, tls_cert=tmp_path / "c.pem", tls_key=tmp_path / "k.pem")
    with pytest.raises(ConsoleError, match="console TLS: cannot use"):
        ConsoleServer(bad, desk, tmp_path, "bar").start()
    busy = ConsoleServer(ConsoleConfig(port=made[0].port), desk, tmp_path, "bar")
    with pytest.raises(ConsoleError, match="cannot listen"):
        busy.start()


def test_operator_certificate_is_used(made, tmp_path):
    _, desk, _, _ = made
    from humiao.edge.console.server import self_signed

    cert, key = self_signed(tmp_path / "own", ["localhost", "127.0.0.1"])
    cfg = ConsoleConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key, staff_file=tmp_path / "staff.json")
    with ConsoleServer(cfg, desk, tmp_path / "state", "bar") as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        assert not (tmp_path / "state" / "console-tls").exists()
        r, _ = Client(srv, tls=ssl.create_default_context(cafile=str(cert))).request("GET", "/static/words.json")
        assert r.status == 200


# -- privacy: nothing of an ID in the log -------------------------------------------------------------
def test_no_id_in_the_logs_after_a_session_of_checks(signed_in, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    c, desk, sink, reader = signed_in
    desk.add("ev-1", "cam0", time.time(), 15.0, b"\xff\xd8\xff\xe0face")
    desk.add("ev-2", "cam0", time.time(), 15.0, None)
    reader.feed(CardRead(ADULT, NAME, ADULT_BIRTH))
    rid = post(c, "/api/read/chip")[1]["reading_id"]
    assert post(c, "/api/record", {"event_id": "ev-1", "outcome": "adult_admitted", "reading_id": rid})[0] == 200
    post(c, "/api/read/number", {"number": INVALID})
    c.request("GET", f"/api/state?number={MINOR}")
    rid = post(c, "/api/read/photo", encode(render_card(MINOR, NAME)), ctype="image/jpeg")[1]["reading_id"]
    assert post(c, "/api/record", {"event_id": "ev-2", "outcome": "minor_refused", "reading_id": rid})[0] == 200
    post(c, "/api/read/photo", encode(render_card(INVALID, NAME)), ctype="image/jpeg")
    post(c, "/api/read/document", {"document": "passport", "birth_date": CHILD_BIRTH.isoformat()})
    c.request("GET", f"/{CHILD}")
    assert len(sink) == 2
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "POST /api/read/number 422" in logged and "GET /api/state 200" in logged and "GET (unknown) 404" in logged
    assert_no_id(logged, ADULT, MINOR, INVALID, CHILD)
    assert CHILD_BIRTH.isoformat() not in logged
    out = capsys.readouterr()
    assert_no_id(out.out + out.err, ADULT, MINOR, INVALID, CHILD)


def test_concurrent_requests_are_served(signed_in):
    c, desk, sink, _ = signed_in
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            assert post(c, "/api/read/number", {"number": ADULT if i % 2 else INVALID})[0] in (200, 422)
            assert c.json("GET", "/api/state")[0] == 200
        except Exception as err:  # reported below, on the test's thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_the_page_is_packaged_with_the_server():
    folder = Path(console_server.__file__).parent / "static"
    for name in ("console.html", "console.js", "console.css"):
        assert (folder / name).is_file()
    html = (folder / "console.html").read_text()
    assert 'src="/static/console.js"' in html and 'href="/static/console.css"' in html


def test_every_word_the_page_and_server_use_is_in_the_catalogue():
    import re

    from humiao.edge.console.words import WORDS

    folder = Path(console_server.__file__).parent
    html = (folder / "static" / "console.html").read_text()
    js = (folder / "static" / "console.js").read_text()
    server = (folder / "server.py").read_text()
    used = set(re.findall(r'data-w(?:-label)?="([^"]+)"', html))
    used |= set(re.findall(r'\bt\("([a-z0-9_.]+)"', js))  # t("key") and every other key-like literal
    used |= set(re.findall(r'"([a-z0-9_]+\.[a-z0-9_.]+)"', js)) - {"humiao.console.lang"}
    used |= set(re.findall(r'"(err\.[a-z_]+)"', server))
    assert len(used) > 60
    assert set(WORDS["zh"]) == set(WORDS["en"])
    missing = used - set(WORDS["zh"])
    assert not missing, missing
    assert all(WORDS[lang][k].strip() for lang in WORDS for k in WORDS[lang])
