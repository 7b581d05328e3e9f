"""Energy tables with swept rows: a copy of the base table with some values replaced.

The copy keeps every row's source and marks the replaced rows as assumptions whose reason
names the sweep and the original value, so a report of such a point is honest about it. The
file name is the hash of its content, so equal replacements share one file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from nfcore.sim.cost.energy import EnergyTable


def derived_table(base: str, rows: dict[str, float], folder: Path, sweep: str) -> Path:
    """Write (once) the table `base` with `rows` replaced into `folder`; return its path."""
    table = EnergyTable.load(base)
    data: dict[str, Any] = yaml.safe_load(table.path.read_text())
    for raw in data["rows"]:
        if raw["name"] in rows:
            old = raw["value"]
            raw["value"] = rows[raw["name"]]
            raw["assumption"] = True
            raw["reason"] = (f"swept by sweep {sweep!r}: {rows[raw['name']]:g} {raw['unit']} "
                             f"replaces the table's {old:g}")
    data["name"] = f"{table.name}-swept"
    text = yaml.safe_dump(data, sort_keys=False)
    path = folder / f"{table.name}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    EnergyTable.load(str(path))  # the derived table must still be a valid table
    return path


def table_digest(name_or_path: str) -> str:
    """Hash of a table's content: points are keyed by it, not by the file's location."""
    return hashlib.sha256(EnergyTable.load(name_or_path).path.read_bytes()).hexdigest()[:16]
