"""Residency: which trees keep their weights in core SRAM, and which are paged from DRAM.

When the forest's parts do not all fit the chip's weight SRAM, the trees with the most
requests per byte stay resident. That is the greedy rule for the fractional knapsack
(value = routing frequency, the share of requests that need the tree; weight = its
bytes), applied to the integral problem: trees in order of `freq / bytes`, each taken if it
still fits the budget, later smaller trees filling what larger ones leave. Ties go to the
lower tree index, so the choice is deterministic.

The budget is total bytes; packing parts onto cores can still fail for a few trees
(fragmentation), and `layout` then pages those as well (`page_more`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nfcore.compiler.layout.input import LayoutInput
from nfcore.compiler.layout.partition import TreePlan
from nfcore.compiler.layout.traffic import FloatArray, IntArray, MeshShape
from nfcore.errors import CompileError


@dataclass(frozen=True, eq=False)
class Residency:
    resident: IntArray
    """Tree indices whose parts are placed in SRAM, ascending."""
    paged: IntArray
    """Tree indices loaded from DRAM when selected, ascending."""
    tree_bytes: IntArray
    """Weight bytes of each tree's plan (all parts), by tree index."""
    freq: FloatArray
    """Routing frequency of each tree, by tree index."""

    @property
    def resident_bytes(self) -> int:
        return int(self.tree_bytes[self.resident].sum())

    @property
    def paged_bytes(self) -> int:
        return int(self.tree_bytes[self.paged].sum())

    @property
    def resident_request_share(self) -> float:
        """Share of tree selections served by resident trees."""
        total = float(self.freq.sum())
        return float(self.freq[self.resident].sum()) / total if total > 0 else 1.0

    @property
    def paged_bytes_per_request(self) -> float:
        """Expected DRAM weight bytes per request if every paged selection loads its tree."""
        return float(np.dot(self.freq[self.paged], self.tree_bytes[self.paged]))

    def page_more(self, trees: IntArray) -> Residency:
        """This residency with `trees` moved from resident to paged."""
        move = np.isin(self.resident, trees)
        return Residency(resident=self.resident[~move],
                         paged=np.union1d(self.paged, self.resident[move]),
                         tree_bytes=self.tree_bytes, freq=self.freq)


def check_placeable(workload: LayoutInput, plans: Sequence[TreePlan], mesh: MeshShape) -> None:
    """Raise `CompileError` naming the tree if some tree cannot run on the chip even alone
    (paging loads a whole tree, so each one must fit the mesh by itself)."""
    for plan in plans:
        tree = workload.trees[plan.tree]
        if plan.largest_part_bytes > mesh.cap_bytes:
            raise CompileError(
                f"tree {tree.name!r}: its largest part needs {plan.largest_part_bytes} bytes "
                f"but core.weight_sram_bytes = {mesh.cap_bytes}"
            )
        cores = sum(1 for p in plan.parts if p.weight_bytes > 0)
        if cores > mesh.n_cores or plan.weight_bytes > mesh.n_cores * mesh.cap_bytes:
            raise CompileError(
                f"tree {tree.name!r} needs {plan.weight_bytes} bytes in {len(plan.parts)} "
                f"parts (largest {plan.largest_part_bytes} bytes) but the mesh has "
                f"{mesh.n_cores} cores of {mesh.cap_bytes} bytes "
                f"({mesh.n_cores * mesh.cap_bytes} bytes); raise mesh.rows, mesh.cols or "
                f"core.weight_sram_bytes"
            )


def choose_residency(workload: LayoutInput, plans: Sequence[TreePlan],
                     budget_bytes: int) -> Residency:
    """Resident and paged trees for a weight SRAM budget of `budget_bytes` (see module)."""
    if budget_bytes < 0:
        raise CompileError(f"residency budget {budget_bytes} bytes must not be negative")
    n = len(workload.trees)
    tree_bytes = np.zeros(n, dtype=np.int64)
    for plan in plans:
        tree_bytes[plan.tree] = plan.weight_bytes
    freq = workload.stats.freq.astype(np.float64)
    planned = np.array([plan.tree for plan in plans], dtype=np.int64)
    density = freq[planned] / np.maximum(tree_bytes[planned], 1)
    order = planned[np.lexsort((planned, -density))]
    if tree_bytes[order].sum() <= budget_bytes:
        take = np.ones(order.size, dtype=bool)
    else:
        take = np.zeros(order.size, dtype=bool)
        left = budget_bytes
        for i, size in enumerate(tree_bytes[order].tolist()):
            if size <= left:
                take[i] = True
                left -= size
    return Residency(resident=np.sort(order[take]), paged=np.sort(order[~take]),
                     tree_bytes=tree_bytes, freq=freq)
