"""What `nfcore train` does: build a forest for a dataset, size its monolith, save, summarise.

Defaults per dataset (`PRESETS`) pick the tree kinds the issue assigns (digits: CNN, with MLP
trees beside them for comparison; sequence: RNN, with MLP; tabular sets and multitask: MLP;
multitask_seq: one MLP, one CNN and one RNN tree per task; the UCR/UEA sets: CNN and RNN),
the tree size, the shared stem, and the monolith's kind and (width, depth) ladder.
Command-line values override them. The monolith trains for at most as many passes as the
trees get (`--epochs` sets both), with early stopping on a validation split.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from forest.build import ForestOptions, ForestReport, train_forest
from forest.datasets import DATASETS, DEFAULT_TASKS, Dataset, load_dataset
from forest.errors import ForestError
from forest.fit import FitOptions
from forest.forest import NeuralForest
from forest.io import save_forest
from forest.monolith import LADDER, MonolithFit, MonolithResult, Rung, size_monolith
from forest.train import single_thread


@dataclass(frozen=True)
class Preset:
    """Forest options, the monolith's kind, and the (width, depth) rungs its sizing tries
    (smallest first)."""

    options: ForestOptions
    monolith_kind: str
    monolith_ladder: tuple[Rung, ...] = LADDER


# Tiny tabular sets: a region is a few dozen rows, so trees need many passes to converge
# (80 left iris's trees under-fitted); the monolith gets at most the same number of passes.
_TABULAR = ForestOptions(n_trees=3, top_k=1, tree_size=4, overlap=0.5,
                         fit=FitOptions(epochs=300))

PRESETS: dict[str, Preset] = {
    "digits": Preset(ForestOptions(n_trees=8, top_k=2, kinds=("cnn", "mlp"), tree_size=16,
                                   stem_width=16), "cnn"),
    # The monolith is a CNN: on raw sequences it beats an Elman network of the same width.
    "sequence": Preset(ForestOptions(n_trees=8, top_k=2, kinds=("rnn", "mlp"), tree_size=16,
                                     stem_width=16), "cnn"),
    "wine": Preset(_TABULAR, "mlp"),
    "breast_cancer": Preset(_TABULAR, "mlp"),
    "iris": Preset(_TABULAR, "mlp"),
    # UCR/UEA sequences (forest.ucr): CNN and RNN trees, one of each per region, a request
    # runs both of its region's trees; few rows per region, so many passes (as tabular).
    "basic_motions": Preset(ForestOptions(n_trees=4, top_k=2, kinds=("cnn", "rnn"),
                                          tree_size=8, fit=FitOptions(epochs=300)), "cnn"),
    "japanese_vowels": Preset(ForestOptions(n_trees=8, top_k=2, kinds=("cnn", "rnn"),
                                            tree_size=16, fit=FitOptions(epochs=300)), "cnn"),
    "multitask": Preset(ForestOptions(n_trees=DEFAULT_TASKS, top_k=1, tree_size=8), "mlp"),
    # One tree of each kind per task; a request runs all three of its task's trees (top-3),
    # since the kinds are best on different rule families (forest.synthetic.make_multitask_seq:
    # RNN on order, CNN and RNN on motifs, CNN and MLP on position rules). No
    # stem: its generalist would be trained on labels that mean something else in each task.
    # The monolith is the MLP (at equal width it beat the CNN and the RNN on this data). Its
    # ladder is three rungs, to keep `make sim` within a few minutes: none reaches the forest
    # (measured with early stopping at 96 tasks, validation/test accuracy: 16x1 0.42/0.42,
    # 64x1 0.46/0.46, 64x2 0.53/0.53, 256x2 0.59/0.61, 256x3 0.58/0.58; 256x2 alone trains
    # for about 3 minutes here), so the report reads the forest's accuracy off their curve.
    # overlap 0: a border would add rows of other tasks, whose rules differ, to every region.
    "multitask_seq": Preset(ForestOptions(n_trees=3 * DEFAULT_TASKS, top_k=3,
                                          kinds=("mlp", "cnn", "rnn"), tree_size=16,
                                          overlap=0.0, fit=FitOptions(epochs=200)),
                            "mlp", monolith_ladder=((16, 1), (64, 2), (256, 2))),
}

TASK_DATASETS: tuple[str, ...] = ("multitask", "multitask_seq")
"""Datasets made of tasks: unless --trees says otherwise, one tree of each kind per task."""
assert set(PRESETS) == set(DATASETS)


@dataclass
class TrainResult:
    forest: NeuralForest
    report: ForestReport
    monolith: MonolithResult | None
    data: Dataset
    folder: Path


def run_train(dataset: str, output: str | Path, *, trees: int | None = None,
              top_k: int | None = None, kinds: tuple[str, ...] | None = None,
              tree_size: int | None = None, epochs: int | None = None,
              tasks: int | None = None, seed: int = 0, monolith: bool = True,
              threads: int = 1, quiet: bool = False) -> TrainResult:
    """Train, size the monolith to the forest's accuracy, save to `output`; see the module.

    `tasks` (task datasets only) defaults to one task per region when `trees` is given
    (`trees / len(kinds)`, so `--trees 10000` makes 10,000 single-kind tasks), else to
    `DEFAULT_TASKS`.
    """
    if dataset not in PRESETS:
        raise ForestError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    preset = PRESETS[dataset]
    opts = preset.options
    changes: dict[str, Any] = {"seed": seed, "threads": threads}
    n_kinds = len(kinds or opts.kinds)
    if tasks is None:
        tasks = max(1, trees // n_kinds) if trees is not None else DEFAULT_TASKS
    if dataset in TASK_DATASETS and trees is None:
        changes["n_trees"] = tasks * n_kinds
    for key, value in (("n_trees", trees), ("top_k", top_k), ("kinds", kinds),
                       ("tree_size", tree_size)):
        if value is not None:
            changes[key] = value
    if epochs is not None:
        changes["fit"] = replace(opts.fit, epochs=epochs)
    opts = replace(opts, **changes)
    with single_thread():
        torch.set_num_threads(threads)
        return _run(dataset, output, preset, opts, tasks, seed, monolith, quiet)


def _run(dataset: str, output: str | Path, preset: Preset, opts: ForestOptions,
         tasks: int, seed: int, monolith: bool,
         quiet: bool) -> TrainResult:
    stages = tqdm(total=3 if monolith else 2, desc=f"train {dataset}", disable=quiet,
                  unit="stage")
    data = load_dataset(dataset, seed=seed, n_tasks=tasks)
    forest, report = train_forest(data, opts, quiet=quiet)
    stages.update()
    mono = None
    if monolith:
        mono = size_monolith(data, preset.monolith_kind, report.accuracy,
                             MonolithFit(max_epochs=opts.fit.epochs), seed,
                             ladder=preset.monolith_ladder, quiet=quiet)
        forest.meta["monolith"] = mono.to_dict()
        stages.update()
    folder = save_forest(forest, output)
    stages.update()
    stages.close()
    return TrainResult(forest, report, mono, data, folder)


def summary_table(result: TrainResult) -> str:
    """The table `nfcore train` prints: accuracy, parameters per tree, touched per request."""
    r, f, d = result.report, result.forest, result.data
    n_by_kind = {k: sum(g.size for g in f.groups if g.spec.kind == k) for k in f.kinds}
    lines = [
        f"{d.name}: {len(d.x_train)} train / {len(d.x_test)} test rows, {d.n_classes} classes; "
        f"{f.n_trees} trees ({', '.join(f'{n} {k}' for k, n in n_by_kind.items())}), "
        f"top-k {f.top_k}; shared stem + router {r.shared_params:,} params; "
        f"trained in {r.train_seconds:.1f} s",
        "",
        f"{'model':<28}{'test acc':>10}{'params/tree':>14}{'params touched/request':>25}",
    ]

    def row(name: str, acc: float, per_tree: str, touched: float) -> None:
        lines.append(f"{name:<28}{acc:>10.4f}{per_tree:>14}{touched:>25,.0f}")

    row(f"forest (top-{f.top_k})", r.accuracy, "", r.params_touched)
    for kind in f.kinds:
        k = min(f.top_k, n_by_kind[kind])
        row(f"  {kind} trees only (top-{k})", r.kind_accuracy[kind],
            f"{r.params_per_tree[kind]:,}", r.kind_params_touched[kind])
    m = result.monolith
    if m is not None:
        c = m.chosen
        row(f"monolith ({m.spec.kind}, {c.width}x{c.depth})", m.accuracy, "", m.n_parameters)
        note = "" if m.matched else (
            "  (NOT matched: reached on validation, not on test)" if m.reached_on_validation
            else "  (NOT matched: no rung reached the forest's accuracy)")
        ladder = ", ".join(f"{r.width}x{r.depth}: {r.val_accuracy:.4f}/{r.test_accuracy:.4f} "
                           f"({r.best_epoch}/{r.epochs} ep)" for r in m.tried)
        lines += ["", f"monolith ladder (width x depth: val/test acc, best/run epochs): "
                      f"{ladder}",
                  f"touched per request, forest / monolith: "
                  f"{r.params_touched / m.n_parameters:.3f}{note}"]
    s = r.specialization
    lines.append(f"specialization: tree accuracy on its own region {s.mean_home:.3f} vs "
                 f"elsewhere {s.mean_away:.3f}; {s.better_at_home}/{s.measured} trees better "
                 f"at home (partition: {f.meta.get('partition_mode')})")
    lines.append(f"saved to {result.folder}/")
    return "\n".join(lines)
