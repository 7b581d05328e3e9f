"""Run a workload and its baselines on the system model: the data of a report's system part.

`build_system_report` simulates a `SystemWorkload` on the configured chip, runs every baseline on
the same requests, and returns report data (JSON-serialisable) plus the simulation result;
`nfcore.report.system` renders it. A forest is wired in by building its `SystemWorkload` (trees
placed, programs compiled, router selections) and calling `build_system_report`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.flows.chips import simulate
from nfcore.sim import baselines as bl
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.nodes import nodes_summary
from nfcore.sim.cost.system_energy import SystemEnergies, system_energy_summary
from nfcore.sim.system.model import SystemResult
from nfcore.sim.system.workload import SystemWorkload

LATENCY_QS = (50, 90, 99, 99.9)
HIST_BINS = 50


@dataclass(frozen=True)
class ArrivalSpec:
    """How requests arrive: `kind` fixed, poisson, burst or trace."""

    kind: str = "poisson"
    interval_cycles: float | None = 2000.0
    seed: int = 0
    trace: str | None = None

    def cycles(self, n: int, clock_hz: float) -> list[int]:
        """Arrival cycles of `n` requests (`nfcore.sim.arrivals.make_arrivals`)."""
        return make_arrivals(n, self.kind, self.interval_cycles, self.seed, self.trace,
                             clock_hz)


HOT_UTILIZATION = 0.5
"""Offered load of the default arrival process: the busiest resource, a core (its trees'
routing frequency times their program cycles) or the host link (one flit per cycle for
every input and output packet), is busy this share of the time."""


def arrival_interval_cycles(workload: SystemWorkload, cfg: NFCoreConfig,
                            utilization: float = HOT_UTILIZATION) -> float:
    """Mean cycles between requests that load the busiest core or the host link to
    `utilization` (the on-chip router, if any, runs for every request)."""
    lanes = cfg.core.lanes
    core_load = np.zeros(cfg.mesh.rows * cfg.mesh.cols)
    host_flits = 0
    router = () if workload.router is None else (workload.router,)
    for sel in workload.requests:
        for tree in (*router, *(workload.trees[t] for t in sel)):
            core_load[tree.core_xy[1] * cfg.mesh.cols + tree.core_xy[0]] += tree.program_cycles
            host_flits += (sum(noc.transfer_packets(tree.input_bytes, lanes))
                           + sum(noc.transfer_packets(tree.output_bytes, lanes)))
    busiest = max(float(core_load.max()), float(host_flits))
    return busiest / len(workload.requests) / utilization


def default_monolith(workload: SystemWorkload) -> bl.MonolithSpec:
    """A monolith as large as the whole forest (every tree's weights and MACs). An assumption
    until the forest trains a monolith of equal accuracy; reports say so."""
    trees = workload.trees
    return bl.MonolithSpec(
        param_bytes=workload.forest_weight_bytes, macs=workload.forest_macs, layers=4,
        input_bytes=max(t.input_bytes for t in trees),
        output_bytes=max(t.output_bytes for t in trees),
        notes="assumption: monolith sized as the whole forest (all trees' weight bytes and "
              "MACs); replace with the trained monolith of equal accuracy")


def build_system_report(cfg: NFCoreConfig, workload: SystemWorkload, arrival: ArrivalSpec,
                        monolith: bl.MonolithSpec | None = None,
                        table: EnergyTable | None = None, all_trees_requests: int = 2,
                        progress: bool = False) -> tuple[dict[str, Any], SystemResult]:
    """Simulate `workload` and its baselines; return (report data, the forest's result)."""
    table = table or EnergyTable.load(cfg.technology.energy_table)
    energies = SystemEnergies.of(cfg, table)
    monolith = monolith or default_monolith(workload)
    arrivals = arrival.cycles(len(workload.requests), cfg.clock_hz)
    result, chips = simulate(cfg, workload, arrivals, table, progress=progress)
    notes = (f"{len(workload.requests)} requests, {arrival.kind} arrivals, simulated; energy "
             "includes idle-silicon leakage spread over requests")
    node = cfg.technology.node_nm
    ours = bl.nfcore_row(f"NF-Core forest (top-k routing), {node} nm", result, notes, node)
    gpu_table = bl.load_gpu_table()
    rate = arrival_rate_per_s(arrivals, cfg.clock_hz)
    sweep = bl.gpu_sweep(gpu_table, monolith, table, rate)
    rows = [_at_node(cfg, workload, arrivals, table, gpu_nm, notes)
            for gpu_nm in gpu_nodes_nm(cfg, gpu_table)]
    if chips is None:  # every tree on one request needs one chip's placement
        rows.append(bl.all_trees(cfg, workload, table, all_trees_requests, progress))
    rows.append(bl.monolith_nfcore_dram(cfg, energies, monolith))
    best = bl.best_batches(sweep)
    for p in sweep:
        if p.batch == 1 and p.launch == "stream":
            rows.append(bl.gpu_row(p, "batch 1"))
    rows += [bl.gpu_row(p, "the batch of least energy per inference at this run's arrival "
                        f"rate ({rate or 0:,.0f} requests/s)") for p in best]
    rows += bl.floors(cfg, energies, workload, table)

    lat_c = result.latencies_cycles()
    lat_s = lat_c / cfg.clock_hz
    t_bins, idle = result.idle_silicon_series()
    util = result.utilization
    forest_touched = float(np.mean([r.weight_bytes_touched for r in result.records]))
    data: dict[str, Any] = {
        "requests": len(result.records),
        "system_workload": {
            "name": workload.name, "trees": len(workload.trees),
            "resident_trees": sum(t.resident for t in workload.trees),
            "forest_weight_bytes": workload.forest_weight_bytes,
            "forest_macs": workload.forest_macs,
            "mean_trees_per_request": float(np.mean([len(s) for s in workload.requests])),
            "mesh": [cfg.mesh.rows, cfg.mesh.cols], "arrival": arrival.__dict__,
            "monolith": monolith.__dict__, **{str(k): v for k, v in workload.notes.items()},
        },
        "throughput_rps": result.throughput_rps,
        "latency_cycles": _dist(lat_c),
        "latency_s": _dist(lat_s),
        "latency_distribution": {
            "unit": "s", **_dist(lat_s),
            "histogram": dict(zip(("counts", "edges"),
                                  (a.tolist() for a in np.histogram(lat_s, bins=HIST_BINS)),
                                  strict=True))},
        "energy_pj_per_inference": {"total": ours.energy_pj_per_inference,
                                    "by_component": ours.by_component},
        "idle_silicon_fraction": result.idle_silicon_fraction,
        "idle_silicon_series": {"t_s": (t_bins / cfg.clock_hz).tolist(),
                                "idle_fraction": idle.tolist()},
        "utilization": {"mean": float(util.mean()), "max": float(util.max()),
                        "per_core": util.tolist()},
        "power_state_core_cycles": result.power_cycles,
        "wakes": result.wakes,
        "cores_woken_per_request": float(np.mean([r.cores_woken for r in result.records])),
        "bytes_moved_per_request": {k: float(np.mean([r.bytes_moved[k] for r in result.records]))
                                    for k in result.records[0].bytes_moved},
        "network": result.network,
        "plan": result.plan,
        "router_flits": result.router_flits.tolist(),
        "dram": result.dram,
        "weight_bytes_touched_per_request": {"forest": forest_touched,
                                             "monolith": monolith.param_bytes},
        "baselines": [r.to_dict() for r in [ours, *rows]],
        "verdicts": bl.verdicts(ours, rows),
        "gpu_sweep": [p.__dict__ for p in sweep],
        "gpu_best_batch": [p.__dict__ for p in best],
        "arrival_rate_per_s": rate,
        "technology": {"nodes": nodes_summary(table.node_nm, {
            "nfcore": node, **{g.name: g.node_nm for g in gpu_table.gpus}})},
        "gpu_table": {"path": str(gpu_table.path),
                      "gpus": [g.__dict__ for g in gpu_table.gpus],
                      "parameters": list(gpu_table.parameters)},
        "energy_model": system_energy_summary(cfg, table),
    }
    if chips is not None:
        data["chips"] = chips
    return data, result


def arrival_rate_per_s(arrivals: list[int], clock_hz: float) -> float | None:
    """The offered load of `arrivals` (cycles), in requests per second; None for fewer than
    two requests or all at once."""
    span = (max(arrivals) - min(arrivals)) / clock_hz if len(arrivals) > 1 else 0.0
    return (len(arrivals) - 1) / span if span > 0 else None


def gpu_nodes_nm(cfg: NFCoreConfig, gpu_table: bl.GpuTable) -> list[int]:
    """The GPU table's process nodes other than the config's, ascending: the nodes NF-Core is
    priced at again so that each GPU row has an NF-Core row at its own node."""
    return sorted({g.node_nm for g in gpu_table.gpus} - {cfg.technology.node_nm})


def at_node(cfg: NFCoreConfig, node_nm: int) -> NFCoreConfig:
    """`cfg` with the chip's energies priced at `node_nm` (technology.nodes); cycles are
    unchanged (the clock is the config's). The one way a run is priced at another node."""
    return replace(cfg, technology=replace(cfg.technology, node_nm=node_nm))


def _at_node(cfg: NFCoreConfig, workload: SystemWorkload, arrivals: list[int],
             table: EnergyTable, node_nm: int, notes: str) -> bl.Baseline:
    """The same run with the chip's energies priced at `node_nm` (`at_node`)."""
    result, _ = simulate(at_node(cfg, node_nm), workload, arrivals, table)
    return bl.nfcore_row(f"NF-Core forest (top-k routing), at the GPU's {node_nm} nm", result,
                         f"{notes}; the same run with energies moved to {node_nm} nm "
                         "(technology.nodes)", node_nm)


def _dist(values: Any) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    out = {f"p{q:g}": float(np.percentile(arr, q)) for q in LATENCY_QS}
    out.update(mean=float(arr.mean()), max=float(arr.max()))
    return out
