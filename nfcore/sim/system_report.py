"""The system-level part of a report: run a workload and its baselines, and render them.

`build_system_report` simulates a `Workload` on the configured chip, runs every baseline on
the same requests, and returns report data (JSON-serialisable) plus the simulation result;
`write_system_figures` writes its PNGs and `system_markdown` its section of `report.md`.
`report.write_report` calls both when the data holds `baselines`, so a forest can be wired in
by building its `Workload` (trees placed, programs compiled, router selections) and calling
`build_system_report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nfcore.config import NFCoreConfig
from nfcore.sim import baselines as bl
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.energy import EnergyTable
from nfcore.sim.network_check import check_network
from nfcore.sim.plots import (
    plot_gpu_sweep,
    plot_idle_silicon,
    plot_latency_histogram,
    plot_mesh_heatmap,
)
from nfcore.sim.system import SystemResult, simulate_system
from nfcore.sim.system_energy import SystemEnergies, system_energy_summary
from nfcore.sim.workload import Workload

FIGURES = {"mesh_heatmap": "mesh_heatmap.png", "latency_histogram": "latency_histogram.png",
           "gpu_batch_sweep": "gpu_batch_sweep.png", "idle_silicon": "idle_silicon.png"}
LATENCY_QS = (50, 90, 99, 99.9)
HIST_BINS = 50


@dataclass(frozen=True)
class ArrivalSpec:
    """How requests arrive: `kind` fixed, poisson, burst or trace."""

    kind: str = "poisson"
    interval_cycles: float | None = 2000.0
    seed: int = 0
    trace: str | None = None


def default_monolith(workload: Workload) -> bl.MonolithSpec:
    """A monolith as large as the whole forest (every tree's weights and MACs). An assumption
    until the forest trains a monolith of equal accuracy; reports say so."""
    trees = workload.trees
    return bl.MonolithSpec(
        param_bytes=workload.forest_weight_bytes, macs=workload.forest_macs, layers=4,
        input_bytes=max(t.input_bytes for t in trees),
        output_bytes=max(t.output_bytes for t in trees),
        notes="assumption: monolith sized as the whole forest (all trees' weight bytes and "
              "MACs); replace with the trained monolith of equal accuracy")


def build_system_report(cfg: NFCoreConfig, workload: Workload, arrival: ArrivalSpec,
                        monolith: bl.MonolithSpec | None = None,
                        table: EnergyTable | None = None, all_trees_requests: int = 2,
                        progress: bool = False) -> tuple[dict[str, Any], SystemResult]:
    """Simulate `workload` and its baselines; return (report data, the forest's result)."""
    table = table or EnergyTable.load(cfg.technology.energy_table)
    energies = SystemEnergies.of(cfg, table)
    monolith = monolith or default_monolith(workload)
    arrivals = make_arrivals(len(workload.requests), arrival.kind, arrival.interval_cycles,
                             arrival.seed, arrival.trace, cfg.clock_hz)
    result = simulate_system(cfg, workload, arrivals, table, progress=progress)
    ours = bl.nfcore_row("NF-Core forest (top-k routing)", result,
                         f"{len(workload.requests)} requests, {arrival.kind} arrivals, "
                         "simulated; energy includes idle-silicon leakage spread over requests")
    gpu_table = bl.load_gpu_table()
    sweep = bl.gpu_sweep(gpu_table, monolith, table.value("hbm_pj_per_bit"))
    rows = [bl.all_trees(cfg, workload, table, all_trees_requests, progress),
            bl.monolith_nfcore_dram(cfg, energies, monolith)]
    for p in sweep:
        if p.batch in (1, max(bl.BATCHES)):
            rows.append(bl.Baseline(
                f"monolith on {p.gpu}, batch {p.batch}", p.energy_pj_per_inference,
                p.latency_s, f"roofline, {p.bound}-bound; HBM traffic alone "
                f"{p.hbm_pj_per_inference:,.0f} pJ per inference; time to fill the batch "
                "not counted"))
    # The GPU's best case: no launch gaps (the launch overhead and idle power are stated
    # parameters, not facts), at the largest batch.
    for gpu in gpu_table.gpus:
        best = bl.gpu_roofline(gpu, monolith, max(bl.BATCHES), 0.0, 0.0,
                               table.value("hbm_pj_per_bit"))
        rows.append(bl.Baseline(
            f"monolith on {gpu.name}, batch {best.batch}, no launch gaps",
            best.energy_pj_per_inference, best.latency_s,
            f"pure roofline (launch overhead and idle power set to 0), {best.bound}-bound: "
            "the GPU's best case; time to fill the batch not counted"))
    rows += bl.floors(cfg, energies, workload)

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
        "network_check": check_network(cfg, result.packets).to_dict(),
        "router_flits": result.router_flits.tolist(),
        "dram": result.dram,
        "weight_bytes_touched_per_request": {"forest": forest_touched,
                                             "monolith": monolith.param_bytes},
        "baselines": [r.to_dict() for r in [ours, *rows]],
        "verdicts": bl.verdicts(ours, rows),
        "gpu_sweep": [p.__dict__ for p in sweep],
        "gpu_table": {"path": str(gpu_table.path),
                      "gpus": [g.__dict__ for g in gpu_table.gpus],
                      "parameters": list(gpu_table.parameters)},
        "energy_model": system_energy_summary(cfg, table),
    }
    return data, result


def _dist(values: Any) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    out = {f"p{q:g}": float(np.percentile(arr, q)) for q in LATENCY_QS}
    out.update(mean=float(arr.mean()), max=float(arr.max()))
    return out


def write_system_figures(run_dir: Path, data: dict[str, Any]) -> None:
    """The PNGs of `FIGURES`, from report data alone (so a saved report can be redrawn)."""
    util = np.asarray(data["utilization"]["per_core"], dtype=float)
    flits = np.asarray(data.get("router_flits", np.zeros_like(util)), dtype=float)
    plot_mesh_heatmap(run_dir / FIGURES["mesh_heatmap"], util, flits.astype(np.int64))
    dist = data["latency_distribution"]
    plot_latency_histogram(run_dir / FIGURES["latency_histogram"], dist["histogram"]["counts"],
                           dist["histogram"]["edges"], {"p50": dist["p50"], "p99": dist["p99"]})
    series = data["idle_silicon_series"]
    plot_idle_silicon(run_dir / FIGURES["idle_silicon"], np.asarray(series["t_s"]),
                      np.asarray(series["idle_fraction"]))
    ours = data["baselines"][0]
    plot_gpu_sweep(run_dir / FIGURES["gpu_batch_sweep"], data["gpu_sweep"],
                   ours["energy_pj_per_inference"], ours["latency_s"])


def forest_markdown(forest: dict[str, Any] | None) -> list[str]:
    """The trained forest behind a system run: accuracies, monolith, placement."""
    if not forest:
        return []
    acc, touched, lay = forest["accuracy"], forest["params_touched_per_request"], forest["layout"]
    hop = lay["hop_bytes_per_request"]
    kinds = ", ".join(f"{n} {k}" for k, n in forest["trees_by_kind"].items())
    matched = "matched" if acc["monolith_matched"] else "NOT matched: no width tried reached it"
    return [
        "### The forest", "",
        f"- {forest['dataset']}: {forest['trees']} trees ({kinds}), top-{forest['top_k']} "
        "routing, trained in this run; monolith trained on the same data and sized to the "
        f"forest's accuracy ({matched})",
        "",
        "| model | test accuracy | parameters touched per request |",
        "| --- | --- | --- |",
        f"| forest, float | {acc['forest_float']:.4f} | {touched['forest']:,.0f} |",
        f"| forest, float, on the golden model's {acc['golden_requests']} requests | "
        f"{acc['float_forest_same_requests']:.4f} | |",
        f"| forest, int8 on the golden model ({acc['golden_requests']} requests, "
        f"{acc['golden_tree_runs']} tree runs, 0 mismatches) | "
        f"{acc['int8_forest_golden']:.4f} | |",
        f"| monolith, float | {acc['monolith_float']:.4f} | {touched['monolith']:,} |",
        "",
        f"- placement: {lay['resident_trees']} trees resident, {lay['paged_trees']} paged, "
        f"{lay['cores_used']} cores used (budget {lay['placement_budget_bytes_per_core']:,} "
        f"weight bytes per core); expected hop-bytes per request {hop['placed']:,.1f} "
        f"(random placement {hop.get('random', float('nan')):,.1f}, lower bound "
        f"{hop.get('lower_bound', float('nan')):,.1f})",
        "",
    ]


def memory_markdown(mem: dict[str, Any] | None) -> list[str]:
    """Host memory of the Conductor serving this forest, lazily versus whole."""
    if not mem:
        return []
    opened = mem["opened_mib"]
    return [
        "### Host memory of the Conductor", "",
        "Resident memory (VmRSS) of a host process serving this run's forest image, each "
        "figure from a fresh process (`nfcore/conductor/memory.py`); "
        "`make bench BENCH=conductor` gives the same figures for a 10,000-tree forest.", "",
        "| state | RSS (MiB) | trees loaded |",
        "| --- | --- | --- |",
        f"| modules imported, nothing opened | {mem['base_mib']:,.1f} | 0 |",
        f"| Conductor opened (manifest, stem, router) | {opened:,.1f} | 0 |",
        f"| lazy, after {mem['requests']} requests | {mem['lazy_mib']:,.1f} | "
        f"{mem['lazy_trees_loaded']} |",
        f"| whole forest loaded | {mem['whole_mib']:,.1f} | {mem['whole_trees_loaded']} |",
        "",
        f"- above the opened Conductor: lazy +{mem['lazy_mib'] - opened:,.1f} MiB, whole "
        f"+{mem['whole_mib'] - opened:,.1f} MiB (lazy includes serving the requests: "
        "batch buffers and the audit log; whole only loads, so for a small forest lazy can "
        f"be the larger); compiled weight bytes touched per request "
        f"{mem['weight_bytes_touched_per_request']:,.0f}",
        "",
    ]


def _network_check_lines(check: dict[str, Any] | None) -> list[str]:
    if not check or not check["packets"]:
        return []
    return [f"- network model: this run's {check['packets']:,} packets replayed through the "
            "router RTL's rules (`worm_network`, equal to the RTL on every array scenario): "
            f"the one-shot model used here is off by {100 * check['mean_error']:.2f}% in total "
            f"latency, {100 * check['per_packet_error']:.2f}% summed per packet "
            f"({check['equal_packets']:,} packets equal; `nfcore/sim/network_check.py`)"]


def system_markdown(data: dict[str, Any]) -> list[str]:
    """The system section of `report.md`: headline, side-by-side table, verdicts, figures,
    GPU sweep, power states, and the system energy rows and assumptions."""
    wl = data["system_workload"]
    lat = data["latency_s"]
    touched = data["weight_bytes_touched_per_request"]
    out = [
        "## System model: the forest on the mesh", "",
        f"- workload: {wl['name']}: {wl['trees']} trees ({wl['resident_trees']} resident), "
        f"{wl['mean_trees_per_request']:g} trees per request, mesh {wl['mesh'][0]} x "
        f"{wl['mesh'][1]}, arrivals {wl['arrival']['kind']}",
        f"- throughput: {data['throughput_rps']:,.0f} requests/s (simulated)",
        f"- latency: p50 {lat['p50'] * 1e6:,.3f} µs, p90 {lat['p90'] * 1e6:,.3f} µs, "
        f"p99 {lat['p99'] * 1e6:,.3f} µs, max {lat['max'] * 1e6:,.3f} µs",
        f"- idle silicon: {100 * data['idle_silicon_fraction']:.1f}% of core-cycles; "
        f"mean core utilization {100 * data['utilization']['mean']:.2f}%",
        f"- cores woken per request: {data['cores_woken_per_request']:.2f}; network packets "
        f"that waited: {data['network']['waited_packets']} of {data['network']['packets']}",
        *_network_check_lines(data.get("network_check")),
        f"- weight bytes touched per request: forest {touched['forest']:,.0f}, "
        f"monolith {touched['monolith']:,}",
        f"- technology: energy_scale = {data['energy_model']['energy_scale']:g} applied to "
        f"table `{data['energy_model']['table']}`", "",
        *forest_markdown(data.get("forest")),
        *memory_markdown(data.get("host_memory")),
        "### Side by side (same requests)", "",
        "Latency is the median request latency for simulated rows and the batch's latency for "
        "the GPU rows; energy per inference for NF-Core includes the leakage of idle silicon.",
        "",
        "| | energy per inference (pJ) | latency (µs) | notes |", "| --- | --- | --- | --- |",
    ]
    for b in data["baselines"]:
        lat_us = "-" if b["latency_s"] is None else f"{b['latency_s'] * 1e6:,.3f}"
        out.append(f"| {b['name']} | {b['energy_pj_per_inference']:,.0f} | {lat_us} | "
                   f"{b['notes']} |")
    out += ["", "Where NF-Core stands (generated from the numbers above):", ""]
    out += [f"- {v}" for v in data["verdicts"]]
    ours = data["baselines"][0]
    out += ["", "### NF-Core energy per inference by component", "",
            "| component | pJ | share |", "| --- | --- | --- |"]
    total = ours["energy_pj_per_inference"]
    for k, v in ours["by_component"].items():
        out.append(f"| {k} | {v:,.1f} | {100 * v / total if total else 0:.1f}% |")
    out += ["", f"![mesh heatmap]({FIGURES['mesh_heatmap']})", "",
            f"![latency histogram]({FIGURES['latency_histogram']})", "",
            f"![idle silicon]({FIGURES['idle_silicon']})", "",
            "### Monolith on GPU: batch sweep (roofline)", "",
            f"![GPU batch sweep]({FIGURES['gpu_batch_sweep']})", "",
            "| GPU | batch | latency (µs) | energy per inference (pJ) | bound |",
            "| --- | --- | --- | --- | --- |"]
    for p in data["gpu_sweep"]:
        out.append(f"| {p['gpu']} | {p['batch']} | {p['latency_s'] * 1e6:,.2f} | "
                   f"{p['energy_pj_per_inference']:,.0f} | {p['bound']} |")
    out += ["", "GPU figures and parameters:", ""]
    out += [f"- {g['name']}: {g['hbm_bandwidth_bytes_per_s'] / 1e12:g} TB/s HBM, "
            f"{g['int8_ops_per_s_dense'] / 1e12:,.0f} TOPS int8 dense, {g['board_power_w']:g} W "
            f"({g['source']})" for g in data["gpu_table"]["gpus"]]
    out += [f"- {p['name']} = {p['value']:g} (assumption: {p.get('reason', '')})"
            for p in data["gpu_table"]["parameters"]]
    out += ["", "### Power states (core-cycles over the span)", "",
            "| state | core-cycles |", "| --- | --- |"]
    out += [f"| {k} | {v:,} |" for k, v in data["power_state_core_cycles"].items()]
    em = data["energy_model"]
    out += ["", "### System energy: per-event figures (pJ, scale applied)", ""]
    out += [f"- {k}: {v:.6g}" for k, v in em["system_per_event_pj"].items()]
    out += ["", "### System energy rows and sources", "",
            "| row | value | unit | assumption | source |", "| --- | --- | --- | --- | --- |"]
    for r in em["rows"]:
        out.append(f"| {r['name']} | {r['value']:g} | {r['unit']} | "
                   f"{'yes' if r['assumption'] else 'no'} | {r['source']} |")
    out += ["", "### Assumptions", ""]
    out += [f"- {a}" for a in em["assumptions"]]
    out += [f"- monolith: {wl['monolith']['notes']}"] if wl["monolith"].get("notes") else []
    out.append("")
    return out
