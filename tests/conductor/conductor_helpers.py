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

    def raw_test(self, n: int | None = None) -> np.ndarray:
        """The first `n` test rows in the data's own units (digits pixels, integers 0..16):
        what a user sends. The dataset keeps them standardized; the forest's scaling
        undoes that (to the integers, up to float rounding)."""
        scaling = self.forest.input_scaling
        assert scaling is not None
        z = self.data.x_test[:n].astype(np.float64)
        return np.rint(z * scaling.std + scaling.mean)
