"""A lower bound on the expected hop-bytes per request of any capacity-respecting placement.

The cost (`traffic`) is a linear part, `sum_p host_bytes[p] * host_hops(core_p)`, plus a
pairwise part, `sum_e edge_bytes[e] * hops(core_u, core_v)`. The bound is the sum of a
lower bound of each part (the minimum of a sum is at least the sum of the minima).

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
"""

from __future__ import annotations

import numpy as np

from nfcore.compiler.layout.traffic import FloatArray, PlacementProblem


def lower_bound(problem: PlacementProblem) -> float:
    """`host_bound + pair_bound`: no capacity-respecting placement costs less."""
    return host_bound(problem) + pair_bound(problem)


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
