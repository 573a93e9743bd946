"""The staff console's accounts (``edge.console.staff``): the 0600 file of names and argon2id PIN hashes, the
sign-in throttle, and ``humiao edge staff add|remove|list``."""

from __future__ import annotations

import io
import json
import stat
import threading

import pytest

from humiao.cli import main
from humiao.edge.console import staff as staff_mod
from humiao.edge.console.staff import (
    ACCOUNT_MAX_S,
    ADDRESS_MAX_S,
    FREE_FAILURES,
    Busy,
    SignInThrottle,
    StaffBook,
    StaffError,
)


def test_accounts_are_kept_as_argon2id_hashes_in_a_private_file(tmp_path):
    path = tmp_path / "state" / "staff.json"
    book = StaffBook(path)
    assert book.members() == [] and not book.verify("wang", "1234")
    assert book.add("wang", "1234") is True
    assert book.add("li-2", "98765432") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "1234" not in text.replace("$argon2id$", "") and "98765432" not in text
    data = json.loads(text)["staff"]
    assert set(data) == {"wang", "li-2"} and all(
        v["pin"].startswith("$argon2id$v=19$m=32768,t=3") for v in data.values()
    )
    assert book.verify("wang", "1234") and book.verify("li-2", "98765432")
    assert not book.verify("wang", "1235") and not book.verify("li-2", "1234") and not book.verify("zhang", "1234")
    assert not book.verify("wang", "") and not book.verify("wang", "1234\n")
    # a new PIN replaces the old one, the account stays
    added = data["wang"]["added"]
    assert book.add("wang", "4321") is False
    assert book.verify("wang", "4321") and not book.verify("wang", "1234")
    assert json.loads(path.read_text())["staff"]["wang"]["added"] == added
    # another process's view of the file (the running console) follows changes
    other = StaffBook(path)
    assert [m.name for m in other.members()] == ["li-2", "wang"]
    assert book.remove("wang") is True and book.remove("wang") is False
    assert not other.exists("wang") and other.exists("li-2")


@pytest.mark.parametrize("name", ["", "Wang", "wang li", "-wang", "w" * 33, "王", "wang/li"])
def test_names_must_be_slugs(tmp_path, name):
    with pytest.raises(StaffError, match="staff name"):
        StaffBook(tmp_path / "s.json").add(name, "1234")


@pytest.mark.parametrize("pin", ["", "123", "1234567890123", "12a4", "١٢٣٤", " 1234"])
def test_pins_are_4_to_12_digits(tmp_path, pin):
    with pytest.raises(StaffError, match="PIN is 4 to 12 digits") as err:
        StaffBook(tmp_path / "s.json").add("wang", pin)
    assert pin.strip() not in str(err.value) or not pin.strip()


def test_a_damaged_file_is_a_clear_error_not_a_crash(tmp_path):
    path = tmp_path / "staff.json"
    path.write_text("{not json")
    book = StaffBook(path)
    with pytest.raises(StaffError, match="not a staff file"):
        book.members()
    assert not book.verify("wang", "1234") and not book.exists("wang")


def test_hashing_is_capped(tmp_path, monkeypatch):
    book = StaffBook(tmp_path / "s.json", hashing=1)
    book.add("wang", "1234")
    monkeypatch.setattr(staff_mod, "HASH_WAIT_S", 0.05)
    book._hashing.acquire()  # another sign-in is hashing
    try:
        with pytest.raises(Busy):
            book.verify("wang", "1234")
    finally:
        book._hashing.release()
    assert book.verify("wang", "1234")
    # many at once: all answered, never more than the cap hashing together
    monkeypatch.setattr(staff_mod, "HASH_WAIT_S", 10.0)
    inside, most = [0], [0]
    lock = threading.Lock()
    real = staff_mod.argon2id.verify

    def counting(hashed, pin):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            return real(hashed, pin)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(staff_mod.argon2id, "verify", counting)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(book.verify("wang", "1234"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 6 and most[0] == 1


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_throttle_backs_off_per_address_and_per_account_with_caps():
    clock = Clock()
    th = SignInThrottle(clock)
    for _ in range(FREE_FAILURES - 1):
        th.failed("10.0.0.5", "wang")
        assert th.wait_s("10.0.0.5", "wang") == 0
    th.failed("10.0.0.5", "wang")
    assert th.wait_s("10.0.0.5", "wang") == 1.0
    th.failed("10.0.0.5", "wang")
    assert th.wait_s("10.0.0.5", "wang") == 2.0
    # the same account from elsewhere waits as long (someone guessing from many devices) ...
    assert th.wait_s("10.0.0.9", "wang") == 2.0
    # ... the same address with another name too; another address with another name not at all
    assert th.wait_s("10.0.0.5", "li") == 2.0 and th.wait_s("10.0.0.9", "li") == 0
    for _ in range(30):
        th.failed("10.0.0.5", "wang")
    # an attacker can hold an account back by seconds only; their own address much longer
    assert th.wait_s("10.0.0.9", "wang") == ACCOUNT_MAX_S
    assert th.wait_s("10.0.0.5", "zhao") == ADDRESS_MAX_S
    clock.t += ACCOUNT_MAX_S
    assert th.wait_s("10.0.0.9", "wang") == 0
    # a success clears both counters
    th.succeeded("10.0.0.5", "wang")
    assert th.wait_s("10.0.0.5", "wang") == 0
    # and a quiet quarter of an hour forgets failures
    for _ in range(FREE_FAILURES + 2):
        th.failed("10.0.0.7", "li")
    clock.t += staff_mod.FORGET_S + 1
    assert th.wait_s("10.0.0.7", "li") == 0


# -- the CLI -----------------------------------------------------------------------------------------
@pytest.fixture
def config(tmp_path):
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(f"device:\n  state_dir: {tmp_path / 'state'}\n")
    return cfg


def run(monkeypatch, capsys, argv, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_adds_lists_and_removes_staff(tmp_path, config, monkeypatch, capsys):
    code, out, _ = run(
        monkeypatch, capsys, ["edge", "staff", "add", "wang", "--pin-stdin", "--config", str(config)], "2468\n"
    )
    assert code == 0 and "staff account wang added" in out and "2468" not in out
    path = tmp_path / "state" / "staff.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and StaffBook(path).verify("wang", "2468")
    # asked twice with getpass
    answers = iter(["13579", "13579"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, out, _ = run(monkeypatch, capsys, ["edge", "staff", "add", "li", "--config", str(config)])
    assert code == 0 and StaffBook(path).verify("li", "13579")
    answers = iter(["13579", "13570"])
    code, _, err = run(monkeypatch, capsys, ["edge", "staff", "add", "zhao", "--config", str(config)])
    assert code == 2 and "differ" in err and not StaffBook(path).exists("zhao")
    code, out, _ = run(monkeypatch, capsys, ["edge", "staff", "list", "--config", str(config)])
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["li", "wang"]
    code, _, err = run(
        monkeypatch, capsys, ["edge", "staff", "add", "Bad Name", "--pin-stdin", "--config", str(config)], "1234\n"
    )
    assert code == 2 and "staff name" in err
    code, _, err = run(
        monkeypatch, capsys, ["edge", "staff", "add", "zhao", "--pin-stdin", "--config", str(config)], "12\n"
    )
    assert code == 2 and "4 to 12 digits" in err and "12" not in err.replace("4 to 12", "")
    code, out, _ = run(monkeypatch, capsys, ["edge", "staff", "remove", "wang", "--config", str(config)])
    assert code == 0 and "removed" in out and not StaffBook(path).exists("wang")
    code, _, err = run(monkeypatch, capsys, ["edge", "staff", "remove", "wang", "--config", str(config)])
    assert code == 2 and "no staff account" in err


def test_cli_uses_the_configured_staff_file(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(
        f"device:\n  state_dir: {tmp_path / 'state'}\nidcheck:\n  console:\n    staff_file: {tmp_path / 'own.json'}\n"
    )
    code, _, _ = run(
        monkeypatch, capsys, ["edge", "staff", "add", "wang", "--pin-stdin", "--config", str(cfg)], "2468\n"
    )
    assert code == 0 and StaffBook(tmp_path / "own.json").verify("wang", "2468")
    assert not (tmp_path / "state" / "staff.json").exists()
