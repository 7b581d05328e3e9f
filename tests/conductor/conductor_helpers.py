"""Shared by the Conductor tests (fixtures are in conftest.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from forest.datasets import Dataset
from forest.forest import NeuralForest

MONOLITH_PARAMS = 5000
"""Recorded as the monolith's size in the test forest's manifest (no monolith is trained)."""


@dataclasses.dataclass(frozen=True)
class SavedForest:
    folder: Path
    forest: NeuralForest
    data: Dataset
    calib: np.ndarray
    """Stem features of training rows."""
