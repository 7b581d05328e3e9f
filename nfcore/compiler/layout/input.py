"""The placement input: trees with their sizes, and the router's co-selection statistics.

This is a small, hardware-neutral description that partitioning, residency and placement
read; the forest package and the lowering fill it in (`TreeShape` from a tree's layer shapes
and packed sizes, `RouterStats` from the router's top-k choices on a calibration set).

Units: sizes are bytes; frequencies are per request (a fraction of calibration requests).

Invariants (checked by `LayoutInput`, which raises `CompileError` naming the tree or pair):
* every tree has at least one layer, consecutive layers chain (`cols` of layer i+1 equals
  `rows` of layer i), and every layer's `weight_bytes` is positive;
* `freq[t]` is in [0, 1] and sums to at most `k` over the forest (each request selects at
  most `k` trees);
* co-selection pairs are `t < u`, unique, and `co_freq[e] <= min(freq[t], freq[u])`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfcore.errors import CompileError

ACT_BYTES = 1
"""Bytes per activation element on the network (int8 activations)."""


@dataclass(frozen=True)
class LayerShape:
    """One matrix-vector layer: `rows` outputs from `cols` inputs."""

    rows: int
    cols: int
    weight_bytes: int
    """Packed weight SRAM bytes of the whole layer (the compiler's size, headers included)."""


@dataclass(frozen=True)
class TreeShape:
    """One tree as placement sees it: a chain of layers."""

    name: str
    layers: tuple[LayerShape, ...]

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def in_bytes(self) -> int:
        """Bytes of the input vector the host sends when the tree is selected."""
        return self.layers[0].cols * ACT_BYTES

    @property
    def out_bytes(self) -> int:
        """Bytes of the output vector the tree returns."""
        return self.layers[-1].rows * ACT_BYTES


@dataclass(frozen=True, eq=False)
class RouterStats:
    """Routing statistics of a calibration set of `requests` requests, top-`k` each.

    `freq[t]` is the fraction of requests that select tree t; `pairs[e] = (t, u)` with
    `t < u` and `co_freq[e]` is the fraction of requests that select both (sparse: pairs
    never co-selected are absent).
    """

    k: int
    requests: int
    freq: npt.NDArray[np.float64]
    pairs: npt.NDArray[np.int64]
    co_freq: npt.NDArray[np.float64]

    @classmethod
    def from_selections(cls, selected: npt.ArrayLike, n_trees: int) -> RouterStats:
        """Statistics of a calibration run: `selected` is (requests, k) tree indices, the
        trees the router chose per request (distinct within a row)."""
        sel = np.asarray(selected, dtype=np.int64)
        if sel.ndim != 2 or sel.shape[0] == 0:
            raise CompileError(f"router selections must be (requests, k), got {sel.shape}")
        if sel.min() < 0 or sel.max() >= n_trees:
            raise CompileError(f"router selections name trees outside 0..{n_trees - 1}")
        srt = np.sort(sel, axis=1)
        if np.any(srt[:, 1:] == srt[:, :-1]):
            raise CompileError("router selections repeat a tree within one request")
        r, k = sel.shape
        freq = np.bincount(sel.ravel(), minlength=n_trees) / r
        iu, ju = np.triu_indices(k, 1)
        keys = srt[:, iu].ravel() * n_trees + srt[:, ju].ravel()
        uniq, counts = np.unique(keys, return_counts=True)
        pairs = np.stack([uniq // n_trees, uniq % n_trees], axis=1)
        return cls(k=k, requests=r, freq=freq, pairs=pairs, co_freq=counts / r)


@dataclass(frozen=True, eq=False)
class LayoutInput:
    """A forest to place: its trees and the router's statistics over them."""

    trees: tuple[TreeShape, ...]
    stats: RouterStats

    def __post_init__(self) -> None:
        _check_trees(self.trees)
        _check_stats(self.stats, len(self.trees))

    @property
    def weight_bytes(self) -> npt.NDArray[np.int64]:
        return np.array([t.weight_bytes for t in self.trees], dtype=np.int64)


def _check_trees(trees: Sequence[TreeShape]) -> None:
    if not trees:
        raise CompileError("the workload has no trees")
    names: set[str] = set()
    for t in trees:
        if t.name in names:
            raise CompileError(f"tree name {t.name!r} appears twice")
        names.add(t.name)
        if not t.layers:
            raise CompileError(f"tree {t.name!r} has no layers")
        for i, layer in enumerate(t.layers):
            if layer.rows < 1 or layer.cols < 1 or layer.weight_bytes < 1:
                raise CompileError(
                    f"tree {t.name!r} layer {i}: rows, cols and weight_bytes must be positive, "
                    f"got {layer.rows}x{layer.cols}, {layer.weight_bytes} bytes"
                )
            if i and layer.cols != t.layers[i - 1].rows:
                raise CompileError(
                    f"tree {t.name!r} layer {i} takes {layer.cols} inputs but layer {i - 1} "
                    f"gives {t.layers[i - 1].rows}"
                )


def _check_stats(s: RouterStats, n_trees: int) -> None:
    if s.freq.shape != (n_trees,):
        raise CompileError(f"router freq has shape {s.freq.shape}, expected ({n_trees},)")
    if np.any(s.freq < 0) or np.any(s.freq > 1):
        raise CompileError("router freq must lie in [0, 1] (a fraction of requests)")
    if s.freq.sum() > s.k * (1 + 1e-9):
        raise CompileError(
            f"router freq sums to {s.freq.sum():.4g} but each request selects at most "
            f"k = {s.k} trees"
        )
    if s.pairs.ndim != 2 or s.pairs.shape[1] != 2 or s.pairs.shape[0] != s.co_freq.shape[0]:
        raise CompileError("router pairs must be (n, 2) with one co_freq per pair")
    if s.pairs.size:
        t, u = s.pairs[:, 0], s.pairs[:, 1]
        if np.any(t >= u) or t.min() < 0 or u.max() >= n_trees:
            raise CompileError(f"router pairs must be (t, u) with 0 <= t < u < {n_trees}")
        if np.unique(t * n_trees + u).size != t.size:
            raise CompileError("router pairs repeat a pair")
        bad = np.flatnonzero(s.co_freq > np.minimum(s.freq[t], s.freq[u]) + 1e-12)
        if bad.size:
            e = int(bad[0])
            raise CompileError(
                f"router pair ({t[e]}, {u[e]}) is co-selected in {s.co_freq[e]:.4g} of "
                f"requests, more than either tree is selected"
            )
