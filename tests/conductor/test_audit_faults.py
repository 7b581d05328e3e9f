"""The audit log under faults: a real file-size limit (disk full for this process), a write
that fails half way, two writers on one log, and concurrent appends sharing one fsync."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nfcore.conductor.audit import AuditError, AuditLog, AuditWriteError, verify_log

DISK_FULL = r"""
import json, resource, signal, sys
from nfcore.conductor.audit import AuditLog, AuditWriteError, verify_log

path = sys.argv[1]
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
log = AuditLog(path)
rec = {"request_id": "r", "pad": "x" * 900}
out = {"acked": [], "failed": []}
log.append_batch([dict(rec, request_id="ok-0")])
limit = log._offset + 2500  # room for about two more records
_, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
for i in range(1, 6):
    try:
        e = log.append_batch([dict(rec, request_id=f"r{i}")])[0]
        out["acked"].append([f"r{i}", e["seq"]])
    except AuditWriteError as exc:
        out["failed"].append([f"r{i}", exc.cause, str(exc)])
out["healthy_when_full"] = log.healthy
out["probe_when_full"] = log.probe()
out["size_when_full"] = __import__("os").path.getsize(path)
out["durable_offset"] = log._offset
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # space returns
out["probe_after"] = log.probe()
out["healthy_after"] = log.healthy
e = log.append_batch([dict(rec, request_id="after")])[0]
out["after_seq"] = e["seq"]
log.close()
print(json.dumps(out))
"""


def test_a_full_disk_fails_only_unwritten_records_and_the_log_continues(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, str(log)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["acked"]) == 2 and out["failed"], out
    assert all(cause == "EFBIG" for _, cause, _ in out["failed"])
    assert "not recorded" in out["failed"][0][2]
    assert not out["healthy_when_full"] and not out["probe_when_full"]
    assert out["size_when_full"] == out["durable_offset"]  # no partial record left behind
    assert out["probe_after"] and out["healthy_after"]
    res = verify_log(log)
    assert res.ok and res.torn_bytes == 0 and res.records == 4
    ids = [json.loads(line)["record"]["request_id"] for line in log.read_text().splitlines()]
    assert ids == ["ok-0", "r1", "r2", "after"]  # acknowledged ones, in order; no failed one
    assert out["after_seq"] == 3


def test_a_write_that_fails_half_way_is_cut_back(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.jsonl"
    real_write = os.write
    calls = {"n": 0}

    def half_then_enospc(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    with AuditLog(path) as log:
        log.append({"request_id": "a"})
        size = path.stat().st_size
        monkeypatch.setattr(os, "write", half_then_enospc)
        with pytest.raises(AuditWriteError) as info:
            log.append_batch([{"request_id": "b"}, {"request_id": "c"}])
        assert info.value.cause == "ENOSPC" and not log.healthy
        assert path.stat().st_size == size and log.records == 1
        monkeypatch.setattr(os, "write", real_write)
        assert log.append({"request_id": "d"})["seq"] == 1 and log.healthy
    res = verify_log(path)
    assert res.ok and res.records == 2


HOLD = """
import sys, time
from nfcore.conductor.audit import AuditLog
log = AuditLog(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AuditError, match=f"in use by process {holder.pid}"):
            AuditLog(path)
    finally:
        holder.kill()
        holder.wait()
    AuditLog(path).close()  # free again once the holder is gone


def test_concurrent_appends_share_fsyncs_and_keep_the_chain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "audit.jsonl"
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.01)  # a disk's fsync: callers pile up behind it
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    threads, per_thread, results = 16, 10, []
    lock = threading.Lock()
    with AuditLog(path) as log:
        def worker(k: int) -> None:
            for i in range(per_thread):
                entry = log.append({"request_id": f"t{k}-{i}"})
                with lock:
                    results.append(entry)

        pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        fsyncs = log.fsyncs
    total = threads * per_thread
    assert fsyncs < total / 2  # group commit: many appends per fsync
    res = verify_log(path)
    assert res.ok and res.records == total
    assert sorted(e["seq"] for e in results) == list(range(total))
    on_disk = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["seq"] for e in on_disk] == list(range(total))
