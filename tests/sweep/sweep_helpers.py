"""Tiny sweep files for the sweep tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TINY_FOREST = {"dataset": "multitask", "tasks": 4, "epochs": 3, "seed": 0}


def write_sweep(folder: Path, parameters: dict[str, Any], **extra: Any) -> Path:
    """A sweep file of the tiny forest on 2x2 meshes with `parameters` varied."""
    data = {"name": "tiny", "forest": TINY_FOREST,
            "config": {"mesh": {"rows": 2, "cols": 2}},
            "simulation": {"requests": 60, "golden_requests": 10},
            "parameters": parameters, **extra}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
