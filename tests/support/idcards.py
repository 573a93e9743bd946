"""Fictitious ID-card-like images for the camera-reading tests and benchmark (``humiao.edge.idcheck.ocr``).

The layout is a plain one of our own, not a copy of the real card's design: a light card marked 示例 /
SPECIMEN, the labels 姓名 性别 民族 出生 住址 公民身份号码 with made-up values, a grey photo placeholder,
and the number in a monospaced line at the bottom, as on the real card. Names, addresses and numbers are
invented (``valid_number`` draws a valid number for a birth date); nothing is a real person's.

- ``render_card(number, …)``: the card as a camera at the counter sees it, on a plain background frame:
  rotated, scaled, blurred, with a glare spot;
- ``corrupt(img, how, rng)``: the same picture spoiled so that the true number cannot (or must not) be read
  from it (``CORRUPTIONS``), for the never-wrong tests;
- ``to_bgr``/``encode``: the forms the reader takes (a BGR array, JPEG/PNG bytes), in memory.

Images stay in memory: nothing here writes a file.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Real county-level region codes (GB/T 2260), several provinces.
REGIONS = (
    "110101",  # Beijing, Dongcheng
    "120101",  # Tianjin, Heping
    "310104",  # Shanghai, Xuhui
    "320102",  # Nanjing, Xuanwu
    "330106",  # Hangzhou, Xihu
    "370102",  # Jinan, Lixia
    "420106",  # Wuhan, Wuchang
    "440106",  # Guangzhou, Tianhe
    "500103",  # Chongqing, Yuzhong
    "510107",  # Chengdu, Wuhou
    "610113",  # Xi'an, Yanta
    "650102",  # Urumqi, Tianshan
)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999, written out
_CHECK = "10X98765432"

FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"),
)
CORRUPTIONS = ("digit_overwritten", "digit_occluded", "truncated", "two_numbers", "noise")

CARD_W, CARD_H = 856, 540  # design units: ID-1 (85.6 × 54 mm) at 10 px/mm
CARD_ON_FRAME = 0.5  # at scale 1 the card spans half the frame's width
NUMBER_X, NUMBER_BASE, NUMBER_SIZE, NUMBER_GAP = 292, 486, 38, 4  # the number line (baseline)
INK, LABEL_INK, CARD_TONE = (25, 25, 30), (52, 92, 140), (238, 241, 233)


def check_char(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def valid_number(rng: random.Random, birth: date) -> str:
    """A valid 18-character number: a real region code, ``birth``, a random sequence, its check character."""
    first17 = f"{rng.choice(REGIONS)}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_char(first17)


def random_birth(rng: random.Random, first: int = 1950, last: int = 2015) -> date:
    return date.fromordinal(rng.randrange(date(first, 1, 1).toordinal(), date(last, 12, 31).toordinal()))


def _font_file() -> Path:
    for f in FONT_FILES:
        if f.is_file():
            return f
    raise FileNotFoundError("no CJK font: apt-get install fonts-wqy-zenhei (or fonts-noto-cjk)")


def font(size: int, mono: bool = False) -> ImageFont.FreeTypeFont:
    path = _font_file()
    # WenQuanYi Zen Hei's collection: 0 proportional, 1 monospaced
    index = 1 if mono and path.name == "wqy-zenhei.ttc" else 0
    return ImageFont.truetype(str(path), size, index=index)


@dataclass(frozen=True)
class _Spec:
    """What ``render_card`` drew, so that ``corrupt`` can draw it again spoiled."""

    number: str
    name: str
    birth: date | None
    angle: float
    scale: float
    blur: float
    glare: float
    background: tuple[int, int, int]
    size: tuple[int, int]
    overwrite: tuple[int, str] | None = None  # (position, digit painted over it)
    occlude: tuple[int, int] | None = None  # (first position, how many) under a thumb
    second: str | None = None  # another number on a sticker
    cut_at: int | None = None  # the frame ends inside the number, before this position


def _number_boxes(number: str) -> list[tuple[int, int, int, int]]:
    f = font(NUMBER_SIZE, mono=True)
    boxes, x = [], NUMBER_X
    for c in number:
        w = round(f.getlength(c))
        boxes.append((x, NUMBER_BASE - round(0.78 * NUMBER_SIZE), x + w, NUMBER_BASE))
        x += w + NUMBER_GAP
    return boxes


def _draw_number(draw: ImageDraw.ImageDraw, number: str, x: int, y: int) -> None:
    f = font(NUMBER_SIZE, mono=True)
    for c in number:
        draw.text((x, y), c, font=f, fill=INK, anchor="ls")
        x += round(f.getlength(c)) + NUMBER_GAP


def _card(spec: _Spec) -> Image.Image:
    """The card alone, upright, in design units (RGBA, rounded corners)."""
    card = Image.new("RGB", (CARD_W, CARD_H), CARD_TONE)
    d = ImageDraw.Draw(card)
    # a faint texture of our own: diagonal hairlines and two rings
    for k in range(-CARD_H, CARD_W, 22):
        d.line([(k, 0), (k + CARD_H, CARD_H)], fill=(228, 233, 226), width=1)
    d.ellipse((380, 120, 640, 380), outline=(222, 228, 236), width=3)
    d.ellipse((420, 160, 600, 340), outline=(226, 231, 238), width=2)
    d.text((40, 14), "示例卡 · 非真实证件 · SPECIMEN", font=font(18), fill=(160, 172, 186))

    label, value = font(26), font(30)
    birth = spec.birth or _birth_of(spec.number)
    sex = "男" if spec.number[16:17].isdigit() and int(spec.number[16]) % 2 else "女"
    d.text((50, 62), "姓名", font=label, fill=LABEL_INK)
    d.text((140, 58), spec.name, font=value, fill=INK)
    d.text((50, 122), "性别", font=label, fill=LABEL_INK)
    d.text((140, 118), sex, font=value, fill=INK)
    d.text((250, 122), "民族", font=label, fill=LABEL_INK)
    d.text((340, 118), "汉", font=value, fill=INK)
    d.text((50, 182), "出生", font=label, fill=LABEL_INK)
    if birth is not None:
        d.text((140, 178), f"{birth.year} 年 {birth.month} 月 {birth.day} 日", font=value, fill=INK)
    d.text((50, 242), "住址", font=label, fill=LABEL_INK)
    d.text((140, 238), "示例省示例市测试区", font=value, fill=INK)
    d.text((140, 282), "样例路十八号三单元", font=value, fill=INK)
    d.text((50, NUMBER_BASE), "公民身份号码", font=label, fill=LABEL_INK, anchor="ls")
    _draw_number(d, spec.number, NUMBER_X, NUMBER_BASE)

    # photo placeholder: a plain grey head and shoulders
    d.rectangle((612, 64, 806, 316), fill=(214, 218, 222))
    d.ellipse((664, 100, 754, 206), fill=(168, 172, 178))
    d.chord((630, 200, 788, 390), 180, 360, fill=(168, 172, 178))
    d.rectangle((612, 316, 806, 330), fill=CARD_TONE)

    boxes = _number_boxes(spec.number)
    if spec.overwrite is not None:
        i, digit = spec.overwrite
        x0, y0, x1, y1 = boxes[i]
        d.rectangle((x0 - 1, y0 - 3, x1 + 1, y1 + 3), fill=CARD_TONE)
        d.text((x0, NUMBER_BASE), digit, font=font(NUMBER_SIZE, mono=True), fill=INK, anchor="ls")
    if spec.occlude is not None:
        i, n = spec.occlude
        x0, y0, x1 = boxes[i][0], boxes[i][1], boxes[i + n - 1][2]
        # a fingertip over the digits: a skin-toned rounded blob reaching the card's bottom edge
        d.rounded_rectangle((x0 - 8, y0 - 10, x1 + 8, CARD_H + 40), radius=24, fill=(204, 160, 132))
    if spec.second is not None:
        d.rectangle((286, 350, 760, 406), fill=(252, 252, 250), outline=(200, 200, 200))
        _draw_number(d, spec.second, 298, 394)

    if spec.glare > 0:
        card = _glare(card, spec.glare)
    mask = Image.new("L", (CARD_W, CARD_H), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, CARD_W - 1, CARD_H - 1), radius=34, fill=255)
    card.putalpha(mask)
    return card


def _birth_of(number: str) -> date | None:
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def _glare(card: Image.Image, strength: float) -> Image.Image:
    """A bright, soft ellipse (a lamp's reflection), centred right of the middle, reaching the number."""
    yy, xx = np.mgrid[0:CARD_H, 0:CARD_W].astype(np.float32)
    r2 = ((xx - 0.6 * CARD_W) / (0.2 * CARD_W)) ** 2 + ((yy - 0.74 * CARD_H) / (0.26 * CARD_H)) ** 2
    mask = (np.clip(1.25 - r2, 0.0, 1.0) * min(max(strength, 0.0), 1.0))[..., None]
    a = np.asarray(card, dtype=np.float32)
    return Image.fromarray((a + (255.0 - a) * mask).round().astype(np.uint8))


def _placement(spec: _Spec) -> tuple[float, int, int, int, int]:
    """The card's scale from design units to frame pixels, its rotated size and the paste offset."""
    w, h = spec.size
    s = CARD_ON_FRAME * w * spec.scale / CARD_W
    cw, ch = round(CARD_W * s), round(CARD_H * s)
    t = math.radians(spec.angle)
    rw = math.ceil(abs(cw * math.cos(t)) + abs(ch * math.sin(t)))
    rh = math.ceil(abs(cw * math.sin(t)) + abs(ch * math.cos(t)))
    return s, rw, rh, (w - rw) // 2, (h - rh) // 2


def _to_frame(spec: _Spec, x: float, y: float) -> tuple[float, float]:
    """A design-unit point of the card in frame pixels (PIL rotates counter-clockwise, y down)."""
    s, rw, rh, ox, oy = _placement(spec)
    dx, dy = (x - CARD_W / 2) * s, (y - CARD_H / 2) * s
    t = math.radians(spec.angle)
    return ox + rw / 2 + dx * math.cos(t) + dy * math.sin(t), oy + rh / 2 - dx * math.sin(t) + dy * math.cos(t)


def _frame(spec: _Spec) -> Image.Image:
    w, h = spec.size
    # a plain scene: a vertical gradient of the background colour with faint fixed sensor noise
    shade = np.linspace(0.85, 1.1, h, dtype=np.float32)[:, None, None]
    scene = np.broadcast_to(np.asarray(spec.background, np.float32) * shade, (h, w, 3))
    scene = scene + np.random.default_rng(7).normal(0.0, 2.0, (h, w, 3)).astype(np.float32)
    frame = Image.fromarray(np.clip(scene, 0, 255).round().astype(np.uint8))
    s, rw, rh, ox, oy = _placement(spec)
    card = _card(spec).resize((round(CARD_W * s), round(CARD_H * s)), Image.Resampling.LANCZOS)
    card = card.rotate(spec.angle, resample=Image.Resampling.BICUBIC, expand=True)
    frame.paste(card, (ox + (rw - card.width) // 2, oy + (rh - card.height) // 2), card)
    if spec.cut_at is not None:
        x0, y0, _, y1 = _number_boxes(spec.number)[spec.cut_at]
        xs = [_to_frame(spec, x0 - NUMBER_GAP / 2, y)[0] for y in (y0, y1)]
        ImageDraw.Draw(frame).rectangle((round(min(xs)), 0, w, h), fill=spec.background)
    if spec.blur > 0:
        frame = frame.filter(ImageFilter.GaussianBlur(spec.blur))
    frame.info["idcards.spec"] = spec
    return frame


def render_card(
    number: str,
    name: str = "张三",
    birth: date | None = None,
    *,
    angle: float = 0.0,
    scale: float = 1.0,
    blur: float = 0.0,
    glare: float = 0.0,
    background: tuple[int, int, int] = (90, 90, 90),
    size: tuple[int, int] = (1280, 720),
) -> Image.Image:
    """The card with ``number`` (any 18 characters: valid or not) held to a camera: an RGB frame of ``size``
    with the card in the middle, ``angle`` degrees counter-clockwise, ``scale`` × half the frame's width,
    blurred with a Gaussian of radius ``blur`` and a glare spot of ``glare`` (0..1) strength. The birth
    line shows ``birth`` (default: the number's date)."""
    bg = (int(background[0]), int(background[1]), int(background[2]))
    spec = _Spec(number, name, birth, angle, scale, blur, glare, bg, (int(size[0]), int(size[1])))
    return _frame(spec)


def corrupt(img: Image.Image, how: str, rng: random.Random) -> Image.Image:
    """The picture ``render_card`` made, spoiled so that its number cannot be read as it is printed:

    - ``digit_overwritten``: one digit painted over with another digit (the printed number is then invalid);
    - ``digit_occluded``: two to four characters under a fingertip;
    - ``truncated``: the frame ends inside the number (one to eight characters cut off);
    - ``two_numbers``: a sticker with a second, different valid number on the card;
    - ``noise``: heavy sensor noise over the whole frame.
    """
    spec = img.info.get("idcards.spec")
    if not isinstance(spec, _Spec):
        raise ValueError("corrupt() takes a picture render_card made")
    if how == "digit_overwritten":
        i = rng.randrange(17)
        digit = rng.choice([d for d in "0123456789" if d != spec.number[i]])
        return _frame(replace(spec, overwrite=(i, digit)))
    if how == "digit_occluded":
        n = rng.randint(2, 4)
        return _frame(replace(spec, occlude=(rng.randrange(18 - n + 1), n)))
    if how == "truncated":
        return _frame(replace(spec, cut_at=18 - rng.randint(1, 8)))
    if how == "two_numbers":
        birth = random_birth(rng)
        second = valid_number(rng, birth)
        while second == spec.number:
            second = valid_number(rng, birth)
        return _frame(replace(spec, second=second))
    if how == "noise":
        a = np.asarray(img, dtype=np.float32)
        noisy = a + np.random.default_rng(rng.randrange(2**32)).normal(0.0, rng.uniform(40.0, 70.0), a.shape)
        out = Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8))
        out.info["idcards.spec"] = spec
        return out
    raise ValueError(f"unknown corruption {how!r}: one of {', '.join(CORRUPTIONS)}")


def to_bgr(img: Image.Image) -> np.ndarray:
    """The frame as OpenCV holds a camera's: H × W × 3, BGR, uint8."""
    return np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])


def encode(img: Image.Image, fmt: str = "JPEG", quality: int = 90) -> bytes:
    """The frame compressed in memory (JPEG or PNG), as a browser would upload it."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format=fmt, **({"quality": quality} if fmt.upper() == "JPEG" else {}))
    return buf.getvalue()
