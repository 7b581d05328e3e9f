"""The layout stages of the compiler: partition -> residency -> place, with timings.

`compile_layout` plans every tree's parts for the config's core, chooses the resident
trees for the mesh's total weight SRAM, places the resident parts (greedy, then
annealing), and measures the placement against a random placement and a lower bound
(`bounds.lower_bound`). All of it is deterministic under `seed`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nfcore.compiler.layout.bounds import coupled_bound, host_bound, pair_bound
from nfcore.compiler.layout.input import LayoutInput
from nfcore.compiler.layout.partition import PartSizer, TreePlan, plan_tree
from nfcore.compiler.layout.place import AnnealSchedule, anneal, greedy_placement
from nfcore.compiler.layout.residency import Residency, check_placeable, choose_residency
from nfcore.compiler.layout.traffic import (
    IntArray,
    MeshShape,
    PlacementProblem,
    TrafficModel,
    build_problem,
    random_placement,
)
from nfcore.config import NFCoreConfig


@dataclass(frozen=True, eq=False)
class Layout:
    """Where every resident part lives, and how good that is."""

    workload: LayoutInput
    mesh: MeshShape
    plans: tuple[TreePlan, ...]
    """Partition plan of every tree, by tree index."""
    residency: Residency
    problem: PlacementProblem
    """The resident parts and their traffic; part p of tree t is
    `problem.part_offset[t] + p`."""
    core_of: IntArray
    """Core of each part of `problem` (core c is at x = c % cols, y = c // cols)."""
    hop_bytes: dict[str, float]
    """Expected hop-bytes per request: placed (and its host and pairwise terms), greedy,
    random, lower_bound: the larger of lower_bound_host + lower_bound_pair (separate bounds
    of the two parts of the cost) and lower_bound_coupled (`bounds.coupled_bound`)."""
    anneal_moves: int = 0
    """Moves the annealer accepted."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    """Wall-clock seconds per stage (the baselines apart)."""
    compile_cpu_s: float = 0.0
    """CPU seconds of this process for partition, residency and placement (baselines
    excluded): a figure that a machine shared with other jobs changes less than wall time."""

    def core_used_bytes(self) -> IntArray:
        """Weight SRAM bytes used on each core."""
        used = np.bincount(self.core_of, weights=self.problem.part_bytes,
                           minlength=self.mesh.n_cores)
        return used.astype(np.int64)


def mesh_of(cfg: NFCoreConfig) -> MeshShape:
    return MeshShape(rows=cfg.mesh.rows, cols=cfg.mesh.cols, cap_bytes=cfg.core.weight_sram_bytes)


def compile_layout(workload: LayoutInput, cfg: NFCoreConfig, *, seed: int = 0,
                   model: TrafficModel | None = None,
                   schedule: AnnealSchedule | None = None,
                   baselines: bool = True) -> Layout:
    """Partition, choose residency and place `workload` on the mesh of `cfg`.

    Raises `CompileError` naming the tree and sizes if some tree cannot be split to fit a
    core or cannot fit the whole mesh. With `baselines`, also measures a random placement
    and the lower bound (their time is reported apart from the compile stages).
    """
    model = model or TrafficModel()
    schedule = schedule or AnnealSchedule()
    mesh = mesh_of(cfg)
    sizer = PartSizer.from_config(cfg.core)
    times: dict[str, float] = {}
    cpu0 = time.process_time()

    t0 = time.perf_counter()
    plans = tuple(plan_tree(tree, i, mesh.cap_bytes, sizer)
                  for i, tree in enumerate(workload.trees))
    times["partition"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    check_placeable(workload, plans, mesh)
    residency = choose_residency(workload, plans, mesh.n_cores * mesh.cap_bytes)
    times["residency"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # Each round pages the trees of the parts first-fit could not pack, so the loop ends;
    # in practice one round packs everything the byte budget admitted.
    while True:
        problem = build_problem(workload, [plans[t] for t in residency.resident], mesh, model)
        core_of, failed = greedy_placement(problem)
        if failed.size == 0:
            break
        residency = residency.page_more(np.unique(problem.part_tree[failed]))
    times["place_greedy"] = time.perf_counter() - t0
    greedy_cost = problem.cost(core_of)

    t0 = time.perf_counter()
    annealed = anneal(problem, core_of, seed, schedule)
    core_of = annealed.core_of
    times["place_anneal"] = time.perf_counter() - t0
    problem.check_capacity(core_of)
    cpu_s = time.process_time() - cpu0

    host, pair = problem.cost_terms(core_of)
    hop_bytes = {"placed": host + pair, "placed_host": host, "placed_pair": pair,
                 "greedy": greedy_cost}
    if baselines:
        t0 = time.perf_counter()
        hop_bytes["random"] = problem.cost(random_placement(problem, seed))
        hop_bytes["lower_bound_host"] = host_bound(problem)
        hop_bytes["lower_bound_pair"] = pair_bound(problem)
        hop_bytes["lower_bound_coupled"] = coupled_bound(problem)
        hop_bytes["lower_bound"] = max(
            hop_bytes["lower_bound_host"] + hop_bytes["lower_bound_pair"],
            hop_bytes["lower_bound_coupled"])
        times["baselines"] = time.perf_counter() - t0
    return Layout(workload=workload, mesh=mesh, plans=plans, residency=residency,
                  problem=problem, core_of=core_of, hop_bytes=hop_bytes,
                  anneal_moves=annealed.moves, stage_seconds=times, compile_cpu_s=cpu_s)
