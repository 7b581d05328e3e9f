"""The hash-chained audit log: every kind of tampering is caught at the right line, and a
killed writer leaves a log that verifies up to its last whole record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nfcore.cli import main
from nfcore.conductor.audit import GENESIS, AuditError, AuditLog, canonical, verify_log


def _write(path: Path, n: int) -> list[dict]:
    with AuditLog(path) as log:
        return log.append_batch([{"request_id": f"r{i}", "value": i * 0.5} for i in range(n)])


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_a_clean_log_verifies_and_chains(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    entries = _write(log, 5)
    res = verify_log(log)
    assert res.ok and res.records == 5 and res.torn_bytes == 0
    assert res.head_sha256 == entries[-1]["sha256"]
    assert entries[0]["prev_sha256"] == GENESIS
    assert [e["prev_sha256"] for e in entries[1:]] == [e["sha256"] for e in entries[:-1]]
    # appending later continues the same chain
    with AuditLog(log) as again:
        assert again.records == 5
        again.append({"request_id": "r5"})
    assert verify_log(log).records == 6


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    AuditLog(log).close()
    res = verify_log(log)
    assert res.ok and res.records == 0 and res.head_sha256 == GENESIS


def test_a_changed_record_is_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write(log, 6)
    lines = _lines(log)
    entry = json.loads(lines[3])
    entry["record"]["value"] = 99.0
    lines[3] = canonical(entry).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    res = verify_log(log)
    assert not res.ok and res.bad_line == 4 and res.records == 3
    assert "changed" in res.problem


def test_a_rewritten_record_with_its_own_hash_fixed_breaks_the_next_line(
        tmp_path: Path) -> None:
    from nfcore.conductor.audit import record_hash

    log = tmp_path / "audit.jsonl"
    _write(log, 6)
    lines = _lines(log)
    entry = json.loads(lines[2])
    entry["record"]["value"] = -1.0
    entry["sha256"] = record_hash(entry)
    lines[2] = canonical(entry).encode() + b"\n"
    log.write_bytes(b"".join(lines))
    res = verify_log(log)
    assert not res.ok and res.bad_line == 4 and "chain broken" in res.problem


def test_a_removed_record_is_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write(log, 6)
    lines = _lines(log)
    del lines[2]
    log.write_bytes(b"".join(lines))
    res = verify_log(log)
    assert not res.ok and res.bad_line == 3 and "seq" in res.problem


def test_reordered_records_are_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write(log, 6)
    lines = _lines(log)
    lines[4], lines[5] = lines[5], lines[4]
    log.write_bytes(b"".join(lines))
    res = verify_log(log)
    assert not res.ok and res.bad_line == 5


def test_a_removed_first_record_is_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write(log, 3)
    log.write_bytes(b"".join(_lines(log)[1:]))
    res = verify_log(log)
    assert not res.ok and res.bad_line == 1 and res.records == 0


def test_records_cut_off_the_end_need_an_anchor(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    entries = _write(log, 5)
    log.write_bytes(b"".join(_lines(log)[:3]))
    assert verify_log(log).ok  # a chain alone cannot see a cut end ...
    res = verify_log(log, expect_records=5)  # ... an anchor can
    assert not res.ok and res.bad_line == 4 and "cut off" in res.problem
    assert not verify_log(log, expect_head=entries[-1]["sha256"]).ok


def test_garbage_lines_are_named(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write(log, 3)
    lines = _lines(log)
    lines.insert(1, b"{not json}\n")
    log.write_bytes(b"".join(lines))
    res = verify_log(log)
    assert not res.ok and res.bad_line == 2 and "JSON" in res.problem
    log.write_bytes(b'[1, 2]\n')
    assert verify_log(log).bad_line == 1


def test_a_torn_tail_is_reported_ignored_and_cut_before_appending(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write(log, 4)
    whole = log.read_bytes()
    last = _lines(log)[-1]
    log.write_bytes(whole[: len(whole) - len(last) // 2])  # half of record 4 written
    res = verify_log(log)
    assert res.ok and res.records == 3 and res.torn_bytes == len(last) - len(last) // 2
    assert "torn write at line 4" in res.message()
    with AuditLog(log) as again:
        assert again.recovered_torn_bytes == res.torn_bytes
        again.append({"request_id": "after-crash"})
    res = verify_log(log)
    assert res.ok and res.records == 4 and res.torn_bytes == 0


def test_a_tampered_log_is_refused_for_appending(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    _write(log, 3)
    log.write_bytes(b"".join(_lines(log)[1:]))
    with pytest.raises(AuditError, match="refusing to append.*line 1"):
        AuditLog(log)


def test_unserialisable_records_write_nothing(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with AuditLog(log) as w:
        w.append({"ok": 1})
        with pytest.raises(AuditError, match="record 2"):
            w.append_batch([{"ok": 2}, {"bad": float("nan")}])
        assert w.records == 1
    assert verify_log(log).records == 1


_WRITER = """
import sys
from nfcore.conductor.audit import AuditLog
log = AuditLog(sys.argv[1])
blob = "x" * 20000
i = 0
while True:
    log.append_batch([{"request_id": i, "j": j, "blob": blob} for j in range(8)])
    i += 1
    if i == 3:
        print("ready", flush=True)
"""


def test_a_killed_writer_leaves_a_verifiable_prefix(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(log)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    res = verify_log(log)
    assert res.ok, res.message()
    assert res.records >= 24
    assert res.good_bytes + res.torn_bytes == log.stat().st_size


def test_cli_audit_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "audit.jsonl"
    entries = _write(log, 4)
    assert main(["audit", "verify", str(log)]) == 0
    assert "OK, 4 records" in capsys.readouterr().out
    assert main(["audit", "verify", str(log), "--expect-head", entries[-1]["sha256"]]) == 0
    capsys.readouterr()
    lines = _lines(log)
    del lines[1]
    log.write_bytes(b"".join(lines))
    assert main(["audit", "verify", str(log)]) == 1
    out = capsys.readouterr().out
    assert "line 2:" in out and out.count("\n") == 1
    assert main(["audit", "verify", str(tmp_path / "none.jsonl")]) == 2
