"""Finished points in SQLite, one row per point keyed by the hash of its inputs.

Each point is committed as soon as it finishes, so a killed sweep loses at most the points
that were running; a rerun reads the keys and skips them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    idx INTEGER NOT NULL,
    params TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT,
    error TEXT,
    seconds REAL NOT NULL,
    finished_unix REAL NOT NULL
)
"""


@dataclass(frozen=True)
class StoredPoint:
    key: str
    index: int
    params: dict[str, Any]
    config: dict[str, Any]
    status: str
    """"ok" or "error"."""
    metrics: dict[str, Any]
    error: str
    seconds: float
    finished_unix: float


class ResultStore:
    """The sweep's SQLite file. Only the process that runs the sweep writes it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute(_SCHEMA)
        self._db.commit()

    def finished_keys(self, include_failed: bool = True) -> set[str]:
        sql = "SELECT key FROM points" + ("" if include_failed else " WHERE status = 'ok'")
        return {k for (k,) in self._db.execute(sql)}

    def put(self, key: str, sweep: str, index: int, params: dict[str, Any],
            config: dict[str, Any], outcome: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, sweep, index, json.dumps(params), json.dumps(config), outcome["status"],
             json.dumps(outcome.get("metrics")), outcome.get("error", ""),
             float(outcome.get("seconds", 0.0)), time.time()))
        self._db.commit()

    def get(self, keys: list[str]) -> list[StoredPoint]:
        """The stored points of `keys` that exist, in the order of `keys`."""
        found: dict[str, StoredPoint] = {}
        for row in self._db.execute("SELECT * FROM points"):
            if row[0] in keys:
                found[row[0]] = StoredPoint(row[0], row[2], json.loads(row[3]),
                                            json.loads(row[4]), row[5],
                                            json.loads(row[6]) or {}, row[7] or "",
                                            row[8], row[9])
        return [found[k] for k in keys if k in found]

    def close(self) -> None:
        self._db.close()
