"""The forest against its monolith at equal accuracy: the data of `accuracy_energy.png`.

`compare_at_equal_accuracy` takes a `ForestSystemRun` (the trained forest, its image and its
monolith ladder) and, on the same number of requests at the forest's Poisson arrival rate:

- compiles every rung of the monolith ladder like a tree (`quantize_tree`, then
  `partition_tree` over a chain of cores, the cores nearest the host first, so a monolith
  larger than one core's weight SRAM is split exactly as a large tree is), keeps its weights
  resident, and simulates it on the system model (`resident_monolith`; at a lower rate where
  one copy cannot sustain the forest's, as its notes say); the chosen rung is the "monolith
  on NF-Core, resident" baseline, beside the DRAM-streamed one;
- simulates the forest at top-1 .. top-k and, when it has several tree kinds, with each
  kind's trees alone (the same trained forest with fewer trees routed: a few forest sizes);
- prices the forest and every resident rung at the config's node and again at each GPU's
  node (`nfcore.flows.system.at_node`, as the side-by-side table's NF-Core row at the GPU's
  node), so the chart has NF-Core and GPU curves at one node;
- puts each rung on each GPU, per launch mode, at the batch of least energy per inference
  that keeps up with the forest's arrival rate (`_gpu_best`, the one call into the GPU
  model of `nfcore.sim.baselines`);
- reads each curve's (a family at one node) energy at the forest's float test accuracy off
  its (accuracy, energy) points (`energy_at_accuracy`): measured where a rung reaches it,
  else interpolated, or extrapolated beyond the most accurate rung, and labelled so.

Accuracies are float test accuracies on the dataset's test split (the forest's routed
prediction, each rung's own); energies are pJ per inference including idle leakage for the
simulated rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from forest.trees import TreeModule
from nfcore.arch import noc
from nfcore.compiler.lower.split import partition_tree
from nfcore.compiler.quant.tree import quantize_tree
from nfcore.config import NFCoreConfig
from nfcore.errors import CompileError
from nfcore.flows.forest_system import ForestSystemRun, monolith_bytes
from nfcore.flows.system import (
    HOT_UTILIZATION,
    ArrivalSpec,
    arrival_interval_cycles,
    arrival_rate_per_s,
    at_node,
    gpu_nodes_nm,
)
from nfcore.sim import baselines as bl
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.system.model import simulate_system
from nfcore.sim.system.workload import SystemWorkload, tree_from_chain

RESIDENT_NAME = "monolith on NF-Core, resident"
FOREST = "forest on NF-Core"
MONOLITH_NFCORE = "monolith on NF-Core, resident"
MONOLITH_GPU = "monolith on {gpu}, best batch"


@dataclass(frozen=True)
class Point:
    """One point of the accuracy-energy chart."""

    model: str
    label: str
    """The short name the chart prints beside the point."""
    family: str
    """The curve it belongs to: `FOREST`, `MONOLITH_NFCORE` or a `MONOLITH_GPU` name."""
    accuracy: float
    energy_pj_per_inference: float
    node_nm: int
    """Process node the energy is priced at."""

    @property
    def curve(self) -> str:
        """The family at this point's node: the chart's curves and `equal_accuracy`'s keys."""
        return curve_name(self.family, self.node_nm)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "curve": self.curve}


def curve_name(family: str, node_nm: int) -> str:
    """A family's curve at one process node, e.g. "forest on NF-Core, 4 nm"."""
    return f"{family}, {node_nm} nm"


def compare_at_equal_accuracy(cfg: NFCoreConfig, run: ForestSystemRun, arrival: ArrivalSpec,
                              forest_row: bl.Baseline, progress: bool = False) -> dict[str, Any]:
    """Report data: `accuracy_energy` (points at the config's node and at each GPU's),
    `equal_accuracy` (the forest's energy at each node, and each other curve's energy at the
    forest's accuracy), `resident_baseline` (a baseline row at the config's node, None if no
    rung fits the chip) and `resident_verdicts` (`forest_row`, the forest's simulated row,
    against it)."""
    table = EnergyTable.load(cfg.technology.energy_table)
    gpu_table = bl.load_gpu_table()
    nodes = [cfg.technology.node_nm, *gpu_nodes_nm(cfg, gpu_table)]
    requests = len(run.workload.requests)
    arrivals = make_arrivals(requests, arrival.kind, arrival.interval_cycles, arrival.seed,
                             arrival.trace, cfg.clock_hz)
    mono = run.trained.monolith
    assert mono is not None  # run_forest_system refuses a forest without its monolith
    rate = arrival_rate_per_s(arrivals, cfg.clock_hz)
    points = forest_points(cfg, run, arrivals, table, nodes)
    calib = np.asarray(run.trained.data.x_train, dtype=np.float32)
    resident: bl.Baseline | None = None
    skipped = []
    for rung, tree in zip(mono.tried, mono.trees, strict=True):
        name = f"monolith {mono.spec.kind} {rung.width}x{rung.depth}"
        try:
            rows = [resident_monolith(at_node(cfg, n), tree, calib, requests, arrival, table,
                                      progress) for n in nodes]
        except CompileError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        size = f"{rung.width}x{rung.depth}"
        points += [Point(f"{name}, resident on NF-Core", size, MONOLITH_NFCORE,
                         rung.test_accuracy, row.energy_pj_per_inference, n)
                   for n, row in zip(nodes, rows, strict=True)]
        if rung.n_parameters == mono.n_parameters:
            resident = rows[0]
        for gpu, p, node in _gpu_best(gpu_table, monolith_bytes(tree, name), table, rate):
            points.append(Point(f"{name} on {gpu}, batch {p.batch}", f"{size}, b{p.batch}",
                                MONOLITH_GPU.format(gpu=gpu), rung.test_accuracy,
                                p.energy_pj_per_inference, node))
    target = mono.target_accuracy
    curves = {p.curve: p for p in points if p.family != FOREST}
    out: dict[str, Any] = {
        "accuracy_energy": [p.to_dict() for p in points],
        "equal_accuracy": {
            "target_accuracy": target,
            "forest_energy_pj_per_inference": _forest_energy(points, run.forest.top_k,
                                                             nodes[0]),
            "forest_at_nodes": [{"node_nm": n, "energy_pj_per_inference":
                                 _forest_energy(points, run.forest.top_k, n)} for n in nodes],
            "curves": {c: {"family": p.family, "node_nm": p.node_nm,
                           "on_gpu": p.family not in (FOREST, MONOLITH_NFCORE),
                           **energy_at_accuracy([(q.accuracy, q.energy_pj_per_inference)
                                                 for q in points if q.curve == c], target)}
                       for c, p in curves.items()},
            "monolith_reached_on_validation": mono.reached_on_validation,
            "monolith_matched_on_test": mono.matched,
            "skipped_rungs": skipped},
        "resident_baseline": None, "resident_verdicts": []}
    if resident is not None:
        out["resident_baseline"] = resident.to_dict()
        out["resident_verdicts"] = bl.verdicts(forest_row, [resident])
    return out


def merge_into(system: dict[str, Any], fair: dict[str, Any]) -> None:
    """Add `compare_at_equal_accuracy`'s data to a system report's data: the resident row
    before the floors, its verdicts, and the `accuracy_energy` and `equal_accuracy` keys."""
    rows = system["baselines"]
    if fair["resident_baseline"] is not None:
        at = next((i for i, b in enumerate(rows) if b["kind"] == "floor"), len(rows))
        rows.insert(at, fair["resident_baseline"])
    system["verdicts"] += fair["resident_verdicts"]
    system["accuracy_energy"] = fair["accuracy_energy"]
    system["equal_accuracy"] = fair["equal_accuracy"]


def forest_points(cfg: NFCoreConfig, run: ForestSystemRun, arrivals: Sequence[int],
                  table: EnergyTable, nodes: Sequence[int]) -> list[Point]:
    """The forest at top-1 .. top-k, and each tree kind alone at top-min(k, its trees), on
    the run's requests and placement: float test accuracy and simulated energy, priced at
    each of `nodes` (`at_node`)."""
    forest, data = run.forest, run.trained.data
    kinds = forest.tree_kinds()
    settings: list[tuple[str, int, str | None]] = [
        (f"top-{k} of {forest.n_trees}", k, None) for k in range(1, forest.top_k + 1)]
    if len(forest.kinds) > 1:
        settings += [(f"{kind} only, top-{min(forest.top_k, kinds.count(kind))} of "
                      f"{kinds.count(kind)}", min(forest.top_k, kinds.count(kind)), kind)
                     for kind in forest.kinds]
    out = []
    for label, k, kind in settings:
        name = f"forest, {label}"
        pred = forest.predict(data.x_test, k=k, kind=kind)
        acc = float(np.mean(pred.labels == data.y_test))
        picks = pred.trees.numpy()
        requests = tuple(tuple(int(t) for t in picks[i]) for i in run.request_rows)
        workload = replace(run.workload, requests=requests)
        for n in nodes:
            result = simulate_system(at_node(cfg, n), workload, arrivals, table)
            row = bl.nfcore_row(name, result, "", n)
            out.append(Point(name, label, FOREST, acc, row.energy_pj_per_inference, n))
    return out


def _forest_energy(points: list[Point], top_k: int, node_nm: int) -> float:
    """The energy of the forest as routed (top-k of every tree) at `node_nm`."""
    return next(p.energy_pj_per_inference for p in points
                if p.family == FOREST and p.node_nm == node_nm
                and p.label.startswith(f"top-{top_k} "))


def resident_monolith(cfg: NFCoreConfig, tree: TreeModule, calib_x: np.ndarray, requests: int,
                      arrival: ArrivalSpec, table: EnergyTable,
                      progress: bool = False) -> bl.Baseline:
    """A trained monolith compiled like a tree (int8, split over the fewest cores nearest the
    host that hold it), its weights resident, serving `requests` requests on the system
    model at `arrival`'s rate, or, where one copy cannot sustain that rate, at the rate that
    loads its busiest core to `HOT_UTILIZATION` (the notes say which). Raises
    `CompileError` if it does not fit the chip."""
    export = tree.export()
    quant = quantize_tree(export, calib_x.reshape(len(calib_x), *export.input_shape),
                          acc_bits=cfg.core.acc_bits, tree_id="monolith")
    program = partition_tree(quant, cfg.core, nearest_host(cfg), tree_id="monolith")
    placed = tree_from_chain(0, [(c.coord, c.instructions()) for c in program.cores],
                             program.lanes, input_bytes=program.plan.input_len,
                             output_bytes=program.plan.output_len, kind=program.kind,
                             wbuf_words=cfg.core.wbuf_words)
    workload = SystemWorkload((placed,), ((0,),) * requests, name="monolith-resident")
    ours = arrival.interval_cycles or 0.0
    own = arrival_interval_cycles(workload, cfg)
    rate = "at the forest's arrival rate" if own <= ours else (
        f"at {ours / own:.3g}x the forest's arrival rate (one copy cannot sustain it; its "
        f"busiest core {HOT_UTILIZATION:.0%} loaded)")
    arrivals = make_arrivals(requests, arrival.kind, max(ours, own), arrival.seed,
                             arrival.trace, cfg.clock_hz)
    result = simulate_system(cfg, workload, arrivals, table, progress=progress,
                             desc="monolith resident")
    cores = len(program.cores)
    return bl.nfcore_row(
        RESIDENT_NAME, result,
        f"{tree.n_parameters:,} int8 weights resident on {cores} core"
        f"{'s' if cores > 1 else ''} (split like a tree, the cores nearest the host), "
        f"{requests} requests {rate}, simulated", cfg.technology.node_nm, kind="baseline")


def nearest_host(cfg: NFCoreConfig) -> list[tuple[int, int]]:
    """Every core's (x, y), fewest router hops from the host first (then row, column)."""
    cores = [(x, y) for y in range(cfg.mesh.rows) for x in range(cfg.mesh.cols)]
    return sorted(cores, key=lambda c: (noc.hops(noc.HOST_ROUTER, c), c[1], c[0]))


def _gpu_best(gpu_table: bl.GpuTable, mono: bl.MonolithSpec, table: EnergyTable,
              rate_per_s: float | None) -> list[tuple[str, bl.GpuPoint, int]]:
    """Per GPU and launch mode of `gpu_table`: the batch of least energy per inference of
    `mono` among those that keep up with `rate_per_s` (`nfcore.sim.baselines.best_batches`),
    and the GPU's process node. The one call into the GPU model."""
    sweep = bl.gpu_sweep(gpu_table, mono, table, rate_per_s)
    return [(p.gpu if p.launch == "stream" else f"{p.gpu}, persistent kernel", p, p.node_nm)
            for p in bl.best_batches(sweep)]


def energy_at_accuracy(curve: Sequence[tuple[float, float]], target: float) -> dict[str, Any]:
    """Energy per inference at `target` accuracy on a curve of (accuracy, energy) points
    (at each accuracy the least energy), with log(energy) linear in accuracy between points:

    `measured` where a point has the target accuracy, or where the least accurate point is
    already above it (its energy); `interpolated` between the points either side of it;
    `extrapolated` from the two most accurate points when every point is below it (only where
    energy rises with accuracy there; else `unreachable`, energy None).
    """
    best: dict[float, float] = {}
    for a, e in curve:
        best[a] = min(e, best.get(a, math.inf))
    pts = sorted(best.items())
    below = [p for p in pts if p[0] < target]
    above = [p for p in pts if p[0] >= target]
    out: dict[str, Any] = {"energy_pj_per_inference": None, "method": "unreachable",
                           "points": len(curve)}
    if above and (not below or above[0][0] == target):
        return {**out, "energy_pj_per_inference": above[0][1], "method": "measured"}
    if above:
        (a0, e0), (a1, e1), method = below[-1], above[0], "interpolated"
    elif len(below) >= 2 and below[-1][1] > below[-2][1]:
        (a0, e0), (a1, e1), method = below[-2], below[-1], "extrapolated"
    else:
        return out
    slope = (math.log(e1) - math.log(e0)) / (a1 - a0)
    return {**out, "energy_pj_per_inference": math.exp(math.log(e0) + slope * (target - a0)),
            "method": method}
