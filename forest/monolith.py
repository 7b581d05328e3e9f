"""The monolithic baseline: one dense network on the same data, sized to match the forest.

Reports compare the forest and the monolith at equal accuracy, so `size_monolith` trains
monoliths on a ladder of widths (smallest first) and keeps the first whose test accuracy
reaches the target (the forest's). Both accuracies are on the same test split, and the sizing
reads that split too: the monolith is matched on it, not tuned against it. If no width on the
ladder reaches the target, the most accurate one tried is kept (the narrowest of equals) and
`matched` is False.

Shapes by kind (width w): mlp Linear-ReLU-Linear-ReLU-Linear with hidden (w, w); cnn one
convolution of w channels (kernel 3, stride 1) then a w-wide hidden layer; rnn an Elman cell
of w units then the classifier. The monolith reads the raw inputs (no shared stem).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from forest.datasets import Dataset
from forest.errors import ForestError
from forest.fit import FitOptions, fit_trees
from forest.trees import TreeModule, TreeSpec, build_tree, init_params

WIDTH_LADDER: tuple[int, ...] = (2, 4, 8, 16, 32, 64, 128, 256, 512)
MONOLITH_FIT = FitOptions(epochs=60, batch_size=64)
"""60 passes over the whole training set (a tree gets 80 over its region, a few times smaller)."""


def monolith_spec(kind: str, input_shape: tuple[int, ...], n_classes: int,
                  width: int) -> TreeSpec:
    """The monolith of `kind` and `width` (see the module docstring)."""
    if kind == "mlp":
        return TreeSpec("mlp", input_shape, n_classes, hidden=(width, width))
    if kind == "cnn":
        k = min(3, input_shape[0])
        return TreeSpec("cnn", input_shape, n_classes, hidden=(width,), convs=((width, k, 1),))
    if kind == "rnn":
        return TreeSpec("rnn", input_shape, n_classes, rnn_hidden=width)
    raise ForestError(f"unknown monolith kind {kind!r}; choose mlp, cnn or rnn")


def train_single(spec: TreeSpec, data: Dataset, options: FitOptions,
                 seed: int, quiet: bool = True) -> tuple[TreeModule, float]:
    """Train one network of `spec` on all of data.x_train; return it and its test accuracy."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(np.array(data.x_train, dtype=np.float32))
    y = torch.from_numpy(np.array(data.y_train, dtype=np.int64))
    params = fit_trees(spec, init_params(spec, 1, gen), x.reshape(len(x), *spec.input_shape),
                       y, torch.arange(len(x))[None, :], torch.tensor([len(x)]), options, gen,
                       desc=f"{spec.kind} w", quiet=quiet)
    tree = build_tree(spec, {k: v[0] for k, v in params.items()})
    with torch.no_grad():
        logits = tree(torch.from_numpy(np.array(data.x_test, dtype=np.float32)))
    acc = float(np.mean(logits.argmax(1).numpy() == data.y_test))
    return tree, acc


@dataclass
class MonolithResult:
    """The chosen monolith and every rung tried: (width, test accuracy, parameters)."""

    spec: TreeSpec
    tree: TreeModule
    accuracy: float
    target_accuracy: float
    matched: bool
    tried: list[tuple[int, float, int]] = field(default_factory=list)

    @property
    def n_parameters(self) -> int:
        return self.spec.n_parameters

    def to_dict(self) -> dict[str, object]:
        return {"spec": self.spec.to_dict(), "accuracy": self.accuracy,
                "target_accuracy": self.target_accuracy, "matched": self.matched,
                "n_parameters": self.n_parameters,
                "tried": [{"width": w, "accuracy": a, "n_parameters": p}
                          for w, a, p in self.tried]}


def size_monolith(data: Dataset, kind: str, target_accuracy: float, options: FitOptions,
                  seed: int, widths: tuple[int, ...] = WIDTH_LADDER,
                  quiet: bool = True) -> MonolithResult:
    """The narrowest monolith on `widths` whose test accuracy >= target_accuracy."""
    if not widths:
        raise ForestError("the monolith width ladder is empty")
    best: MonolithResult | None = None
    tried: list[tuple[int, float, int]] = []
    for width in tqdm(widths, desc="monolith sizing", disable=quiet, unit="width"):
        spec = monolith_spec(kind, data.shape, data.n_classes, width)
        tree, acc = train_single(spec, data, options, seed)
        tried.append((width, acc, spec.n_parameters))
        if best is None or acc > best.accuracy:
            best = MonolithResult(spec, tree, acc, target_accuracy, acc >= target_accuracy,
                                  tried)
        if best.matched:
            break
    assert best is not None
    return best
