"""`nfcore sim --forest-trees`: how many tasks and trees the system section trains."""

from __future__ import annotations

import pytest

from nfcore.errors import ConfigError
from nfcore.flows.sim import SimOptions, forest_size


def test_forest_tasks_unless_trees_are_given() -> None:
    assert forest_size(SimOptions(forest_tasks=12)) == (None, 12)


def test_a_task_forest_rounds_trees_up_to_whole_tasks() -> None:
    # multitask_seq trains an mlp, a cnn and an rnn tree per task
    assert forest_size(SimOptions(forest_trees=10000)) == (None, 3334)
    assert forest_size(SimOptions(forest_trees=9, forest_dataset="multitask")) == (None, 9)


def test_other_datasets_take_the_tree_count() -> None:
    assert forest_size(SimOptions(forest_trees=40, forest_dataset="digits")) == (40, 96)


def test_no_trees_is_refused_naming_the_option() -> None:
    with pytest.raises(ConfigError, match="--forest-trees is 0; it must be at least 1"):
        forest_size(SimOptions(forest_trees=0))
