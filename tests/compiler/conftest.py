"""Fixtures for the compiler tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from compiler_helpers import Trained, train_saved_forest, trained_tree


@pytest.fixture(params=["wine", "digits"])
def trained(request: pytest.FixtureRequest) -> Trained:
    """A tree trained on wine, then on digits (each trained once per session)."""
    return trained_tree(request.param)


@pytest.fixture(scope="session")
def forest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved digits forest of 2 cnn, 2 mlp and 2 rnn trees on a shared stem."""
    return train_saved_forest(tmp_path_factory.mktemp("forest") / "mixed",
                              ("cnn", "mlp", "rnn"), 6)
