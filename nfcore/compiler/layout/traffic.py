"""The traffic model placement minimizes: expected hop-bytes per request.

A *hop-byte* is one byte crossing one router-to-router link: a message of `b` bytes between
cores at (x1, y1) and (x2, y2) costs `b * (|x1 - x2| + |y1 - y2|)` (XY routing takes a
shortest path, `noc.hops`); between the host port and the core at (x, y) it costs
`b * noc.hops(noc.HOST_ROUTER, (x, y))`. Hops are counted as the system model's network
counts them (`nfcore.sim.net.topology`): the injection and ejection links at either end are not
hops, for host and core messages alike. Messages between parts on the same core cost
nothing. Header flits and packetization are not counted (they scale bytes by a constant
per message).

A request selects tree t with probability `freq[t]` and the pair (t, u) with probability
`co_freq[t, u]` (the router's statistics on a calibration set). For a placement, the
expected hop-bytes per request is the sum of four terms:

1. input broadcast: for each resident tree, `freq[t]` times the bytes the host sends to
   each of its first-stage parts (`partition` flows from `HOST`) times their host hops;
2. partial results: `freq[t]` times the bytes of each part-to-part flow of a split tree
   times the hops between the two parts;
3. outputs: `freq[t]` times the tree's output bytes times the output part's host hops;
4. co-selection exchange: `coselect_weight * co_freq[t, u] * (out_t + out_u)` times the
   hops between the output parts of t and u, for every co-selected resident pair. With
   weight 1 this is exact for in-network aggregation by all-gather (every selected tree
   sends its output to every other selected tree of the request, so any of them can
   form the confidence-weighted average); with weight 0 the host aggregates and only
   terms 1-3 remain.

Paged trees are not placed and contribute nothing here (their cost is DRAM traffic, which
the residency report gives). The terms make a linear part (`host_bytes[p] * host_hops`)
plus a pairwise part (`edge_bytes[e] * hops`), which is what `place` optimizes and
`bounds.lower_bound` bounds from below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from nfcore.arch import noc
from nfcore.compiler.layout.input import LayoutInput, RouterStats
from nfcore.compiler.layout.partition import HOST, TreePlan
from nfcore.errors import CompileError

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TrafficModel:
    coselect_weight: float = 1.0
    """Scale of term 4: 1 = all-gather of outputs among the selected trees, 0 = the host
    aggregates the outputs."""


@dataclass(frozen=True, eq=False)
class MeshShape:
    """Core geometry as the placer sees it (not the RTL `nfcore.hdl.mesh.Mesh`): core `c`
    is at column `c % cols`, row `c // cols`. The coordinate arrays are computed once (the
    annealer reads them every round); callers must not write to them."""

    rows: int
    cols: int
    cap_bytes: int
    """Weight SRAM bytes per core."""

    @property
    def n_cores(self) -> int:
        return self.rows * self.cols

    @cached_property
    def x(self) -> IntArray:
        return np.arange(self.n_cores, dtype=np.int64) % self.cols

    @cached_property
    def y(self) -> IntArray:
        return np.arange(self.n_cores, dtype=np.int64) // self.cols

    @cached_property
    def host_hops(self) -> IntArray:
        """Hops from the host port to each core: `noc.hops(noc.HOST_ROUTER, (x, y))`."""
        hx, hy = noc.HOST_ROUTER
        return np.abs(self.x - hx) + np.abs(self.y - hy)

    def hops(self, a: IntArray, b: IntArray) -> IntArray:
        """XY hops between cores `a` and `b` (element-wise)."""
        return np.abs(a % self.cols - b % self.cols) + np.abs(a // self.cols - b // self.cols)


@dataclass(frozen=True, eq=False)
class PlacementProblem:
    """Parts to place and their expected bytes per request.

    Part `p` belongs to tree `part_tree[p]` and needs `part_bytes[p]` bytes of weight
    SRAM. `host_bytes[p]` is the expected bytes per request between the host and part p
    (both directions). Edge e joins parts `edge_u[e] < edge_v[e]` with `edge_bytes[e]`
    expected bytes per request (both directions, all terms merged). `indptr`, `nbr`,
    `nbr_bytes` hold the same edges as a symmetric adjacency (CSR).
    """

    mesh: MeshShape
    part_tree: IntArray
    part_bytes: IntArray
    host_bytes: FloatArray
    edge_u: IntArray
    edge_v: IntArray
    edge_bytes: FloatArray
    indptr: IntArray
    nbr: IntArray
    nbr_bytes: FloatArray
    part_offset: dict[int, int]
    """Tree index -> index of its first part."""

    @property
    def n_parts(self) -> int:
        return int(self.part_bytes.size)

    def cost(self, core_of: IntArray) -> float:
        """Expected hop-bytes per request of placement `core_of` (part -> core)."""
        host, pair = self.cost_terms(core_of)
        return host + pair

    def cost_terms(self, core_of: IntArray) -> tuple[float, float]:
        """`cost` split in (host terms: bytes between parts and the host; pairwise terms:
        partial results and co-selection exchange, bytes between parts)."""
        host = float(np.dot(self.host_bytes, self.mesh.host_hops[core_of]))
        pair = float(np.dot(self.edge_bytes,
                            self.mesh.hops(core_of[self.edge_u], core_of[self.edge_v])))
        return host, pair

    def check_capacity(self, core_of: IntArray) -> None:
        """Raise `CompileError` if a core holds more weight bytes than it has."""
        used = np.bincount(core_of, weights=self.part_bytes, minlength=self.mesh.n_cores)
        over = np.flatnonzero(used > self.mesh.cap_bytes)
        if over.size:
            c = int(over[0])
            raise CompileError(
                f"placement puts {int(used[c])} bytes on core {c} but "
                f"core.weight_sram_bytes = {self.mesh.cap_bytes}"
            )


def build_problem(workload: LayoutInput, plans: Sequence[TreePlan], mesh: MeshShape,
                  model: TrafficModel = TrafficModel()) -> PlacementProblem:
    """The placement problem of the trees of `plans` (the resident ones) on `mesh`."""
    stats: RouterStats = workload.stats
    offsets: dict[int, int] = {}
    n = 0
    for plan in plans:
        offsets[plan.tree] = n
        n += len(plan.parts)
    part_tree = np.empty(n, dtype=np.int64)
    part_bytes = np.empty(n, dtype=np.int64)
    host_bytes = np.zeros(n, dtype=np.float64)
    eu: list[int] = []
    ev: list[int] = []
    eb: list[float] = []
    for plan in plans:
        base, f = offsets[plan.tree], float(stats.freq[plan.tree])
        for i, part in enumerate(plan.parts):
            part_tree[base + i] = plan.tree
            part_bytes[base + i] = part.weight_bytes
        for flow in plan.flows:
            if flow.src == HOST:
                host_bytes[base + flow.dst] += f * flow.nbytes
            elif flow.dst == HOST:
                host_bytes[base + flow.src] += f * flow.nbytes
            else:
                eu.append(base + flow.src)
                ev.append(base + flow.dst)
                eb.append(f * flow.nbytes)
    u, v, b = np.array(eu, dtype=np.int64), np.array(ev, dtype=np.int64), np.array(eb)
    if model.coselect_weight > 0 and stats.pairs.size:
        out_part = np.full(len(workload.trees), -1, dtype=np.int64)
        out_bytes = np.array([t.out_bytes for t in workload.trees], dtype=np.float64)
        for plan in plans:
            out_part[plan.tree] = offsets[plan.tree] + plan.output_part
        t, w = stats.pairs[:, 0], stats.pairs[:, 1]
        both = (out_part[t] >= 0) & (out_part[w] >= 0)
        t, w = t[both], w[both]
        cb = model.coselect_weight * stats.co_freq[both] * (out_bytes[t] + out_bytes[w])
        u = np.concatenate([u, out_part[t]])
        v = np.concatenate([v, out_part[w]])
        b = np.concatenate([b, cb])
    return _with_edges(mesh, part_tree, part_bytes, host_bytes, u, v, b, offsets)


def _with_edges(mesh: MeshShape, part_tree: IntArray, part_bytes: IntArray, host_bytes: FloatArray,
                u: IntArray, v: IntArray, b: FloatArray,
                offsets: dict[int, int]) -> PlacementProblem:
    n = part_tree.size
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    keys, inv = np.unique(lo * n + hi, return_inverse=True)
    merged = np.bincount(inv, weights=b, minlength=keys.size).astype(np.float64)
    eu, ev = keys // n, keys % n
    # Symmetric CSR for the annealer's incremental updates.
    src = np.concatenate([eu, ev])
    dst = np.concatenate([ev, eu])
    wb = np.concatenate([merged, merged])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return PlacementProblem(
        mesh=mesh, part_tree=part_tree, part_bytes=part_bytes, host_bytes=host_bytes,
        edge_u=eu.astype(np.int64), edge_v=ev.astype(np.int64), edge_bytes=merged,
        indptr=indptr, nbr=dst[order].astype(np.int64), nbr_bytes=wb[order],
        part_offset=offsets,
    )


def first_fit(problem: PlacementProblem, part_order: IntArray,
              core_order: IntArray) -> tuple[IntArray, IntArray]:
    """Pack parts in `part_order` onto the first core in `core_order` with room.

    Returns (core_of, the parts that fit nowhere); unplaced parts have core -1.
    """
    free = np.full(problem.mesh.n_cores, problem.mesh.cap_bytes, dtype=np.int64)
    core_of = np.full(problem.n_parts, -1, dtype=np.int64)
    failed: list[int] = []
    for p in part_order.tolist():
        room = free >= problem.part_bytes[p]
        k = int(room.argmax())
        if not room[k]:
            failed.append(p)
            continue
        free[k] -= problem.part_bytes[p]
        core_of[p] = core_order[k]
    return core_of, np.array(failed, dtype=np.int64)


def random_placement(problem: PlacementProblem, seed: int) -> IntArray:
    """Parts in random order, first-fit onto cores in random order: the baseline."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(problem.n_parts)
    # Largest first, so that a random placement exists whenever first-fit-decreasing finds
    # one; the order among equal sizes stays random.
    order = order[np.argsort(-problem.part_bytes[order], kind="stable")]
    core_of, failed = first_fit(problem, order, rng.permutation(problem.mesh.n_cores))
    if failed.size:
        raise CompileError(
            f"random placement could not fit {failed.size} parts; the resident set is too "
            f"tight for first-fit packing"
        )
    return core_of
