"""The console's one catalogue of words, Chinese and English: every string the page shows and every error the
server answers with. The outcomes, documents, read methods and refusal reasons are not repeated here: they
come from ``edge.idcheck.outcomes``, ``edge.idcheck.documents`` and ``edge.idcheck.number.REASONS`` (one
vocabulary with the wire and the hub), and ``catalogue()`` serves them to the page together with these
(``/static/words.json``). The page shows words, never codes; ``{n}``, ``{s}`` and ``{r}`` are filled in.
"""

from __future__ import annotations

from typing import Any

from humiao.edge.idcheck import number
from humiao.edge.idcheck.documents import DOCUMENTS
from humiao.edge.idcheck.outcomes import READ_METHODS, RESULTS

Lang = str  # "zh" | "en"
LANGS = ("zh", "en")

_W: dict[str, tuple[str, str]] = {
    # -- the page ---------------------------------------------------------------------------------
    "title": ("护苗 查验台", "Humiao staff console"),
    "title.bar": ("护苗 查验台", "Humiao"),
    "lang.other": ("EN", "中文"),
    "lang.switch": ("Switch to English", "切换到中文"),
    "signin.title": ("员工登录", "Staff sign-in"),
    "signin.name": ("员工账号", "Staff account"),
    "signin.pin": ("PIN 码", "PIN"),
    "signin.submit": ("登录", "Sign in"),
    "signin.wait": ("请 {s} 秒后再试", "Try again in {s} s"),
    "signin.expired": ("长时间未操作已退出，请重新登录", "Signed out after a while without use: sign in again"),
    "signin.out": ("已退出", "Signed out"),
    "signout": ("退出", "Sign out"),
    "live.on": ("实时", "Live"),
    "live.off": ("正在重新连接…", "Reconnecting…"),
    "pending.title": ("待查验", "Checks waiting"),
    "pending.none": ("暂无待查验的预警", "No checks waiting"),
    "pending.flag": ("请查验证件", "Check ID"),
    "pending.open": ("查验此人", "Check this person"),
    "pending.no_crop": ("无截图", "No picture"),
    "camera": ("摄像头", "Camera"),
    "alerted": ("预警时间", "Alerted"),
    "estimate": ("估计约 {n} 岁", "Looks about {n}"),
    "left": ("剩余 {s}", "{s} left"),
    "timeup": ("已超时", "Time is up"),
    "walkup": ("主动查验", "Walk-up check"),
    "walkup.title": ("主动查验（无预警）", "Walk-up check (no alert)"),
    "walkup.camera": ("摄像头（可不选）", "Camera (optional)"),
    "walkup.no_camera": ("不指定", "None"),
    "check.title": ("查验证件", "Check the ID"),
    "check.face": ("预警截图", "Picture from the alert"),
    "check.gone": ("该预警已处理或已超时", "This alert was answered elsewhere or its window ran out"),
    "back": ("返回", "Back"),
    "read.title": ("读取证件", "Read the ID"),
    "read.chip": ("读卡器", "Card reader"),
    "read.photo": ("拍照识读", "Photograph"),
    "read.typed": ("手工输入", "Type number"),
    "read.document": ("其他证件", "Other document"),
    "read.chip_wait": ("请将身份证放在读卡器上…", "Place the ID card on the reader…"),
    "read.photo_hint": ("将证件正面对准摄像头，号码清晰后拍照", "Hold the card's front to the camera, then capture"),
    "read.capture": ("拍照", "Capture"),
    "read.choose_photo": ("拍摄或选择照片", "Take or choose a photo"),
    "read.reading": ("正在识读…", "Reading…"),
    "read.no_camera": ("无法打开摄像头，请用下方按钮拍照", "The camera cannot be opened: use the button below"),
    "read.number": ("公民身份号码（18位，可用扫码枪）", "Citizen ID number (18 characters; a scanner works too)"),
    "read.x": ("输入 X", "Type X"),
    "read.ok": ("确定", "OK"),
    "read.doc_type": ("证件类型", "Document"),
    "read.birth": ("出生日期（如 20080315）", "Birth date (e.g. 2008-03-15)"),
    "read.unreadable": ("未能识读证件", "The ID could not be read"),
    "read.retry_hint": ("请重试，或手工输入号码", "Try again, or type the number"),
    "read.again": ("重新读取", "Read again"),
    "reading.age": ("{n} 岁", "{n} years old"),
    "reading.minor": ("未成年人", "Minor"),
    "reading.adult": ("成年人", "Adult"),
    "reading.under14": ("未满14周岁", "Under 14"),
    "reading.how": ("证件：{d} · 读取方式：{m}", "Document: {d} · Read by: {m}"),
    "outcome.title": ("查验结果", "Outcome"),
    "outcome.no_read": ("未读取证件", "Without an ID"),
    "outcome.confirm": ("确认记录", "Record"),
    "outcome.pick": ("请选择查验结果", "Choose the outcome"),
    "outcome.recorded": ("已记录：{r}", "Recorded: {r}"),
    "guardian.title": ("监护人登记", "Guardian record"),
    "guardian.contact": ("已询问并登记监护人联系方式", "Guardian's contact asked and recorded"),
    "guardian.co_occupants": ("已询问并登记同住人员关系", "Co-occupants' relationship asked and recorded"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "recent.title": ("最近记录", "Recently recorded"),
    "recent.none": ("暂无记录", "Nothing recorded yet"),
    "recent.walkup": ("主动查验", "Walk-up"),
    "recent.agent": ("系统", "System"),
    # -- venue types (policy.venue_type) -----------------------------------------------------------
    "venue.ktv": ("KTV（歌舞娱乐场所）", "KTV"),
    "venue.bar": ("酒吧", "Bar"),
    "venue.internet_cafe": ("网吧", "Internet café"),
    "venue.arcade": ("游艺娱乐场所", "Arcade"),
    "venue.hotel": ("旅馆", "Hotel"),
    "venue.esports_hotel": ("电竞酒店", "E-sports hotel"),
    "venue.script_entertainment": ("剧本娱乐场所", "Script entertainment"),
    # -- the server's answers -----------------------------------------------------------------------
    "err.signin": (
        "账号或PIN不正确（多次失败后需稍候再试）",
        "Wrong account or PIN (after several failures, wait a little)",
    ),
    "err.session": ("请先登录", "Sign in first"),
    "err.csrf": ("请求被拒绝：请在查验台页面操作", "Request refused: use the console page"),
    "err.content_type": ("请求格式不对", "Wrong request format"),
    "err.length": ("请求缺少长度", "The request has no length"),
    "err.too_large": ("内容过大", "Too large"),
    "err.photo_too_large": ("照片过大（上限 8 MB）", "The photo is too large (8 MB at most)"),
    "err.bad_request": ("请求内容不对", "Malformed request"),
    "err.not_found": ("未找到", "Not found"),
    "err.method": ("不支持该操作", "Not allowed"),
    "err.busy": ("系统繁忙，请稍后再试", "Busy: try again in a moment"),
    "err.reader_none": ("未配置读卡器", "No card reader is configured"),
    "err.reader_down": ("读卡器不可用", "The card reader is not working"),
    "err.no_card": (
        "未检测到证件，请将身份证放在读卡器上后重试",
        "No card: place the ID card on the reader and try again",
    ),
    "err.ocr_none": ("本机未启用拍照识读", "Camera reading is not enabled on this box"),
    "err.image": ("照片格式不对（仅支持 JPEG 或 PNG）", "The photo must be a JPEG or PNG"),
    "err.unreadable": (
        "未能识读证件号码，请重拍或手工输入",
        "The number could not be read: photograph again or type it",
    ),
    "err.camera": ("未知的摄像头", "Unknown camera"),
    "err.guardian_missing": ("请回答两项监护人登记问题", "Answer both guardian-record questions"),
    "err.guardian_not_asked": ("该结果无需监护人登记", "This outcome takes no guardian record"),
    "err.lang": ("未知的语言", "Unknown language"),
    "err.internal": ("系统出错，请重试", "Something went wrong: try again"),
}

WORDS: dict[str, dict[str, str]] = {lang: {k: v[i] for k, v in _W.items()} for i, lang in enumerate(LANGS)}


def say(key: str, lang: Lang, **fill: object) -> str:
    """The words for ``key`` in ``lang`` (Chinese for an unknown language), with ``{…}`` filled in."""
    text = WORDS.get(lang, WORDS["zh"])[key]
    return text.format(**fill) if fill else text


def both(key: str) -> dict[str, str]:
    return {lang: WORDS[lang][key] for lang in LANGS}


def reason_words(reason: str) -> dict[str, str]:
    """A refusal's words (``number.REASONS``); a reason the catalogue lacks reads as 'could not be read'."""
    found = number.REASONS.get(reason)
    return dict(found) if found else both("err.unreadable")


def catalogue() -> dict[str, Any]:
    """Everything the page shows, as served in ``/static/words.json``: this module's words, and the
    outcomes staff may record, the documents typed by hand, the read methods and the refusal reasons from
    their own modules."""
    return {
        "ui": WORDS,
        "results": [
            {"code": r.code, "words": dict(r.words), "age": r.age, "guardian_record": r.guardian_record}
            for r in RESULTS
            if r.by_staff
        ],
        "documents": [{"code": d.code, "words": dict(d.words)} for d in DOCUMENTS if d.manual_birth_date],
        "methods": {k: dict(v) for k, v in READ_METHODS.items()},
        "reasons": {k: dict(v) for k, v in number.REASONS.items()},
    }
