"""Helpers for the compiler tests: trained trees (cached) and a golden-model runner."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from forest.datasets import Dataset, load_dataset
from forest.train import train_mlp
from forest.trees import MLPTree
from nfcore.compiler import CoreProgram
from nfcore.config import CoreConfig
from nfcore.golden import CoreState


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
