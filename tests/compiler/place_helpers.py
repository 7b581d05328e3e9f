"""Small hand-made placement workloads for the layout tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nfcore.compiler.layout.input import LayerShape, LayoutInput, RouterStats, TreeShape
from nfcore.compiler.layout.partition import PartSizer, plan_tree
from nfcore.compiler.layout.traffic import MeshShape, PlacementProblem, TrafficModel, build_problem
from nfcore.config import NFCoreConfig

SIZER = PartSizer(lanes=8, acc_bytes=4)


def mlp(name: str, widths: Sequence[int], sizer: PartSizer = SIZER) -> TreeShape:
    """A tree of MATVEC layers through `widths` (inputs first), with packed sizes."""
    return TreeShape(name, tuple(
        LayerShape(rows=r, cols=c, weight_bytes=sizer.matvec_bytes(r, c))
        for c, r in zip(widths[:-1], widths[1:], strict=True)
    ))


def sized_tree(name: str, weight_bytes: int, in_bytes: int = 16, out_bytes: int = 4) -> TreeShape:
    """A one-layer tree with an exact weight size (not a packed MATVEC size)."""
    return TreeShape(name, (LayerShape(rows=out_bytes, cols=in_bytes, weight_bytes=weight_bytes),))


def workload_of(trees: Sequence[TreeShape], selections: Sequence[Sequence[int]]) -> LayoutInput:
    return LayoutInput(tuple(trees), RouterStats.from_selections(np.array(selections), len(trees)))


def config(rows: int, cols: int, sram_bytes: int = 65536) -> NFCoreConfig:
    return NFCoreConfig.from_dict({"mesh": {"rows": rows, "cols": cols},
                                   "core": {"weight_sram_bytes": sram_bytes}})


def problem_of(w: LayoutInput, mesh: MeshShape,
               model: TrafficModel | None = None) -> PlacementProblem:
    """The placement problem of every tree of `w` (all resident) on `mesh`."""
    plans = [plan_tree(t, i, mesh.cap_bytes, SIZER) for i, t in enumerate(w.trees)]
    return build_problem(w, plans, mesh, model or TrafficModel())
