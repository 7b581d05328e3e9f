"""Per-feature importance of a prediction: gradient times input on the float forest.

For a request x (the row as sent, before scaling and the stem) whose served prediction is
class c, the importance of input feature i is

    x_i * d p_c(x) / d x_i,    p_c(x) = sum over picked trees t of w_t(x) softmax(f_t(s(z(x))))_c

where z is the forest's input scaling ((x - mean) / std; the identity for rows sent already
standardized), s is the shared stem, f_t the float tree, and w_t the router's renormalised
score of t (as `forest.router.average` computes it), with the picked set held fixed. It is
one backward pass through the stem, the router and the k picked trees: cheap, and it needs
no baseline input. It explains the float forest; the served class comes from the int8 trees
the backend ran, which agree with the float forest to within the quantization tolerance
measured in docs/compiler.md. Gradient x input is a first-order (local, linear) attribution:
for ReLU networks it is exact for the linear piece x lies on, not a global explanation.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from forest.router import Router
from forest.scaling import InputScaling
from forest.stem import SharedStem
from forest.trees import TreeModule, TreeSpec, batched_forward

METHOD = "gradient_x_input_float_forest"


def gradient_x_input(x: npt.NDArray[np.float32], picks: npt.NDArray[np.int64],
                     classes: npt.NDArray[np.int64], stem: SharedStem | None, router: Router,
                     trees: Mapping[int, TreeModule],
                     scaling: InputScaling | None = None, grouped: bool = True
                     ) -> npt.NDArray[np.float64]:
    """Importance (n, *x.shape[1:]) of each input feature for class `classes[r]` of row r;
    `picks` (n, k) are the trees row r was routed to, all of them in `trees`; `scaling`
    standardizes x first (None: x is standardized already). With `grouped`, trees of one
    shape (`TreeSpec`) run as one `forest.trees.batched_forward` (seed 002's grouped
    matmul; the same sums, in another order: float rounding differs in the last bits)."""
    xt = torch.tensor(np.asarray(x, dtype=np.float32), requires_grad=True)
    n = len(xt)
    with torch.enable_grad():
        z = xt
        if scaling is not None:
            mean = torch.as_tensor(scaling.mean, dtype=torch.float32).reshape(xt.shape[1:])
            std = torch.as_tensor(scaling.std, dtype=torch.float32).reshape(xt.shape[1:])
            z = (xt - mean) / std
        feats = stem(z) if stem is not None else z
        scores = router.tree_scores(feats.reshape(n, -1))
        picked = scores.gather(1, torch.as_tensor(picks, dtype=torch.long))
        weights = picked / picked.sum(1, keepdim=True).clamp_min(1e-30)
        target = torch.as_tensor(classes, dtype=torch.long)
        p = torch.zeros(n, dtype=torch.float32)
        groups: dict[Any, list[int]] = defaultdict(list)
        for t in np.unique(picks).tolist():
            spec = getattr(trees[t], "spec", None)
            groups[spec if spec is not None and grouped else ("alone", t)].append(t)
        for key, members in groups.items():
            if isinstance(key, TreeSpec):
                p = p + _grouped_contrib(key, members, trees, feats, picks, weights, target)
                continue
            (t,) = members
            rows_np, slots_np = np.nonzero(picks == t)
            rows = torch.as_tensor(rows_np, dtype=torch.long)
            probs = torch.softmax(trees[t](feats[rows]), dim=1)
            contrib = weights[rows, torch.as_tensor(slots_np)] * probs[
                torch.arange(len(rows)), target[rows]]
            p = p.index_add(0, rows, contrib)
        (grad,) = torch.autograd.grad(p.sum(), xt)
    return (xt.detach() * grad).double().numpy()


def _grouped_contrib(spec: TreeSpec, members: list[int], trees: Mapping[int, TreeModule],
                     feats: torch.Tensor, picks: npt.NDArray[np.int64],
                     weights: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """sum over the trees `members` (all of shape `spec`) of weight * p_class, per row (n,):
    the trees run as one `batched_forward` (grouped matmuls) on their rows, padded to the
    tree with the most rows (padding rows are masked out)."""
    picked = [np.nonzero(picks == t) for t in members]
    m = max(len(rows) for rows, _ in picked)
    idx = np.zeros((len(members), m), dtype=np.int64)
    slot = np.zeros((len(members), m), dtype=np.int64)
    mask = np.zeros((len(members), m), dtype=np.float32)
    for i, (rows, slots) in enumerate(picked):
        idx[i, :len(rows)], slot[i, :len(rows)], mask[i, :len(rows)] = rows, slots, 1.0
    rows_t, slot_t = torch.as_tensor(idx), torch.as_tensor(slot)
    params = {name: torch.stack([_parameters(trees[t])[name] for t in members])
              for name in spec.param_shapes()}
    logits = batched_forward(spec, params, feats[rows_t])  # (T, m, classes)
    probs = torch.softmax(logits, dim=2).gather(2, target[rows_t][..., None])[..., 0]
    contrib = weights[rows_t, slot_t] * probs * torch.as_tensor(mask)
    return torch.zeros(len(feats), dtype=contrib.dtype).index_add(
        0, rows_t.reshape(-1), contrib.reshape(-1))


_PARAMETERS: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, torch.Tensor]] = \
    weakref.WeakKeyDictionary()


def _parameters(tree: torch.nn.Module) -> dict[str, torch.Tensor]:
    """`tree`'s parameters by name, looked up once per tree (walking the module costs more
    than the grouped forward it feeds)."""
    found = _PARAMETERS.get(tree)
    if found is None:
        found = _PARAMETERS[tree] = dict(tree.named_parameters())
    return found
