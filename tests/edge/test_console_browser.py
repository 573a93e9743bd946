"""The staff console in real headless Chromium (Debian's, driven by Playwright; nothing downloaded), served by a
real ``ConsoleServer`` over a real ``CheckDesk`` with the real OCR. The browser's camera is Chromium's fake
capture device playing a card rendered by ``tests.support.idcards`` (a .y4m file in tmp_path).

Screenshots: artifacts/screenshots/console-*.png at phone (390×844), tablet (768×1024) and desktop widths."""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from humiao.edge.console.server import ConsoleServer
from humiao.edge.console.staff import StaffBook
from humiao.edge.idcheck.config import ConsoleConfig
from humiao.edge.idcheck.desk import CheckDesk, RecordedCheck
from humiao.edge.idcheck.readers import SimulatedReader

from tests.support.browser import ARGS, CHROMIUM, SHOTS
from tests.support.idcards import encode, render_card, to_bgr, valid_number

pytestmark = [pytest.mark.slow]

TZ = ZoneInfo("Asia/Shanghai")
STAFF, PIN = "wang-li", "246802"
PHONE, TABLET, DESKTOP = {"width": 390, "height": 844}, {"width": 768, "height": 1024}, {"width": 1280, "height": 900}
_rng = random.Random(7)
_today = datetime.now(UTC).astimezone(TZ).date()
ADULT = valid_number(_rng, date(_today.year - 34, 1, 1) if _today.month > 1 else date(_today.year - 35, 1, 1))
MINOR = valid_number(_rng, date(_today.year - 16, 1, 1) if _today.month > 1 else date(_today.year - 17, 1, 1))
INVALID = MINOR[:17] + ("0" if MINOR[17] != "0" else "1")
# a catalogue key shown instead of its words
UNTRANSLATED = re.compile(r"\b(?:signin|pending|read|reading|outcome|walkup|guardian|recent|err)\.[a-z_0-9]+\b")


@pytest.fixture(scope="module")
def ocr():
    from humiao.edge.idcheck.ocr import CardOcr

    return CardOcr(threads=1).read_bytes


@pytest.fixture
def console(tmp_path, ocr):
    """(url, desk, sink): the console for a hotel with camera cam0, a reader, the real OCR; staff wang-li."""
    if not Path(CHROMIUM).exists():
        from tests.conftest import _missing

        _missing("Debian's chromium is not installed (sudo apt-get install -y chromium)")
    StaffBook(tmp_path / "staff.json").add(STAFF, PIN)
    sink: list[RecordedCheck] = []
    desk = CheckDesk(600.0, sink.append, b"v" * 32, TZ)
    cfg = ConsoleConfig(host="127.0.0.1", port=0)
    srv = ConsoleServer(cfg, desk, tmp_path, "hotel", ocr=ocr, reader=SimulatedReader(), cameras=["cam0"])
    srv.start()
    yield srv.url.rstrip("/"), desk, sink
    srv.stop()


def face_crop() -> bytes:
    """A stand-in for the face crop an alert carries (drawn, not a person)."""
    img = Image.new("RGB", (160, 200), (196, 204, 212))
    d = ImageDraw.Draw(img)
    d.ellipse((40, 30, 120, 130), fill=(224, 186, 160))
    d.ellipse((60, 66, 72, 78), fill=(40, 40, 40))
    d.ellipse((88, 66, 100, 78), fill=(40, 40, 40))
    d.arc((62, 88, 98, 112), 20, 160, fill=(120, 60, 60), width=3)
    d.chord((20, 130, 140, 260), 180, 360, fill=(70, 90, 130))
    return encode(img)


def write_y4m(frame: Image.Image, path: Path, frames: int = 2) -> Path:
    """A Y4M file (I420) of the frame, which Chromium's fake camera plays in a loop."""
    bgr = to_bgr(frame)
    h, w = bgr.shape[:2]
    yuv = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420))
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n")
            f.write(yuv.tobytes())
    return path


def launch(p, video: Path | None = None, camera: bool = True):
    args = [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] if camera else [*ARGS]
    if video is not None:
        args.append(f"--use-file-for-fake-video-capture={video}")
    return p.chromium.launch(executable_path=CHROMIUM, args=args)


def shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=full_page)


def sign_in(page, url: str) -> None:
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("#signin-title")).to_be_visible()
    page.fill("#signin-name", STAFF)
    page.fill("#signin-pin", PIN)
    page.click("#signin-form button[type=submit]")
    expect(page.locator("#who")).to_have_text(STAFF)
    expect(page.locator("#live")).to_have_text(re.compile("实时|Live"))


def no_codes_shown(page) -> None:
    shown = page.locator("body").inner_text()
    assert not UNTRANSLATED.search(shown), UNTRANSLATED.search(shown)
    for code in ("adult_admitted", "minor_refused", "citizen_id", "no_id_refused", "manual", "ocr"):
        assert not re.search(rf"\b{code}\b", shown), code


def poll(ok, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_camera_read_and_adult_verified_in_two_taps(console, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, desk, sink = console
    video = write_y4m(render_card(ADULT, "王小明", angle=3.0), tmp_path / "card.y4m")
    with sync_playwright() as p:
        browser = launch(p, video)
        ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True, is_mobile=True)
        page = ctx.new_page()
        sign_in(page, url)
        expect(page.locator("#pending-none")).to_have_text("暂无待查验的预警")
        shot(page, "phone-zh-empty")

        # an alert while the page is open: it appears live, with its picture and a running countdown
        desk.add("ev-phone", "cam0", time.time() - 20, 15.6, face_crop())
        card = page.locator(".pending-card")
        expect(card).to_have_count(1)
        expect(card).to_have_class(re.compile("fresh"))
        expect(card.locator(".flag")).to_have_text("请查验证件")
        expect(card.locator(".est")).to_have_text("估计约 16 岁")
        expect(card.locator(".countdown")).to_have_text(re.compile(r"剩余 9:[34]\d"))
        first = card.locator(".countdown").inner_text()
        expect(card.locator(".countdown")).not_to_have_text(first, timeout=3000)  # it counts down
        assert page.evaluate("document.querySelector('.pending-card img').naturalWidth") == 160
        fits(page, PHONE["width"])
        shot(page, "phone-zh-pending")

        # tap it, then read the card held to the camera
        card.click()
        expect(page.locator("#check")).to_be_visible()
        expect(page.locator("#check-title")).to_have_text("查验证件")
        expect(page.locator("#outcomes button")).to_have_text(["未出示证件，已劝离", "查验前已离开"])
        for name in ("读卡器", "拍照识读", "手工输入", "其他证件"):
            expect(page.get_by_role("button", name=name, exact=True)).to_be_enabled()
        shot(page, "phone-zh-check")
        page.get_by_role("button", name="拍照识读", exact=True).click()
        expect(page.locator("#video")).to_be_visible()
        poll(lambda: page.evaluate("document.querySelector('#video').videoWidth") > 0)  # (the CSP forbids eval)
        assert page.evaluate("document.querySelector('#video').videoWidth") == 1280
        page.wait_for_timeout(600)  # the preview scrolls into view
        shot(page, "phone-zh-camera", full_page=False)  # what the phone shows
        page.get_by_role("button", name="拍照", exact=True).click()
        expect(page.locator("#reading-age")).to_have_text("34 岁", timeout=20000)
        expect(page.locator("#reading-kind")).to_have_text("成年人")
        expect(page.locator("#reading-u14")).to_be_hidden()
        expect(page.locator("#reading-how")).to_have_text("证件：居民身份证 · 读取方式：摄像头识读")
        expect(page.locator("#video")).to_be_hidden()  # the camera is off once the card is read
        assert page.evaluate("document.querySelector('#video').srcObject") is None
        # exactly the outcome that fits an adult
        expect(page.locator("#outcomes button")).to_have_text(["成年人，核验后放行"])
        no_codes_shown(page)
        assert ADULT not in page.content() and ADULT[6:14] not in page.content()
        shot(page, "phone-zh-read")

        # two taps: the outcome, then "record"
        assert sink == []
        page.get_by_role("button", name="成年人，核验后放行").click()
        page.get_by_role("button", name="确认记录").click()
        expect(page.locator("#toast")).to_have_text("已记录：成年人，核验后放行")
        expect(page.locator("#check")).to_be_hidden()
        expect(page.locator(".pending-card")).to_have_count(0)
        expect(page.locator("#recent li").first).to_contain_text("成年人，核验后放行")
        expect(page.locator("#recent li").first).to_contain_text(
            "34 岁 · 摄像头识读 · 居民身份证 · 摄像头 cam0 · wang-li"
        )
        page.wait_for_timeout(300)  # the toast slides in
        shot(page, "phone-zh-recorded")

        # signing out leaves nothing of the session in the page: no face waiting, no outcome recorded
        desk.add("ev-later", "cam0", time.time(), 15.0, face_crop())
        expect(page.locator(".pending-card")).to_have_count(1)
        page.locator(".pending-card").click()
        expect(page.locator("#check")).to_be_visible()
        page.click("#signout")
        expect(page.locator("#signin-title")).to_be_visible()
        assert page.locator("#pending li, #recent li, img.crop").count() == 0
        expect(page.locator("#check")).to_be_hidden()
        html = page.content()
        assert "成年人，核验后放行" not in html and "34 岁" not in html, [
            html[max(0, html.find(x) - 200) :][:300] for x in ("成年人，核验后放行", "34 岁")
        ]
        assert "wang-li" not in html, html[html.find("wang-li") - 300 :][:600]
        browser.close()
    [rec, *_] = sink
    assert (rec.event_id, rec.result, rec.method, rec.age_years, rec.staff) == (
        "ev-phone",
        "adult_admitted",
        "ocr",
        34,
        STAFF,
    )
    assert rec.walk_up is False and rec.document == "citizen_id" and len(rec.id_keyed_hash) == 64


def test_without_a_camera_a_photo_is_taken_or_chosen_instead(console, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, desk, sink = console
    photo = tmp_path / "card.jpg"
    photo.write_bytes(encode(render_card(MINOR, "王小明", angle=-2.0, size=(1600, 1200))))
    desk.add("ev-nocam", "cam0", time.time(), 14.8, None)
    with sync_playwright() as p:
        browser = launch(p, video=None, camera=False)  # no camera on this device
        page = browser.new_context(viewport=TABLET).new_page()
        sign_in(page, url)
        page.locator(".pending-card").click()
        page.get_by_role("button", name="拍照识读", exact=True).click()
        expect(page.locator("#no-camera")).to_have_text("无法打开摄像头，请用下方按钮拍照")
        chooser = page.locator("#photo-file-label")
        expect(chooser).to_have_text("拍摄或选择照片")
        expect(page.locator("#video")).to_be_hidden()
        assert page.get_attribute("#photo-file", "capture") == "environment"
        shot(page, "tablet-zh-no-camera")
        page.set_input_files("#photo-file", str(photo))  # what the phone's own camera app hands back
        expect(page.locator("#reading-age")).to_have_text("16 岁", timeout=20000)
        expect(page.locator("#reading-how")).to_contain_text("摄像头识读")
        page.get_by_role("button", name="未成年人，已劝离").click()
        page.get_by_role("button", name="确认记录").click()
        expect(page.locator("#toast")).to_have_text("已记录：未成年人，已劝离")
        browser.close()
    [rec] = sink
    assert (rec.event_id, rec.result, rec.method, rec.age_years) == ("ev-nocam", "minor_refused", "ocr", 16)


def test_keyboard_path_refuses_an_invalid_number_then_takes_a_valid_one(console):
    from playwright.sync_api import expect, sync_playwright

    url, desk, sink = console
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_context(viewport=DESKTOP).new_page()
        sign_in(page, url)
        # a check answered at another screen while open here: it closes, saying so
        desk.add("ev-elsewhere", "cam0", time.time(), 15.0, None)
        page.locator(".pending-card").click()
        expect(page.locator("#check")).to_be_visible()
        desk.record("ev-elsewhere", "left_before_check", None, "zhao")
        expect(page.locator("#toast")).to_have_text("该预警已处理或已超时")
        expect(page.locator("#check")).to_be_hidden()
        # a walk-up check; a scanner "types" the number and Enter wherever the focus is
        page.get_by_role("button", name="主动查验").click()
        expect(page.locator("#check-title")).to_have_text("主动查验（无预警）")
        expect(page.locator("#camera-select option")).to_have_text(["不指定", "cam0"])
        page.locator("#check-title").click()  # the focus on nothing in particular
        page.keyboard.type(INVALID)
        page.keyboard.press("Enter")
        error = page.locator("#read-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("未能识读证件")
        expect(error).to_contain_text("校验码不对")
        expect(error).to_contain_text("请重试，或手工输入号码")
        expect(page.locator("#step-reading")).to_be_hidden()
        expect(page.locator("#outcomes button")).to_have_text(["未出示证件，已劝离", "查验前已离开"])
        shot(page, "desktop-zh-invalid")
        # retry: the field still holds what was typed (to correct it); a valid number is taken
        expect(page.locator("#number")).to_be_focused()
        page.fill("#number", "")
        page.keyboard.type(MINOR)
        page.keyboard.press("Enter")
        expect(page.locator("#reading-age")).to_have_text("16 岁")
        expect(page.locator("#reading-kind")).to_have_text("未成年人")
        expect(page.locator("#number")).to_have_value("")  # the number does not stay on the page
        expect(page.locator("#read-error")).to_be_hidden()
        expect(page.locator("#outcomes button")).to_have_text(
            ["未成年人，已劝离", "未成年人，监护人陪同入场", "未成年人，已放行（无监护人）"]
        )
        # a hotel: admitting with a guardian asks the two record questions before it can be recorded
        page.get_by_role("button", name="未成年人，监护人陪同入场").click()
        expect(page.locator("#guardian")).to_be_visible()
        expect(page.locator("#confirm")).to_be_disabled()
        page.select_option("#camera-select", "cam0")
        page.locator("#guardian .question").nth(0).get_by_label("是").check()
        page.locator("#guardian .question").nth(1).get_by_label("否").check()
        shot(page, "desktop-zh-guardian")
        page.get_by_role("button", name="确认记录").click()
        expect(page.locator("#toast")).to_contain_text("已记录：未成年人，监护人陪同入场")
        no_codes_shown(page)

        # in English (remembered after a reload): the same path, English words
        page.click("#lang")
        expect(page.locator("#walkup")).to_have_text("Walk-up check")
        page.reload()
        expect(page.locator("#walkup")).to_have_text("Walk-up check")
        expect(page.locator("#recent li").first).to_contain_text("Minor admitted with a guardian")
        page.get_by_role("button", name="Walk-up check").click()
        page.get_by_role("button", name="Type number").click()
        expect(page.locator("#number")).to_be_focused()
        page.keyboard.type(INVALID)
        page.keyboard.press("Enter")
        expect(page.locator("#read-error")).to_contain_text("The ID could not be read")
        expect(page.locator("#read-error")).to_contain_text("check character")
        page.fill("#number", ADULT.lower())  # a typed lower-case x is fine too
        page.keyboard.press("Enter")
        expect(page.locator("#reading-age")).to_have_text("34 years old")
        expect(page.locator("#outcomes button")).to_have_text(["Adult verified, admitted"])
        shot(page, "desktop-en-read")
        page.get_by_role("button", name="Adult verified, admitted").click()
        page.get_by_role("button", name="Record").click()
        expect(page.locator("#toast")).to_have_text("Recorded: Adult verified, admitted")
        no_codes_shown(page)
        browser.close()
    _, a, b = sink
    assert (a.result, a.walk_up, a.camera_id, a.method, a.age_years) == (
        "minor_admitted_with_guardian",
        True,
        "cam0",
        "manual",
        16,
    )
    assert a.guardian_contact_recorded is True and a.co_occupants_recorded is False
    assert (b.result, b.walk_up, b.camera_id, b.age_years) == ("adult_admitted", True, "", 34)


def test_layouts_at_phone_tablet_and_desktop_in_both_languages(console):
    from playwright.sync_api import expect, sync_playwright

    url, desk, sink = console
    now = time.time()
    desk.add("ev-1", "cam0", now - 560, 15.2, face_crop())  # under a minute left: urgent
    desk.add("ev-2", "cam0", now - 60, 17.4, face_crop())
    desk.add("ev-3", "cam0", now - 5, 19.8, None)
    with sync_playwright() as p:
        browser = launch(p)
        for label, viewport in (("phone", PHONE), ("tablet", TABLET), ("desktop", DESKTOP)):
            for lang in ("zh", "en"):
                ctx = browser.new_context(viewport=viewport)
                page = ctx.new_page()
                if lang == "en":
                    page.goto(url)
                    page.click("#lang")
                    expect(page.locator("#signin-title")).to_have_text("Staff sign-in")
                else:
                    page.goto(url)
                    expect(page.locator("#signin-title")).to_have_text("员工登录")
                fits(page, viewport["width"])
                shot(page, f"{label}-{lang}-signin")
                sign_in(page, url)
                expect(page.locator(".pending-card")).to_have_count(3)
                expect(page.locator(".pending-card").first).to_have_class(re.compile("urgent"))
                fits(page, viewport["width"])
                no_codes_shown(page)
                shot(page, f"{label}-{lang}-desk")
                page.locator(".pending-card").nth(1).click()
                page.get_by_role("button", name="其他证件" if lang == "zh" else "Other document").click()
                page.select_option("#doc-type", "passport")
                page.fill(
                    "#doc-birth", f"{_today.year - 16}-01-02" if _today >= date(_today.year, 1, 2) else "2009-01-01"
                )
                page.keyboard.press("Enter")
                expect(page.locator("#reading-kind")).to_have_text("未成年人" if lang == "zh" else "Minor")
                expect(page.locator("#reading-how")).to_contain_text("护照" if lang == "zh" else "Passport")
                fits(page, viewport["width"])
                no_codes_shown(page)
                shot(page, f"{label}-{lang}-reading")
                page.get_by_role("button", name="返回" if lang == "zh" else "Back").click()
                expect(page.locator("#check")).to_be_hidden()
                ctx.close()
        browser.close()
    assert sink == []
