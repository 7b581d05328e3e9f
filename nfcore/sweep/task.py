"""One point as a worker receives it: plain data, light to import (a worker unpickles it
before it runs anything)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to run one point (picklable, no open handles)."""

    key: str
    index: int
    values: dict[str, Any]
    config: dict[str, Any]
    """Config mapping; `technology.energy_table` already points at a derived table when the
    point replaces table rows."""
    forest_entry: str
    """The forest cache entry's folder (`nfcore.sweep.forests`)."""
    simulation: dict[str, Any]
    forest_error: str = ""
    """Set when training this point's forest failed: the point fails with it."""
