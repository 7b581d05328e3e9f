"""The audit log: one JSON line per request, hash-chained, appended durably.

Each line is the canonical JSON (sorted keys, no spaces, UTF-8, no NaN) of one object::

    {"seq": i, "prev_sha256": <sha256 of record i-1>, "record": {...}, "sha256": <its own>}

`sha256` is the SHA-256 (hex) of the canonical JSON of the object without its `sha256` key;
`prev_sha256` of record 0 is `GENESIS` (64 zeros). So a record whose content was edited no
longer matches its own `sha256` (the verifier names that line); a removed, inserted or
reordered record breaks `seq` or the chain at the first line after the change. Records are
numbered from 0; line numbers in messages count from 1.

What a chain cannot show on its own: that records were cut off the end, or that someone
rewrote a record and every hash after it. Both need an anchor kept elsewhere: the verifier
prints the head (last `sha256`) and the record count, and `--expect-head` checks them.

Durability: `AuditLog.append_batch` returns only after its lines are written (`os.write` on
an `O_APPEND` descriptor, no user-space buffer) and fsynced; a record is acknowledged only
after that. Callers that append at the same time share one write and one fsync (group
commit): the first becomes the leader and commits every batch queued behind it in one go, in
queue order, so `seq` order is file order. A process killed while writing leaves at most one
partial last line (no newline), which `verify_log` reports as a torn write and ignores; every
whole line before it still verifies. `AuditLog` opened on such a log verifies it and cuts the
torn tail off before appending.

Faults: if the write or the fsync fails (ENOSPC, EFBIG, EIO, ...) the file is truncated back
to the end of the last durable record and every batch of that group gets `AuditWriteError`
(it carries the errno name); nothing of it can reach the log later, and the next append
continues the chain from the last durable record. `healthy` is False from such a failure
until an append or a `probe` (room for `PROBE_BYTES` can be allocated) succeeds.

One writer: `AuditLog` holds an exclusive `flock` on a sibling `<log>.lock` file, which
holds the owner's pid, for its life; a second `AuditLog` on the same log (in any process)
fails with `AuditError` naming that pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nfcore.errors import NFCoreError

GENESIS = "0" * 64
KEYS = ("prev_sha256", "record", "seq", "sha256")
PROBE_BYTES = 64 * 1024
"""Room `AuditLog.probe` asks the file system for (an assumption: a few dozen records of a
few KiB each, one group commit's worth)."""


class AuditError(NFCoreError):
    """An audit log cannot be opened for appending (it fails verification, or another
    process holds it) or a record cannot be written (not JSON-serialisable)."""


class AuditWriteError(AuditError):
    """Appending failed in the operating system (disk full, file too large, I/O error); the
    log was cut back to its last durable record. `cause` is the errno name (e.g. ENOSPC)."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def canonical(obj: Any) -> str:
    """The one JSON text of `obj` that hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def record_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of `entry` without its `sha256` key."""
    body = {k: v for k, v in entry.items() if k != "sha256"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify_log`. `records` whole records verified before the first bad one."""

    path: Path
    ok: bool
    records: int
    head_sha256: str
    """`sha256` of the last good record (`GENESIS` if none)."""
    bad_line: int | None = None
    """1-based line number of the first bad record, or None."""
    problem: str = ""
    torn_bytes: int = 0
    """Bytes of a trailing partial line (a torn write) that were ignored; 0 if none."""
    good_bytes: int = 0
    """Bytes of the file up to the end of the last good record (its newline included)."""

    def message(self) -> str:
        """One line for a user."""
        torn = (f"; ignored a torn write at line {self.records + 1} ({self.torn_bytes} "
                "bytes, no newline: a writer stopped mid-record)") if self.torn_bytes else ""
        if self.ok:
            return (f"{self.path}: OK, {self.records} records, head sha256 "
                    f"{self.head_sha256}{torn}")
        return (f"{self.path}: line {self.bad_line}: {self.problem} ({self.records} records "
                f"before it verify)")


def verify_log(path: str | Path, expect_head: str | None = None,
               expect_records: int | None = None) -> VerifyResult:
    """Check every record of the log at `path`; stop at the first bad line.

    A missing file is an error (`AuditError`); an empty file is a valid log of 0 records.
    """
    p = Path(path)
    if not p.is_file():
        raise AuditError(f"{p}: no audit log here")
    data = p.read_bytes()
    prev, seq, offset = GENESIS, 0, 0

    def bad(line: int, problem: str) -> VerifyResult:
        return VerifyResult(p, False, seq, prev, line, problem, good_bytes=offset)

    while offset < len(data):
        end = data.find(b"\n", offset)
        line_no = seq + 1
        if end < 0:
            torn = len(data) - offset
            return _anchored(VerifyResult(p, True, seq, prev, torn_bytes=torn,
                                          good_bytes=offset), expect_head, expect_records)
        raw = data[offset:end]
        try:
            entry = json.loads(raw.decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return bad(line_no, f"not a JSON record ({exc})")
        if not isinstance(entry, dict) or set(entry) != set(KEYS):
            keys = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            return bad(line_no, f"not an audit record (keys {keys}, expected {list(KEYS)})")
        try:
            digest = record_hash(entry)
        except ValueError as exc:  # NaN or infinity smuggled in
            return bad(line_no, f"record is not canonical JSON ({exc})")
        if entry["sha256"] != digest:
            return bad(line_no, "record changed: its content does not match its sha256")
        if entry["seq"] != seq:
            return bad(line_no, f"seq is {entry['seq']!r}, expected {seq}: a record before "
                       "it was removed or inserted, or records were reordered")
        if entry["prev_sha256"] != prev:
            what = "the start of the log" if seq == 0 else f"line {line_no - 1}"
            return bad(line_no, f"chain broken: prev_sha256 does not match {what} (a record "
                       "was removed, inserted, reordered or rewritten)")
        prev, seq, offset = entry["sha256"], seq + 1, end + 1
    return _anchored(VerifyResult(p, True, seq, prev, good_bytes=offset), expect_head,
                     expect_records)


def _anchored(res: VerifyResult, expect_head: str | None,
              expect_records: int | None) -> VerifyResult:
    if expect_records is not None and res.records != expect_records:
        return VerifyResult(res.path, False, res.records, res.head_sha256, res.records + 1,
                            f"log ends after {res.records} records, expected "
                            f"{expect_records}: records were cut off the end",
                            res.torn_bytes, res.good_bytes)
    if expect_head is not None and res.head_sha256 != expect_head:
        return VerifyResult(res.path, False, res.records, res.head_sha256, res.records,
                            f"head sha256 {res.head_sha256} is not the expected {expect_head}",
                            res.torn_bytes, res.good_bytes)
    return res


@dataclass(eq=False)
class _Batch:
    """One caller's records waiting in the group-commit queue, and their outcome."""

    records: Sequence[Mapping[str, Any]]
    done: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)
    error: AuditError | None = None


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "EIO")


class AuditLog:
    """An append-only audit log file with one writer (this object) at a time. Thread-safe:
    concurrent `append_batch` calls are group-committed in arrival order.

    `on_fsync(seconds)` is called after each successful fsync (for metrics).
    """

    def __init__(self, path: str | Path,
                 on_fsync: Callable[[float], None] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd = _take_lock(self.lock_path, self.path)
        try:
            self._open()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self.on_fsync = on_fsync
        self.healthy = True
        self.last_error = ""
        """Why the last append failed (empty while healthy)."""
        self.fsyncs = 0
        self._queue: list[_Batch] = []
        self._writing = False
        self._cv = threading.Condition()

    def _open(self) -> None:
        self.recovered_torn_bytes = 0
        """Bytes of a torn last line cut off when the log was opened."""
        if self.path.exists():
            res = verify_log(self.path)
            if not res.ok:
                raise AuditError(f"refusing to append to {self.path}: {res.message()}")
            if res.torn_bytes:
                with open(self.path, "r+b") as f:
                    f.truncate(res.good_bytes)
                    os.fsync(f.fileno())
                self.recovered_torn_bytes = res.torn_bytes
            self._seq, self._head, self._offset = res.records, res.head_sha256, res.good_bytes
        else:
            self._seq, self._head, self._offset = 0, GENESIS, 0
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    @property
    def records(self) -> int:
        """Durable records in the log."""
        return self._seq

    @property
    def head_sha256(self) -> str:
        return self._head

    def request_ids(self) -> list[str]:
        """The `request_id` of every durable record that has one, in log order."""
        with open(self.path, "rb") as f:
            data = f.read(self._offset)
        ids = (json.loads(line)["record"].get("request_id") for line in data.splitlines())
        return [i for i in ids if isinstance(i, str)]

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append one record durably; return its entry (seq, prev_sha256, sha256)."""
        return self.append_batch([record])[0]

    def append_batch(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Append `records` in order, durably (written and fsynced) before returning; return
        their entries (seq, prev_sha256, record, sha256, and `record_json`: the record's
        canonical JSON as written).

        Raises `AuditError` (and writes nothing) if a record is not JSON-serialisable, and
        `AuditWriteError` (nothing of these records stays in the file) if the write fails.
        """
        batch = _Batch(records)
        with self._cv:
            self._queue.append(batch)
            while not batch.done:
                if self._writing:
                    self._cv.wait()
                    continue
                group, self._queue, self._writing = self._queue, [], True
                self._cv.release()
                try:
                    self._commit(group)
                except BaseException as exc:  # a bug, not an OS fault: fail the group loudly
                    for b in group:
                        if not b.done:
                            b.error, b.done = AuditError(f"audit append failed: {exc!r}"), True
                    raise
                finally:
                    self._cv.acquire()
                    self._writing = False
                    self._cv.notify_all()
        if batch.error is not None:
            raise batch.error
        return batch.entries

    def _commit(self, group: list[_Batch]) -> None:
        """Chain, write and fsync `group` (the leader, outside the condition's lock)."""
        seq, prev = self._seq, self._head
        chunks, written = [], []
        for b in group:
            try:
                lines: list[bytes] = []
                entries: list[dict[str, Any]] = []
                for rec in b.records:
                    i, before = seq + len(entries), entries[-1]["sha256"] if entries else prev
                    # canonical({"prev_sha256", "record", "seq"}) spelled out (keys sorted),
                    # so the record is serialised once and its text handed back
                    rec_json = canonical(rec)
                    body = f'{{"prev_sha256":"{before}","record":{rec_json},"seq":{i}}}'
                    digest = hashlib.sha256(body.encode()).hexdigest()
                    lines.append(f'{body[:-1]},"sha256":"{digest}"}}\n'.encode())
                    entries.append({"seq": i, "prev_sha256": before, "record": dict(rec),
                                    "sha256": digest, "record_json": rec_json})
            except (TypeError, ValueError) as exc:
                b.error = AuditError(f"audit record {seq + len(entries)} cannot be written as "
                                     f"JSON: {exc}")
                b.done = True
                continue
            chunks.extend(lines)
            b.entries = entries
            written.append(b)
            if entries:
                seq, prev = seq + len(entries), entries[-1]["sha256"]
        data = b"".join(chunks)
        try:
            _write_all(self._fd, data)
            t0 = time.perf_counter()
            os.fsync(self._fd)
            fsync_s = time.perf_counter() - t0
        except OSError as exc:
            self._fail(written, exc)
            return
        self.fsyncs += 1
        self._seq, self._head, self._offset = seq, prev, self._offset + len(data)
        self.healthy, self.last_error = True, ""
        if self.on_fsync is not None:
            self.on_fsync(fsync_s)
        for b in written:
            b.done = True

    def _fail(self, group: list[_Batch], exc: OSError) -> None:
        """Cut the file back to the last durable record and fail every batch of `group`."""
        cause = _errno_name(exc)
        # if this fails too, the next append's write fails the same way and cuts again
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, self._offset)
            os.fsync(self._fd)
        self.healthy = False
        self.last_error = f"{self.path}: append failed: {cause} ({exc.strerror})"
        for b in group:
            b.entries, b.done = [], True
            b.error = AuditWriteError(f"audit log not written, request not recorded: "
                                      f"{self.last_error}", cause)

    def probe(self) -> bool:
        """Whether the log can take `PROBE_BYTES` more now (allocated, then cut back);
        updates `healthy`. Waits for a commit in progress."""
        with self._cv:
            while self._writing:
                self._cv.wait()
            try:
                os.posix_fallocate(self._fd, self._offset, PROBE_BYTES)
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    self.healthy = False
                    self.last_error = (f"{self.path}: no room for {PROBE_BYTES} bytes: "
                                       f"{_errno_name(exc)} ({exc.strerror})")
                    return False
            finally:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._offset)
            self.healthy, self.last_error = True, ""
            return True

    def close(self) -> None:
        with self._cv:
            if self._fd >= 0:
                os.close(self._fd)
                os.close(self._lock_fd)
                self._fd = self._lock_fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _take_lock(lock_path: Path, log: Path) -> int:
    """An exclusive flock on `lock_path` (created if absent) with our pid written in it;
    `AuditError` naming the holder's pid if another open file holds it."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise AuditError(f"audit log {log} is in use by process {holder} (lock "
                         f"{lock_path}); stop that server or use another --audit file") \
            from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
