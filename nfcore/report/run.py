"""Run reports: `reports/<run>/report.{json,md}` and `energy_by_component.png`.

`report.json` is the exact data the run produced; `report.md` renders it for a reader,
with the energy table rows, their sources and every assumption beside the numbers;
`reports/latest` points at the newest run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nfcore.config import NFCoreConfig
from nfcore.errors import ReportError
from nfcore.report.accuracy_energy import (
    accuracy_energy_markdown,
    write_accuracy_energy_figure,
)
from nfcore.report.plots import plot_energy
from nfcore.report.system import headline_lines, system_markdown, write_system_figures
from nfcore.sim.cost.energy import energy_model_summary

REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version",
    "config",
    "energy_pj_per_inference.total",
    "energy_pj_per_inference.by_component",
    "latency_cycles.p50",
    "latency_cycles.p99",
    "single_tree.workload.dataset",
    "single_tree.workload.tree_shapes",
    "single_tree.workload.parameter_count",
    "single_tree.accuracy.float",
    "single_tree.accuracy.int8",
    "single_tree.requests",
    "single_tree.latency_cycles.p50",
    "single_tree.latency_cycles.p99",
    "single_tree.energy_pj_per_inference.total",
    "single_tree.energy_pj_per_inference.by_component",
    "sim_vs_rtl.requests_compared",
    "sim_vs_rtl.cycle_mismatches",
)
"""Dotted paths every report's data must hold. The top-level energy and latency are the
headline system's (in `make sim`, the forest on the chip); `single_tree` is the walking
skeleton's one tree."""

SYSTEM_REQUIRED_KEYS: tuple[str, ...] = (
    "schema_version",
    "config",
    "requests",
    "system_workload",
    "throughput_rps",
    "latency_distribution.p50",
    "latency_distribution.p99",
    "energy_pj_per_inference.total",
    "energy_pj_per_inference.by_component",
    "idle_silicon_fraction",
    "weight_bytes_touched_per_request.forest",
    "weight_bytes_touched_per_request.monolith",
    "baselines",
    "gpu_sweep",
    "technology.nodes",
    "energy_model",
)
"""Dotted paths a system-level report (`write_system_report`, or a full report's `system`
entry, which needs them from `system_workload` on) must hold;
`nfcore.flows.system.build_system_report` produces them."""

SYSTEM_TOP_LEVEL = ("baselines", "idle_silicon_fraction", "weight_bytes_touched_per_request",
                    "throughput_rps", "latency_distribution", "technology")
"""Keys of the system data that a full (`make sim`) report also holds at its top level."""

LATEST = "latest"


# --- Run folders --------------------------------------------------------------------------


def new_run_dir(reports_root: Path) -> Path:
    """Create and return `reports_root/<YYYYmmdd-HHMMSS>/` (suffixed `-1`, `-2`, ... if a run
    started in the same second)."""
    reports_root = Path(reports_root)
    reports_root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for i in range(1000):
        run_dir = reports_root / (stamp if i == 0 else f"{stamp}-{i}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise ReportError(f"cannot create a run folder under {reports_root}")  # pragma: no cover


def link_latest(reports_root: Path, run_dir: Path) -> None:
    """Point `reports_root/latest` at `run_dir` with a relative symlink, replaced atomically."""
    reports_root, run_dir = Path(reports_root), Path(run_dir)
    link = reports_root / LATEST
    if link.exists() and not link.is_symlink():
        raise ReportError(f"{link} exists and is not a symlink; remove it")
    target = os.path.relpath(run_dir.resolve(), reports_root.resolve())
    tmp = reports_root / f".{LATEST}.{os.getpid()}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target, target_is_directory=True)
    os.replace(tmp, link)


# --- Writing ------------------------------------------------------------------------------


def missing_keys(data: dict[str, Any],
                 required: tuple[str, ...] = REQUIRED_KEYS) -> list[str]:
    """The `required` keys (default `REQUIRED_KEYS`) that `data` lacks."""
    missing = []
    for path in required:
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(path)
                break
            node = node[part]
    return missing


def write_report(run_dir: Path, data: dict[str, Any]) -> None:
    """Write `report.json`, `report.md` and `energy_by_component.png` into `run_dir`, and
    point `run_dir.parent / "latest"` at it.

    `data` must hold `REQUIRED_KEYS` (else `ReportError`, a `ValueError`, naming them). If it
    has an `energy_model` entry (from `energy.energy_model_summary`), the markdown uses it;
    otherwise the summary is rebuilt from `data["config"]`.
    """
    missing = missing_keys(data)
    system = "system" in data
    if system:
        missing += missing_keys(data["system"], SYSTEM_REQUIRED_KEYS[3:])
    if missing:
        raise ReportError(f"report data is missing required keys: {', '.join(missing)}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    energy_model = data.get("energy_model") or _energy_model_of(data["config"])
    text = render_run_markdown(run_dir.name, data, energy_model)
    if system:
        write_system_figures(run_dir, data["system"])
        write_accuracy_energy_figure(run_dir, data["system"])
        text += "\n".join(system_markdown(data["system"])
                          + accuracy_energy_markdown(data["system"]))
    (run_dir / "report.md").write_text(text)
    plot_energy(run_dir / "energy_by_component.png",
                data["energy_pj_per_inference"]["by_component"])
    link_latest(run_dir.parent, run_dir)


def write_system_report(run_dir: Path, data: dict[str, Any],
                        records: Iterable[Any] = ()) -> None:
    """Write a system-level report (no training or RTL stage) into `run_dir`: `report.json`,
    `report.md` with the side-by-side baselines, the figures of
    `nfcore.report.system.FIGURES` and `energy_by_component.png`, and `requests.jsonl` with one
    line per record of `records` (anything with `to_dict`) if given; point `latest` at it.

    `data` must hold `SYSTEM_REQUIRED_KEYS` (else `ReportError` naming them).
    """
    missing = missing_keys(data, SYSTEM_REQUIRED_KEYS)
    if missing:
        raise ReportError(f"system report data is missing required keys: {', '.join(missing)}")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "report.json").write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")
    write_system_figures(run_dir, data)
    lines = [json.dumps(r.to_dict(), default=_jsonable) for r in records]
    if lines:
        (run_dir / "requests.jsonl").write_text("\n".join(lines) + "\n")
    plot_energy(run_dir / "energy_by_component.png",
                data["energy_pj_per_inference"]["by_component"])
    head = [f"# NF-Core system run {run_dir.name}", "", *headline_lines(data),
            "Where the numbers come from: cycles from the exact system model (requests served "
            "through the host port by the router RTL's rules, `nfcore/sim/net/`), which charges "
            "each program the ISA timing contract (`nfcore/arch/isa.py`) and each packet the "
            "network contract (`nfcore/arch/noc.py`); energy as event counts times the energy "
            "table's rows (sources below), scaled by `technology.energy_scale` = "
            f"{data['energy_model']['energy_scale']:g}; baselines as documented in "
            "`nfcore/sim/baselines.py`. Nothing here is a measurement of silicon.", "",
            "![energy by component](energy_by_component.png)", ""]
    (run_dir / "report.md").write_text("\n".join(head + system_markdown(data)))
    link_latest(run_dir.parent, run_dir)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"report data holds a {type(value).__name__}, which JSON cannot store")


def _energy_model_of(config: dict[str, Any]) -> dict[str, Any]:
    return energy_model_summary(NFCoreConfig.from_dict(config, source="report config"))


def _rtl_line(rtl: dict[str, Any]) -> str:
    """`sim_vs_rtl` (the system-level replay, `nfcore.flows.rtl_replay`) in one line."""
    if rtl.get("note"):
        return f"The array RTL against the exact model: {rtl['note']}."
    return (f"The array RTL against the exact model (`sim_vs_rtl`): "
            f"{rtl['requests_compared']} of the run's requests replayed on a {rtl['mesh']} "
            f"corner of the chip ({len(rtl['trees'])} of its trees, {rtl['packets_compared']} "
            f"packets through the host port, {rtl['packets_waited']} waited), request by "
            f"request: {rtl['cycle_mismatches']} completion-cycle and "
            f"{rtl['output_mismatches']} output mismatches.")


def _single_tree_rtl_line(rtl: dict[str, Any]) -> str:
    """The single tree's RTL check (`single_tree.rtl`) in one line."""
    if rtl.get("note"):
        return f"The single tree on the core RTL: {rtl['note']}."
    return (f"The single tree on the core RTL against the golden model: "
            f"{rtl['programs_compared']} inputs, {rtl['cycle_mismatches']} cycle and "
            f"{rtl.get('output_mismatches', 0)} output mismatches.")


def render_run_markdown(run_name: str, data: dict[str, Any],
                        energy_model: dict[str, Any]) -> str:
    """`report.md`: the run's numbers for a reader, with their sources and assumptions. Its
    first lines are the headline comparison (`system.headline_lines`) when the data holds a
    system section; then the headline system's energy and latency (top-level keys), then
    the single tree."""
    cfg = data["config"]
    tech = cfg.get("technology", {})
    core = cfg.get("core", {})
    clock_mhz = float(tech.get("clock_mhz", energy_model["clock_mhz"]))
    one = data["single_tree"]
    wl, acc, lat = one["workload"], one["accuracy"], one["latency_cycles"]
    energy, top_lat = data["energy_pj_per_inference"], data["latency_cycles"]
    total = float(energy["total"])
    rtl = data["sim_vs_rtl"]

    out = [f"# NF-Core run {run_name}", ""]
    if "system" in data:
        out += headline_lines(data["system"])
    out += [
        "Where the numbers come from: accuracy from the float model and the bit-exact int8 "
        "golden model on the test inputs; cycles from the one-core SimPy model (the single "
        "tree) and the exact system model (the forest), which charge each instruction the ISA "
        "timing contract (`nfcore/arch/isa.py`) and are checked against the golden model and "
        "the RTL; energy as event counts from those models times the per-event "
        f"energies of table `{energy_model['table']}` (rows and sources below), moved to "
        f"node {tech.get('node_nm')} nm and scaled by `technology.energy_scale` = "
        f"{energy_model['energy_scale']:g}; RTL agreement from Verilator runs of the "
        "generated Verilog. Nothing here is a measurement of silicon.",
        "",
        "## Energy per inference (the headline system)",
        "",
        f"Total: **{total:,.1f} pJ** ({total / 1000:,.3f} nJ), mean over "
        f"{data.get('requests', '-')} requests; latency p50 {float(top_lat['p50']):,.1f} "
        f"cycles, p99 {float(top_lat['p99']):,.1f} cycles. In `make sim` this is the forest "
        "on the chip (the system model below).",
        "",
        "| component | pJ | share |", "| --- | --- | --- |",
    ]
    for name, pj in energy["by_component"].items():
        share = 100.0 * float(pj) / total if total else 0.0
        out.append(f"| {name} | {float(pj):,.2f} | {share:.1f}% |")
    out += [
        "",
        "## The single tree (walking skeleton)",
        "",
        f"- dataset: {wl['dataset']}; tree shapes (in, out per layer): {wl['tree_shapes']}; "
        f"parameters: {wl['parameter_count']:,}",
    ]
    extra_wl = {k: v for k, v in wl.items()
                if k not in ("dataset", "tree_shapes", "parameter_count")}
    out += [f"- {k}: {v}" for k, v in extra_wl.items()]
    one_energy = one["energy_pj_per_inference"]
    one_total = float(one_energy["total"])
    out += [
        f"- requests: {one['requests']}",
        f"- core: {core.get('lanes')} lanes, weight SRAM {core.get('weight_sram_bytes')} bytes, "
        f"scratchpad {core.get('act_sram_bytes')} bytes, imem {core.get('imem_depth')} "
        f"instructions; clock {clock_mhz:g} MHz; node {tech.get('node_nm')} nm",
        "",
        "| model | test accuracy |",
        "| --- | --- |",
        f"| float | {float(acc['float']):.4f} |",
        f"| int8 (golden model) | {float(acc['int8']):.4f} |",
        "",
        "| latency per inference | cycles | µs |",
        "| --- | --- | --- |",
    ]
    for q in ("p50", "p99"):
        cyc = float(lat[q])
        out.append(f"| {q} | {cyc:,.1f} | {cyc / clock_mhz:,.3f} |")
    out += ["", f"µs = cycles / {clock_mhz:g} MHz.", "",
            f"Energy per inference of the single tree: **{one_total:,.1f} pJ**, mean over "
            "requests.", "",
            "| component | pJ | share |", "| --- | --- | --- |"]
    for name, pj in one_energy["by_component"].items():
        share = 100.0 * float(pj) / one_total if one_total else 0.0
        out.append(f"| {name} | {float(pj):,.2f} | {share:.1f}% |")
    out += ["", "![energy by component](energy_by_component.png)", "",
            "Per-event energies used (pJ, scale applied):", ""]
    out += [f"- {k}: {v:.6g}" for k, v in energy_model["per_event_pj"].items()]
    sources = list(dict.fromkeys(r["source"] for r in energy_model["rows"]))
    out += ["", f"## Energy table `{energy_model['table']}`: rows used", "",
            "| row | value | unit | assumption | source |", "| --- | --- | --- | --- | --- |"]
    for r in energy_model["rows"]:
        out.append(f"| {r['name']} | {r['value']:g} | {r['unit']} | "
                   f"{'yes' if r['assumption'] else 'no'} | "
                   f"[{sources.index(r['source']) + 1}] |")
    out += ["", "Sources:", ""]
    out += [f"{i}. {src}" for i, src in enumerate(sources, start=1)]
    out += ["", "## Assumptions", ""]
    out += [f"- {a}" for a in energy_model["assumptions"]]
    out += ["", "## Models versus RTL", "", f"- {_rtl_line(rtl)}"]
    if "rtl" in one:
        out.append(f"- {_single_tree_rtl_line(one['rtl'])}")
    shown = {"schema_version", "config", "single_tree", "requests", "latency_cycles",
             "latency_s", "energy_pj_per_inference", "sim_vs_rtl", "energy_model", "system",
             "accuracy_energy", "chips", *SYSTEM_TOP_LEVEL}  # chips: in the system section
    others = [k for k in data if k not in shown]
    if others:
        out += ["", "## Other data", ""]
        for k in others:
            text = json.dumps(data[k], default=_jsonable)
            out.append(f"- {k}: `{text if len(text) <= 300 else text[:297] + '...'}`")
    out += ["", f"Schema version {data['schema_version']}; the full data is in `report.json`.",
            ""]
    return "\n".join(out)
