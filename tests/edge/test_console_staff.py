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
    KNOWN_ACCOUNT_MAX_S,
    Busy,
    SignInThrottle,
    StaffBook,
    StaffError,
    address_key,
)


def test_accounts_are_kept_as_argon2id_hashes_in_a_private_file(tmp_path):
    path = tmp_path / "state" / "staff.json"
    book = StaffBook(path)
    assert book.members() == [] and not book.verify("wang", "123456")
    assert book.add("wang", "123456") is True
    assert book.add("li-2", "98765432") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "123456" not in text.replace("$argon2id$", "") and "98765432" not in text
    data = json.loads(text)["staff"]
    assert set(data) == {"wang", "li-2"} and all(
        v["pin"].startswith("$argon2id$v=19$m=32768,t=3") for v in data.values()
    )
    assert book.verify("wang", "123456") and book.verify("li-2", "98765432")
    assert (
        not book.verify("wang", "123457") and not book.verify("li-2", "123456") and not book.verify("zhang", "123456")
    )
    assert not book.verify("wang", "") and not book.verify("wang", "1234\n")
    # a new PIN replaces the old one, the account stays
    added = data["wang"]["added"]
    assert book.add("wang", "654321") is False
    assert book.verify("wang", "654321") and not book.verify("wang", "123456")
    assert json.loads(path.read_text())["staff"]["wang"]["added"] == added
    # another process's view of the file (the running console) follows changes
    other = StaffBook(path)
    assert [m.name for m in other.members()] == ["li-2", "wang"]
    assert book.remove("wang") is True and book.remove("wang") is False
    assert not other.exists("wang") and other.exists("li-2")


@pytest.mark.parametrize("name", ["", "Wang", "wang li", "-wang", "w" * 33, "王", "wang/li"])
def test_names_must_be_slugs(tmp_path, name):
    with pytest.raises(StaffError, match="staff name"):
        StaffBook(tmp_path / "s.json").add(name, "123456")


@pytest.mark.parametrize("pin", ["", "123", "12345", "1234567890123", "12a456", "١٢٣٤٥٦", " 123456"])
def test_pins_are_6_to_12_digits(tmp_path, pin):
    with pytest.raises(StaffError, match="PIN is 6 to 12 digits") as err:
        StaffBook(tmp_path / "s.json").add("wang", pin)
    assert pin.strip() not in str(err.value) or not pin.strip()


def test_a_damaged_file_is_a_clear_error_not_a_crash(tmp_path):
    path = tmp_path / "staff.json"
    path.write_text("{not json")
    book = StaffBook(path)
    with pytest.raises(StaffError, match="not a staff file"):
        book.members()
    assert not book.verify("wang", "123456") and not book.exists("wang")


def test_hashing_is_capped(tmp_path, monkeypatch):
    book = StaffBook(tmp_path / "s.json", hashing=1)
    book.add("wang", "123456")
    monkeypatch.setattr(staff_mod, "HASH_WAIT_S", 0.05)
    book._hashing.acquire()  # another sign-in is hashing
    try:
        with pytest.raises(Busy):
            book.verify("wang", "123456")
    finally:
        book._hashing.release()
    assert book.verify("wang", "123456")
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
    threads = [threading.Thread(target=lambda: results.append(book.verify("wang", "123456"))) for _ in range(6)]
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
    # guessing one PIN from many devices: a quarter of an hour between guesses; one device: five minutes
    assert th.wait_s("10.0.0.9", "wang") == ACCOUNT_MAX_S
    assert th.wait_s("10.0.0.5", "zhao") == ADDRESS_MAX_S
    clock.t += ACCOUNT_MAX_S
    assert th.wait_s("10.0.0.9", "wang") == 0
    # a success clears both counters
    th.succeeded("10.0.0.5", "wang")
    assert th.wait_s("10.0.0.5", "wang") == 0
    # and a quiet hour forgets failures
    for _ in range(FREE_FAILURES + 2):
        th.failed("10.0.0.7", "li")
    clock.t += staff_mod.FORGET_S + 1
    assert th.wait_s("10.0.0.7", "li") == 0


def test_the_counter_where_staff_signed_in_before_is_not_held_back_long_by_someone_else():
    clock = Clock()
    th = SignInThrottle(clock)
    assert th.begin("10.0.0.2", "wang") == 0
    th.finish("10.0.0.2", "wang", True)  # wang signs in at the counter's tablet
    for i in range(40):  # someone else guesses wang's PIN from many addresses
        th.failed(f"10.0.1.{i}", "wang")
    assert th.wait_s("10.0.0.66", "wang") == ACCOUNT_MAX_S
    assert th.wait_s("10.0.0.2", "wang") == KNOWN_ACCOUNT_MAX_S
    clock.t += KNOWN_ACCOUNT_MAX_S
    assert th.begin("10.0.0.2", "wang") == 0
    th.finish("10.0.0.2", "wang", True)
    assert th.wait_s("10.0.0.66", "wang") == 0  # the success cleared the account's count
    # known for a month only
    clock.t += staff_mod.KNOWN_S + 1
    for i in range(40):
        th.failed(f"10.0.1.{i}", "wang")
    assert th.wait_s("10.0.0.2", "wang") == ACCOUNT_MAX_S


def test_parallel_attempts_are_counted_before_the_pin_is_checked():
    th = SignInThrottle(Clock())
    # many attempts arrive together: only the free ones get to have their PIN checked
    let_through = [th.begin("10.0.0.5", "wang") == 0 for _ in range(50)]
    assert sum(let_through) == FREE_FAILURES
    for _ in range(FREE_FAILURES):
        th.finish("10.0.0.5", "wang", False)
    assert th.wait_s("10.0.0.5", "wang") == 1.0


def test_an_attempt_the_console_was_too_busy_to_check_is_not_counted():
    th = SignInThrottle(Clock())
    for _ in range(FREE_FAILURES - 1):
        th.failed("10.0.0.5", "wang")
    assert th.begin("10.0.0.5", "wang") == 0
    th.finish("10.0.0.5", "wang", None)
    assert th.begin("10.0.0.5", "wang") == 0  # still the last free one


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_an_ipv6_device_is_one_address_however_many_it_picks(address, key):
    assert address_key(address) == key
    th = SignInThrottle(Clock())
    for i in range(FREE_FAILURES + 1):
        th.failed(f"2001:db8:1:2::{i + 1:x}", f"name{i}")  # a new address and a new name each time
    assert th.wait_s("2001:db8:1:2::ffff", "li") > 0 and th.wait_s("2001:db8:1:3::1", "li") == 0


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
        monkeypatch, capsys, ["edge", "staff", "add", "wang", "--pin-stdin", "--config", str(config)], "246802\n"
    )
    assert code == 0 and "staff account wang added" in out and "246802" not in out
    path = tmp_path / "state" / "staff.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and StaffBook(path).verify("wang", "246802")
    # asked twice with getpass
    answers = iter(["135791", "135791"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, out, _ = run(monkeypatch, capsys, ["edge", "staff", "add", "li", "--config", str(config)])
    assert code == 0 and StaffBook(path).verify("li", "135791")
    answers = iter(["135791", "135790"])
    code, _, err = run(monkeypatch, capsys, ["edge", "staff", "add", "zhao", "--config", str(config)])
    assert code == 2 and "differ" in err and not StaffBook(path).exists("zhao")
    code, out, _ = run(monkeypatch, capsys, ["edge", "staff", "list", "--config", str(config)])
    assert code == 0 and [line.split("\t")[0] for line in out.splitlines()] == ["li", "wang"]
    code, _, err = run(
        monkeypatch, capsys, ["edge", "staff", "add", "Bad Name", "--pin-stdin", "--config", str(config)], "123456\n"
    )
    assert code == 2 and "staff name" in err
    code, _, err = run(
        monkeypatch, capsys, ["edge", "staff", "add", "zhao", "--pin-stdin", "--config", str(config)], "12\n"
    )
    assert code == 2 and "6 to 12 digits" in err and "12" not in err.replace("6 to 12", "")
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
        monkeypatch, capsys, ["edge", "staff", "add", "wang", "--pin-stdin", "--config", str(cfg)], "246802\n"
    )
    assert code == 0 and StaffBook(tmp_path / "own.json").verify("wang", "246802")
    assert not (tmp_path / "state" / "staff.json").exists()
