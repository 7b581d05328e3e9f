"""Deterministic CPU training of trees.

Training runs single-threaded: the trees are small, so one thread is as fast as several,
and a fixed thread count makes float reductions, and so the trained weights, repeatable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from forest.datasets import Dataset
from forest.errors import ForestError
from forest.trees import MLPTree

DEFAULT_EPOCHS = 60
DEFAULT_BATCH_SIZE = 32
DEFAULT_LR = 3e-3
DEFAULT_WEIGHT_DECAY = 1e-4


@contextmanager
def single_thread() -> Iterator[None]:
    """Run the block with one torch intra-op thread, restoring the previous count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_mlp(
    dataset: Dataset,
    hidden: tuple[int, ...] = (32,),
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
) -> tuple[MLPTree, float]:
    """Train an `MLPTree` on `dataset.x_train` and return it with its test accuracy.

    Adam on cross-entropy with mini-batches shuffled by `seed`; the same arguments give the
    same weights bit for bit. Test accuracy is a fraction in [0, 1].
    """
    if epochs < 1 or batch_size < 1:
        raise ForestError(f"epochs = {epochs} and batch_size = {batch_size} must be >= 1")
    with single_thread():
        torch.manual_seed(seed)
        tree = MLPTree(dataset.n_features, tuple(hidden), dataset.n_classes)
        x = torch.from_numpy(np.array(dataset.x_train, dtype=np.float32))
        y = torch.from_numpy(np.array(dataset.y_train, dtype=np.int64))
        opt = torch.optim.AdamW(tree.parameters(), lr=lr, weight_decay=weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        gen = torch.Generator().manual_seed(seed)
        tree.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                opt.zero_grad(set_to_none=True)
                loss_fn(tree(x[idx]), y[idx]).backward()
                opt.step()
        tree.eval()
        acc = accuracy(tree, dataset.x_test, dataset.y_test)
    return tree, acc


def predict(tree: nn.Module, x: npt.NDArray[np.floating]) -> npt.NDArray[np.int64]:
    """Class ids (n,) of float inputs (n, in_features): the argmax of the logits."""
    with torch.no_grad():
        logits = tree(torch.from_numpy(np.array(x, dtype=np.float32)))  # a writable copy
    return logits.argmax(dim=1).numpy().astype(np.int64)


def accuracy(tree: nn.Module, x: npt.NDArray[np.floating], y: npt.NDArray[np.integer]) -> float:
    """Fraction of `x` that `tree` classifies as `y`."""
    return float(np.mean(predict(tree, x) == np.asarray(y)))
