"""Placement: parts onto cores under weight SRAM capacity, minimizing expected hop-bytes.

Two phases, both deterministic under `seed`:

1. Greedy: two part orders, each packed first-fit along a space-filling curve that
   starts at the host port (the anti-diagonals `x + y = d` in order of d, each walked in
   alternating direction, so consecutive cores are near each other and early parts are
   near the host); the cheaper result is kept.
   * density order: trees by host bytes per weight byte (the order that is optimal for
     the host terms alone, see `bounds.host_bound`), each tree's parts consecutive; it
     wins when the host terms dominate (the default traffic model);
   * cluster order: groups grown from the densest part along the heaviest edges
     (Prim-like), so co-selected trees and the parts of a split tree are consecutive; it
     wins when the pairwise terms dominate (a large `coselect_weight`).
2. Annealing: rounds of parallel moves. Each round proposes, for a batch of parts, a target
   core near the bytes-weighted centroid of the part's partners and the host (or a random
   core within a shrinking radius); a part moves if the target has room, else it swaps with
   a random part of the target if both fit. Moves that touch the same core or whose parts
   are neighbours in the traffic graph are dropped, so every accepted move's cost change is
   exact and computed independently (vectorized over the batch from the adjacency); the
   Metropolis rule with a geometric temperature schedule accepts them, and the last
   rounds run at zero temperature (pure descent). Capacity holds after every round.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nfcore.arch import noc
from nfcore.compiler.layout.traffic import FloatArray, IntArray, PlacementProblem, first_fit
from nfcore.errors import CompileError

GROUP_CORES = 4
"""A cluster-order group holds at most this many cores' worth of weight bytes."""


@dataclass(frozen=True)
class AnnealSchedule:
    """How long and how hot the annealer runs. Results depend only on these and the seed."""

    rounds: int = 2000
    """Rounds of parallel moves; more rounds help most when co-selection traffic dominates
    (1,000 trees, `coselect_weight` 100: 28,118 hop-bytes at 3,000, 25,712 at 12,000). 2,000
    keeps 10,000 trees on 64 x 64 within 5 CPU-seconds (12,200 hop-bytes against 12,164 at
    3,000)."""
    batch: int = 512
    """Parts proposed per round (fewer on small meshes so moves rarely share a core)."""
    t_start_quantile: float = 0.5
    """Starting temperature: this quantile of the uphill cost changes of the first round."""
    t_end_ratio: float = 1e-3
    """Temperature at the end of the hot rounds, relative to the start (geometric decay)."""
    descent_fraction: float = 0.2
    """Share of the rounds, at the end, run at zero temperature."""
    centroid_share: float = 0.5
    """Share of proposals aimed at the partners' centroid (the rest are random, nearby)."""


def snake_order(rows: int, cols: int) -> IntArray:
    """Cores along anti-diagonals from the host's corner, alternating direction."""
    x = np.arange(rows * cols) % cols
    y = np.arange(rows * cols) // cols
    hx, hy = noc.HOST_ROUTER
    d = np.abs(x - hx) + np.abs(y - hy)
    along = np.where(d % 2 == 0, x, -x)
    return np.lexsort((along, d)).astype(np.int64)


def greedy_order(problem: PlacementProblem) -> IntArray:
    """Trees by host bytes per weight byte (descending), each tree's parts together in plan
    order; ties go to the lower part index."""
    n_trees = int(problem.part_tree.max()) + 1 if problem.n_parts else 0
    host = np.bincount(problem.part_tree, weights=problem.host_bytes, minlength=n_trees)
    size = np.bincount(problem.part_tree, weights=problem.part_bytes, minlength=n_trees)
    key = (host / np.maximum(size, 1.0))[problem.part_tree]
    return np.lexsort((np.arange(problem.n_parts), -key)).astype(np.int64)


def cluster_order(problem: PlacementProblem) -> IntArray:
    """Parts in groups grown from the part with the most host bytes per weight byte along
    the heaviest edges (Prim-like), each group at most `GROUP_CORES` cores' bytes."""
    n = problem.n_parts
    w = problem.part_bytes.astype(np.float64)
    density = problem.host_bytes / np.maximum(w, 1.0)
    seeds = np.argsort(-density, kind="stable").tolist()
    indptr, nbr, nb = problem.indptr.tolist(), problem.nbr.tolist(), problem.nbr_bytes.tolist()
    weights = problem.part_bytes.tolist()
    limit = GROUP_CORES * problem.mesh.cap_bytes
    done = [False] * n
    order: list[int] = []
    for s in seeds:
        if done[s]:
            continue
        heap: list[tuple[float, int]] = [(0.0, s)]
        size = 0
        while heap and size < limit:
            _, p = heapq.heappop(heap)
            if done[p]:
                continue
            done[p] = True
            order.append(p)
            size += weights[p]
            for i in range(indptr[p], indptr[p + 1]):
                q = nbr[i]
                if not done[q]:
                    heapq.heappush(heap, (-nb[i], q))
    return np.array(order, dtype=np.int64)


def greedy_placement(problem: PlacementProblem) -> tuple[IntArray, IntArray]:
    """The greedy placement: (core_of, parts that fit nowhere), the cheaper of the
    density order and the cluster order packed along the curve (fewer unplaced parts
    first; ties go to the density order)."""
    curve = snake_order(problem.mesh.rows, problem.mesh.cols)
    best: tuple[IntArray, IntArray] | None = None
    best_key = (0, 0.0)
    for order in (greedy_order(problem), cluster_order(problem)):
        core_of, failed = first_fit(problem, order, curve)
        placed = core_of >= 0
        key = (failed.size, _partial_cost(problem, core_of, placed))
        if best is None or key < best_key:
            best, best_key = (core_of, failed), key
    assert best is not None
    return best


def _partial_cost(problem: PlacementProblem, core_of: IntArray,
                  placed: npt.NDArray[np.bool_]) -> float:
    """Cost of the placed parts (edges with an unplaced end are left out)."""
    if placed.all():
        return problem.cost(core_of)
    c = np.where(placed, core_of, 0)
    host = float(np.dot(problem.host_bytes[placed], problem.mesh.host_hops[c[placed]]))
    both = placed[problem.edge_u] & placed[problem.edge_v]
    hops = problem.mesh.hops(c[problem.edge_u[both]], c[problem.edge_v[both]])
    return host + float(np.dot(problem.edge_bytes[both], hops))


@dataclass(frozen=True, eq=False)
class AnnealResult:
    core_of: IntArray
    """The improved placement (part -> core); it respects capacity."""
    predicted_delta: float
    """Sum of the cost changes of the accepted moves, as computed incrementally; equals
    `cost(core_of) - cost(start)` up to rounding (tests check it)."""
    moves: int
    """Accepted moves (a swap counts once)."""


@dataclass(frozen=True, eq=False)
class _State:
    """The annealer's view of a placement: core of each part and free bytes per core."""

    problem: PlacementProblem
    core: IntArray
    free: IntArray


def anneal(problem: PlacementProblem, core_of: IntArray, seed: int,
           schedule: AnnealSchedule = AnnealSchedule()) -> AnnealResult:
    """Improve a capacity-respecting placement `core_of` (see the module docstring).

    The result is never worse than `core_of`: if the annealed placement costs more, the
    start is returned unchanged."""
    mesh = problem.mesh
    n, n_cores = problem.n_parts, mesh.n_cores
    if n == 0 or n_cores == 1:
        return AnnealResult(core_of.copy(), 0.0, 0)
    rng = np.random.default_rng(seed)
    used = np.bincount(core_of, weights=problem.part_bytes, minlength=n_cores)
    st = _State(problem, core_of.copy(), mesh.cap_bytes - used.astype(np.int64))
    if np.any(st.free < 0):
        raise CompileError("anneal: the starting placement exceeds a core's capacity")
    wbytes = problem.part_bytes
    batch = max(1, min(schedule.batch, n, n_cores // 4 or 1))
    radius0 = max(2.0, max(mesh.rows, mesh.cols) / 4)
    hot_rounds = int(schedule.rounds * (1 - schedule.descent_fraction))
    temp0 = -1.0
    total_delta, total_moves = 0.0, 0
    for r in range(schedule.rounds):
        p = np.unique(rng.integers(0, n, batch))
        radius = max(1.0, radius0 * (1 - r / schedule.rounds))
        src, dst = st.core[p], _targets(st, p, radius, schedule.centroid_share, rng)
        partner, ok = _feasible(st, p, src, dst, rng)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        mp, ms, md, mq = p[idx], src[idx], dst[idx], partner[idx]
        delta, bad = _deltas(st, mp, ms, md, mq)
        if temp0 < 0:
            up = delta[(delta > 0) & ~bad]
            temp0 = float(np.quantile(up, schedule.t_start_quantile)) if up.size else 0.0
        if r < hot_rounds and temp0 > 0:
            temp = temp0 * schedule.t_end_ratio ** (r / max(1, hot_rounds))
            with np.errstate(over="ignore"):
                accept = (delta < 0) | (rng.random(idx.size)
                                        < np.exp(-np.maximum(delta, 0) / temp))
        else:
            accept = delta < 0
        a = np.flatnonzero(accept & ~bad)
        if a.size == 0:
            continue
        total_delta += float(delta[a].sum())
        total_moves += a.size
        ap, aq, a_from, a_to = mp[a], mq[a], ms[a], md[a]
        swap = aq >= 0
        qw = np.where(swap, wbytes[np.maximum(aq, 0)], 0)
        st.core[ap] = a_to
        st.core[aq[swap]] = a_from[swap]
        st.free[a_from] += wbytes[ap] - qw
        st.free[a_to] -= wbytes[ap] - qw
    if total_delta > 0:  # the hot rounds wandered uphill and descent did not recover
        return AnnealResult(core_of.copy(), 0.0, 0)
    return AnnealResult(st.core, total_delta, total_moves)


def _targets(st: _State, p: IntArray, radius: float, centroid_share: float,
             rng: np.random.Generator) -> IntArray:
    """A proposed core per part of `p`: near the bytes-weighted centroid of its partners and
    the host, or near its own core, within `radius` hops."""
    prob, mesh, core = st.problem, st.problem.mesh, st.core
    cx, cy = mesh.x, mesh.y
    hx, hy = noc.HOST_ROUTER
    m, src = p.size, core[p]
    flat, owner = _expand(prob.indptr, p)
    qc, wq = core[prob.nbr[flat]], prob.nbr_bytes[flat]
    hb = prob.host_bytes[p]
    sw = np.bincount(owner, weights=wq, minlength=m) + hb
    mx = np.bincount(owner, weights=wq * cx[qc], minlength=m) + hb * hx
    my = np.bincount(owner, weights=wq * cy[qc], minlength=m) + hb * hy
    safe = np.where(sw > 0, sw, 1.0)
    tx_c = np.where(sw > 0, mx / safe, cx[src])
    ty_c = np.where(sw > 0, my / safe, cy[src])
    jitter = rng.uniform(-radius, radius, (2, m))
    aim = rng.random(m) < centroid_share
    tx = np.where(aim, tx_c + jitter[0] / 2, cx[src] + jitter[0])
    ty = np.where(aim, ty_c + jitter[1] / 2, cy[src] + jitter[1])
    tx = np.clip(np.rint(tx), 0, mesh.cols - 1).astype(np.int64)
    ty = np.clip(np.rint(ty), 0, mesh.rows - 1).astype(np.int64)
    return ty * mesh.cols + tx


def _feasible(st: _State, p: IntArray, src: IntArray, dst: IntArray,
              rng: np.random.Generator) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    """(swap partner or -1, feasible) per proposal: a part moves to `dst` if it has room,
    else swaps with a random part there if both fit. A proposal is dropped if another
    touches one of its cores, so that every capacity check stays valid."""
    n_cores, n = st.problem.mesh.n_cores, st.problem.n_parts
    wbytes, core, free = st.problem.part_bytes, st.core, st.free
    # A 16-bit key makes numpy's stable sort a radix sort: the same order, in linear time
    # (this sort was the annealer's largest cost at 10,000 parts).
    key = core.astype(np.uint16) if n_cores <= 1 << 16 else core
    order = np.argsort(key, kind="stable")
    count = np.bincount(core, minlength=n_cores)
    first = np.cumsum(count) - count
    fits = free[dst] >= wbytes[p]
    pick = first[dst] + (rng.random(p.size) * count[dst]).astype(np.int64)
    partner = np.where(fits | (count[dst] == 0), -1, order[np.minimum(pick, n - 1)])
    pw = np.where(partner >= 0, wbytes[partner], 0)
    swap_ok = (partner >= 0) & (free[dst] + pw >= wbytes[p]) & (free[src] + wbytes[p] >= pw)
    ok = (dst != src) & (fits | swap_ok)
    touched = np.bincount(np.concatenate([src[ok], dst[ok]]), minlength=n_cores)
    return partner, ok & (touched[src] == 1) & (touched[dst] == 1)


def _deltas(st: _State, mp: IntArray, ms: IntArray, md: IntArray,
            mq: IntArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """(exact cost change, conflicts) of moves of parts `mp` from cores `ms` to `md`, with
    swap partners `mq` (-1: a plain move). A move conflicts if one of its parts is a
    neighbour of a part of another move (their changes would not add up)."""
    prob, core = st.problem, st.core
    cx, cy, hh = prob.mesh.x, prob.mesh.y, prob.mesh.host_hops
    k = mp.size
    swap = mq >= 0
    movers = np.concatenate([mp, mq[swap]])
    mid = np.concatenate([np.arange(k), np.flatnonzero(swap)])
    m_from = np.concatenate([ms, md[swap]])
    m_to = np.concatenate([md, ms[swap]])
    m_partner = np.concatenate([mq, mp[swap]])
    moved_by = np.full(prob.n_parts, -1, dtype=np.int64)
    moved_by[movers] = mid
    flat, owner = _expand(prob.indptr, movers)
    q, wq = prob.nbr[flat], prob.nbr_bytes[flat]
    qc, fr, to = core[q], m_from[owner], m_to[owner]
    d_new = np.abs(cx[to] - cx[qc]) + np.abs(cy[to] - cy[qc])
    d_old = np.abs(cx[fr] - cx[qc]) + np.abs(cy[fr] - cy[qc])
    # A swapped pair keeps its mutual distance: add back what the two sides subtract.
    mutual = np.where(q == m_partner[owner],
                      wq * (np.abs(cx[fr] - cx[to]) + np.abs(cy[fr] - cy[to])), 0.0)
    contrib = wq * (d_new - d_old) + mutual
    conflict = (moved_by[q] >= 0) & (moved_by[q] != mid[owner])
    per_mover = np.bincount(owner, weights=contrib, minlength=movers.size).astype(float)
    per_mover += prob.host_bytes[movers] * (hh[m_to] - hh[m_from])
    delta = np.bincount(mid, weights=per_mover, minlength=k).astype(np.float64)
    bad = np.bincount(mid[owner[conflict]], minlength=k) > 0
    return delta, bad


def _expand(indptr: IntArray, parts: IntArray) -> tuple[IntArray, IntArray]:
    """Adjacency entries of `parts`: (indices into nbr, the position in `parts` of each)."""
    counts = indptr[parts + 1] - indptr[parts]
    total = int(counts.sum())
    owner = np.repeat(np.arange(parts.size), counts)
    starts = np.cumsum(counts) - counts
    flat = np.arange(total) - starts[owner] + indptr[parts][owner]
    return flat, owner
