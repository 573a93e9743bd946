"""The edge spool: durable, ordered, idempotent, bounded without ever losing an alert."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from humiao.edge.spool import Spool


def test_messages_survive_a_killed_process_and_replay_in_order(tmp_path):
    db = tmp_path / "spool.db"
    # a separate process spools 50 alerts and is killed without closing anything
    code = textwrap.dedent(f"""
        import os
        from humiao.edge.spool import Spool
        s = Spool({str(db)!r})
        for i in range(50):
            s.put(f"e{{i:03d}}", "alert", "humiao/v1/d/v/x/alert", b"payload-%d" % i)
        os._exit(9)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=str(Path(__file__).resolve().parents[2]))
    assert done.returncode == 9
    s = Spool(db)
    entries = s.pending(limit=1000)
    assert [e.key for e in entries] == [f"e{i:03d}" for i in range(50)]
    assert entries[7].payload == b"payload-7"


def test_ack_removes_and_duplicates_are_absorbed(tmp_path):
    s = Spool(tmp_path / "s.db")
    assert s.put("a", "alert", "t", b"1") is True
    assert s.put("a", "alert", "t", b"1") is False
    s.put("b", "alert", "t", b"2")
    first = s.pending()[0]
    s.attempted(first.seq)
    assert s.pending()[0].attempts == 1
    s.ack(first.seq)
    assert [e.key for e in s.pending()] == ["b"] and s.depth() == 1


def test_over_budget_drops_oldest_evidence_first_and_never_alerts(tmp_path):
    s = Spool(tmp_path / "s.db", max_bytes=10_000)
    s.put("ev1", "evidence", "t", b"x" * 4000)
    s.put("al1", "alert", "t", b"a" * 300)
    s.put("ev2", "evidence", "t", b"y" * 4000)
    s.put("ev3", "evidence", "t", b"z" * 4000)  # 12,300 bytes: the oldest evidence goes
    by_key = {e.key: e for e in s.pending()}
    assert by_key["ev1"].payload is None and by_key["ev2"].payload is not None
    assert s.dropped_evidence == 1 and s.size_bytes() <= 10_000
    for i in range(60):  # far over budget with alerts alone: every alert is kept
        s.put(f"al-{i}", "alert", "t", b"a" * 300)
    kept = {e.key: e for e in s.pending(limit=1000)}
    assert all(kept[f"al-{i}"].payload == b"a" * 300 for i in range(60)) and kept["al1"].payload
    assert kept["ev2"].payload is None and kept["ev3"].payload is None


def test_alerts_wait_for_the_hub_receipt_and_are_resent_with_backoff(tmp_path):
    s = Spool(tmp_path / "s.db")
    s.put("a1", "alert", "t", b"1")
    s.put("a2", "alert", "t", b"2")
    s.put("ev", "evidence", "t", b"3")
    e1, e2, _ = s.pending()
    s.attempted(e1.seq)  # sent
    s.await_receipt(e1.seq, timeout_s=10)  # the broker acknowledged a1
    assert [e.key for e in s.pending()] == ["a2", "ev"] and s.awaiting_receipt() == 1 and s.depth() == 3
    now = __import__("time").time()
    assert s.due(now=now + 5) == []  # receipt not overdue yet
    assert [e.key for e in s.due(now=now + 11)] == ["a1"]  # overdue: send again
    assert s.due(now=now + 12) == []  # and not again at once: the next try waits twice as long
    assert [e.key for e in s.due(now=now + 40)] == ["a1"]
    # a receipt removes only what this edge has sent and the hub receipts: not a2 (never sent), not
    # evidence (it leaves on the broker's PUBACK), not what it does not hold
    assert s.confirm(["a2", "ev", "unknown"]) == 0
    assert s.confirm(["a1", "unknown"]) == 1  # the hub's receipt removes it
    assert [e.key for e in s.pending()] == ["a2", "ev"] and s.awaiting_receipt() == 0
