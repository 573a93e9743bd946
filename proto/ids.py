"""UUIDv7 event ids (RFC 9562): 48-bit Unix milliseconds, then randomness — unique and time-ordered."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last = [0, 0]  # last millisecond, last 12-bit counter: ids from one process stay strictly increasing


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms <= _last[0]:
            ms = _last[0]
            counter = _last[1] + 1
            if counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next millisecond
                ms, counter = ms + 1, 0
        else:
            counter = int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave room to count up
        _last[0], _last[1] = ms, counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def uuid7_ms(value: uuid.UUID | str) -> int:
    """The Unix millisecond a UUIDv7 was made at."""
    u = uuid.UUID(str(value))
    if u.version != 7:
        raise ValueError(f"{u} is not a UUIDv7")
    return u.int >> 80
