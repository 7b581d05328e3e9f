"""Batched training of many same-shape trees, each on its own subset of the training set.

All trees of one `TreeSpec` train together: every step draws a mini-batch per tree from that
tree's members ([T, B] indices), runs `batched_forward` over the tree dimension, and sums the
trees' mean losses. Each tree's gradient is then the gradient of its own loss, and AdamW works
element-wise, so this is the same as training each tree alone on the same batches, without a
Python loop over trees.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm import tqdm

from forest.errors import ForestError
from forest.trees import TreeSpec, batched_forward

EVAL_CHUNK_TREES = 256
"""Trees evaluated per block by `eval_members`, to bound memory at 10,000 trees."""


@dataclass(frozen=True)
class FitOptions:
    """Optimiser settings: `epochs` passes over a tree's (mean) member count, batch per tree."""

    epochs: int = 80
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    min_steps: int = 200

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.min_steps < 0 or self.lr <= 0:
            raise ForestError(f"training options out of range: {self}")

    def steps(self, mean_members: float) -> int:
        per_epoch = max(1, int(-(-mean_members // self.batch_size)))
        return max(self.min_steps, self.epochs * per_epoch)


def fit_trees(spec: TreeSpec, params: dict[str, torch.Tensor], feats: torch.Tensor,
              y: torch.Tensor, members: torch.Tensor, counts: torch.Tensor,
              options: FitOptions, gen: torch.Generator, *, desc: str = "trees",
              quiet: bool = True) -> dict[str, torch.Tensor]:
    """Train T trees; return their trained stacked parameters (detached).

    params: [T, *shape] initial values; feats [N, *input_shape]; y [N] class ids;
    members [T, M] indices into feats, of which the first counts[t] of row t are tree t's.
    Batches are drawn with replacement from `gen`.
    """
    n_trees = members.shape[0]
    if bool((counts < 1).any()):
        raise ForestError("every tree needs at least one training point")
    live = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.AdamW(live.values(), lr=options.lr, weight_decay=options.weight_decay)
    steps = options.steps(float(counts.float().mean()))
    batch = options.batch_size
    for _ in tqdm(range(steps), desc=desc, disable=quiet, unit="step", leave=False):
        pos = (torch.rand(n_trees, batch, generator=gen) * counts[:, None]).long()
        idx = members.gather(1, pos.clamp_max(members.shape[1] - 1))
        logits = batched_forward(spec, live, feats[idx])
        loss = F.cross_entropy(logits.reshape(-1, spec.n_classes), y[idx].reshape(-1),
                               reduction="none").view(n_trees, batch).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {k: v.detach() for k, v in live.items()}


def eval_members(spec: TreeSpec, params: dict[str, torch.Tensor], feats: torch.Tensor,
                 y: torch.Tensor, idx: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Accuracy [T] of each tree t on feats[idx[t, valid[t]]]; NaN where it has no points."""
    correct = torch.zeros(idx.shape[0])
    with torch.no_grad():
        for s in range(0, idx.shape[0], EVAL_CHUNK_TREES):
            sl = slice(s, s + EVAL_CHUNK_TREES)
            chunk = {k: v[sl] for k, v in params.items()}
            pred = batched_forward(spec, chunk, feats[idx[sl]]).argmax(2)
            correct[sl] = ((pred == y[idx[sl]]) & valid[sl]).sum(1).float()
    n = valid.sum(1).float()
    return torch.where(n > 0, correct / n.clamp_min(1), torch.full_like(n, float("nan")))
