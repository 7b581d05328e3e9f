"""The system-level part of a report: its figures and its section of `report.md`.

`nfcore.flows.system.build_system_report` produces the data; `write_system_figures` writes
its PNGs and `system_markdown` its section of `report.md`. `run.write_report` calls both when
the data holds `baselines`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nfcore.report.plots import (
    plot_gpu_sweep,
    plot_idle_silicon,
    plot_latency_histogram,
    plot_mesh_heatmap,
)

FIGURES = {"mesh_heatmap": "mesh_heatmap.png", "latency_histogram": "latency_histogram.png",
           "gpu_batch_sweep": "gpu_batch_sweep.png", "idle_silicon": "idle_silicon.png"}
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
    gpu_nodes = {p["node_nm"] for p in data["gpu_sweep"]}
    moved = next((b for b in data["baselines"][1:]
                  if b["kind"] == "nfcore" and b.get("node_nm") in gpu_nodes), None)
    plot_gpu_sweep(run_dir / FIGURES["gpu_batch_sweep"], data["gpu_sweep"],
                   ours["energy_pj_per_inference"], ours["latency_s"],
                   None if moved is None else (moved["node_nm"],
                                               moved["energy_pj_per_inference"]))


TIE_REL_TOL = 0.005
"""Energies within this relative distance are called a tie (as `baselines.verdicts` does)."""
ACCURACY_TOL = 0.005
"""Accuracies within this distance are called equal when the data has no `monolith_matched`."""


def headline_lines(data: dict[str, Any]) -> list[str]:
    """The first lines of `report.md`: NF-Core's energy per inference against the best GPU
    row at equal accuracy and the same node, then at the config's node, with the accuracy
    each side reaches and the assumptions that dominate each figure.

    The GPU figure is the least energy of the GPU curves of `equal_accuracy` (the monolith
    ladder on each GPU, read at the forest's accuracy, labelled measured, interpolated or
    extrapolated); where no GPU curve reaches that accuracy, the GPU's cheapest point of any
    rung, and the lines say the comparison is NOT at equal accuracy; without
    `equal_accuracy` (no trained forest), the monolith's best GPU row (`_gpu_reference`).
    The first line is the same-node comparison, loss or win; of the lines after it, those
    where NF-Core loses come first. Generated from `data` (a system section) alone; empty
    if it has no GPU rows."""
    rows = data["baselines"]
    gpus = data.get("gpu_best_batch") or []
    if not gpus:
        return []
    trained = min(gpus, key=lambda p: p["energy_pj_per_inference"])
    node, gpu_pj, figure, where, basis = _gpu_reference(data, trained)
    ours = rows[0]
    same = next((b for b in rows if b["kind"] == "nfcore" and b.get("node_nm") == node), None)
    statements: list[tuple[bool, str]] = []
    pairs = [] if same is None else [(same, f" at {basis[0]}the same node ({node} nm)"
                                            f"{basis[1]}")]
    if same is not ours:
        pairs.append((ours, f" at {basis[0]}NF-Core's own node ({ours.get('node_nm')} nm) "
                            f"against the GPU's {node} nm{basis[2]}"))
    for row, label in pairs:
        pj = row["energy_pj_per_inference"]
        if abs(pj - gpu_pj) <= TIE_REL_TOL * max(pj, gpu_pj):
            statements.append((False, f"NF-Core TIES with the best GPU row on energy{label}: "
                                      f"{pj:,.0f} pJ vs {figure} for {where}."))
        elif pj > gpu_pj:
            statements.append((True, f"NF-Core LOSES on energy{label}: {pj:,.0f} pJ per "
                                     f"inference vs {figure} for {where}, "
                                     f"{pj / gpu_pj:,.2f}x worse."))
        else:
            statements.append((False, f"NF-Core wins on energy{label}: {pj:,.0f} pJ per "
                                      f"inference vs {figure} for {where}, "
                                      f"{gpu_pj / pj:,.2f}x better."))
    lat, gpu_lat = ours["latency_s"], trained["latency_s"]
    if lat is not None:
        statements.append((lat > gpu_lat, f"Latency at the same arrival rate "
                           f"({data.get('arrival_rate_per_s') or 0:,.0f} requests/s): NF-Core "
                           f"p50 {lat * 1e6:,.3f} µs vs {gpu_lat * 1e6:,.3f} µs for the trained "
                           f"monolith's best GPU row ({trained['gpu']}, {trained['launch']} "
                           f"launch, batch {trained['batch']}; batch fill "
                           f"{trained['fill_wait_s'] * 1e6:,.3f} µs included)."))
    if same is not None:
        statements.append(_no_idle_statement(data, trained, same))
    # The first statement is the same-node comparison (or, without one, the config's node);
    # of the rest, losses come first.
    first, rest = statements[0], sorted(statements[1:], key=lambda st: not st[0])
    out = [f"**{first[1]}**", ""] + [f"- {text}" for _, text in rest]
    equal = _best_gpu_at_equal_accuracy(data.get("equal_accuracy"))
    out += [f"- {_accuracy_sentence(data.get('forest'), equal)}",
            *_assumption_lines(data, trained, same), ""]
    return out


def _no_idle_statement(data: dict[str, Any], trained: dict[str, Any],
                       same: dict[str, Any]) -> tuple[bool, str]:
    """NF-Core at the GPU's node against the trained monolith's best GPU row charged its
    dynamic energy only: the GPU's bound that the assumed idle power cannot move (True when
    NF-Core loses it)."""
    dyn, pj = trained["dynamic_pj_per_inference"], same["energy_pj_per_inference"]
    forest = data.get("forest") or {}
    acc = (forest.get("accuracy") or {}).get("monolith_float")
    model = "the trained monolith" + ("" if acc is None else f" (accuracy {acc:.4f})")
    verdict = (f"NF-Core LOSES this bound, {pj / dyn:,.2f}x worse" if pj > dyn else
               f"NF-Core still wins, {dyn / pj:,.2f}x better")
    return pj > dyn, (f"With no GPU idle power at all (the bound the assumed idle power cannot "
                      f"move): {model} on {trained['gpu']} ({trained['launch']} launch, batch "
                      f"{trained['batch']}) costs {dyn:,.0f} pJ per inference vs NF-Core's "
                      f"{pj:,.0f} pJ at the same node ({same.get('node_nm')} nm): {verdict}.")


READ_AS = {"measured": "measured: a rung reaches that accuracy",
           "interpolated": "interpolated between the rungs either side of that accuracy",
           "extrapolated": "extrapolated beyond the most accurate rung: a trend, not a "
                           "measurement"}
"""How an `equal_accuracy` figure was read off its curve, as printed beside it."""


def _gpu_reference(data: dict[str, Any], trained: dict[str, Any]
                   ) -> tuple[int, float, str, str, tuple[str, str, str]]:
    """The GPU figure the headline compares with: (its node, its pJ per inference, the figure
    as printed, what it is, and the words that qualify the comparison: before the node, after
    the first line's, after the others').

    At equal accuracy: the GPU curve of least energy read at the forest's accuracy. Where no
    GPU curve reaches it: the GPU's cheapest point of any rung (all less accurate than the
    forest; the comparison most favourable to the GPU). Without `equal_accuracy`: the
    trained monolith's best GPU row."""
    eq = data.get("equal_accuracy")
    equal = _best_gpu_at_equal_accuracy(eq)
    if equal is not None:
        curve, est = equal
        assert eq is not None  # `equal` is read from it
        return (est["node_nm"], est["energy_pj_per_inference"],
                f"{est['energy_pj_per_inference']:,.0f} pJ ({READ_AS[est['method']]})",
                f"the {curve} curve read at the forest's accuracy {eq['target_accuracy']:.4f}",
                ("equal accuracy and ", "", ""))
    not_equal = ("", "", "") if eq is None else (
        "", ", NOT at equal accuracy (no rung of the monolith ladder reaches the forest's "
        f"accuracy {eq['target_accuracy']:.4f} on a GPU, nor does its curve rise towards it)",
        ", NOT at equal accuracy")
    gpu_points = [p for p in (data.get("accuracy_energy") or [])
                  if (eq or {}).get("curves", {}).get(p.get("curve"), {}).get("on_gpu")]
    if gpu_points:
        p = min(gpu_points, key=lambda q: q["energy_pj_per_inference"])
        return (p["node_nm"], p["energy_pj_per_inference"],
                f"{p['energy_pj_per_inference']:,.0f} pJ",
                f"{p['model']} ({p['node_nm']} nm), the GPU's cheapest rung, at test accuracy "
                f"{p['accuracy']:.4f}", not_equal)
    node = trained["node_nm"]
    return (node, trained["energy_pj_per_inference"],
            f"{trained['energy_pj_per_inference']:,.0f} pJ",
            f"the monolith on {trained['gpu']} ({trained['launch']} launch, batch "
            f"{trained['batch']}, weights from {trained['weights_from']}, {node} nm)", not_equal)


def _best_gpu_at_equal_accuracy(
        eq: dict[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """The GPU curve of least energy at the forest's accuracy, as (curve, its reading); None
    without `equal_accuracy` or when no GPU curve reaches that accuracy."""
    read = [(c, est) for c, est in (eq or {}).get("curves", {}).items()
            if est.get("on_gpu") and est["energy_pj_per_inference"] is not None]
    return min(read, key=lambda ce: ce[1]["energy_pj_per_inference"]) if read else None


def _accuracy_sentence(forest: dict[str, Any] | None,
                       equal: tuple[str, dict[str, Any]] | None) -> str:
    if not forest:
        return ("Accuracy: not in this report (a synthetic workload): the comparison is not "
                "at equal accuracy.")
    acc = forest["accuracy"]
    f, m = acc["forest_float"], acc.get("monolith_float")
    if equal is not None:
        trained = "" if m is None else f"; the monolith that was trained reached {m:.4f}"
        return (f"Accuracy (float, test split): forest {f:.4f}; the GPU figure is the "
                f"monolith ladder's energy at that accuracy, {equal[1]['method']} with "
                "log(energy) linear in accuracy between or beyond the nearest rungs (the "
                f"accuracy-energy section){trained}.")
    if m is None:
        return f"Accuracy: forest {f:.4f}; no trained monolith in this report."
    equal_acc = acc.get("monolith_matched")
    if equal_acc is None:
        equal_acc = m >= f - ACCURACY_TOL
    verdict = ("equal accuracy" if equal_acc else
               "NOT equal accuracy: the GPU rows run a less accurate model" if m < f else
               "NOT equal accuracy: the GPU rows run a more accurate model")
    return (f"Accuracy (float, test split): forest {f:.4f}, monolith {m:.4f}: {verdict}.")


NODE_BASIS = {
    "weight_sram": "SRAM reads moved by the logic fit (assumed)",
    "act_sram": "SRAM reads moved by the logic fit (assumed)",
    "leakage": "leakage moved by the logic fit (assumed)",
    "mac": "logic: the Stillmaker and Baas fit",
    "control": "logic: the Stillmaker and Baas fit",
    "wakeup": "logic: the Stillmaker and Baas fit",
    "network": "routers by the logic fit, wires by the supply's square (assumed)",
    "dram": "off-chip, not moved",
    "router": "the router's run: each of its parts as the trees' above",
}
"""How each system energy component moves to another node (`nfcore.sim.cost.nodes`), as
printed beside its share of a figure priced at another node."""


def _assumption_lines(data: dict[str, Any], trained: dict[str, Any],
                      same: dict[str, Any] | None) -> list[str]:
    """The assumptions that dominate each side's figure, with their shares."""
    idle_share = 1 - trained["dynamic_pj_per_inference"] / trained["energy_pj_per_inference"]
    params = {p["name"]: p for p in data["gpu_table"]["parameters"]}
    launch = ("persistent_launch_overhead_s" if trained["launch"] == "persistent"
              else "kernel_launch_overhead_s")
    out = [f"- GPU side's dominating assumptions: idle power {params['idle_power_w']['value']:g}"
           f" W (assumed) is {100 * idle_share:.1f}% of the energy of the trained monolith's "
           f"best GPU row; launch gap {params[launch]['value'] * 1e6:g} µs per layer "
           f"({trained['launch']} launch, assumed); dynamic energy from the energy table "
           "moved to the GPU's node (the same figures NF-Core is charged)."]
    if same is not None and same.get("by_component"):
        total = same["energy_pj_per_inference"]
        scaling = data["technology"]["nodes"]["scaling"]
        factor = next((sc for sc in scaling.values() if sc["to_nm"] == same.get("node_nm")),
                      None)
        top = sorted(same["by_component"].items(), key=lambda kv: -kv[1])[:2]
        parts = ", ".join(f"{k} {100 * v / total:.1f}%"
                          + ("" if factor is None or k not in NODE_BASIS
                             else f" ({NODE_BASIS[k]})") for k, v in top)
        moved = ("" if factor is None else
                 f"; energies moved from {factor['from_nm']} nm by x{factor['logic']:.4g} "
                 f"(logic, SRAM, leakage) and x{factor['wire']:.4g} (wires): Stillmaker and "
                 "Baas 2017 fitted on logic, SRAM and leakage assumed to follow it, the nodes "
                 "beyond 7 nm assumed (technology.nodes)")
        out.append(f"- NF-Core side's largest components at {same.get('node_nm')} nm: "
                   f"{parts}{moved}.")
    return out


def forest_markdown(forest: dict[str, Any] | None) -> list[str]:
    """The trained forest behind a system run: accuracies, monolith, placement."""
    if not forest:
        return []
    acc, touched, lay = forest["accuracy"], forest["params_touched_per_request"], forest["layout"]
    hop = lay["hop_bytes_per_request"]
    kinds = ", ".join(f"{n} {k}" for k, n in forest["trees_by_kind"].items())
    ladder = forest.get("monolith_ladder") or {}
    matched = ("matched" if acc["monolith_matched"] else
               "NOT matched: a rung reached it on validation but not on test"
               if ladder.get("reached_on_validation") else
               "NOT matched: no rung of the ladder (widths and depths) reached it")
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
        f"| forest, int8 on the golden model (router and trees; {acc['golden_requests']} "
        f"requests, {acc['golden_tree_runs']} tree runs, 0 mismatches) | "
        f"{acc['int8_forest_golden']:.4f} | |",
        f"| monolith, float | {acc['monolith_float']:.4f} | {touched['monolith']:,} |",
        "",
        *_router_lines(forest.get("router"), acc),
        f"- placement: {lay['resident_trees']} trees resident, {lay['paged_trees']} paged, "
        f"{lay['cores_used']} cores used (budget {lay['placement_budget_bytes_per_core']:,} "
        f"weight bytes per core); expected hop-bytes per request {hop['placed']:,.1f} "
        f"(random placement {hop.get('random', float('nan')):,.1f}, lower bound "
        f"{hop.get('lower_bound', float('nan')):,.1f})",
        "",
    ]


def _router_lines(router: dict[str, Any] | None, acc: dict[str, Any]) -> list[str]:
    """The on-chip router: where it runs, its size, and how often its int8 picks are the
    float router's."""
    if not router:
        return []
    return [f"- router: int8 on core ({router['core'][0]}, {router['core'][1]}), "
            f"{router['parameters']:,} parameters ({router['weight_bytes']:,} weight bytes), "
            f"{router['program_cycles']:,} cycles a request; its int8 top-k is the float "
            f"router's on {acc['router_int8_float_same_picks']:.1%} of the golden model's "
            "requests", ""]


def memory_markdown(mem: dict[str, Any] | None) -> list[str]:
    """Host memory of the Conductor serving this forest, lazily versus whole."""
    if not mem:
        return []
    opened = mem["opened_mib"]
    return [
        "### Host memory of the Conductor", "",
        "Resident memory (VmRSS) of a host process serving this run's forest image, each "
        "figure from a fresh process (`nfcore/flows/host_memory.py`); "
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


def _chips_lines(chips: dict[str, Any] | None) -> list[str]:
    """The multi-chip line: trees per chip, requests crossing, the links' bytes, waits,
    latency and energy (`nfcore.sim.system.chips`)."""
    if not chips:
        return []
    link, per = chips["link"], chips["per_request"]
    sent = [lk for lk in chips["links"] if lk["messages"]]
    waited = sum(lk["waited_messages"] for lk in sent)
    messages = sum(lk["messages"] for lk in sent)
    return [f"- chips: {chips['count']} ({chips['topology']}), trees per chip "
            f"{chips['trees_per_chip']}; {chips['requests_crossing']:,} requests "
            f"({100 * chips['share_crossing']:.1f}%) called a chip past the host chip; links of "
            f"{link['bandwidth_gbps']:g} Gb/s, {link['latency_ns']:g} ns, "
            f"{link['energy_pj_per_bit']:g} pJ/bit: per request {per['link_bytes']:,.1f} "
            f"bytes, {per['link_wait_s'] * 1e9:,.1f} ns queued, "
            f"{per['link_energy_pj']:,.1f} pJ; {waited:,} of {messages:,} messages waited"]


def _nodes_lines(data: dict[str, Any]) -> list[str]:
    """The node table the run used: every node's energy and logic area against 45 nm."""
    nodes = data["technology"]["nodes"]
    rows = ", ".join(f"{n['node_nm']} nm x{n['energy_vs_45nm']:.4g}"
                     + (" (assumed)" if n["assumption"] else "") for n in nodes["nodes"])
    return [f"- node model `{nodes['table']}` (Stillmaker and Baas 2017; energy against "
            f"45 nm): {rows}"]


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
        f"- cores woken per request: {data['cores_woken_per_request']:.2f}; host packets "
        f"that waited: {data['network']['waited_packets']:,} of "
        f"{data['network']['host_packets']:,} ({data['network']['packets']:,} packets in all)",
        f"- network model: the router RTL's rules, flit by flit (`nfcore.sim.net.array` on the "
        f"compiled loop of `nfcore.sim.net.kernel`, equal to the RTL on every array scenario "
        f"and on this run's slice, `sim_vs_rtl`), the host's plan "
        f"in {data['plan']['passes']} exact run(s)"
        + ("" if data["plan"]["converged"] else ", NOT converged"),
        *_chips_lines(data.get("chips")),
        f"- weight bytes touched per request: forest {touched['forest']:,.0f}, "
        f"monolith {touched['monolith']:,}",
        f"- technology: {data['energy_model']['node_nm']} nm; table "
        f"`{data['energy_model']['table']}` moved from "
        f"{data['energy_model']['node_scaling']['from_nm']} nm by "
        f"x{data['energy_model']['node_scaling']['logic']:.4g} (logic, SRAM, leakage) and "
        f"x{data['energy_model']['node_scaling']['wire']:.4g} (wires); energy_scale = "
        f"{data['energy_model']['energy_scale']:g} on top", *_nodes_lines(data), "",
        *forest_markdown(data.get("forest")),
        *memory_markdown(data.get("host_memory")),
        "### Side by side (same requests)", "",
        "Latency is the median request latency for simulated rows and, for the GPU rows, the "
        "mean wait for the batch to fill at the same arrival rate plus the batch's service; "
        "energy per inference for NF-Core includes the leakage of idle silicon. Each row is "
        "priced at its node (see technology.nodes).",
        "",
        "| | node (nm) | energy per inference (pJ) | latency (µs) | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for b in data["baselines"]:
        lat_us = "-" if b["latency_s"] is None else f"{b['latency_s'] * 1e6:,.3f}"
        out.append(f"| {b['name']} | {b.get('node_nm') or '-'} | "
                   f"{b['energy_pj_per_inference']:,.0f} | {lat_us} | {b['notes']} |")
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
            "### Monolith on GPU: batch sweep", "",
            f"At this run's arrival rate, {data['arrival_rate_per_s'] or 0:,.0f} requests/s: "
            "latency is the mean wait for the batch to fill, (batch - 1) / (2 x rate), plus "
            "the batch's service (launch gaps and roofline kernel time); energy is idle power "
            "over the service plus the dynamic energy of weight reads, I/O and MACs at the "
            "GPU's node.", "",
            f"![GPU batch sweep]({FIGURES['gpu_batch_sweep']})", "",
            "| GPU | launch | batch | weights from | fill wait (µs) | latency (µs) | "
            "energy per inference (pJ) | bound | keeps up |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in data["gpu_sweep"]:
        out.append(f"| {p['gpu']} ({p['node_nm']} nm) | {p['launch']} | {p['batch']} | "
                   f"{p['weights_from']} | {p['fill_wait_s'] * 1e6:,.2f} | "
                   f"{p['latency_s'] * 1e6:,.2f} | {p['energy_pj_per_inference']:,.0f} | "
                   f"{p['bound']} | {'yes' if p['keeps_up'] else 'no'} |")
    out += ["", "GPU figures and parameters:", ""]
    out += [f"- {g['name']}: {g['hbm_bandwidth_bytes_per_s'] / 1e12:g} TB/s HBM, "
            f"{g['int8_ops_per_s_dense'] / 1e12:,.0f} TOPS int8 dense, {g['board_power_w']:g} W "
            f"({g['source']})" for g in data["gpu_table"]["gpus"]]
    out += [f"- {p['name']} = {p['value']:g} ({p['source']}; assumption: "
            f"{p.get('reason', '')})" for p in data["gpu_table"]["parameters"]]
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
