"""Train a `NeuralForest` end to end: stem, partition, trees, router, then measure it.

Order: (1) pretrain the shared stem on all data and freeze it; (2) partition the training set
into R = n_trees / len(kinds) regions on the stem's output (or by task id); (3) train one tree
of each kind per region, all trees of a kind at once (`forest.fit`); (4) train the router on
the regions; (5) measure test accuracy (forest, each kind alone), parameters touched per
request, and specialization (each tree on its own region versus elsewhere).

Training is deterministic under `seed`: one torch generator drives every random draw, and
torch runs with `threads` intra-op threads (grouped matmuls split over the tree dimension, so
the thread count does not change the arithmetic; tests pin it anyway).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from forest.datasets import Dataset
from forest.errors import ForestError
from forest.fit import FitOptions, eval_members, fit_trees
from forest.forest import NeuralForest, TreeGroup
from forest.router import Router, fit_router, router_picks
from forest.specialize import Partition, Specialization, assign, make_partition
from forest.stem import SharedStem, StemSpec, pretrain_stem
from forest.train import single_thread
from forest.trees import KINDS, TreeSpec, init_params

AWAY_SAMPLES = 128
BALANCE_STEP = 4.0
MAX_BALANCE = 10.0
"""Largest load-balancing weight tried: far above the cross-entropy's own scale (about 1)."""
"""Test points from other regions each tree is scored on when measuring specialization."""


@dataclass(frozen=True)
class ForestOptions:
    """How to build a forest.

    kinds: tree kinds; each region gets one tree of each kind, so n_trees must be a multiple
      of len(kinds). tree_size: mlp hidden width, cnn channels, rnn hidden units.
    stem_width: shared stem output width (0: no stem, trees read raw inputs); stem_kernel:
      its kernel over steps for sequence inputs. overlap: border width (`forest.specialize`).
    partition: "auto" (by task id when the data has tasks, else clustering), "cluster", "task".
    """

    n_trees: int = 8
    top_k: int = 2
    kinds: tuple[str, ...] = ("mlp",)
    tree_size: int = 16
    stem_width: int = 0
    stem_kernel: int = 3
    overlap: float = 0.25
    partition: str = "auto"
    fit: FitOptions = field(default_factory=FitOptions)
    stem_fit: FitOptions = field(default_factory=lambda: FitOptions(epochs=30))
    router_steps: int = 300
    router_lr: float = 1e-2
    router_balance: float = 0.01
    """Weight of the router's load-balancing loss (`forest.router.balance_loss`; 0.01 is the
    Switch Transformer's; 0 turns it off). While a region's trees serve no training row,
    `train_forest` multiplies it by `BALANCE_STEP` and retrains the router, up to
    `MAX_BALANCE`; the weight used is `forest.meta["router_balance"]`."""
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        bad = [k for k in self.kinds if k not in KINDS]
        if not self.kinds or bad or len(set(self.kinds)) != len(self.kinds):
            raise ForestError(f"kinds {self.kinds} must be distinct names among {KINDS}")
        if self.n_trees < 1 or self.n_trees % len(self.kinds):
            raise ForestError(f"--trees {self.n_trees} must be a positive multiple of the "
                              f"{len(self.kinds)} tree kinds {', '.join(self.kinds)}")
        if not 1 <= self.top_k <= self.n_trees:
            raise ForestError(f"--top-k {self.top_k} must be between 1 and --trees "
                              f"{self.n_trees}")
        if self.partition not in ("auto", "cluster", "task"):
            raise ForestError(f"partition {self.partition!r} must be auto, cluster or task")
        if self.router_balance < 0:
            raise ForestError(f"router_balance = {self.router_balance} must be >= 0")
        if self.tree_size < 1 or self.stem_width < 0 or self.threads < 1:
            raise ForestError(f"tree_size, threads >= 1 and stem_width >= 0: {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tree_spec(kind: str, feature_shape: tuple[int, ...], n_classes: int, size: int) -> TreeSpec:
    """A tree of `kind` reading `feature_shape`: mlp hidden (size,); cnn one convolution of
    `size` channels (kernel 3 or the length, stride 1); rnn an Elman cell of `size` units."""
    if kind in ("cnn", "rnn") and len(feature_shape) != 2:
        raise ForestError(f"{kind} trees need sequence inputs (length, channels); this data "
                          f"gives rows of shape {feature_shape}: use --kinds mlp")
    if kind == "mlp":
        return TreeSpec("mlp", feature_shape, n_classes, hidden=(size,))
    if kind == "cnn":
        return TreeSpec("cnn", feature_shape, n_classes,
                        convs=((size, min(3, feature_shape[0]), 1),))
    return TreeSpec("rnn", feature_shape, n_classes, rnn_hidden=size)


@dataclass
class ForestReport:
    """Measured figures of a trained forest (accuracies are test-set fractions)."""

    accuracy: float
    kind_accuracy: dict[str, float]
    params_per_tree: dict[str, int]
    params_touched: float
    kind_params_touched: dict[str, float]
    shared_params: int
    router_train_accuracy: float
    specialization: Specialization
    train_seconds: float
    region_sizes: list[int]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "specialization"}
        d["specialization"] = self.specialization.to_dict()
        return d


def train_forest(data: Dataset, opts: ForestOptions,
                 quiet: bool = True) -> tuple[NeuralForest, ForestReport]:
    """Train a forest on data.x_train and measure it on data.x_test."""
    with single_thread():
        torch.set_num_threads(opts.threads)
        t0 = time.perf_counter()
        forest, partition, router_acc = _train(data, opts, quiet)
        seconds = time.perf_counter() - t0
        report = evaluate(forest, data, partition, router_acc, seconds, opts.seed)
    forest.meta.update({"dataset": data.name, "n_train": len(data.x_train),
                        "n_test": len(data.x_test), "n_tasks": data.n_tasks,
                        "torch_version": torch.__version__, "options": opts.to_dict(),
                        "partition_mode": partition.mode, "report": report.to_dict()})
    return forest, report


def _train(data: Dataset, opts: ForestOptions,
           quiet: bool) -> tuple[NeuralForest, Partition, float]:
    gen = torch.Generator().manual_seed(opts.seed)
    x = torch.from_numpy(np.array(data.x_train, dtype=np.float32)).reshape(-1, *data.shape)
    y = torch.from_numpy(np.array(data.y_train, dtype=np.int64))
    stem: SharedStem | None = None
    if opts.stem_width > 0:
        kernel = min(opts.stem_kernel, data.shape[0]) if len(data.shape) == 2 else 1
        stem = pretrain_stem(StemSpec(data.shape, opts.stem_width, kernel), x, y,
                             data.n_classes, opts.stem_fit, gen, quiet)
        with torch.no_grad():
            feats = stem(x)
    else:
        feats = x
    n_regions = opts.n_trees // len(opts.kinds)
    emb = feats.reshape(len(feats), -1)
    use_task = opts.partition == "task" or (opts.partition == "auto"
                                            and data.task_train is not None)
    if opts.partition == "task" and data.task_train is None:
        raise ForestError(f"partition 'task' needs a dataset with tasks; {data.name} has none")
    partition = make_partition(emb, n_regions, overlap=opts.overlap, seed=opts.seed,
                               task=data.task_train if use_task else None)
    groups = []
    for i, kind in enumerate(opts.kinds):
        spec = tree_spec(kind, tuple(feats.shape[1:]), data.n_classes, opts.tree_size)
        params = fit_trees(spec, init_params(spec, n_regions, gen), feats, y, partition.members,
                           partition.counts, opts.fit, gen, desc=f"{kind} trees", quiet=quiet)
        groups.append(TreeGroup(spec, params, i * n_regions))
    router, router_acc, balance = _train_router(emb, partition, len(opts.kinds), opts, gen,
                                                quiet)
    forest = NeuralForest(input_shape=data.shape, n_classes=data.n_classes, stem=stem,
                          router=router, groups=groups, top_k=opts.top_k,
                          input_scaling=data.scaling)
    forest.meta["router_balance"] = balance
    return forest, partition, router_acc


def _train_router(emb: torch.Tensor, partition: Partition, n_kinds: int, opts: ForestOptions,
                  gen: torch.Generator, quiet: bool) -> tuple[Router, float, float]:
    """The router trained from the centroid rule, its training accuracy, and the smallest
    load-balancing weight (`opts.router_balance`, times `BALANCE_STEP` per retry, up to
    `MAX_BALANCE`) under which every region is the most likely one of some training row."""
    n_regions = partition.n_regions
    balance = opts.router_balance
    while True:
        router = Router(emb.shape[1], torch.arange(n_regions).repeat(n_kinds))
        router.init_from_centroids(partition.centroids)
        acc = fit_router(router, emb, partition.label, steps=opts.router_steps,
                         lr=opts.router_lr, gen=gen, balance=balance, quiet=quiet)
        served = len(set(router_picks(router, emb).tolist()))
        if served == n_regions or balance == 0 or balance * BALANCE_STEP > MAX_BALANCE:
            return router, acc, balance
        balance *= BALANCE_STEP


def evaluate(forest: NeuralForest, data: Dataset, partition: Partition, router_acc: float,
             seconds: float, seed: int) -> ForestReport:
    """Test accuracy, parameters touched, and specialization of a trained forest."""
    pred = forest.predict(data.x_test)
    acc = float(np.mean(pred.labels == data.y_test))
    kind_acc, kind_touched = {}, {}
    for kind in forest.kinds:
        n_kind = sum(g.size for g in forest.groups if g.spec.kind == kind)
        # One kind: its trees are the forest's, so the forest's prediction is the kind's.
        p = pred if len(forest.kinds) == 1 else forest.predict(
            data.x_test, k=min(forest.top_k, n_kind), kind=kind)
        kind_acc[kind] = float(np.mean(p.labels == data.y_test))
        kind_touched[kind] = forest.params_touched(p.trees)
    return ForestReport(
        accuracy=acc, kind_accuracy=kind_acc,
        params_per_tree={g.spec.kind: g.spec.n_parameters for g in forest.groups},
        params_touched=forest.params_touched(pred.trees), kind_params_touched=kind_touched,
        shared_params=forest.shared_n_parameters, router_train_accuracy=router_acc,
        specialization=measure_specialization(forest, data, partition, seed),
        train_seconds=seconds, region_sizes=[int(c) for c in partition.counts])


def measure_specialization(forest: NeuralForest, data: Dataset, partition: Partition,
                           seed: int) -> Specialization:
    """Each tree's test accuracy on its own region versus on `AWAY_SAMPLES` points elsewhere.

    Test points get their own region as training points did (task id, or nearest centroid).
    """
    feats = forest.features(data.x_test)
    y = torch.from_numpy(np.array(data.y_test, dtype=np.int64))
    region = assign(partition, feats.reshape(len(feats), -1), data.task_test)
    order = torch.argsort(region, stable=True)
    counts = torch.bincount(region, minlength=partition.n_regions)
    starts = torch.cumsum(counts, 0) - counts
    width = max(1, int(counts.max()))
    home = order[(starts[:, None] + torch.arange(width)[None, :]).clamp_max(len(order) - 1)]
    home_valid = torch.arange(width)[None, :] < counts[:, None]
    gen = torch.Generator().manual_seed(seed)
    away = torch.randint(len(y), (partition.n_regions, AWAY_SAMPLES), generator=gen)
    away_valid = region[away] != torch.arange(partition.n_regions)[:, None]
    homes, aways = [], []
    tree_region = forest.router.tree_region
    for g in forest.groups:
        r = tree_region[g.first:g.first + g.size]
        homes.append(eval_members(g.spec, g.params, feats, y, home[r], home_valid[r]))
        aways.append(eval_members(g.spec, g.params, feats, y, away[r], away_valid[r]))
    return Specialization(torch.cat(homes).double().numpy(), torch.cat(aways).double().numpy())
