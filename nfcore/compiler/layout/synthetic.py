"""Seeded synthetic placement workloads: MLP trees and a clustered top-k router.

The router is modelled the way a trained one behaves: the input space falls into clusters
of related trees (the forced specialization of the forest); a request belongs to one
cluster, picked with Zipf popularity, and selects `k` distinct trees, each from its own
cluster with probability `p_in_cluster` and otherwise from the whole forest. Within a
cluster, trees have Dirichlet popularity. Tree indices are shuffled so that clusters are
not contiguous in index order (a placer cannot profit from index order).

Everything is a function of `seed`; 10,000 trees generate in well under a second.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from nfcore.compiler.layout.input import LayerShape, LayoutInput, RouterStats, TreeShape
from nfcore.compiler.layout.partition import PartSizer
from nfcore.errors import CompileError

IN_FEATURES = (16, 32, 64, 128, 256)
HIDDEN = (16, 32, 64, 128)
OUT_FEATURES = (2, 4, 8, 10, 16)
BIG_IN = (512, 1024)
BIG_HIDDEN = (256, 512, 1024)


def synthetic_layout_input(n_trees: int, *, seed: int = 0, k: int = 4, cluster_size: int = 16,
                       requests: int | None = None, p_in_cluster: float = 0.85,
                       big_tree_fraction: float = 0.01, zipf_s: float = 1.0,
                       sizer: PartSizer | None = None) -> LayoutInput:
    """A forest of `n_trees` MLP trees and router statistics of `requests` top-`k`
    requests (default `8 * n_trees`).

    `big_tree_fraction` of the trees are wide (512..1024 inputs, 256..1024 hidden) and
    usually exceed a 64 KiB core, so partitioning has work to do. Layer weight bytes are
    `sizer`'s packed sizes (default: 8 lanes, the ISA's MATVEC layout).
    """
    if n_trees < max(k, 2):
        raise CompileError(f"synthetic workload needs at least max(k, 2) = {max(k, 2)} trees")
    if cluster_size < 2:
        raise CompileError(f"cluster_size = {cluster_size} must be at least 2")
    sizer = sizer or PartSizer(lanes=8, acc_bytes=4)
    rng = np.random.default_rng(seed)
    trees = tuple(_tree(f"t{i:05d}", rng, big_tree_fraction, sizer) for i in range(n_trees))
    n_req = requests if requests is not None else 8 * n_trees
    selected = _route(rng, n_trees, n_req, k, cluster_size, p_in_cluster, zipf_s)
    return LayoutInput(trees=trees, stats=RouterStats.from_selections(selected, n_trees))


def _tree(name: str, rng: np.random.Generator, big_fraction: float,
          sizer: PartSizer) -> TreeShape:
    if rng.random() < big_fraction:
        widths = [int(rng.choice(BIG_IN)), int(rng.choice(BIG_HIDDEN))]
    else:
        widths = [int(rng.choice(IN_FEATURES))]
        widths += [int(rng.choice(HIDDEN)) for _ in range(int(rng.integers(1, 3)))]
    widths.append(int(rng.choice(OUT_FEATURES)))
    layers = tuple(
        LayerShape(rows=r, cols=c, weight_bytes=sizer.matvec_bytes(r, c))
        for c, r in zip(widths[:-1], widths[1:], strict=True)
    )
    return TreeShape(name=name, layers=layers)


def _route(rng: np.random.Generator, n_trees: int, n_req: int, k: int, cluster_size: int,
           p_in: float, zipf_s: float) -> npt.NDArray[np.int64]:
    """(n_req, k) distinct tree indices per request."""
    n_clusters = max(1, n_trees // cluster_size)
    # Tree at cluster-order position i is tree perm[i]; cluster c holds positions
    # bounds[c]..bounds[c+1]-1.
    perm = rng.permutation(n_trees)
    bounds = np.linspace(0, n_trees, n_clusters + 1).round().astype(np.int64)
    cluster_of_pos = np.repeat(np.arange(n_clusters), np.diff(bounds))
    within = rng.dirichlet(np.ones(n_trees))  # any positive weights; normalized per cluster
    block_sum = np.bincount(cluster_of_pos, weights=within, minlength=n_clusters)
    within = within / block_sum[cluster_of_pos]
    # Each cluster's weights sum to 1, so the running sum crosses c + u (0 <= u < 1)
    # inside cluster c: one searchsorted samples a tree of a given cluster.
    cum_within = np.cumsum(within)
    cluster_pop = 1.0 / np.arange(1, n_clusters + 1) ** zipf_s
    cluster_pop = rng.permutation(cluster_pop / cluster_pop.sum())
    cum_global = np.cumsum(cluster_pop[cluster_of_pos] * within)
    cum_global /= cum_global[-1]

    out = np.empty((n_req, k), dtype=np.int64)
    todo = np.arange(n_req)
    cluster = rng.choice(n_clusters, size=n_req, p=cluster_pop)
    for attempt in range(8):
        m = 3 * k
        c = cluster[todo][:, None]
        u = rng.random((todo.size, m))
        pos_in = np.searchsorted(cum_within, c + u, side="right")
        pos_in = np.clip(pos_in, bounds[c], bounds[c + 1] - 1)  # float round-off at edges
        pos_any = np.searchsorted(cum_global, rng.random((todo.size, m)), side="right")
        if attempt == 7:  # a last resort that always finds k distinct trees
            pos_any = np.stack([rng.permutation(n_trees)[:m] for _ in range(todo.size)])
            pos_in = pos_any
        pick_in = rng.random((todo.size, m)) < p_in
        cand = perm[np.where(pick_in, pos_in, np.minimum(pos_any, n_trees - 1))]
        first = _first_k_distinct(cand, k)
        ok = first[:, -1] >= 0
        out[todo[ok]] = first[ok]
        todo = todo[~ok]
        if todo.size == 0:
            break
    return out


def _first_k_distinct(cand: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """Per row, the first `k` distinct values in order; rows with fewer end in -1."""
    order = np.argsort(cand, axis=1, kind="stable")
    srt = np.take_along_axis(cand, order, axis=1)
    dup_sorted = np.zeros_like(srt, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    dup = np.zeros_like(dup_sorted)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    keep = ~dup
    rank = np.cumsum(keep, axis=1)
    out = np.full((cand.shape[0], k), -1, dtype=np.int64)
    rows, cols = np.nonzero(keep & (rank <= k))
    out[rows, rank[rows, cols] - 1] = cand[rows, cols]
    return out
