"""The ID-check loop end to end, with every part real: an edge agent (real models) on a video, real Mosquitto
with TLS and ACLs, the hub with its panel, the staff console in headless Chromium whose camera shows a card
rendered by the test, RapidOCR on the box.

- ``test_the_loop_in_chromium``: an alert appears on the staff console; staff read the card through the
  camera and record "minor admitted" in two taps; the hub's verdict turns from pending to confirmed and the
  inspectors' panel shows it, with what the check found.
- ``test_nothing_of_an_id_is_kept_or_sent``: after a session of checks through the console's API (camera,
  chip reader, typed number, another document, a walk-up, a refusal), the numbers, names and birth dates of
  the cards, and the card images, are nowhere: not in the edge's spool, sealed store or state files, not in
  the hub's database, not in any log line (edge, hub, broker), not in the MQTT traffic captured as the hub's
  read-only identity; what did go out is the outcome, age, document, method and a keyed hash.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime
from http.cookiejar import CookieJar
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from humiao.edge.idcheck.readers import CardRead

from tests.support.browser import ARGS, CHROMIUM, SHOTS
from tests.support.devices import enroll_device
from tests.support.hubproc import wait_for
from tests.support.idcards import encode, render_card, valid_number
from tests.support.mosquitto import free_port
from tests.support.services import hub_config

pytestmark = [pytest.mark.services, pytest.mark.slow]
PASSWORD = "correct horse battery"
STAFF, PIN = "counter-1", "135790"
TZ = ZoneInfo("Asia/Shanghai")
IDS = ("d1", "cafe-loop", "door-1")


def _birth(age: int) -> date:
    today = datetime.now(UTC).astimezone(TZ).date()
    return date(today.year - age - 1, 12, 31) if (today.month, today.day) < (12, 31) else date(today.year - age, 1, 1)


class System:
    """Hub + panel (HTTP), an enrolled edge agent with its console on a free port, and an MQTT recorder."""

    def __init__(self, broker, tmp_path: Path, astronaut) -> None:
        import uvicorn

        from humiao.broker import secure
        from humiao.edge.agent import EdgeAgent
        from humiao.edge.config import EdgeConfig
        from humiao.edge.console.staff import StaffBook
        from humiao.edge.sample_video import build
        from humiao.hub import auth, registry
        from humiao.hub.app import Hub, create_app
        from humiao.hub.config import HubConfig

        hub_cfg = hub_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}", broker.port, broker=broker)
        self.hub = Hub(HubConfig.model_validate({**hub_cfg, "rules": {"evaluate_interval_s": 1}}))
        with self.hub.sessions() as s:
            registry.import_venues(
                s,
                "id,name,venue_type,district_id,lat,lon,sign_posted\n"
                "cafe-loop,闭环网咖,internet_cafe,d1,31.2,121.44,true\n",
            )
            auth.create_user(s, "ct-d1", PASSWORD, "culture_tourism", "d1")
            s.commit()
        self.hub.start()
        port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(self.hub), host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=self.server.run, daemon=True).start()
        assert wait_for(lambda: self.server.started, 10)
        self.panel = f"http://127.0.0.1:{port}"

        # the MQTT traffic, as the hub's read-only identity sees it
        import paho.mqtt.client as mqtt

        self.wire: list[tuple[str, bytes]] = []
        self.tap = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hub.tail", protocol=mqtt.MQTTv5)
        secure(self.tap, broker.ca_file, "hub.tail", broker.hub_secrets / "hub.tail.password")
        subscribed = threading.Event()
        self.tap.on_connect = lambda c, *_: c.subscribe("humiao/v1/#", qos=1)
        self.tap.on_subscribe = lambda *_: subscribed.set()
        self.tap.on_message = lambda c, u, m: self.wire.append((m.topic, bytes(m.payload)))
        self.tap.connect("127.0.0.1", broker.port)
        self.tap.loop_start()
        assert subscribed.wait(10), "the recorder could not subscribe"

        state = tmp_path / "edge"
        enroll_device(self.hub.cfg, broker, IDS, state_dir=state)
        StaffBook(state / "staff.json").add(STAFF, PIN)
        video, _ = build(tmp_path / "door.mp4", seconds_per_person=2.0, photos=[(astronaut, "astronaut", None)])
        cfg = EdgeConfig.model_validate(
            {
                "mqtt": {"port": broker.port},
                "device": dict(zip(("district_id", "venue_id", "device_id"), IDS, strict=True), state_dir=str(state)),
                "source": {"uri": str(video), "mode": "offline"},
                "metrics": {"port": None},
                # an adult made to "look under 40" so that this one person raises an alert
                "policy": {"venue_type": "internet_cafe", "challenge_threshold": 40, "use_operating_point": False},
                "idcheck": {"console": {"port": 0}, "reader": {"kind": "simulated"}},
            }
        )
        self.state = state
        self.agent = EdgeAgent(cfg)
        self._close: Callable[[str], None] | None = self.agent.close
        self.agent.close = lambda reason="": None  # type: ignore[method-assign]  # stay up after the video
        threading.Thread(target=self.agent.run, daemon=True).start()
        assert wait_for(lambda: self.agent.console is not None, 30), "the staff console did not start"
        self.console = self.agent.console.url.rstrip("/")

    def pending(self) -> list:
        link = self.agent.link
        return link.desk.pending() if link else []

    def verdict(self, event_id: str) -> str | None:
        from sqlalchemy import select

        from humiao.hub.tables import Alarm

        with self.hub.sessions() as s:
            return s.scalar(select(Alarm.verdict).where(Alarm.event_id == event_id))

    def stop_edge(self) -> None:
        if self._close is not None:
            self._close("test over")
            self._close = None

    def stop(self) -> None:
        self.stop_edge()
        self.tap.loop_stop()
        self.tap.disconnect()
        self.server.should_exit = True
        self.hub.stop()


@pytest.fixture
def system(broker, tmp_path, astronaut):
    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    # every log line of the run, at DEBUG, as a box's log file would hold them (SQLAlchemy's statements too)
    (tmp_path / "logs").mkdir()
    handler = logging.FileHandler(tmp_path / "logs" / "all.log", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sys_ = System(broker, tmp_path, astronaut)
    try:
        yield sys_
    finally:
        sys_.stop()
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def _y4m(image, path: Path) -> Path:
    from tests.edge.test_console_browser import write_y4m

    return write_y4m(image, path)


def test_the_loop_in_chromium(system, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    minor = valid_number(random.Random(11), _birth(16))
    video = _y4m(render_card(minor, "李小红", _birth(16), angle=4.0), tmp_path / "card.y4m")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        # the counter's tablet
        staff = browser.new_context(viewport={"width": 768, "height": 1024}, has_touch=True).new_page()
        staff.goto(system.console)
        staff.fill("#signin-name", STAFF)
        staff.fill("#signin-pin", PIN)
        staff.click("#signin-form button[type=submit]")
        card = staff.locator(".pending-card")
        expect(card).to_have_count(1, timeout=60000)  # the person walks in; the alert arrives live
        [pending] = system.pending()
        event_id = pending.event_id
        assert wait_for(lambda: system.verdict(event_id) == "pending", 20), system.verdict(event_id)

        card.click()
        staff.get_by_role("button", name="拍照识读", exact=True).click()
        expect(staff.locator("#video")).to_be_visible()
        staff.wait_for_timeout(500)
        staff.get_by_role("button", name="拍照", exact=True).click()
        expect(staff.locator("#reading-age")).to_have_text("16 岁", timeout=30000)
        expect(staff.locator("#reading-kind")).to_have_text("未成年人")
        # two taps: the outcome, then record
        staff.get_by_role("button", name="未成年人，已放行（无监护人）").click()
        staff.get_by_role("button", name="确认记录").click()
        expect(staff.locator("#toast")).to_have_text("已记录：未成年人，已放行（无监护人）")
        SHOTS.mkdir(parents=True, exist_ok=True)
        staff.screenshot(path=str(SHOTS / "loop-1-console-recorded.png"), full_page=True)

        # the hub's verdict changes: an internet café admitted a minor
        assert wait_for(lambda: system.verdict(event_id) == "confirmed", 30), system.verdict(event_id)

        # the inspector's panel shows it, with what the check found
        panel = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        panel.goto(f"{system.panel}/panel")
        panel.fill("input[name=username]", "ct-d1")
        panel.fill("input[name=password]", PASSWORD)
        panel.click("#login-form button[type=submit]")
        row = panel.locator("#alarm-rows tr.row").first
        expect(row).to_contain_text("确认违法", timeout=20000)
        row.click()
        reasons = panel.locator("ul.reasons")
        expect(reasons).to_contain_text("16 岁")
        expect(reasons).to_contain_text("未成年人，已放行（无监护人）")
        panel.screenshot(path=str(SHOTS / "loop-2-panel-confirmed.png"), full_page=True)
        assert minor not in panel.content() and "李小红" not in panel.content()
        browser.close()


class ConsoleClient:
    """The console's JSON API as the page uses it (session cookie, the CSRF header)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def post(self, path: str, body, ctype: str = "application/json") -> dict:
        data = json.dumps(body).encode() if ctype == "application/json" else body
        req = urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": ctype, "X-Humiao-Console": "1"}
        )
        try:
            with self.opener.open(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            return {"status": err.code, **json.loads(err.read())}


def _files(root: Path):
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p


def test_nothing_of_an_id_is_kept_or_sent(system, tmp_path):
    from sqlalchemy import select

    from humiao.hub.tables import IdCheck

    rng = random.Random(23)
    cards = {  # number → (name, birth date)
        valid_number(rng, _birth(34)): ("王大明", _birth(34)),  # the camera
        valid_number(rng, _birth(15)): ("赵小雨", _birth(15)),  # the chip reader
        valid_number(rng, _birth(13)): ("钱小军", _birth(13)),  # typed, under 14
        valid_number(rng, _birth(45)): ("孙大海", _birth(45)),  # typed, walk-up
    }
    (camera, chip, typed, walkup) = list(cards)
    assert wait_for(lambda: len(system.pending()) == 1, 60), "no alert"
    first = system.pending()[0].event_id
    c = ConsoleClient(system.console)
    signed_in = c.post("/api/session", {"name": STAFF, "pin": PIN, "lang": "zh"})
    assert "error" not in signed_in, signed_in

    photo = encode(render_card(camera, cards[camera][0], cards[camera][1], angle=-3.0))
    reading = c.post("/api/read/photo", photo, "image/jpeg")
    assert reading.get("age") == 34, reading
    assert "error" not in c.post(
        "/api/record", {"event_id": first, "outcome": "adult_admitted", "reading_id": reading["reading_id"]}
    )

    # more people at the counter whom the camera did not flag (walk-up checks), read every other way
    def record(outcome: str, reading: dict | None, camera: str = "cam0") -> None:
        rid = reading["reading_id"] if reading else None
        done = c.post("/api/record", {"event_id": None, "outcome": outcome, "reading_id": rid, "camera_id": camera})
        assert "error" not in done, done

    system.agent.console.reader.feed(CardRead(chip, cards[chip][0], cards[chip][1]))
    r = c.post("/api/read/chip", {})
    assert r.get("minor") is True, r
    record("minor_refused", r)
    r = c.post("/api/read/number", {"number": typed})
    assert r.get("under_14") is True, r
    record("minor_refused", r)
    bad = c.post("/api/read/number", {"number": typed[:17] + ("1" if typed[17] != "1" else "2")})
    assert bad["status"] == 422 and bad.get("unreadable") is True, bad
    record(
        "adult_admitted", c.post("/api/read/document", {"document": "passport", "birth_date": _birth(30).isoformat()})
    )
    record("adult_admitted", c.post("/api/read/number", {"number": walkup}))
    record("no_id_refused", None)

    # the alerts the test made up are not at the hub, so only the real one and the walk-ups are stored
    def stored():
        with system.hub.sessions() as s:
            return s.scalars(select(IdCheck).order_by(IdCheck.id)).all()

    assert wait_for(lambda: len(stored()) == 6, 30), [(x.result, x.walk_up) for x in stored()]
    rows = stored()
    assert [(x.result, x.walk_up, x.age_years, x.method, x.document) for x in rows] == [
        ("adult_admitted", False, 34, "ocr", "citizen_id"),
        ("minor_refused", True, 15, "chip", "citizen_id"),
        ("minor_refused", True, 13, "manual", "citizen_id"),
        ("adult_admitted", True, 30, "manual", "passport"),
        ("adult_admitted", True, 45, "manual", "citizen_id"),
        ("no_id_refused", True, 0, "", ""),
    ]
    assert [len(x.id_keyed_hash) for x in rows] == [64, 64, 64, 0, 64, 0] and rows[2].under_14
    assert wait_for(lambda: sum(t.endswith("/idcheck") for t, _ in system.wire) >= 6, 10)
    system.stop_edge()

    # what must be nowhere: each number (and its birth-date digits), each name, and the card images
    secrets: list[bytes] = []
    for number, (name, birth) in cards.items():
        secrets += [number.encode(), number[6:14].encode(), name.encode("utf-8"), name.encode("utf-16-le")]
        secrets += [birth.isoformat().encode()]
    secrets.append(photo[len(photo) // 2 : len(photo) // 2 + 64])  # a piece of the card's photo

    inspected: dict[str, int] = {}

    def clean(where: str, blob: bytes) -> None:
        inspected[where] = inspected.get(where, 0) + len(blob)
        for s in secrets:
            assert s not in blob, f"{where} holds an ID's {s[:4]!r}…"

    for h in logging.getLogger().handlers:
        h.flush()
    for p in _files(system.state):  # spool.db, evidence.db (+ WAL), identity, staff file, venue secret, TLS
        clean(f"edge {p.name}", p.read_bytes())
    for p in _files(tmp_path):  # the hub's database and data dir, the broker's persistence and log
        if p.suffix not in (".mp4", ".y4m") and "edge" not in p.parts:
            clean(f"{p.relative_to(tmp_path)}", p.read_bytes())
    for topic, payload in system.wire:
        clean(f"mqtt {topic.rsplit('/', 1)[-1]}", payload)
    for where in ("all.log", "edge spool.db", "edge evidence.db", "hub.db", "mosquitto.log", "mqtt idcheck"):
        assert any(k.endswith(where) for k in inspected), (where, sorted(inspected))
    print("privacy check inspected (bytes):", json.dumps(inspected, ensure_ascii=False, sort_keys=True))
