"""`NeuralForest`: shared stem, router, and groups of same-shape trees, run on the host.

A request x goes: stem (once per request; optional) -> router scores -> top-k trees -> each
picked tree's logits -> confidence-weighted average of their class probabilities. Trees of
one `TreeSpec` form a `TreeGroup` with stacked parameters, and inference gathers the
(request, tree) pairs of a group into one padded batch [active trees, M, ...] and runs it as
grouped matrix multiplies, so the cost does not grow with a Python loop over trees.

Tree ids are global and contiguous per group: group g holds ids offset .. offset + size - 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from forest.errors import ForestError
from forest.router import ROW_BLOCK, Router, average, top_k
from forest.scaling import InputScaling
from forest.stem import SharedStem
from forest.trees import TreeModule, TreeSpec, batched_forward, build_tree


@dataclass
class TreeGroup:
    """Trees of one spec: params[name] is [n, *shape]; they are tree ids first .. first+n-1."""

    spec: TreeSpec
    params: dict[str, torch.Tensor]
    first: int

    @property
    def size(self) -> int:
        return int(next(iter(self.params.values())).shape[0])

    def tree_params(self, local: int) -> dict[str, torch.Tensor]:
        return {k: v[local] for k, v in self.params.items()}


@dataclass(frozen=True)
class Prediction:
    """probs [N, C] class probabilities; trees [N, k] picked tree ids; weights [N, k]."""

    probs: torch.Tensor
    trees: torch.Tensor
    weights: torch.Tensor

    @property
    def labels(self) -> npt.NDArray[np.int64]:
        return self.probs.argmax(1).numpy().astype(np.int64)


class NeuralForest:
    """A trained forest. `input_shape` is the row shape; `top_k` the default k.

    The forest reads standardized rows (`predict`, `features`); `input_scaling` (None for a
    forest loaded from a folder saved before it was kept) is how raw rows were standardized
    for training, for runtimes that take rows in the data's own units.
    """

    def __init__(self, *, input_shape: tuple[int, ...], n_classes: int, stem: SharedStem | None,
                 router: Router, groups: list[TreeGroup], top_k: int,
                 meta: dict[str, Any] | None = None,
                 input_scaling: InputScaling | None = None) -> None:
        self.input_shape = tuple(input_shape)
        self.input_scaling = input_scaling
        n_features = int(np.prod(self.input_shape))
        if input_scaling is not None and input_scaling.n_features != n_features:
            raise ForestError(f"input scaling has {input_scaling.n_features} features, rows "
                              f"of shape {list(self.input_shape)} have {n_features}")
        self.n_classes = n_classes
        self.stem = stem
        self.router = router
        self.groups = groups
        self.top_k = top_k
        self.meta: dict[str, Any] = dict(meta or {})
        first = 0
        for g in groups:
            if g.first != first:
                raise ForestError(f"tree groups must hold contiguous ids; group at {g.first} "
                                  f"should start at {first}")
            if g.spec.input_shape != self.feature_shape or g.spec.n_classes != n_classes:
                raise ForestError(f"tree spec {g.spec} does not read features of shape "
                                  f"{self.feature_shape} into {n_classes} classes")
            first += g.size
        if first != len(router.tree_region):
            raise ForestError(f"router knows {len(router.tree_region)} trees, "
                              f"the groups hold {first}")
        if not 1 <= top_k <= first:
            raise ForestError(f"top_k = {top_k} must be between 1 and the {first} trees")

    # -- structure --------------------------------------------------------------------------
    @property
    def n_trees(self) -> int:
        return sum(g.size for g in self.groups)

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """What the trees read: the stem's output shape, or the raw input shape."""
        return self.stem.spec.out_shape if self.stem is not None else self.input_shape

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.spec.kind for g in self.groups))

    def tree_kinds(self) -> list[str]:
        return [g.spec.kind for g in self.groups for _ in range(g.size)]

    def tree_n_parameters(self) -> torch.Tensor:
        """Parameters of each tree [T]."""
        return torch.tensor([g.spec.n_parameters for g in self.groups for _ in range(g.size)])

    @property
    def shared_n_parameters(self) -> int:
        """Parameters every request touches: the stem and the router."""
        stem = self.stem.n_parameters if self.stem is not None else 0
        return stem + sum(p.numel() for p in self.router.parameters())

    def group_of(self, tree_id: int) -> tuple[TreeGroup, int]:
        for g in self.groups:
            if g.first <= tree_id < g.first + g.size:
                return g, tree_id - g.first
        raise ForestError(f"tree {tree_id} out of range 0 .. {self.n_trees - 1}")

    def tree(self, tree_id: int) -> TreeModule:
        """Tree `tree_id` as a one-tree module (for export to the compiler)."""
        g, local = self.group_of(tree_id)
        return build_tree(g.spec, g.tree_params(local))

    # -- inference --------------------------------------------------------------------------
    def features(self, x: torch.Tensor | npt.NDArray[np.floating]) -> torch.Tensor:
        """The shared per-request features [N, *feature_shape], computed once per request."""
        xt = torch.as_tensor(np.array(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) \
            else x.float()
        xt = xt.reshape(len(xt), *self.input_shape)
        with torch.no_grad():
            return self.stem(xt) if self.stem is not None else xt

    def route(self, feats: torch.Tensor, k: int | None = None,
              kind: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Picked tree ids [N, k] and weights [N, k] (k defaults to `top_k`); `kind`
        restricts the pick to trees of that kind."""
        allowed = None
        if kind is not None:
            if kind not in self.kinds:
                raise ForestError(f"this forest has no {kind!r} trees; it has {self.kinds}")
            allowed = torch.tensor([t == kind for t in self.tree_kinds()])
        emb = feats.reshape(len(feats), -1)
        picks = []
        with torch.no_grad():
            for i in range(0, len(emb), ROW_BLOCK):
                scores = self.router.tree_scores(emb[i:i + ROW_BLOCK])
                picks.append(top_k(scores, self.top_k if k is None else k, allowed))
        if not picks:
            return top_k(torch.zeros(0, self.n_trees), self.top_k if k is None else k, allowed)
        return torch.cat([t for t, _ in picks]), torch.cat([w for _, w in picks])

    def tree_logits(self, feats: torch.Tensor, trees: torch.Tensor) -> torch.Tensor:
        """Logits [N, k, C] of tree trees[n, j] on request n, batched per tree group."""
        n, k = trees.shape
        out = feats.new_zeros(n * k, self.n_classes)
        flat_tree = trees.reshape(-1)
        flat_req = torch.arange(n).repeat_interleave(k)
        with torch.no_grad():
            for g in self.groups:
                pos = torch.nonzero((flat_tree >= g.first) & (flat_tree < g.first + g.size))[:, 0]
                if len(pos) == 0:
                    continue
                active, inv = torch.unique(flat_tree[pos] - g.first, return_inverse=True)
                counts = torch.bincount(inv, minlength=len(active))
                order = torch.argsort(inv, stable=True)
                starts = torch.cumsum(counts, 0) - counts
                slot = torch.empty_like(inv)
                slot[order] = torch.arange(len(inv)) - starts[inv[order]]
                batch = feats.new_zeros(len(active), int(counts.max()), *self.feature_shape)
                batch[inv, slot] = feats[flat_req[pos]]
                params = {name: v[active] for name, v in g.params.items()}
                out[pos] = batched_forward(g.spec, params, batch)[inv, slot]
        return out.view(n, k, self.n_classes)

    def predict(self, x: torch.Tensor | npt.NDArray[np.floating], k: int | None = None,
                kind: str | None = None) -> Prediction:
        """Route, run the picked trees and average them (see `forest.router`)."""
        feats = self.features(x)
        trees, weights = self.route(feats, k, kind)
        probs = average(self.tree_logits(feats, trees), weights)
        return Prediction(probs, trees, weights)

    def accuracy(self, x: npt.NDArray[np.floating], y: npt.NDArray[np.integer],
                 k: int | None = None, kind: str | None = None) -> float:
        return float(np.mean(self.predict(x, k, kind).labels == np.asarray(y)))

    def params_touched(self, trees: torch.Tensor) -> float:
        """Mean parameters a request touches: stem + router + its picked trees."""
        per_tree = self.tree_n_parameters()
        return self.shared_n_parameters + float(per_tree[trees].sum(1).float().mean())
