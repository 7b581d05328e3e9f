"""The default end-to-end path that `make sim` runs: train, compile, run on three backends, report.

Every figure in the report is computed here, in this run, from the models it names:
accuracy from the float tree and the golden integer model, cycles and energy from the SimPy
model (which charges cycles by the ISA timing contract and energy from the energy table),
and the RTL comparisons from Verilator runs of the generated Verilog: the single tree on
the core, and a slice of the forest's run on the array (`nfcore.flows.rtl_replay`), the
report's `sim_vs_rtl`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from forest.command import PRESETS, TASK_DATASETS
from forest.datasets import load_dataset
from forest.train import train_mlp
from nfcore.compiler import compile_mlp
from nfcore.compiler.images.core_image import save_image
from nfcore.config import NFCoreConfig
from nfcore.eda.rtl_runner import run_rtl
from nfcore.errors import AgreementError, ConfigError
from nfcore.flows.accuracy_energy import compare_at_equal_accuracy, merge_into
from nfcore.flows.forest_system import ForestSystemOptions, ForestSystemRun, run_forest_system
from nfcore.flows.host_memory import host_memory
from nfcore.flows.rtl_replay import check_slice, forest_slice
from nfcore.flows.system import ArrivalSpec, arrival_interval_cycles, build_system_report
from nfcore.golden.core import CoreState
from nfcore.report.run import (
    SYSTEM_TOP_LEVEL,
    link_latest,
    new_run_dir,
    write_report,
)
from nfcore.sim.baselines import Baseline
from nfcore.sim.core import simulate
from nfcore.sim.stats import summarize_energy

REPORT_SCHEMA_VERSION = 3
"""2: the forest's energy and latency at the top level, the single tree under `single_tree`;
`baselines[*].node_nm`; `technology.nodes`. 3: `sim_vs_rtl` is the system-level replay
(`nfcore.flows.rtl_replay`), the single tree's RTL check is `single_tree.rtl`."""

RTL_ARRAY_BUILD_ROOT = Path("build") / "rtl_array"
"""Where the array RTL's Verilator builds are kept, one folder per build key
(`nfcore.eda.rtl_runner.build_cached`), and reused."""


@dataclass(frozen=True)
class SimOptions:
    dataset: str = "digits"
    hidden: tuple[int, ...] = (32,)
    requests: int = 300
    rtl_samples: int = 20
    rtl_requests: int = 150
    """Requests of the forest's run replayed on the array RTL (0: skip)."""
    reports_root: Path = Path("reports")
    forest_dataset: str = "multitask_seq"
    forest_tasks: int = 96
    forest_trees: int | None = None
    """Trees of the forest instead of `forest_tasks` tasks; a task dataset's count is
    rounded up to whole tasks (one tree of each kind per task)."""
    forest_requests: int = 2000
    seed: int = 0
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.rtl_requests < 0:
            raise ConfigError(f"--rtl-requests is {self.rtl_requests}; allowed: 0 (skip) or more")


def run_sim(cfg: NFCoreConfig, opts: SimOptions) -> Path:
    """Run the default path and write `reports/<run>/`; return the run folder."""
    stage_s: dict[str, float] = {}

    def log(msg: str) -> None:
        if not opts.quiet:
            print(msg, flush=True)

    t0 = time.perf_counter()
    data = load_dataset(opts.dataset, seed=opts.seed)
    tree, float_acc = train_mlp(data, hidden=opts.hidden, seed=opts.seed)
    layers = tree.layers()
    stage_s["train"] = time.perf_counter() - t0
    log(f"trained MLP {data.n_features}-{'-'.join(map(str, opts.hidden))}-{data.n_classes} "
        f"on {data.name}: float test accuracy {float_acc:.4f}")

    t0 = time.perf_counter()
    quant, prog = compile_mlp(layers, data.x_train, cfg)
    run_dir = new_run_dir(opts.reports_root)
    save_image(run_dir / "image", prog, quant, cfg)
    stage_s["compile"] = time.perf_counter() - t0

    n = min(opts.requests, len(data.x_test))
    x_int = quant.quantize_input(data.x_test[:n])
    inputs = [row for row in x_int]
    labels = data.y_test[:n]

    # Golden model: the reference for outputs and cycles.
    t0 = time.perf_counter()
    core = CoreState(cfg.core)
    core.load_weights(prog.weights)
    core.load_program(prog.program)
    golden_out, golden_cycles = [], []
    for x in tqdm(inputs, desc="golden", disable=opts.quiet, unit="req"):
        core.write_vector(prog.input_addr, x)
        result = core.run()
        golden_out.append(core.read_vector(prog.output_addr, prog.output_len))
        golden_cycles.append(result.cycles)
    reference = quant.forward_int(x_int)
    if not np.array_equal(np.stack(golden_out), reference):
        raise AgreementError("golden model outputs differ from the quantized numpy reference")
    stage_s["golden"] = time.perf_counter() - t0
    int8_acc = float(np.mean(np.argmax(np.stack(golden_out), axis=1) == labels))

    # SimPy system model: cycles by the contract, energy by the table.
    t0 = time.perf_counter()
    sim = simulate(cfg, prog.weights, prog.program, inputs, prog.input_addr,
                   prog.output_addr, prog.output_len, arrival="burst",
                   progress=not opts.quiet)
    for rec, out, cyc in zip(sim.records, golden_out, golden_cycles, strict=True):
        if rec.program_cycles != cyc or not np.array_equal(rec.outputs, out):
            raise AgreementError(
                f"SimPy model and golden model disagree on request {rec.request_id}: "
                f"{rec.program_cycles} vs {cyc} cycles"
            )
    stage_s["simpy"] = time.perf_counter() - t0

    # RTL under Verilator, on a sample.
    t0 = time.perf_counter()
    tree_rtl = _compare_rtl(cfg, prog, inputs, golden_out, golden_cycles, opts)
    stage_s["rtl"] = time.perf_counter() - t0

    # System model: the compiled forest on the configured mesh, with the baselines.
    t0 = time.perf_counter()
    system, forest_run, arrival = _system_section(cfg, opts, run_dir)
    stage_s["system"] = time.perf_counter() - t0

    # A slice of that run on the array RTL and on the exact model.
    t0 = time.perf_counter()
    rtl = _system_rtl(cfg, forest_run, arrival, opts)
    stage_s["rtl_system"] = time.perf_counter() - t0

    program_cycles = np.array([r.program_cycles for r in sim.records])
    single_tree = {
        "workload": {
            "dataset": data.name,
            "tree_kind": "mlp",
            "tree_shapes": [[int(w.shape[1]), int(w.shape[0])] for w, _, _ in layers],
            "parameter_count": int(sum(w.size + b.size for w, b, _ in layers)),
            "weight_sram_bytes_used": int(prog.weights.size),
            "instructions": len(prog.program),
        },
        "accuracy": {"float": float_acc, "int8": int8_acc, "test_inputs": int(n)},
        "requests": int(n),
        "latency_cycles": {
            "p50": float(np.percentile(program_cycles, 50)),
            "p99": float(np.percentile(program_cycles, 99)),
        },
        "latency_s": {
            "p50": float(np.percentile(program_cycles, 50)) / cfg.clock_hz,
            "p99": float(np.percentile(program_cycles, 99)) / cfg.clock_hz,
        },
        "energy_pj_per_inference": summarize_energy(sim.records),
        "rtl": tree_rtl,
    }
    # The forest on the chip is the headline: its energy and latency are the top-level keys.
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "config": cfg.to_dict(),
        "energy_pj_per_inference": system["energy_pj_per_inference"],
        "latency_cycles": system["latency_cycles"],
        "latency_s": system["latency_s"],
        "requests": system["requests"],
        "single_tree": single_tree,
        "sim_vs_rtl": rtl,
        "stage_seconds": stage_s,
        "system": system,
        **{k: system[k] for k in SYSTEM_TOP_LEVEL},
        "accuracy_energy": system["accuracy_energy"],
        **({"chips": system["chips"]} if "chips" in system else {}),
    }
    write_report(run_dir, report)
    link_latest(opts.reports_root, run_dir)
    if tree_rtl["cycle_mismatches"] or tree_rtl["output_mismatches"]:
        raise AgreementError(
            f"RTL disagrees with the golden model on {tree_rtl['cycle_mismatches']} cycle "
            f"counts and {tree_rtl['output_mismatches']} outputs of the single tree; see "
            f"{run_dir / 'report.md'}"
        )
    if rtl["cycle_mismatches"] or rtl["output_mismatches"]:
        raise AgreementError(
            f"the array RTL disagrees with the exact model on {rtl['first_mismatch']}; "
            f"{rtl['cycle_mismatches']} cycle and {rtl['output_mismatches']} output mismatches "
            f"in {rtl['requests_compared']} requests; see {run_dir / 'report.md'}"
        )
    return run_dir


def _system_section(cfg: NFCoreConfig, opts: SimOptions, run_dir: Path
                    ) -> tuple[dict[str, Any], ForestSystemRun, ArrivalSpec]:
    """The system model's report data for a trained forest on the configured mesh
    (`nfcore.flows.forest_system`), with every baseline against its trained monolith; the
    forest's run and its arrivals."""
    trees, tasks = forest_size(opts)
    fopts = ForestSystemOptions(dataset=opts.forest_dataset, trees=trees, tasks=tasks,
                                requests=opts.forest_requests, seed=opts.seed,
                                quiet=opts.quiet)
    run = run_forest_system(cfg, fopts, run_dir / "forest")
    arrival = ArrivalSpec("poisson", arrival_interval_cycles(run.workload, cfg), opts.seed)
    data, _ = build_system_report(cfg, run.workload, arrival, run.monolith,
                                  progress=not opts.quiet)
    data["forest"] = run.summary
    fair = compare_at_equal_accuracy(cfg, run, arrival, Baseline(**data["baselines"][0]),
                                     progress=not opts.quiet)
    merge_into(data, fair)
    data["host_memory"] = _host_memory(run, opts, run_dir / "forest")
    return data, run, arrival


def _system_rtl(cfg: NFCoreConfig, run: ForestSystemRun, arrival: ArrivalSpec,
                opts: SimOptions) -> dict[str, Any]:
    """`sim_vs_rtl`: `opts.rtl_requests` of the forest's requests on a corner of the chip,
    on the array RTL and the exact model (`nfcore.flows.rtl_replay`)."""
    if opts.rtl_requests <= 0:
        return {"level": "system", "requests_compared": 0, "cycle_mismatches": 0,
                "output_mismatches": 0, "note": "skipped (--rtl-requests 0)"}
    picks = run.workload.requests
    features = run.forest.features(run.x_test[run.request_rows]).numpy()
    sl = forest_slice(cfg, run.image, picks, features,
                      arrival.cycles(len(picks), cfg.clock_hz), opts.rtl_requests)
    if not opts.quiet:
        print(f"replaying {len(sl.requests)} requests on {len(sl.trees)} trees of a "
              f"{sl.cfg.mesh.rows} x {sl.cfg.mesh.cols} corner of the chip on the array RTL "
              "under Verilator (the build is cached in build/) ...", flush=True)
    data, _ = check_slice(sl, RTL_ARRAY_BUILD_ROOT)
    return data


def forest_size(opts: SimOptions) -> tuple[int | None, int]:
    """(trees, tasks) to train: `forest_tasks` tasks, or `forest_trees` trees (a task
    dataset's as ceil(trees / kinds) tasks of one tree per kind). Raises `ConfigError` if
    `forest_trees` is below 1."""
    if opts.forest_trees is None:
        return None, opts.forest_tasks
    if opts.forest_trees < 1:
        raise ConfigError(f"--forest-trees is {opts.forest_trees}; it must be at least 1")
    if opts.forest_dataset not in TASK_DATASETS:
        return opts.forest_trees, opts.forest_tasks
    kinds = len(PRESETS[opts.forest_dataset].options.kinds)
    return None, -(-opts.forest_trees // kinds)


HOST_MEMORY_REQUESTS = 200
"""Test rows the lazily loaded Conductor serves before its memory is read."""


def _host_memory(run: Any, opts: SimOptions, forest_dir: Path) -> dict[str, Any]:
    """The Conductor's host RSS with this forest loaded lazily versus whole
    (`nfcore.flows.host_memory`), from the image saved beside the forest."""
    image_dir = forest_dir.parent / "forest_image"
    run.image.save(image_dir)
    rows = np.random.default_rng(opts.seed).permutation(len(run.x_test))[:HOST_MEMORY_REQUESTS]
    if not opts.quiet:
        print("measuring the Conductor's host memory (lazy vs whole) ...", flush=True)
    return host_memory(forest_dir, image_dir, run.x_test[rows])


def _compare_rtl(cfg: NFCoreConfig, prog: Any, inputs: list[np.ndarray],
                 golden_out: list[np.ndarray], golden_cycles: list[int],
                 opts: SimOptions) -> dict[str, Any]:
    if opts.rtl_samples <= 0:
        return {"programs_compared": 0, "cycle_mismatches": 0, "output_mismatches": 0,
                "note": "RTL comparison skipped (--rtl-samples 0)"}
    rng = np.random.default_rng(opts.seed)
    k = min(opts.rtl_samples, len(inputs))
    picks = sorted(rng.choice(len(inputs), size=k, replace=False).tolist())
    if not opts.quiet:
        print(f"running {k} requests on the RTL under Verilator ...", flush=True)
    results = run_rtl(cfg, prog.weights, prog.program, [inputs[i] for i in picks],
                      prog.input_addr, prog.output_addr, prog.output_len,
                      build_dir=Path("build") / "rtl_sim")
    cycle_bad = sum(cyc != golden_cycles[i] for i, (_, cyc) in zip(picks, results, strict=True))
    out_bad = sum(not np.array_equal(out, golden_out[i])
                  for i, (out, _) in zip(picks, results, strict=True))
    return {
        "programs_compared": k,
        "cycle_mismatches": int(cycle_bad),
        "output_mismatches": int(out_bad),
        "rtl_cycles": [int(c) for _, c in results],
        "request_indices": picks,
    }
