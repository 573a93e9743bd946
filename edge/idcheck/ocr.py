"""Reading the citizen identity number from a photograph of the card held to a camera (RapidOCR, in memory).

``CardOcr(threads)`` loads RapidOCR (PP-OCRv6 small text detection and recognition, the PP-OCR mobile
line-angle classifier) on onnxruntime from the model files inside the installed ``rapidocr`` wheel, each
named explicitly, so nothing is ever downloaded. Each file's sha256 is checked against ``MODELS``
(rapidocr 3.10.0) first; a missing package or a changed file is ``OcrUnavailable``, one line saying what
to do.

``read(image, at, tz)`` returns the ``CitizenNumber`` (``humiao.edge.idcheck.number``) of the one number
on the card, or raises ``IdCheckError('unreadable')``. It reads nothing it has to guess:

1. The frame (shrunk to ``LONG_SIDE``) is read whole: text lines found and recognised.
2. A *number line* is a line holding at least ``NUMBER_LINE_DIGITS`` digits (the card's other lines hold
   a date at most). A *candidate* is a maximal run of exactly 18 characters in a line with its spaces
   removed, 17 digits and a digit or ``X`` (full-width digits and ``x`` are the standard's characters, as
   ``number.normalise`` takes them; no other character is turned into a digit). A candidate counts only
   when ``number.parse`` accepts it (province, real birth date, check character).
3. Each number line is cut from the frame again along its box, with a margin, enlarged to
   ``CLOSE_HEIGHT`` pixels, turned if upside down, and recognised a second time, keeping the
   recogniser's per-character probabilities. Both readings of the line must hold exactly one candidate,
   the same, valid; and it must have no *rival*: no other valid number whose likelihood under those
   probabilities is within e^-``RIVAL_BUDGET`` (1 : 10 000) of it (``has_rival``). A blurred 3 read as 5
   leaves the true 3 a few times less likely, not ten thousand times; the true number is valid, so it
   shows up as a rival.
4. All number lines must give the same number (a second number on the picture refuses), and the card's
   printed birth date (its 出生 line, ``YYYY年M月D日``) must be read and be the number's.

The check character alone is not enough: ISO 7064 MOD 11-2 catches every single wrong character and every
swap of neighbours, but two wrong digits pass it about once in eleven, and blur misreads digits in
pairs (3→5, 0→8). Steps 3 and 4 are there for those. ``benchmarks.id_ocr`` counts wrong acceptances on
clean, blurred, glared and spoiled pictures; every refusal is logged (DEBUG) with the rule that made it
(``REFUSALS``), never with the text.

``read_bytes(data, at, tz)`` decodes a JPEG or PNG from memory (at most ``MAX_BYTES``, ``MAX_PIXELS``)
and reads it. Pictures, the recognised text, names and numbers are never written, logged or put in an
error. One ``CardOcr`` reads one picture at a time (a lock; about half a second on one core): make one
per box and share it.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib.metadata
import importlib.util
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np

from humiao.edge.idcheck.number import CitizenNumber, IdCheckError, InvalidNumber, check_character, local_date, parse

log = logging.getLogger("humiao.edge.idcheck")

RAPIDOCR_VERSION = "3.10.0"
DETECTOR, CLASSIFIER, RECOGNISER = (
    "PP-OCRv6_det_small.onnx",
    "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "PP-OCRv6_rec_small.onnx",
)
# The model files inside the rapidocr 3.10.0 wheel (rapidocr/models/), by sha256 (the same digests as the
# wheel's own default_models.yaml lists for them).
MODELS: Mapping[str, str] = MappingProxyType(
    {
        DETECTOR: "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f",
        CLASSIFIER: "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
        RECOGNISER: "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    }
)

MAX_BYTES = 8 * 1024 * 1024  # an encoded picture
MAX_PIXELS = 40_000_000  # a decoded one
MIN_SIDE = 32
LONG_SIDE = 1280  # larger frames are shrunk to this before reading
DETECT_SIDE = 960  # text is detected on the frame shrunk to this long side
LENGTH = 18
NUMBER_LINE_DIGITS = 10
CLOSE_HEIGHT = 64  # a number line is read again at this height (pixels)
REC_HEIGHT, REC_MIN_WIDTH = 48, 320  # the recogniser's input: 48 pixels high, at least 320 wide
RIVAL_BUDGET = math.log(1e4)  # a rival within 1 : 10 000 of the likelihood of the reading refuses it
RIVAL_SEARCH_LIMIT = 20_000  # states; a reading this uncertain is refused
PROB_FLOOR = 1e-9
UNREADABLE = "unreadable"
# What ``read`` logs (DEBUG, and as the record's ``idcheck_ocr``): never the text, only which rule decided.
REFUSALS = (
    "no number line",
    "no valid number in a number line",
    "the two readings differ",
    "another valid number is a plausible reading",
    "two numbers",
    "the birth line is not the number's",
)

CLASSES = "0123456789X"  # a number's characters, in the order of the probability columns
# The recogniser's classes for each of them: ASCII, full-width, and for X also the lower-case forms.
_CLASS_FORMS = {**{d: (d, chr(0xFF10 + int(d))) for d in "0123456789"}, "X": ("X", "x", "\uff38", "\uff58")}
# full-width digits and X, and lower-case x: the standard's characters (as number.normalise takes them)
_STANDARD = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"\uff38": "X", "\uff58": "X", "x": "X"})
_RUN = re.compile(r"[0-9X]+", re.ASCII)
_DIGIT = re.compile(r"[0-9]", re.ASCII)
_BIRTH = re.compile(r"(?<!\d)(\d{4})年(\d{1,2})月(\d{1,2})(?!\d)", re.ASCII)  # 日 may be read as a line apart


class OcrUnavailable(RuntimeError):
    """Reading cards by camera cannot start: the message says what is wrong and what to do."""


@dataclass(frozen=True, repr=False)
class _Line:
    """One recognised line: its box in the frame (4 × 2, clockwise from the top left) and its text."""

    quad: np.ndarray
    text: str

    def __repr__(self) -> str:
        return "_Line(text=<hidden>)"


@dataclass(frozen=True, repr=False)
class _Close:
    """A candidate of a close reading with its per-character probabilities (18 × ``CLASSES``)."""

    text: str
    probs: np.ndarray

    def __repr__(self) -> str:
        return "_Close(text=<hidden>)"


def _models_folder() -> Path:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise OcrUnavailable(
            f"reading ID cards by camera needs rapidocr {RAPIDOCR_VERSION}: "
            f"pip install 'rapidocr=={RAPIDOCR_VERSION}' (humiao[edge]), or set idcheck.ocr: false"
        )
    return Path(spec.origin).parent / "models"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verified_models(folder: Path | None = None) -> dict[str, Path]:
    """The model files (``MODELS``) in ``folder`` (default: the installed rapidocr's ``models``), each checked
    against its pinned sha256; ``OcrUnavailable`` naming the first that is missing or differs."""
    folder = _models_folder() if folder is None else Path(folder)
    try:
        installed = importlib.metadata.version("rapidocr")
    except importlib.metadata.PackageNotFoundError:
        installed = "none"
    fix = f"reinstall it: pip install --force-reinstall 'rapidocr=={RAPIDOCR_VERSION}'"
    if installed != RAPIDOCR_VERSION:
        fix = f"rapidocr {installed} is installed: pip install 'rapidocr=={RAPIDOCR_VERSION}'"
    found = {}
    for name, digest in MODELS.items():
        path = folder / name
        if not path.is_file():
            raise OcrUnavailable(f"ID-card OCR model {path} is missing: {fix}")
        if _sha256(path) != digest:
            raise OcrUnavailable(f"ID-card OCR model {path} is not the one rapidocr {RAPIDOCR_VERSION} ships: {fix}")
        found[name] = path
    return found


def _unreadable() -> IdCheckError:
    return IdCheckError(UNREADABLE)


def frame_for_reading(image: np.ndarray) -> np.ndarray:
    """A BGR uint8 frame checked (``IdCheckError('unreadable')`` for an empty, absurd or malformed one) and
    shrunk so that its long side is at most ``LONG_SIDE``."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise _unreadable()
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise _unreadable()
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE or h * w > MAX_PIXELS:
        raise _unreadable()
    if max(h, w) > LONG_SIDE:
        f = LONG_SIDE / max(h, w)
        image = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def standard_text(text: str) -> str:
    """A recognised line with its spaces removed and its full-width digits, ``Ｘ`` and ``x`` made standard."""
    return "".join(text.split()).translate(_STANDARD)


def is_number_line(text: str) -> bool:
    return len(_DIGIT.findall(standard_text(text))) >= NUMBER_LINE_DIGITS


def _runs(text: str) -> Iterable[re.Match[str]]:
    """The maximal runs of exactly 18 characters, 17 digits then a digit or ``X`` (``text`` standard)."""
    return (m for m in _RUN.finditer(text) if len(m[0]) == LENGTH and "X" not in m[0][: LENGTH - 1])


def candidates(text: str) -> list[str]:
    """The 18-character runs in a recognised line (``_runs`` of its ``standard_text``)."""
    return [m[0] for m in _runs(standard_text(text))]


def _valid(candidate: str, at: datetime, tz: tzinfo) -> bool:
    try:
        parse(candidate, at, tz).forget()
    except InvalidNumber:
        return False
    return True


def birth_dates(texts: Iterable[str]) -> set[date]:
    """The dates written ``YYYY年M月D日`` in the lines (the card's 出生 line; the 日 may be apart, detected as a
    line of its own); impossible dates are left out."""
    found = set()
    for text in texts:
        for m in _BIRTH.finditer(standard_text(text)):
            try:
                found.add(date(int(m[1]), int(m[2]), int(m[3])))
            except ValueError:
                continue
    return found


def has_rival(top: str, probs: np.ndarray, at: datetime, tz: tzinfo, budget: float = RIVAL_BUDGET) -> bool:
    """Whether another valid number is a plausible reading of the same characters: one whose likelihood (the
    product of the per-character probabilities ``probs``, 18 × ``CLASSES``) is at least e^-``budget`` times
    that of ``top``. A best-first search over the first 17 characters (the 18th follows from them); a
    search that grows past ``RIVAL_SEARCH_LIMIT`` states counts as a rival."""
    logp = np.log(np.maximum(np.asarray(probs, dtype=np.float64), PROB_FLOOR))
    own = np.array([logp[i, CLASSES.index(c)] for i, c in enumerate(top)])
    cost = np.maximum(own[:, None] - logp, 0.0)
    heap: list[tuple[float, str]] = [(0.0, "")]
    states = 0
    while heap:
        spent, prefix = heapq.heappop(heap)
        states += 1
        if states > RIVAL_SEARCH_LIMIT:
            return True
        if len(prefix) == LENGTH - 1:
            last = check_character(prefix)
            whole = prefix + last
            if whole != top and spent + cost[LENGTH - 1, CLASSES.index(last)] <= budget and _valid(whole, at, tz):
                return True
            continue
        i = len(prefix)
        for d in range(10):
            step = spent + float(cost[i, d])
            if step <= budget:
                heapq.heappush(heap, (step, prefix + CLASSES[d]))
    return False


def _crop_line(frame: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """The line cut out of ``frame`` along its box, widened (half its height at each end, a quarter above and
    below), upright and ``CLOSE_HEIGHT`` pixels high; None when the box is degenerate or the cut is blank.
    (Stretching the contrast as well was tried: it turns blurred 3s into 5s.)"""
    q = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width = float(max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[3])))
    height = float(max(np.linalg.norm(q[3] - q[0]), np.linalg.norm(q[2] - q[1])))
    if width < 8 or height < 4:
        return None
    # widen: a quarter of the height above and below, half a height at each end
    ux, uy = (q[1] - q[0]) / width, (q[3] - q[0]) / height
    mx, my = 0.5 * height * ux, 0.25 * height * uy
    src = np.array([q[0] - mx - my, q[1] + mx - my, q[2] + mx + my, q[3] - mx + my], dtype=np.float32)
    out_w = max(1, round((width + height) * CLOSE_HEIGHT / (1.5 * height)))
    dst = np.array([[0, 0], [out_w, 0], [out_w, CLOSE_HEIGHT], [0, CLOSE_HEIGHT]], dtype=np.float32)
    crop = cv2.warpPerspective(
        frame,
        cv2.getPerspectiveTransform(src, dst),
        (out_w, CLOSE_HEIGHT),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    lo, hi = np.percentile(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (2, 98))
    return crop if hi - lo >= 8 else None


def _rec_input(crop: np.ndarray) -> np.ndarray:
    """The recogniser's input for one line, as PaddleOCR makes it: 48 pixels high, values scaled to -1..1,
    padded on the right with 0 to at least 320 wide."""
    h, w = crop.shape[:2]
    resized_w = max(1, math.ceil(REC_HEIGHT * w / h))
    width = max(REC_MIN_WIDTH, resized_w)
    x = cv2.resize(crop, (resized_w, REC_HEIGHT)).astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    batch = np.zeros((1, 3, REC_HEIGHT, width), dtype=np.float32)
    batch[0, :, :, :resized_w] = x
    return batch


class CardOcr:
    """RapidOCR on onnxruntime (``threads`` intra-op threads) with the bundled, sha256-checked models.

    ``model_dir`` (tests) reads the models from another folder; they are checked against ``MODELS`` all
    the same."""

    def __init__(self, threads: int = 1, *, model_dir: Path | None = None) -> None:
        if not 1 <= int(threads) <= 64:
            raise ValueError("threads must be between 1 and 64")
        models = verified_models(model_dir)
        try:
            from rapidocr import RapidOCR
        except ImportError as err:
            raise OcrUnavailable(
                f"rapidocr cannot be imported ({type(err).__name__}: {err}): "
                f"pip install 'rapidocr=={RAPIDOCR_VERSION}' (humiao[edge])"
            ) from None
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        params: dict[str, Any] = {
            "Global.log_level": "warning",
            "Global.text_score": 0.0,  # no line is dropped unseen: a doubtful number line must refuse
            "Global.use_cls": True,
            # detect on at most 960 × 540 (of the 1280 × 720 frame): half the time of rapidocr's default
            # (shortest side made 736), the same lines found on cards down to a third of the frame's width
            "Det.limit_type": "max",
            "Det.limit_side_len": DETECT_SIDE,
            "Global.model_root_dir": str(models[DETECTOR].parent),
            "Det.model_path": str(models[DETECTOR]),
            "Cls.model_path": str(models[CLASSIFIER]),
            "Rec.model_path": str(models[RECOGNISER]),
            "EngineConfig.onnxruntime.intra_op_num_threads": int(threads),
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._engine = RapidOCR(params=params)
        # rapidocr loads its sessions on first use: load them now, so that a broken install shows here
        self._engine._load_det_model()
        self._orient = self._engine._load_cls_model()  # [line] → its upright form (turned if upside down)
        rec = self._engine._load_rec_model()
        if not rec.session.have_key("character"):
            raise OcrUnavailable(f"ID-card OCR model {models[RECOGNISER]} has no character list: reinstall rapidocr")
        self._recognise = rec.session  # the recogniser's onnxruntime session: 1 × 3 × 48 × W → 1 × T × classes
        characters: list[str] = list(rec.postprocess_op.character)
        index = {c: i for i, c in enumerate(characters)}
        self._characters = characters
        self._columns = [[index[f] for f in _CLASS_FORMS[c] if f in index] for c in CLASSES]
        self.threads = int(threads)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CardOcr(threads={self.threads})"

    def read(self, image: np.ndarray, at: datetime, tz: tzinfo) -> CitizenNumber:
        """The one valid number on the card in ``image`` (BGR uint8) at ``at`` (timezone-aware) in the venue's
        ``tz``; ``IdCheckError('unreadable')`` unless exactly one number reads beyond doubt (see the module)."""
        local_date(at, tz)  # a naive ``at`` is a programming error (ValueError), not an unreadable card
        frame = frame_for_reading(image)
        t0 = time.perf_counter()
        with self._lock:
            number, outcome = self._read(frame, at, tz)
        ms = 1000 * (time.perf_counter() - t0)
        log.debug("ID card by camera: %s (%.0f ms)", outcome, ms, extra={"idcheck_ocr": outcome})
        if number is None:
            raise _unreadable()
        return parse(number, at, tz)

    def read_bytes(self, data: bytes, at: datetime, tz: tzinfo) -> CitizenNumber:
        """``read`` on a JPEG or PNG held in memory (at most ``MAX_BYTES``, ``MAX_PIXELS``); anything that does
        not decode is ``IdCheckError('unreadable')``."""
        if not isinstance(data, bytes | bytearray | memoryview) or not 0 < len(data) <= MAX_BYTES:
            raise _unreadable()
        buf = np.frombuffer(data, dtype=np.uint8)
        if not _fits(buf):
            raise _unreadable()
        try:
            image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        except cv2.error:
            image = None
        if image is None:
            raise _unreadable()
        return self.read(image, at, tz)

    def _lines(self, frame: np.ndarray) -> list[_Line]:
        out = self._engine(frame, use_det=True, use_cls=True, use_rec=True)
        boxes, txts = getattr(out, "boxes", None), getattr(out, "txts", None)
        if boxes is None or txts is None or len(boxes) != len(txts):
            return []
        return [_Line(np.asarray(b, dtype=np.float32), str(t)) for b, t in zip(boxes, txts, strict=True)]

    def _close(self, crop: np.ndarray) -> list[_Close]:
        """The candidates of one line read again, with each character's probabilities over ``CLASSES``.

        Greedy CTC decoding as rapidocr's (the best class at each step, repeats merged, blanks and spaces
        dropped); a character's probability for each class is the highest that class has over the steps
        the character spans."""
        probs = np.asarray(self._recognise(_rec_input(crop)))[0]  # T × classes, each row sums to 1
        best = probs.argmax(axis=1)
        spans: list[list[int]] = []  # [class, first step, last step]
        previous = 0
        for t, k in enumerate(best.tolist()):
            if k != 0 and k == previous:
                spans[-1][2] = t
            elif k != 0:
                spans.append([k, t, t])
            previous = k
        chars, rows = [], []
        for k, t0, t1 in spans:
            c = self._characters[k]
            if c.isspace():
                continue
            window = probs[t0 : t1 + 1]
            chars.append(c)
            rows.append([float(window[:, cols].sum(axis=1).max()) for cols in self._columns])
        text = "".join(chars).translate(_STANDARD)
        if len(text) != len(rows):  # a class that is more than one character: nothing to align
            return []
        return [_Close(m[0], np.array(rows[m.start() : m.end()])) for m in _runs(text)]

    def _read(self, frame: np.ndarray, at: datetime, tz: tzinfo) -> tuple[str | None, str]:
        """The number and ``read``, or None and why not (one of ``REFUSALS``)."""
        lines = self._lines(frame)
        number_lines = [ln for ln in lines if is_number_line(ln.text)]
        if not number_lines:
            return None, "no number line"
        found: set[str] = set()
        for line in number_lines:
            crop = _crop_line(frame, line.quad)
            close = self._close(self._orient([crop]).img_list[0]) if crop is not None else []
            if len(close) != 1 or not _valid(close[0].text, at, tz):
                return None, "no valid number in a number line"
            if candidates(line.text) != [close[0].text]:
                return None, "the two readings differ"
            if has_rival(close[0].text, close[0].probs, at, tz):
                return None, "another valid number is a plausible reading"
            found.add(close[0].text)
        if len(found) != 1:
            return None, "two numbers"
        number = found.pop()
        if birth_dates(ln.text for ln in lines) != {_birth_of(number)}:
            return None, "the birth line is not the number's"
        return number, "read"


def _birth_of(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def _fits(buf: np.ndarray) -> bool:
    """Whether the encoded picture's header says it is no more than ``MAX_PIXELS`` (a decompression bomb is
    refused before it is decoded); a picture whose size cannot be found in its header is refused too."""
    size = _png_size(buf) or _jpeg_size(buf)
    return size is not None and 0 < size[0] * size[1] <= MAX_PIXELS


def _png_size(buf: np.ndarray) -> tuple[int, int] | None:
    b = buf[:24].tobytes()
    if len(b) == 24 and b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR":
        return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")
    return None


def _jpeg_size(buf: np.ndarray) -> tuple[int, int] | None:
    """Width and height from a JPEG's start-of-frame segment."""
    b = buf.tobytes()
    if b[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(b[i + 7 : i + 9], "big"), int.from_bytes(b[i + 5 : i + 7], "big")
        i += 2 + int.from_bytes(b[i + 2 : i + 4], "big")
    return None
