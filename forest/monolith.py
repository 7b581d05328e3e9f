"""The monolithic baseline: one dense network on the same data, on a ladder of sizes.

Reports compare the forest and the monolith at equal accuracy. `size_monolith` trains one
monolith per rung of a ladder of (width, depth), smallest first. Each trains with early
stopping (`train_monolith`) on a validation split carved from the training split
(`validation_split`: `MonolithFit.val_fraction` of it, stratified by class); the test split is
never read while training or while choosing. The ladder stops at the first rung whose
validation accuracy reaches the target (the forest's float test accuracy); every rung tried
is then scored on the test split, and `matched` says whether the chosen rung's test accuracy
reaches the target. If no rung reaches it on validation, the rung with the best validation
accuracy is kept and `matched` is False; the reports then read the energy at the target off
the ladder's (accuracy, energy) curve (`nfcore.flows.forest_system`), labelled as
interpolated or extrapolated.

Shapes by kind (width w, depth d): mlp d hidden layers of w; cnn d convolutions of w
channels (kernel 3, stride 1) then a w-wide hidden layer; rnn an Elman cell of w units then
d - 1 hidden layers of w. The monolith reads the raw inputs (no shared stem).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from tqdm import tqdm

from forest.datasets import Dataset
from forest.errors import ForestError
from forest.trees import TreeModule, TreeSpec, batched_forward, build_tree, init_params

Rung = tuple[int, int]
"""(width, depth) of one monolith on the ladder."""

LADDER: tuple[Rung, ...] = ((4, 1), (8, 1), (16, 1), (32, 1), (32, 2), (64, 2), (128, 2),
                            (256, 2), (512, 2))


@dataclass(frozen=True)
class MonolithFit:
    """Training of one monolith: AdamW mini-batches over its training rows for at most
    `max_epochs` passes, stopping after `patience` passes without a better validation
    accuracy (the best pass's weights are kept)."""

    max_epochs: int = 200
    patience: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patience < 1 or self.batch_size < 1 or self.lr <= 0 \
                or not 0.0 < self.val_fraction < 1.0:
            raise ForestError(f"monolith training options out of range: {self}")


def monolith_spec(kind: str, input_shape: tuple[int, ...], n_classes: int,
                  width: int, depth: int = 2) -> TreeSpec:
    """The monolith of `kind`, `width` and `depth` (see the module docstring)."""
    if depth < 1:
        raise ForestError(f"monolith depth = {depth}; must be >= 1")
    if kind == "mlp":
        return TreeSpec("mlp", input_shape, n_classes, hidden=(width,) * depth)
    if kind == "cnn":
        k = min(3, input_shape[0])
        return TreeSpec("cnn", input_shape, n_classes, hidden=(width,),
                        convs=((width, k, 1),) * depth)
    if kind == "rnn":
        return TreeSpec("rnn", input_shape, n_classes, hidden=(width,) * (depth - 1),
                        rnn_hidden=width)
    raise ForestError(f"unknown monolith kind {kind!r}; choose mlp, cnn or rnn")


Split = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def validation_split(data: Dataset, fraction: float, seed: int) -> Split:
    """(x_fit, y_fit, x_val, y_val) from the training split alone, stratified by class
    (when every class has two rows or more), inputs shaped (rows, *data.shape)."""
    y = np.asarray(data.y_train)
    strat = y if np.bincount(y).min(initial=2) >= 2 else None
    idx_fit, idx_val = train_test_split(np.arange(len(y)), test_size=fraction,
                                        stratify=strat, random_state=seed)
    x = torch.from_numpy(np.array(data.x_train, dtype=np.float32)).reshape(-1, *data.shape)
    yt = torch.from_numpy(y.astype(np.int64))
    fit, val = torch.from_numpy(idx_fit), torch.from_numpy(idx_val)
    return x[fit], yt[fit], x[val], yt[val]


@dataclass(frozen=True)
class Trained:
    """One trained monolith: its spec, weights, validation accuracy at its best pass, and
    passes run (`epochs`) versus the best pass (`best_epoch`, 1-based)."""

    spec: TreeSpec
    tree: TreeModule
    val_accuracy: float
    epochs: int
    best_epoch: int


def train_monolith(spec: TreeSpec, split: Split, fit: MonolithFit, seed: int,
                   quiet: bool = True) -> Trained:
    """Train one network of `spec` on split's fit rows with early stopping on its
    validation rows (see `MonolithFit`)."""
    x, y, x_val, y_val = split
    gen = torch.Generator().manual_seed(seed)
    live = {k: v[0].clone().requires_grad_(True) for k, v in init_params(spec, 1, gen).items()}
    opt = torch.optim.AdamW(live.values(), lr=fit.lr, weight_decay=fit.weight_decay)
    best_acc, best_epoch, best = -1.0, 0, {k: v.detach().clone() for k, v in live.items()}
    epoch = 0
    for epoch in tqdm(range(1, fit.max_epochs + 1), desc=f"{spec.kind} monolith",
                      disable=quiet, unit="epoch", leave=False):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), fit.batch_size):
            idx = order[start:start + fit.batch_size]
            logits = _forward(spec, live, x[idx])
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(logits, y[idx]).backward()
            opt.step()
        with torch.no_grad():
            acc = float((_forward(spec, live, x_val).argmax(1) == y_val).float().mean())
        if acc > best_acc:
            best_acc, best_epoch = acc, epoch
            best = {k: v.detach().clone() for k, v in live.items()}
        elif epoch - best_epoch >= fit.patience:
            break
    return Trained(spec, build_tree(spec, best), best_acc, epoch, best_epoch)


def _forward(spec: TreeSpec, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return batched_forward(spec, {k: v[None] for k, v in params.items()}, x[None])[0]


def score_on_test(tree: TreeModule, data: Dataset) -> float:
    """Fraction of data's test rows that `tree` classifies correctly."""
    with torch.no_grad():
        logits = tree(torch.from_numpy(np.array(data.x_test, dtype=np.float32)))
    return float(np.mean(logits.argmax(1).numpy() == data.y_test))


@dataclass(frozen=True)
class RungResult:
    """One rung tried: its size, accuracies (validation, test) and training passes."""

    width: int
    depth: int
    n_parameters: int
    val_accuracy: float
    test_accuracy: float
    epochs: int
    best_epoch: int

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


@dataclass
class MonolithResult:
    """The chosen monolith and every rung tried, smallest first."""

    spec: TreeSpec
    tree: TreeModule
    accuracy: float
    """The chosen rung's test accuracy."""
    target_accuracy: float
    matched: bool
    """The chosen rung's test accuracy reaches the target."""
    reached_on_validation: bool
    tried: list[RungResult] = field(default_factory=list)
    trees: list[TreeModule] = field(default_factory=list)
    """Every rung's trained network, in `tried` order (not saved with the forest)."""

    @property
    def n_parameters(self) -> int:
        return self.spec.n_parameters

    @property
    def chosen(self) -> RungResult:
        return next(r for r in self.tried if r.n_parameters == self.n_parameters)

    def to_dict(self) -> dict[str, object]:
        return {"spec": self.spec.to_dict(), "accuracy": self.accuracy,
                "target_accuracy": self.target_accuracy, "matched": self.matched,
                "reached_on_validation": self.reached_on_validation,
                "n_parameters": self.n_parameters,
                "tried": [r.to_dict() for r in self.tried]}


def size_monolith(data: Dataset, kind: str, target_accuracy: float, fit: MonolithFit,
                  seed: int, ladder: tuple[Rung, ...] = LADDER,
                  quiet: bool = True) -> MonolithResult:
    """Train the ladder's rungs in order until one's validation accuracy reaches
    `target_accuracy`; see the module docstring."""
    if not ladder:
        raise ForestError("the monolith ladder is empty")
    split = validation_split(data, fit.val_fraction, seed)
    tried: list[RungResult] = []
    trained: list[Trained] = []
    for width, depth in tqdm(ladder, desc="monolith ladder", disable=quiet, unit="rung"):
        t = train_monolith(monolith_spec(kind, data.shape, data.n_classes, width, depth),
                           split, fit, seed, quiet)
        trained.append(t)
        tried.append(RungResult(width, depth, t.spec.n_parameters, t.val_accuracy,
                                score_on_test(t.tree, data), t.epochs, t.best_epoch))
        if t.val_accuracy >= target_accuracy:
            break
    reached = trained[-1].val_accuracy >= target_accuracy
    # Unreached: the best on validation (the first, hence the smallest, of equals).
    pick = len(trained) - 1 if reached else int(np.argmax([t.val_accuracy for t in trained]))
    acc = tried[pick].test_accuracy
    return MonolithResult(trained[pick].spec, trained[pick].tree, acc, target_accuracy,
                          acc >= target_accuracy, reached, tried,
                          [t.tree for t in trained])

