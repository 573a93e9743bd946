"""Words for the ID-check values that travel on the wire, one catalogue for both ends: the edge's console
and the hub's panel and reports show these words, never the codes.

Keys are the wire's enum names in lower case without their prefix (``ID_CHECK_RESULT_MINOR_REFUSED`` →
``minor_refused``), as the hub stores them; ``tests/proto/test_vocabulary.py`` checks that every enum value
has words and no word is left without a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

Words = Mapping[str, str]  # {"zh": ..., "en": ...}


def _w(zh: str, en: str) -> Words:
    return MappingProxyType({"zh": zh, "en": en})


# IdCheckResult, in the order a console offers them
RESULTS: Mapping[str, Words] = MappingProxyType(
    {
        "adult_admitted": _w("成年人，核验后放行", "Adult verified, admitted"),
        "minor_refused": _w("未成年人，已劝离", "Minor, refused entry"),
        "minor_admitted_with_guardian": _w("未成年人，监护人陪同入场", "Minor admitted with a guardian"),
        "minor_admitted": _w("未成年人，已放行（无监护人）", "Minor admitted without a guardian"),
        "no_id_refused": _w("未出示证件，已劝离", "No ID shown, refused"),
        "left_before_check": _w("查验前已离开", "Left before the check"),
        "not_checked": _w("时限内未查验", "Not checked within the window"),
    }
)

# DocumentType
DOCUMENTS: Mapping[str, Words] = MappingProxyType(
    {
        "citizen_id": _w("居民身份证", "Resident identity card"),
        "passport": _w("护照", "Passport"),
        "hk_macao_permit": _w("港澳居民来往内地通行证", "Mainland travel permit for Hong Kong and Macao residents"),
        "taiwan_permit": _w("台湾居民来往大陆通行证", "Mainland travel permit for Taiwan residents"),
        "foreign_permanent_residence": _w("外国人永久居留身份证", "Foreign permanent resident ID card"),
        "other": _w("其他证件", "Other document"),
    }
)

# ReadMethod
READ_METHODS: Mapping[str, Words] = MappingProxyType(
    {
        "chip": _w("读卡器读取", "Card reader"),
        "ocr": _w("摄像头识读", "Camera"),
        "manual": _w("手工录入", "Typed by staff"),
    }
)


def wire_name(enum_value_name: str, prefix: str) -> str:
    """``ID_CHECK_RESULT_MINOR_REFUSED``, ``ID_CHECK_RESULT_`` → ``minor_refused``."""
    return enum_value_name.removeprefix(prefix).lower()
