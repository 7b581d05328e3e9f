"""The router: scores regions from the shared features, picks the top-k trees, averages them.

The router is one Linear layer (embedding E -> regions R), so it maps onto a micro-core as a
single MATVEC. It starts as the nearest-centroid rule, which is linear in the embedding:
argmin_r |e - c_r|^2 = argmax_r (2 c_r . e - |c_r|^2), and is then trained (after the
partition, on the partition's region labels) with cross-entropy plus the Switch
Transformer's load-balancing loss (`balance_loss`), so that every region's trees serve. A
tree's score is its region's router probability; trees of several kinds can share a region
(one tree per kind and region).

Predictive averaging: p(y | x) = sum over the k picked trees t of w_t * softmax(logits_t(x)),
with w_t = score_t / (sum of the k picked scores): the router's confidence, renormalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from forest.errors import ForestError
from forest.export import TreeExport

ROUTER_BATCH = 256
ROW_BLOCK = 1024
"""Requests scored per block, so [rows, trees] score matrices stay small at 10,000 trees."""


class Router(nn.Module):
    """Region scores of embeddings; `tree_region[t]` is the region of tree t."""

    tree_region: torch.Tensor

    def __init__(self, embed_dim: int, tree_region: torch.Tensor) -> None:
        super().__init__()
        if tree_region.ndim != 1 or len(tree_region) == 0:
            raise ForestError("a router needs a region for each of at least one tree")
        self.n_regions = int(tree_region.max()) + 1
        self.linear = nn.Linear(embed_dim, self.n_regions)
        self.register_buffer("tree_region", tree_region.long().clone())

    def init_from_centroids(self, centroids: torch.Tensor) -> None:
        """Make the router the nearest-centroid rule, scaled by the mean centroid norm."""
        scale = 1.0 / max(float(centroids.pow(2).sum(1).mean()), 1e-6)
        with torch.no_grad():
            self.linear.weight.copy_(2 * centroids * scale)
            self.linear.bias.copy_(-centroids.pow(2).sum(1) * scale)

    def forward(self, emb: torch.Tensor) -> torch.Tensor:
        """Region logits [N, R] of flattened embeddings [N, E]."""
        return self.linear(emb)

    def tree_scores(self, emb: torch.Tensor) -> torch.Tensor:
        """Each tree's score [N, T]: the router probability of its region."""
        return self.scores_of_logits(self.linear(emb))

    def scores_of_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Each tree's score [N, T] from region logits [N, R] (e.g. the int8 router's,
        dequantized): the softmax probability of its region."""
        return torch.softmax(logits, dim=1)[:, self.tree_region]

    def export(self) -> TreeExport:
        """The router as the compiler reads a tree: a one-layer mlp from the flattened
        embedding [E] to the region logits [R], no ReLU (`forest.export`)."""
        w = self.linear.weight.detach().numpy().astype("float32")
        b = self.linear.bias.detach().numpy().astype("float32")
        return TreeExport(kind="mlp", input_shape=(int(w.shape[1]),), head=[(w, b, False)])


def top_k(scores: torch.Tensor, k: int,
          allowed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best trees [N, k] and their weights [N, k] (rows sum to 1).

    `allowed` [T] bool restricts the pick to some trees (e.g. one tree kind). Ties go to the
    lower tree index, so routing is deterministic.
    """
    n_allowed = scores.shape[1] if allowed is None else int(allowed.sum())
    if not 1 <= k <= n_allowed:
        raise ForestError(f"top-k = {k} must be between 1 and the {n_allowed} trees available")
    if allowed is not None:
        scores = scores.masked_fill(~allowed[None, :], -1.0)
    order = _stable_top_k(scores, k)
    picked = scores.gather(1, order)
    total = picked.sum(1, keepdim=True)
    # A row whose k scores all underflow to 0 averages the k trees evenly.
    weights = torch.where(total > 0, picked / total.clamp_min(1e-30),
                          torch.full_like(picked, 1.0 / k))
    return order, weights


def _stable_top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices [N, k] of each row's k largest scores, best first, ties to the lower index.

    The same as a stable descending sort cut at k, in O(T) per row rather than O(T log T)
    (the sort dominated routing at 10,000 trees): `torch.topk` picks k; only rows where
    more than k scores reach the k-th value (a tie across the cut) are sorted in full.
    """
    vals, idx = torch.topk(scores, k, dim=1)
    tied = torch.nonzero((scores >= vals[:, -1:]).sum(1) > k)[:, 0]
    if len(tied):
        idx[tied] = torch.sort(scores[tied], dim=1, descending=True, stable=True).indices[:, :k]
    idx = idx.sort(dim=1).values
    by_score = torch.sort(scores.gather(1, idx), dim=1, descending=True, stable=True).indices
    return idx.gather(1, by_score)


def average(tree_logits: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Class probabilities [N, C] from the picked trees' logits [N, k, C] and weights [N, k]."""
    return (torch.softmax(tree_logits, dim=2) * weights[:, :, None]).sum(1)


def balance_loss(logits: torch.Tensor) -> torch.Tensor:
    """The load-balancing auxiliary loss of the Switch Transformer (Fedus, Zoph and Shazeer,
    "Switch Transformers", JMLR 2022, arXiv:2101.03961, eq. 4): R * sum_r f_r * P_r over
    the R regions, with f_r the share of the batch's rows whose most likely region is r
    (no gradient) and P_r the batch's mean router probability of r. It is 1 when both are
    uniform and grows to R when one region takes every row."""
    probs = torch.softmax(logits, dim=1)
    n_regions = logits.shape[1]
    share = torch.bincount(logits.argmax(1), minlength=n_regions).float() / len(logits)
    return n_regions * (share * probs.mean(0)).sum()


def fit_router(router: Router, emb: torch.Tensor, label: torch.Tensor, *, steps: int,
               lr: float, gen: torch.Generator, balance: float = 0.0,
               quiet: bool = True) -> float:
    """Train the router to predict each training point's region; return its train accuracy.

    Loss: cross-entropy on the region labels plus `balance` times `balance_loss` (forced
    specialization: a region that the labels alone would leave unused gets rows).
    Mini-batches of `ROUTER_BATCH` drawn with replacement from `gen`. With many regions and
    few steps, training can undo the centroid start (each step pushes down every region's
    logit); if the router it started from is more accurate on the training set and serves as
    many regions (`router_picks`), the starting weights are kept.
    """
    start = {k: v.clone() for k, v in router.state_dict().items()}
    start_acc = router_accuracy(router, emb, label)
    start_served = len(set(router_picks(router, emb).tolist()))
    opt = torch.optim.Adam(router.parameters(), lr=lr)
    for _ in tqdm(range(steps), desc="router", disable=quiet, unit="step", leave=False):
        idx = torch.randint(len(emb), (ROUTER_BATCH,), generator=gen)
        opt.zero_grad(set_to_none=True)
        _loss(router(emb[idx]), label[idx], balance).backward()
        opt.step()
    acc = router_accuracy(router, emb, label)
    if start_acc > acc and start_served >= len(set(router_picks(router, emb).tolist())):
        router.load_state_dict(start)
        return start_acc
    return acc


def _loss(logits: torch.Tensor, label: torch.Tensor, balance: float) -> torch.Tensor:
    loss = F.cross_entropy(logits, label)
    return loss + balance * balance_loss(logits) if balance > 0 else loss


def router_picks(router: Router, emb: torch.Tensor) -> torch.Tensor:
    """The most likely region [N] of each row, computed in row blocks."""
    with torch.no_grad():
        return torch.cat([router(emb[i:i + ROW_BLOCK]).argmax(1)
                          for i in range(0, len(emb), ROW_BLOCK)])


def router_accuracy(router: Router, emb: torch.Tensor, label: torch.Tensor) -> float:
    """Fraction of rows whose most likely region is `label`, computed in row blocks."""
    return float((router_picks(router, emb) == label).float().mean())
