"""Small forests trained once per session (a few seconds), shared by the forest tests."""

from __future__ import annotations

import pytest
import torch
from forest_helpers import QUICK

from forest.build import ForestOptions, train_forest
from forest.datasets import Dataset, load_dataset
from forest.forest import NeuralForest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    # Tiny ops on 2 threads of a shared machine spend their time waiting for each other.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="session")
def mixed_forest(digits: Dataset) -> NeuralForest:
    """Digits: shared conv stem, 3 CNN + 3 MLP trees (3 regions), top-2."""
    opts = ForestOptions(n_trees=6, top_k=2, kinds=("cnn", "mlp"), tree_size=6, stem_width=6,
                         fit=QUICK, stem_fit=QUICK, router_steps=50)
    forest, _ = train_forest(digits, opts)
    return forest
