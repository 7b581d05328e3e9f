"""Building forests: they specialize, beat one tree of their size on tasks, and repeat."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forest_helpers import QUICK

from forest.build import ForestOptions, train_forest, tree_spec
from forest.datasets import Dataset, load_dataset
from forest.errors import ForestError
from forest.fit import FitOptions
from forest.monolith import MonolithFit, train_monolith, validation_split


@pytest.fixture(scope="module")
def tasks() -> Dataset:
    return load_dataset("multitask", n_tasks=8, samples_per_task=80, seed=0)


def test_forest_beats_a_single_tree_of_the_same_size_on_multitask_data(tasks: Dataset) -> None:
    forest, report = train_forest(tasks, ForestOptions(n_trees=8, top_k=1, tree_size=8))
    assert report.accuracy == forest.accuracy(tasks.x_test, tasks.y_test)
    single_spec = tree_spec("mlp", tasks.shape, tasks.n_classes, 8)
    assert single_spec == forest.groups[0].spec  # same size as each tree
    single = train_monolith(single_spec, validation_split(tasks, 0.2, seed=0), MonolithFit(),
                            seed=0)
    single_acc = float(np.mean(single.tree(torch.from_numpy(np.array(tasks.x_test)))
                               .argmax(1).numpy() == tasks.y_test))
    assert report.accuracy > single_acc + 0.1, (report.accuracy, single_acc)
    # routing by the task code is what makes it work: the router finds the task
    assert report.router_train_accuracy > 0.99
    s = report.specialization
    assert s.measured == 8 and s.better_at_home == 8 and s.mean_home > s.mean_away + 0.3


def test_training_is_deterministic_under_a_seed(digits: Dataset) -> None:
    def build(seed: int) -> tuple[list[torch.Tensor], np.ndarray]:
        opts = ForestOptions(n_trees=4, top_k=2, kinds=("cnn", "mlp"), tree_size=4,
                             stem_width=4, fit=QUICK, stem_fit=QUICK, router_steps=20,
                             seed=seed)
        forest, _ = train_forest(digits, opts)
        tensors = [v for g in forest.groups for v in g.params.values()]
        tensors += [p.detach() for p in forest.router.parameters()]
        assert forest.stem is not None
        tensors.append(forest.stem.weight)  # type: ignore[arg-type]
        return tensors, forest.predict(digits.x_test).probs.numpy()

    a, pa = build(0)
    b, pb = build(0)
    c, _ = build(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    np.testing.assert_array_equal(pa, pb)
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_report_counts_parameters_and_kinds(mixed_forest, digits: Dataset) -> None:  # type: ignore[no-untyped-def]
    assert mixed_forest.kinds == ("cnn", "mlp") and mixed_forest.n_trees == 6
    assert mixed_forest.meta["partition_mode"] == "cluster"
    report = mixed_forest.meta["report"]
    per_tree = report["params_per_tree"]
    assert per_tree == {g.spec.kind: g.spec.n_parameters for g in mixed_forest.groups}
    # with top-2 over two kinds, a request touches stem + router + two trees
    lo = report["shared_params"] + 2 * min(per_tree.values())
    hi = report["shared_params"] + 2 * max(per_tree.values())
    assert lo <= report["params_touched"] <= hi
    assert report["kind_params_touched"]["cnn"] == report["shared_params"] + 2 * per_tree["cnn"]
    assert set(report["kind_accuracy"]) == {"cnn", "mlp"}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_trees": 5, "kinds": ("cnn", "mlp")}, "--trees 5 must be a positive multiple of the 2"),
    ({"n_trees": 4, "top_k": 5}, "--top-k 5 must be between 1 and --trees 4"),
    ({"kinds": ("gru",)}, "kinds \\('gru',\\) must be distinct names"),
    ({"partition": "random"}, "partition 'random'"),
])
def test_bad_options_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ForestError, match=message):
        ForestOptions(**kwargs)


def test_sequence_kinds_on_flat_data_are_refused() -> None:
    with pytest.raises(ForestError, match="cnn trees need sequence inputs"):
        train_forest(load_dataset("wine"), ForestOptions(n_trees=2, kinds=("cnn",)))
    with pytest.raises(ForestError, match="partition 'task' needs a dataset with tasks"):
        train_forest(load_dataset("wine"), ForestOptions(n_trees=2, partition="task"))


@pytest.fixture(scope="module")
def seq_tasks() -> Dataset:
    return load_dataset("multitask_seq", n_tasks=12, samples_per_task=256, seed=0)


def test_each_tree_kind_is_best_on_its_rule_family_and_the_mixed_forest_beats_each(
        seq_tasks: Dataset) -> None:
    from forest.synthetic import SEQ_FAMILIES

    opts = ForestOptions(n_trees=36, top_k=3, kinds=("mlp", "cnn", "rnn"), tree_size=16,
                         overlap=0.0, fit=FitOptions(epochs=200))
    forest, report = train_forest(seq_tasks, opts)
    assert forest.tree_kinds() == ["mlp"] * 12 + ["cnn"] * 12 + ["rnn"] * 12
    assert report.router_train_accuracy > 0.99
    assert seq_tasks.task_test is not None
    family = seq_tasks.task_test % 3
    acc = {}
    for kind in forest.kinds:
        right = forest.predict(seq_tasks.x_test, k=1, kind=kind).labels == seq_tasks.y_test
        acc[kind] = {SEQ_FAMILIES[f]: float(right[family == f].mean()) for f in range(3)}
    # order: the recurrent tree; position: the dense tree (or the CNN's dense head), not the
    # RNN; motif: the convolution or the RNN, which also reads a local pattern well.
    assert acc["rnn"]["order"] > max(acc["mlp"]["order"], acc["cnn"]["order"]) + 0.05, acc
    assert max(acc["mlp"]["position"], acc["cnn"]["position"]) > acc["rnn"]["position"] + 0.05
    assert acc["mlp"]["position"] > acc["rnn"]["position"], acc
    assert max(acc["cnn"]["motif"], acc["rnn"]["motif"]) > acc["mlp"]["motif"], acc
    assert report.accuracy > max(report.kind_accuracy.values()), report.kind_accuracy


def test_a_sequence_stem_gives_cnn_and_rnn_trees_sequence_features(seq_tasks: Dataset) -> None:
    opts = ForestOptions(n_trees=6, top_k=3, kinds=("mlp", "cnn", "rnn"), tree_size=4,
                         stem_width=5, stem_kernel=3, fit=QUICK, stem_fit=QUICK,
                         router_steps=20)
    forest, _ = train_forest(seq_tasks, opts)
    # (14 steps - kernel 3 + 1) x 5 stem channels; every tree reads that sequence
    assert forest.feature_shape == (12, 5)
    assert {g.spec.kind: g.spec.input_shape for g in forest.groups} == {
        "mlp": (12, 5), "cnn": (12, 5), "rnn": (12, 5)}
    assert forest.features(seq_tasks.x_test[:3]).shape == (3, 12, 5)
