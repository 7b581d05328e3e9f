"""A lower bound on the expected hop-bytes per request of any capacity-respecting placement.

The cost (`traffic`) is a linear part, `sum_p host_bytes[p] * host_hops(core_p)`, plus a
pairwise part, `sum_e edge_bytes[e] * hops(core_u, core_v)`. `lower_bound` is the larger
of two bounds: the sum of a lower bound of each part (the minimum of a sum is at least the
sum of the minima), and `coupled_bound`, which bounds both parts together (below).

Host part (`host_bound`). Relax parts to a fluid of weight bytes, each byte of part p
carrying `host_bytes[p] / part_bytes[p]` per hop. Filling cores in order of host hops with
the densest bytes first is optimal for the fluid problem (a transportation problem whose
cost is a product, so sorted matching is optimal), and every capacity-respecting placement
is a fluid placement. Parts without weight bytes cost their bytes at the nearest core.

Pairwise part (`pair_bound`), the larger of two bounds:
* Stars: for each part p, the bytes of its partners lie in rings around p's core: at most
  `cap - part_bytes[p]` bytes at 0 hops (p's own core) and at most `4 d` cores, `4 d * cap`
  bytes, at d hops (fewer at the mesh edge, so the rings over-estimate room, as a bound
  may). The fluid optimum of p's star (partners' bytes sorted by `edge_bytes / bytes`,
  densest nearest) bounds `sum_q edge_bytes[p, q] * hops(p, q)` from below; summing over
  all p counts every edge twice, hence the half.
* Pairs that cannot share a core: an edge whose two parts' bytes exceed `cap` costs at
  least 1 hop.

Both parts together (`coupled_bound`): the separate minima are reached by different
placements (the host terms want dense parts near the host, the pairwise terms want
co-selected parts together whatever their density). The triangle inequality on host hops,
`hops(u, v) >= |hh(u) - hh(v)|`, turns every edge into host weight moved between its two
parts, and a Lagrangian ascent over how much is moved bounds the sum (on the benchmark's
10,000 trees it is 11,250 against 10,594 for the separate bounds).
"""

from __future__ import annotations

import numpy as np

from nfcore.compiler.layout.traffic import FloatArray, PlacementProblem


def lower_bound(problem: PlacementProblem) -> float:
    """The larger of `host_bound + pair_bound` and `coupled_bound`: no capacity-respecting
    placement costs less."""
    return max(host_bound(problem) + pair_bound(problem), coupled_bound(problem))


def host_bound(problem: PlacementProblem) -> float:
    mesh = problem.mesh
    hh = np.sort(mesh.host_hops).astype(np.float64)
    w = problem.part_bytes.astype(np.float64)
    h = problem.host_bytes
    zero = w == 0
    bound = float(h[zero].sum() * hh[0])
    density = h[~zero] / w[~zero]
    order = np.argsort(-density, kind="stable")
    ws, ds = w[~zero][order], density[order]
    cap = float(mesh.cap_bytes)
    cum_hops = np.concatenate([[0.0], np.cumsum(hh * cap)])

    def integral(x: FloatArray) -> FloatArray:
        """Integral of host hops over the byte line 0..x (cores in hop order)."""
        core = np.minimum((x // cap).astype(np.int64), hh.size - 1)
        return cum_hops[core] + (x - core * cap) * hh[core]

    ends = np.cumsum(ws)
    bound += float(np.dot(ds, integral(ends) - integral(ends - ws)))
    return bound


def pair_bound(problem: PlacementProblem) -> float:
    if problem.edge_bytes.size == 0:
        return 0.0
    cap = float(problem.mesh.cap_bytes)
    n = problem.n_parts
    owner = np.repeat(np.arange(n), np.diff(problem.indptr))
    size = problem.part_bytes[problem.nbr].astype(np.float64)
    wb = problem.nbr_bytes
    density = wb / np.maximum(size, 1.0)
    # Partners without bytes sit on p's core for free: sort them first.
    order = np.lexsort((-np.where(size > 0, density, np.inf), owner))
    own, sz, dn = owner[order], size[order], density[order]
    ends = np.cumsum(sz)
    seg_start = np.concatenate([[0.0], ends])[problem.indptr[:-1]][own]
    hi = ends - seg_start
    lo = hi - sz
    ring0 = cap - problem.part_bytes[own].astype(np.float64)
    cost = dn * (_ring_integral(hi, ring0, cap) - _ring_integral(lo, ring0, cap))
    star = 0.5 * float(cost.sum())
    apart = problem.part_bytes[problem.edge_u] + problem.part_bytes[problem.edge_v] > cap
    return max(star, float(problem.edge_bytes[apart].sum()))


def _ring_integral(x: FloatArray, ring0: FloatArray, cap: float) -> FloatArray:
    """Integral over bytes 0..x of the hops of the ring that byte falls in, for rings of
    `ring0` bytes at 0 hops and `4 d cap` bytes at d hops (cumulative capacity up to ring
    d: `ring0 + 2 cap d (d + 1)`)."""
    y = np.maximum(x - ring0, 0.0) / (2 * cap)
    # Ring of byte x (>= ring0): the smallest d >= 1 with d (d + 1) > y.
    d = np.floor((np.sqrt(1 + 4 * y) - 1) / 2) + 1
    d = np.where(d * (d - 1) > y, d - 1, d)  # guard the square root's rounding both ways
    d = np.where(d * (d + 1) <= y, d + 1, d)
    inner = 4 * cap * (d - 1) * d * (2 * d - 1) / 6  # full rings 1..d-1
    return np.where(x <= ring0, 0.0, inner + d * (x - ring0 - 2 * cap * (d - 1) * d))


COUPLED_ITERATIONS = 150
STEP0 = 0.5
DECAY = 10.0
"""Subgradient steps of `coupled_bound` (each a sort of the parts and a pass over edges)."""


def coupled_bound(problem: PlacementProblem, iterations: int = COUPLED_ITERATIONS) -> float:
    """A bound of host and pairwise terms together (Lagrangian, by the host-hop triangle).

    Any two cores are at least `|hh(u) - hh(v)|` hops apart (hh: hops from the host, a
    Manhattan distance), so for any `s` in [-1, 1] per edge, `edge_bytes[e] * hops_e >=
    edge_bytes[e] * s[e] * (hh(v) - hh(u))`. Adding that to the host terms moves each edge's
    bytes onto its two parts' host weights (`a'`), and the fluid optimum of
    `sum a'[p] hh(p)` (`_signed_fluid`) bounds every placement. With s = 0 it is
    `host_bound`; projected subgradient ascent on s (the subgradient of edge e is its bytes
    times the difference of its parts' mean host hops in the fluid optimum) raises it when
    co-selected parts have different host densities, the tension that `host_bound +
    pair_bound`, two separate minima, cannot see. The best value over the steps is kept.
    """
    if problem.edge_bytes.size == 0 or iterations < 1:
        return host_bound(problem)
    u, v, w = problem.edge_u, problem.edge_v, problem.edge_bytes
    n = problem.n_parts
    s = np.zeros(w.size)
    diameter = max(1.0, float(problem.mesh.host_hops.max()))
    best = -np.inf
    for k in range(iterations):
        a = (problem.host_bytes + np.bincount(v, weights=w * s, minlength=n)
             - np.bincount(u, weights=w * s, minlength=n))
        value, h = _signed_fluid(problem, a)
        best = max(best, value)
        step = STEP0 / (diameter * (1.0 + k / DECAY))
        s = np.clip(s + step * (h[v] - h[u]), -1.0, 1.0)
    return float(best)


def _signed_fluid(problem: PlacementProblem, a: FloatArray) -> tuple[float, FloatArray]:
    """min of `sum_p a[p] * hh(core of p)` over fluid placements, and each part's mean host
    hops in that optimum: parts with a >= 0 fill cores from the host outwards, densest
    first; parts with a < 0 fill from the farthest core inwards, most negative first (they
    never meet, as the parts fit the mesh); parts without bytes sit on the best core."""
    mesh = problem.mesh
    hh = np.sort(mesh.host_hops).astype(np.float64)
    cap = float(mesh.cap_bytes)
    total = hh.size * cap
    cum = np.concatenate([[0.0], np.cumsum(hh * cap)])

    def near(x: FloatArray) -> FloatArray:
        """Integral of host hops over the first x bytes (cores nearest the host first)."""
        core = np.minimum((x // cap).astype(np.int64), hh.size - 1)
        return cum[core] + (x - core * cap) * hh[core]

    def far(x: FloatArray) -> FloatArray:
        """Integral of host hops over the last x bytes."""
        return cum[-1] - near(total - x)

    w = problem.part_bytes.astype(np.float64)
    h = np.where(a >= 0, hh[0], hh[-1])
    for side, integral in ((a >= 0, near), (a < 0, far)):
        parts = np.flatnonzero(side & (w > 0))
        density = np.abs(a[parts]) / w[parts]
        parts = parts[np.argsort(-density, kind="stable")]
        ends = np.cumsum(w[parts])
        h[parts] = (integral(ends) - integral(ends - w[parts])) / w[parts]
    return float(np.dot(a, h)), h
