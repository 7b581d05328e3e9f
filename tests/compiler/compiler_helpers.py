"""Helpers for the compiler tests: trained trees (cached) and a golden-model runner."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from forest.datasets import Dataset, load_dataset
from forest.export import ConvLayer, ElmanCell, TreeExport
from forest.train import train_mlp
from forest.trees import MLPTree
from nfcore.compiler import CoreProgram
from nfcore.config import CoreConfig
from nfcore.golden.core import CoreState


@dataclass(frozen=True)
class Trained:
    data: Dataset
    tree: MLPTree
    float_acc: float


@cache
def trained_tree(name: str) -> Trained:
    """The (32,)-hidden MLP trained on `name` with seed 0, trained once per session."""
    torch.set_num_threads(1)
    data = load_dataset(name, seed=0)
    tree, acc = train_mlp(data, hidden=(32,), seed=0)
    return Trained(data, tree, acc)


def run_golden(prog: CoreProgram, core: CoreConfig,
               x_int: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Outputs (n, output_len) and cycles of each input row, run on one golden core."""
    state = CoreState(core)
    state.load_weights(prog.weights, addr=prog.weight_addr)
    state.load_program(prog.program)
    outs, cycles = [], []
    for x in x_int:
        state.write_vector(prog.input_addr, x)
        result = state.run()
        outs.append(state.read_vector(prog.output_addr, prog.output_len))
        cycles.append(result.cycles)
    return np.stack(outs), cycles


def random_dense(rng: np.random.Generator, widths: list[int]) -> list[tuple]:
    """Float dense layers widths[0] -> ... -> widths[-1]: ReLU on all but the last."""
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        w = rng.normal(scale=1 / np.sqrt(a), size=(b, a)).astype(np.float32)
        bias = rng.normal(scale=0.1, size=b).astype(np.float32)
        layers.append((w, bias, i < len(widths) - 2))
    return layers


def random_tree(rng: np.random.Generator, kind: str, small: bool = False) -> TreeExport:
    """A tree of `kind` with random float weights and random shapes (most not multiples of
    the lanes); `small` keeps every dimension under 12."""
    top = 12 if small else 40
    classes = int(rng.integers(2, 11))
    if kind == "mlp":
        widths = [int(w) for w in rng.integers(1, top, size=int(rng.integers(2, 5)))]
        return TreeExport(kind="mlp", input_shape=(widths[0],),
                          head=random_dense(rng, [*widths, classes]))
    if kind == "cnn":
        length, ch = int(rng.integers(12, 30)), int(rng.integers(1, 6))
        convs, n = [], length
        for _ in range(int(rng.integers(1, 3))):
            k, stride = int(rng.integers(1, 4)), int(rng.integers(1, 3))
            out = int(rng.integers(2, 11))
            if n < k:
                break
            convs.append(ConvLayer(
                rng.normal(scale=1 / np.sqrt(k * ch), size=(out, ch, k)).astype(np.float32),
                rng.normal(scale=0.1, size=out).astype(np.float32), stride))
            n, ch = (n - k) // stride + 1, out
        hidden = int(rng.integers(3, top))
        return TreeExport(kind="cnn", input_shape=(length, convs[0].weight.shape[1]),
                          convs=convs, head=random_dense(rng, [n * ch, hidden, classes]))
    steps, n_in, hid = int(rng.integers(2, 16)), int(rng.integers(1, 10)), int(rng.integers(2, top))
    w = rng.normal(scale=1.0 / np.sqrt(n_in + hid), size=(hid, n_in + hid)).astype(np.float32)
    cell = ElmanCell(w, rng.normal(scale=0.1, size=hid).astype(np.float32), n_in, hid)
    head = random_dense(rng, [hid, classes] if rng.integers(2) else [hid, 7, classes])
    return TreeExport(kind="rnn", input_shape=(steps, n_in), cell=cell, head=head)


def tree_inputs(rng: np.random.Generator, tree: TreeExport, n: int) -> np.ndarray:
    return rng.normal(size=(n, *tree.input_shape))


def train_saved_forest(folder: Path, kinds: tuple[str, ...], n_trees: int,
                       seed: int = 0) -> Path:
    """A small digits forest (tree size 16, short training), saved to `folder`."""
    from forest.build import ForestOptions, train_forest
    from forest.fit import FitOptions
    from forest.io import save_forest

    torch.set_num_threads(1)
    quick = FitOptions(epochs=10, min_steps=30)
    opts = ForestOptions(n_trees=n_trees, top_k=2, kinds=kinds, tree_size=16, stem_width=6,
                         fit=quick, stem_fit=quick, router_steps=50, seed=seed)
    forest, _ = train_forest(load_dataset("digits"), opts)
    return save_forest(forest, folder)
