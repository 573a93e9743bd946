"""Reading the ID number from a card held to a camera (``humiao.edge.idcheck.ocr``): real RapidOCR on
onnxruntime over fictitious cards rendered in memory (``tests/support/idcards.py``).

The property that matters: a picture gives the card's own number or a refusal, never another valid number.
Numbers are compared through their keyed hash: the reader's result does not show them.
"""

from __future__ import annotations

import builtins
import logging
import random
import shutil
import socket
import zlib
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
import yaml

from humiao.edge.idcheck import ocr
from humiao.edge.idcheck.number import REASONS, IdCheckError, check_character, keyed_hash
from humiao.edge.idcheck.ocr import CardOcr, OcrUnavailable

from tests.support.idcards import (
    CORRUPTIONS,
    check_char,
    corrupt,
    encode,
    random_birth,
    render_card,
    to_bgr,
    valid_number,
)

AT = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
SECRET = b"t" * 32
STANDARD_EXAMPLE = "11010519491231002X"  # GB 11643-1999's own example


@pytest.fixture(scope="module")
def reader() -> CardOcr:
    return CardOcr(threads=1)


def outcome(reader: CardOcr, image, truth: str) -> str:
    """'read' (the card's own number), 'refused' or 'WRONG' (a valid number that is not the card's)."""
    try:
        got = reader.read(to_bgr(image) if not isinstance(image, np.ndarray) else image, AT, TZ)
    except IdCheckError as err:
        assert err.reason == "unreadable"
        return "refused"
    return "read" if got.keyed_hash(SECRET) == keyed_hash(truth, SECRET) else "WRONG"


# --- the models: pinned, bundled, checked ------------------------------------------------------------------


def test_the_pins_are_the_digests_the_wheel_itself_lists():
    folder = ocr._models_folder()
    listed: dict[str, set[str]] = {}

    def walk(node):
        if isinstance(node, dict):
            url, digest = node.get("model_dir"), node.get("SHA256")
            if isinstance(url, str) and isinstance(digest, str):
                listed.setdefault(url.rsplit("/", 1)[-1], set()).add(digest)
            for v in node.values():
                walk(v)

    walk(yaml.safe_load((folder.parent / "default_models.yaml").read_text()))
    assert set(ocr.MODELS) == {ocr.DETECTOR, ocr.CLASSIFIER, ocr.RECOGNISER}
    for name, digest in ocr.MODELS.items():
        assert digest in listed[name], name
    assert ocr.verified_models() == {name: folder / name for name in ocr.MODELS}


def _copy_models(to: Path) -> Path:
    for name in ocr.MODELS:
        shutil.copyfile(ocr._models_folder() / name, to / name)
    return to


def test_a_model_file_that_differs_or_is_missing_is_refused_with_what_to_do(tmp_path):
    models = _copy_models(tmp_path)
    assert ocr.verified_models(models)[ocr.CLASSIFIER] == models / ocr.CLASSIFIER  # an exact copy passes
    data = bytearray((models / ocr.CLASSIFIER).read_bytes())
    data[len(data) // 2] ^= 0x01
    (models / ocr.CLASSIFIER).write_bytes(bytes(data))
    with pytest.raises(OcrUnavailable) as err:
        CardOcr(model_dir=models)
    message = str(err.value)
    assert ocr.CLASSIFIER in message and "pip install" in message and "\n" not in message
    (models / ocr.CLASSIFIER).unlink()
    with pytest.raises(OcrUnavailable, match="missing"):
        CardOcr(model_dir=models)


def test_a_pin_that_does_not_match_the_installed_file_is_refused(monkeypatch):
    monkeypatch.setattr(ocr, "MODELS", {**ocr.MODELS, ocr.DETECTOR: "0" * 64})
    with pytest.raises(OcrUnavailable, match=r"PP-OCRv6_det_small\.onnx is not the one rapidocr 3\.10\.0 ships"):
        CardOcr()


def test_without_rapidocr_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(ocr.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(OcrUnavailable, match=r"pip install 'rapidocr==3\.10\.0'") as err:
        CardOcr()
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_nothing_is_downloaded_or_written_while_loading_and_reading(monkeypatch):
    attempts: list[str] = []

    def no_network(*args, **kwargs):
        attempts.append("network")
        raise OSError("network use in a test that forbids it")

    def no_writing(file, mode="r", *args, **kwargs):
        if any(m in mode for m in "wax+"):
            attempts.append("write")
            raise OSError("writing a file in a test that forbids it")
        return real_open(file, mode, *args, **kwargs)

    def no_image_file(*args, **kwargs):
        attempts.append("image file")
        raise OSError("writing an image in a test that forbids it")

    real_open = builtins.open
    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(builtins, "open", no_writing)
    monkeypatch.setattr(cv2, "imwrite", no_image_file)
    with pytest.raises(OSError):  # the guards are in place
        socket.create_connection(("127.0.0.1", 9))
    attempts.clear()

    rng = random.Random(5)
    number = valid_number(rng, date(1990, 3, 4))
    fresh = CardOcr(threads=1)  # a new engine: its sessions load under the guards
    assert outcome(fresh, render_card(number), number) == "read"
    assert attempts == []


# --- reading: clean cards read, nothing else is accepted -----------------------------------------------------


@pytest.mark.slow
def test_clean_cards_read_at_several_angles_and_scales(reader):
    rng = random.Random(2024)
    results = []
    for angle in (0, 5, -5, 10, -10, 15, -15):
        for scale in (1.0, 0.8, 0.6):
            number = valid_number(rng, random_birth(rng))
            results.append(outcome(reader, render_card(number, angle=angle, scale=scale), number))
    number = valid_number(rng, random_birth(rng))
    results.append(outcome(reader, render_card(number, angle=180), number))  # held upside down
    read = results.count("read") / len(results)
    assert "WRONG" not in results
    assert read >= 0.98, f"clean read rate {read:.1%} over {len(results)} cards ({results.count('refused')} refused)"


@pytest.mark.slow
def test_jpeg_and_png_from_memory_read_like_the_frame(reader):
    rng = random.Random(8)
    for fmt in ("JPEG", "PNG"):
        number = valid_number(rng, random_birth(rng))
        got = reader.read_bytes(encode(render_card(number, angle=-4), fmt), AT, TZ)
        assert got.keyed_hash(SECRET) == keyed_hash(number, SECRET), fmt
    # a 1920 × 1080 frame (shrunk to 1280 before reading), as a 1080p camera gives it
    number = valid_number(rng, date(2009, 9, 9))
    got = reader.read_bytes(encode(render_card(number, size=(1920, 1080))), AT, TZ)
    assert got.keyed_hash(SECRET) == keyed_hash(number, SECRET)
    assert (got.age, got.minor, got.under_14) == (15, True, False)  # the age facts come with it


@pytest.mark.slow
def test_blur_and_glare_read_or_refuse_never_wrong(reader):
    rng = random.Random(77)
    results = {}
    for label, kw in {"blur 1": {"blur": 1.0}, "blur 2": {"blur": 2.0}, "glare 0.5": {"glare": 0.5}}.items():
        for k in range(2):
            number = valid_number(rng, random_birth(rng))
            results[f"{label} #{k}"] = outcome(reader, render_card(number, angle=6 * (-1) ** k, **kw), number)
    number = valid_number(rng, random_birth(rng))
    results["glare 0.8"] = outcome(reader, render_card(number, glare=0.8), number)
    assert "WRONG" not in results.values(), results
    assert list(results.values()).count("read") >= 6, results  # these conditions read, they are not all refused


@pytest.mark.slow
def test_spoiled_cards_are_refused_or_give_the_true_number_never_another(reader):
    rng = random.Random(1949)
    per_kind = 8
    results: dict[str, list[str]] = {kind: [] for kind in CORRUPTIONS}
    for kind in CORRUPTIONS:
        for _ in range(per_kind):
            number = valid_number(rng, random_birth(rng))
            spoiled = corrupt(render_card(number, angle=rng.uniform(-10, 10)), kind, rng)
            results[kind].append(outcome(reader, spoiled, number))
    attempts = sum(len(v) for v in results.values())
    wrong = {kind: v.count("WRONG") for kind, v in results.items() if "WRONG" in v}
    assert attempts >= 40
    assert not wrong, f"wrong numbers accepted: {wrong} of {attempts} spoiled pictures"
    # a second valid number on the picture, a painted-over digit, a cut-off number: never read
    for kind in ("two_numbers", "digit_overwritten", "truncated"):
        assert results[kind] == ["refused"] * per_kind, (kind, results[kind])


@pytest.mark.slow
def test_where_blur_misreads_digits_the_reader_refuses_rather_than_guesses(reader):
    """Blur radius 3, and 2.5 on a smaller card: the recogniser misreads 3 as 5 and 0 as 8 here, often two
    digits at a time (which the check character alone lets through about once in eleven)."""
    rng = random.Random(31)
    results = []
    for kw in ({"blur": 3.0}, {"blur": 2.5, "scale": 0.7}) * 2:
        number = valid_number(rng, random_birth(rng))
        results.append(outcome(reader, render_card(number, **kw), number))
    # Three pictures on which, on the machine these tests were written on, the whole-frame reading alone
    # gives a *valid* number that is not the card's (check character, date and province all pass): two
    # refused because the close reading differs, one because the true number is a plausible rival.
    cards = random.Random(99)
    numbers = [valid_number(cards, random_birth(cards)) for _ in range(125)]
    for k, kw in ((1, {"blur": 3.0}), (115, {"blur": 2.0, "scale": 0.5}), (124, {"glare": 1.0})):
        results.append(outcome(reader, render_card(numbers[k], **kw), numbers[k]))
    assert "WRONG" not in results, results
    assert "refused" in results  # the conditions are hard enough to matter


@pytest.mark.slow
def test_a_number_that_fails_its_own_checks_is_never_accepted(reader):
    rng = random.Random(11)
    number = valid_number(rng, date(1988, 8, 8))
    for wrong_check in [c for c in "0123456789X" if c != number[17]][:3]:
        assert outcome(reader, render_card(number[:17] + wrong_check), number) == "refused"
    impossible = f"{number[:6]}19990230{number[14:17]}"  # 30 February, with a correct check character
    impossible += check_character(impossible)
    assert outcome(reader, render_card(impossible, birth=date(1999, 2, 28)), number) == "refused"
    # a valid number whose card prints another birth date: the card is not consistent, refused
    assert outcome(reader, render_card(number, birth=date(1988, 8, 9)), number) == "refused"
    # the same card with its own birth date reads (so the refusals above are the checks', not the renderer's)
    assert outcome(reader, render_card(number), number) == "read"


# --- privacy: the number is in no repr, log line or error ---------------------------------------------------


@pytest.mark.slow
def test_the_number_and_name_appear_in_no_repr_log_or_error(reader, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    rng = random.Random(3)
    number, name = valid_number(rng, date(2010, 1, 2)), "王五"
    got = reader.read(to_bgr(render_card(number, name=name)), AT, TZ)
    with pytest.raises(IdCheckError) as refused:
        reader.read(to_bgr(corrupt(render_card(number, name=name), "two_numbers", rng)), AT, TZ)
    shown = [repr(got), str(got), repr(reader), str(refused.value), repr(refused.value), repr(refused.value.args)]
    shown += [caplog.text, *capfd.readouterr()]
    for text in shown:
        assert number not in text and number[:17] not in text and name not in text
    assert refused.value.reason == "unreadable"
    decided = [r.idcheck_ocr for r in caplog.records if hasattr(r, "idcheck_ocr")]
    assert len(decided) == 2 and decided[0] == "read" and decided[1] in ocr.REFUSALS  # the log was captured
    assert logging.getLogger("RapidOCR").getEffectiveLevel() >= logging.WARNING


def test_unreadable_is_one_of_the_reasons_with_words_for_the_console():
    err = IdCheckError("unreadable")
    assert err.words("zh") == "未能识读证件号码，请重试或手工录入"
    assert err.words("en") == REASONS["unreadable"]["en"] == "could not read the number: try again or type it"


# --- what cannot be a picture is refused before any reading -------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + len(ihdr).to_bytes(4, "big") + chunk + zlib.crc32(chunk).to_bytes(4, "big")


def test_read_bytes_refuses_what_is_not_a_small_enough_picture(reader, monkeypatch):
    bad = [b"", b"not a picture", bytes(random.Random(1).randbytes(5000)), b"\xff\xd8\xff\xe0" + b"\x00" * 100]
    bad.append(b"\x00" * (ocr.MAX_BYTES + 1))
    for data in bad:
        with pytest.raises(IdCheckError) as err:
            reader.read_bytes(data, AT, TZ)
        assert err.value.reason == "unreadable"
    with pytest.raises(IdCheckError):
        reader.read_bytes("a string", AT, TZ)  # type: ignore[arg-type]

    # a picture that decodes to more than MAX_PIXELS is refused from its header, before decoding
    big_png = cv2.imencode(".png", np.zeros((7000, 6000), np.uint8))[1].tobytes()
    big_jpeg = cv2.imencode(".jpg", np.zeros((7000, 6000), np.uint8))[1].tobytes()
    assert len(big_png) <= ocr.MAX_BYTES and len(big_jpeg) <= ocr.MAX_BYTES

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a picture whose header is too large")

    # and so is one whose size cannot be read from its header (another format, a JPEG without its frame header)
    other_formats = [cv2.imencode(ext, np.zeros((400, 600), np.uint8))[1].tobytes() for ext in (".bmp", ".tiff")]
    frameless = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 9 + b"\xff\xd9"

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    for data in (big_png, big_jpeg, _png_header(100_000, 100_000) + b"\x00" * 64, *other_formats, frameless):
        with pytest.raises(IdCheckError, match="unreadable"):
            reader.read_bytes(data, AT, TZ)


def test_read_refuses_empty_absurd_and_malformed_frames(reader):
    absurd = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (7000, 6000, 3))  # 42 MP, no memory
    for frame in (
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((10, 10, 3), np.uint8),
        np.zeros((100, 100, 3), np.float32),
        np.zeros((100, 100, 2), np.uint8),
        np.zeros(300, np.uint8),
        absurd,
    ):
        with pytest.raises(IdCheckError, match="unreadable"):
            reader.read(frame, AT, TZ)
    with pytest.raises(ValueError, match="timezone-aware"):
        reader.read(np.zeros((100, 100, 3), np.uint8), datetime(2025, 6, 1), TZ)


def test_frames_are_shrunk_to_the_long_side_and_greyscale_is_taken():
    assert ocr.frame_for_reading(np.zeros((3000, 4000, 3), np.uint8)).shape == (960, 1280, 3)
    assert ocr.frame_for_reading(np.zeros((720, 1280), np.uint8)).shape == (720, 1280, 3)
    assert ocr.frame_for_reading(np.zeros((720, 1280, 4), np.uint8)).shape == (720, 1280, 3)


# --- the rules, without the OCR -----------------------------------------------------------------------------


def test_candidates_are_exact_18_character_runs_spaces_removed():
    assert ocr.candidates("公民身份号码 110105 19491231 002x") == [STANDARD_EXAMPLE]
    assert ocr.candidates("１１０１０５１９４９１２３１００２Ｘ") == [STANDARD_EXAMPLE]
    assert ocr.candidates("1101051949123100200") == []  # 19 digits: not cut down to 18
    assert ocr.candidates("11010519X91231002X") == []  # X only last
    assert ocr.candidates("11010519491231002") == []
    assert ocr.candidates("11010519491231002O") == []  # no letter becomes a digit
    assert ocr.is_number_line("11010519491231002") and not ocr.is_number_line("出生1949年12月31日")


def test_birth_dates_are_read_from_the_birth_line_even_with_its_day_apart():
    assert ocr.birth_dates(["出生", "1989年11月28", "日"]) == {date(1989, 11, 28)}
    assert ocr.birth_dates(["出生 1949 年 12 月 31 日"]) == {date(1949, 12, 31)}
    assert ocr.birth_dates(["1990年2月30日", "住址"]) == set()


def _probs(number: str, top: float = 0.999) -> np.ndarray:
    p = np.full((18, 11), (1 - top) / 10)
    for i, c in enumerate(number):
        p[i, ocr.CLASSES.index(c)] = top
    return p


def test_a_reading_with_a_plausible_valid_rival_is_refused():
    top = STANDARD_EXAMPLE
    # the same number with its sequence's last digit 3 instead of 2: valid with its own check character
    rival = top[:16] + "3"
    rival += check_character(rival)
    assert rival != top and rival[17] != top[17]
    p = _probs(top)
    assert not ocr.has_rival(top, p, AT, TZ)  # every other reading 10 000 × less likely per character
    for pos in (16, 17):
        p[pos, ocr.CLASSES.index(rival[pos])] = 0.2
        p[pos, ocr.CLASSES.index(top[pos])] = 0.75
    assert ocr.has_rival(top, p, AT, TZ)
    assert not ocr.has_rival(top, p, AT, TZ, budget=2.0)
    assert ocr.has_rival(top, np.full((18, 11), 1 / 11), AT, TZ)  # a reading that says nothing
    # one digit in doubt, however much: a rival must change the check character as well, read clearly here
    p = _probs(top, 0.99999)
    p[3, :] = 1 / 11
    assert not ocr.has_rival(top, p, AT, TZ)
    p[17, :] = 1 / 11  # both in doubt: a rival
    assert ocr.has_rival(top, p, AT, TZ)


def test_check_characters_of_the_fixtures_are_the_standards():
    rng = random.Random(0)
    for _ in range(50):
        n = valid_number(rng, random_birth(rng))
        assert check_char(n[:17]) == check_character(n[:17]) == n[17]
