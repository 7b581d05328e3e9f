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

Durability: `AuditLog.append_batch` writes its lines and then flushes and fsyncs the file
once, before returning; a record is acknowledged only after that. A process killed while
writing leaves at most one partial last line (no newline), which `verify_log` reports as a
torn write and ignores; every whole line before it still verifies. `AuditLog` opened on
such a log verifies it and cuts the torn tail off before appending.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfcore.errors import NFCoreError

GENESIS = "0" * 64
KEYS = ("prev_sha256", "record", "seq", "sha256")


class AuditError(NFCoreError):
    """An audit log cannot be opened for appending (it fails verification) or a record
    cannot be written (not JSON-serialisable)."""


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


class AuditLog:
    """An append-only audit log file. Thread-safe: appends are serialised by a lock, so
    the chain follows file order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recovered_torn_bytes = 0
        """Bytes of a torn last line cut off when the log was opened."""
        if self.path.exists():
            res = verify_log(self.path)
            if not res.ok:
                raise AuditError(f"refusing to append to {self.path}: {res.message()}")
            if res.torn_bytes:
                with open(self.path, "r+b") as f:
                    f.truncate(res.good_bytes)
                    f.flush()
                    os.fsync(f.fileno())
                self.recovered_torn_bytes = res.torn_bytes
            self._seq, self._head = res.records, res.head_sha256
        else:
            self._seq, self._head = 0, GENESIS
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the log's life
        self._lock = threading.Lock()

    @property
    def records(self) -> int:
        return self._seq

    @property
    def head_sha256(self) -> str:
        return self._head

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append one record durably; return its entry (seq, prev_sha256, sha256)."""
        return self.append_batch([record])[0]

    def append_batch(self, records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Append `records` in order, then flush and fsync once; return their entries.

        Raises `AuditError` (and writes nothing) if a record is not JSON-serialisable.
        """
        with self._lock:
            seq, prev = self._seq, self._head
            entries, lines = [], []
            for rec in records:
                entry: dict[str, Any] = {"seq": seq, "prev_sha256": prev, "record": dict(rec)}
                try:
                    entry["sha256"] = record_hash(entry)
                    lines.append(canonical(entry).encode() + b"\n")
                except (TypeError, ValueError) as exc:
                    raise AuditError(f"audit record {seq} cannot be written as JSON: {exc}") \
                        from None
                entries.append(entry)
                seq, prev = seq + 1, entry["sha256"]
            self._file.write(b"".join(lines))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._seq, self._head = seq, prev
            return entries

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
