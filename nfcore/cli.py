"""`nfcore`: the command line. Each stage of the flow is a command; `sim` chains them.

A command imports the stack it runs when it runs: the flows, the sweep and the Conductor
load PyTorch, scikit-learn, SimPy and Amaranth (several seconds), so `nfcore --help` and
`nfcore audit` start at once. Those imports sit at the top of their handler, marked `# on use`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from forest.errors import ForestError
from nfcore.arch.isa_doc import render_isa_page
from nfcore.conductor.audit import verify_log
from nfcore.config import ChipsConfig, NFCoreConfig, check_field, default_config_path
from nfcore.eda.fpga.build import build_target, select_targets
from nfcore.eda.fpga.report import render_fpga_markdown, render_json
from nfcore.eda.verilog import emit
from nfcore.errors import ConfigError, NFCoreError

if TYPE_CHECKING:
    from nfcore.sim.system.workload import SystemWorkload

Handler = Callable[[argparse.Namespace], int]


def _config(args: argparse.Namespace) -> NFCoreConfig:
    return NFCoreConfig.load(args.config)


def cmd_verilog(args: argparse.Namespace) -> int:
    cfg = _config(args)
    text = emit(cfg, args.top, name=args.name, flat=args.flat)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0


def cmd_isa_doc(args: argparse.Namespace) -> int:
    out = Path(args.output)
    out.write_text(render_isa_page())
    print(f"wrote {out}")
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from nfcore.flows.sim import SimOptions, run_sim  # on use

    options = SimOptions(
        dataset=args.dataset,
        hidden=tuple(args.hidden),
        requests=args.requests,
        rtl_samples=args.rtl_samples,
        rtl_requests=args.rtl_requests,
        reports_root=Path(args.reports),
        forest_dataset=args.forest_dataset,
        forest_tasks=args.forest_tasks,
        forest_trees=args.forest_trees,
        forest_requests=args.forest_requests,
        seed=args.seed,
        quiet=args.quiet,
    )
    cfg = _config(args)
    run_dir = run_sim(cfg, options)
    print(f"report: {run_dir / 'report.md'}")
    return 0


def cmd_sim_system(args: argparse.Namespace) -> int:
    from nfcore.flows.system import (  # on use
        ArrivalSpec,
        build_system_report,
        default_monolith,
    )
    from nfcore.report.run import new_run_dir, write_system_report  # on use
    from nfcore.sim.baselines import MonolithSpec  # on use
    from nfcore.sim.system.workload import synthetic_workload  # on use

    cfg = _config(args)
    if args.mesh:
        rows, _, cols = args.mesh.partition("x")
        if not (rows.isdigit() and cols.isdigit()):
            raise ConfigError(f"--mesh {args.mesh!r}: expected ROWSxCOLS, e.g. 16x16")
        mesh = dataclasses.replace(cfg.mesh, rows=int(rows), cols=int(cols))
        cfg = NFCoreConfig.from_dict({**cfg.to_dict(), "mesh": dataclasses.asdict(mesh)},
                                     source="--mesh")
    wl = synthetic_workload(cfg, args.trees, args.requests, args.top_k, seed=args.seed,
                            paged_fraction=args.paged_fraction)
    mono = default_monolith(wl)
    if args.monolith_bytes or args.monolith_macs:
        mono = MonolithSpec(param_bytes=args.monolith_bytes or mono.param_bytes,
                            macs=args.monolith_macs or mono.macs, layers=args.monolith_layers,
                            input_bytes=mono.input_bytes, output_bytes=mono.output_bytes,
                            notes="given on the command line")
    arrival = ArrivalSpec(args.arrival, args.interval_cycles, args.seed, args.trace)
    data, result = build_system_report(cfg, wl, arrival, mono, progress=not args.quiet)
    data = {"schema_version": 1, "config": cfg.to_dict(), **data}
    run_dir = new_run_dir(Path(args.reports))
    write_system_report(run_dir, data, result.records)
    print(f"report: {run_dir / 'report.md'}")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from nfcore.flows.forest_system import saved_forest_workload  # on use
    from nfcore.sim.system.workload import synthetic_workload  # on use
    from nfcore.sweep.capacity import check_plan_options, plan_chips, with_chips  # on use
    from nfcore.sweep.executors import make_executor  # on use

    cfg = _config(args)
    if args.topology:
        check_field(ChipsConfig, "topology", args.topology, key="--topology")
        cfg = dataclasses.replace(cfg, chips=dataclasses.replace(cfg.chips,
                                                                 topology=args.topology))
    p99_s = args.p99_us * 1e-6 if args.p99_us is not None else args.p99_ms * 1e-3
    check_plan_options(args.rate_rps, p99_s, args.max_chips)
    one: SystemWorkload | NFCoreError
    if args.forest:
        one = spread = saved_forest_workload(with_chips(cfg, 1), Path(args.forest),
                                             args.requests, args.seed, args.quiet)
    else:
        def synthetic(n: int) -> SystemWorkload:
            return synthetic_workload(with_chips(cfg, n), args.trees, args.requests,
                                      args.top_k, seed=args.seed,
                                      paged_fraction=args.paged_fraction)
        spread = synthetic(2)
        try:
            one = synthetic(1)
        except NFCoreError as exc:  # does not fit one chip even with paging: that point's answer
            one = exc
    executor = make_executor(args.workers, args.cluster)
    try:
        plan = plan_chips(cfg, one, spread, args.rate_rps, p99_s, args.max_chips, args.seed,
                          executor)
    finally:
        executor.close()
    print("\n".join(plan.lines()))
    return 0 if plan.answer else 1


def cmd_fpga(args: argparse.Namespace) -> int:
    targets = select_targets(args.targets)
    out = Path(args.output)
    results = []
    start = time.monotonic()
    for i, target in enumerate(targets, 1):
        print(f"[{i}/{len(targets)}] {target.name}: building in {args.build_dir}/{target.name} "
              f"(minutes; NFCORE_FPGA_VERBOSE=1 shows the tools' output)", flush=True)
        result = build_target(target, Path(args.build_dir))
        fmax = result.design_fmax_mhz
        outcome = (f"{fmax[0]:.1f} MHz (target {fmax[1]:.0f})" if fmax
                   else f"does not fit ({result.fit.removeprefix('no: ')} over capacity)")
        print(f"[{i}/{len(targets)}] {target.name}: {outcome} in {result.build_seconds:.0f} s",
              flush=True)
        results.append(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fpga.md").write_text(render_fpga_markdown(results))
    (out / "fpga.json").write_text(render_json(results))
    print(render_fpga_markdown(results))
    print(f"wrote {out / 'fpga.md'} and {out / 'fpga.json'} "
          f"({time.monotonic() - start:.0f} s in all)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from forest.command import run_train, summary_table  # on use

    kinds = tuple(k.strip() for k in args.kinds.split(",")) if args.kinds else None
    result = run_train(args.dataset, args.output, trees=args.trees, top_k=args.top_k,
                       kinds=kinds, tree_size=args.tree_size, epochs=args.epochs,
                       tasks=args.tasks, seed=args.seed, monolith=not args.no_monolith,
                       threads=args.threads, quiet=args.quiet)
    print(summary_table(result))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from nfcore.sweep.executors import make_executor  # on use
    from nfcore.sweep.report import write_report  # on use
    from nfcore.sweep.runner import SweepInterrupted, run_sweep  # on use
    from nfcore.sweep.spec import SweepSpec  # on use

    spec = SweepSpec.load(args.sweep)
    out = Path(args.output or Path("reports") / f"sweep-{spec.name}")
    executor = make_executor(args.workers, args.cluster)
    try:
        outcome = run_sweep(spec, out, executor, retry_failed=args.retry_failed,
                            forest_cache=Path(args.forest_cache) if args.forest_cache else None,
                            quiet=args.quiet)
    except SweepInterrupted as exc:
        print(f"nfcore: {exc}", file=sys.stderr)
        return 128 + exc.signum
    finally:
        executor.close()
    summary = write_report(spec, outcome, out)
    print(f"sweep {spec.name}: {summary['ok']} ok, {summary['failed']} failed of "
          f"{summary['points']} points ({outcome.ran} computed now) in "
          f"{outcome.seconds:.1f} s; report: {out / 'report.md'}")
    if summary["failed"]:
        print(f"nfcore: error: {summary['failed']} of {summary['points']} sweep points failed "
              f"(their errors are in {out / 'report.md'}); rerun with --retry-failed",
              file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from nfcore.conductor.commands import open_conductor, read_inputs, run_batches  # on use

    conductor = open_conductor(_config(args), args.image, args.forest, args.backend, args.audit,
                               interval_cycles=args.interval_cycles,
                               build_dir=Path(args.build_dir), progress=not args.quiet,
                               standardized=args.standardized_inputs)
    rows = read_inputs(args.inputs, conductor.input_shape)
    summary = run_batches(conductor, rows, args.batch,
                          Path(args.output) if args.output else None, quiet=args.quiet)
    print("\n".join(summary.lines()))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from nfcore.conductor.commands import open_conductor, serve  # on use

    conductor = open_conductor(_config(args), args.image, args.forest, args.backend, args.audit,
                               build_dir=Path(args.build_dir),
                               standardized=args.standardized_inputs)
    serve(conductor, args.host, args.port, quiet=args.quiet, lazy_verify=args.lazy_verify,
          max_body_bytes=args.max_body_bytes)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    res = verify_log(args.log, expect_head=args.expect_head, expect_records=args.expect_records)
    print(res.message())
    return 0 if res.ok else 1


def cmd_compile(args: argparse.Namespace) -> int:
    from nfcore.report.compile import run_compile  # on use

    out = Path(args.output)
    data = run_compile(Path(args.forest), _config(args), out, budget_pp=args.precision_budget,
                       spread=args.spread or None, seed=args.seed, quiet=args.quiet)
    trees = data["layout"]["trees"]
    print(f"wrote {out}/ ({trees['resident']} trees resident, {trees['paged']} paged, "
          f"{data['layout']['cores_holding_weights']} cores); report: {out / 'compile.md'}")
    return 0


def _add_verilog(p: argparse.ArgumentParser) -> None:
    p.add_argument("--top", default="core", choices=["core", "router", "mesh", "array"],
                   help="block: core (one micro-core), router (one 5-port router), array (the "
                        "mesh of cores with the host port), mesh "
                        "(mesh.rows x mesh.cols routers with the host port); default core")
    p.add_argument("-o", "--output", default="build/nfcore_core.v",
                   help="output .v file (every module in one file)")
    p.add_argument("--name", default="nfcore_core",
                   help="top module name; an array's or mesh's other modules are "
                        "<name>__core and <name>__router_<ports>")
    p.add_argument("--flat", action="store_true",
                   help="array and mesh: one Verilog module per instance of every block "
                        "(default: hierarchical, each distinct module once; docs/fpga.md)")


def _add_isa_doc(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="docs/isa.md")


def _add_sim(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits",
                   help="offline dataset: digits, wine, breast_cancer, iris")
    p.add_argument("--hidden", type=int, nargs="+", default=[32],
                   help="hidden layer widths of the MLP tree")
    p.add_argument("--requests", type=int, default=300,
                   help="test inputs run through the golden and SimPy models")
    p.add_argument("--rtl-samples", type=int, default=20,
                   help="of those, how many also run on the RTL under Verilator (0: skip)")
    p.add_argument("--rtl-requests", type=int, default=150,
                   help="requests of the forest's run replayed on a 4x4 corner of the chip "
                        "on the array RTL under Verilator and on the exact model (0: skip)")
    p.add_argument("--forest-dataset", default="multitask_seq",
                   help="dataset of the forest in the system section (nfcore train's names)")
    p.add_argument("--forest-tasks", type=int, default=96,
                   help="tasks of a multitask forest (one tree of each kind per task)")
    p.add_argument("--forest-trees", type=int, default=None,
                   help="trees of the forest instead of --forest-tasks (a multitask forest: "
                        "rounded up to whole tasks, e.g. 10000 -> 3334 tasks of 3 trees)")
    p.add_argument("--forest-requests", type=int, default=2000,
                   help="requests the system model simulates")
    p.add_argument("--reports", default="reports", help="reports root folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_sim_system(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mesh", default="16x16", help="ROWSxCOLS, overrides mesh.rows/cols")
    p.add_argument("--trees", type=int, default=300)
    p.add_argument("--top-k", type=int, default=4)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--paged-fraction", type=float, default=0.1,
                   help="share of the least popular trees paged from DRAM")
    p.add_argument("--arrival", default="poisson", help="fixed, poisson, burst or trace")
    p.add_argument("--interval-cycles", type=float, default=1000.0,
                   help="mean cycles between arrivals (fixed, poisson)")
    p.add_argument("--trace", default=None, help="CSV with arrival_s or arrival_cycle")
    p.add_argument("--monolith-bytes", type=int, default=0,
                   help="monolith int8 parameter bytes (default: the whole forest's)")
    p.add_argument("--monolith-macs", type=int, default=0,
                   help="monolith MACs per inference (default: the whole forest's)")
    p.add_argument("--monolith-layers", type=int, default=4)
    p.add_argument("--reports", default="reports", help="reports root folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_plan(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate-rps", type=float, required=True,
                   help="requests per second to serve (Poisson arrivals), > 0")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--p99-us", type=float, help="P99 latency target in microseconds")
    target.add_argument("--p99-ms", type=float, help="P99 latency target in milliseconds")
    p.add_argument("--max-chips", type=int, default=8,
                   help="simulate 1 to this many chips (1 to 64; default 8)")
    p.add_argument("--topology", default=None,
                   help="star or chain (default: the config's chips.topology)")
    p.add_argument("--forest", default=None,
                   help="a forest folder from `nfcore train` (default: a seeded synthetic "
                        "forest of --trees MLP trees)")
    p.add_argument("--trees", type=int, default=3000, help="synthetic forest: trees")
    p.add_argument("--top-k", type=int, default=4, help="synthetic forest: trees per request")
    p.add_argument("--paged-fraction", type=float, default=0.1,
                   help="synthetic forest on one chip: share of the least popular trees "
                        "paged from DRAM (more chips keep every tree resident)")
    p.add_argument("--requests", type=int, default=2000, help="requests simulated per count")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes (default 1: run in this process)")
    p.add_argument("--cluster", default=None,
                   help="Dask scheduler address (e.g. tcp://host:8786): run the counts there")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_fpga(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="targets to build (default: all)")
    p.add_argument("-o", "--output", default="reports/fpga", help="report folder")
    p.add_argument("--build-dir", default="build/fpga", help="build folder")


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True,
                   help="digits, wine, breast_cancer, iris, sequence, multitask or "
                   "multitask_seq")
    p.add_argument("--trees", type=int, default=None, help="number of trees (default: per "
                   "dataset; multitask, multitask_seq: one of each kind per task)")
    p.add_argument("--top-k", type=int, default=None, help="trees evaluated per request")
    p.add_argument("--kinds", default=None, help="comma-separated tree kinds: mlp,cnn,rnn")
    p.add_argument("--tree-size", type=int, default=None,
                   help="mlp hidden width, cnn channels or rnn hidden units")
    p.add_argument("--epochs", type=int, default=None, help="passes over each tree's region")
    p.add_argument("--tasks", type=int, default=None,
                   help="tasks of the multitask datasets (default: one per region when "
                   "--trees is given, i.e. trees / kinds; else 16)")
    p.add_argument("--no-monolith", action="store_true", help="skip the monolith baseline")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, help="output folder, e.g. forests/digits")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_sweep(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="sweep YAML file")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default: reports/sweep-<name>)")
    p.add_argument("--workers", type=int, default=1,
                   help="local worker processes (default 1: run in this process)")
    p.add_argument("--cluster", default=None,
                   help="Dask scheduler address (e.g. tcp://host:8786): run the points there")
    p.add_argument("--forest-cache", default=None,
                   help="folder of trained forests (default: OUTPUT/forests)")
    p.add_argument("--retry-failed", action="store_true",
                   help="rerun points stored as failed (default: skip them too)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_conductor_args(p: argparse.ArgumentParser) -> None:
    """The arguments `run` and `serve` share: the image, the forest, the backend, the log."""
    p.add_argument("--image", required=True, help="a forest image from `nfcore compile`")
    p.add_argument("--forest", default=None,
                   help="the forest folder the image was compiled from (router and stem "
                        "run on the host; default: the folder `nfcore compile` recorded "
                        "in IMAGE/compile.json)")
    p.add_argument("--backend", default="golden", choices=["golden", "sim", "rtl"],
                   help="golden ISA model, SimPy system model, or the core RTL under "
                        "Verilator (slow: one simulator run per tree and batch)")
    p.add_argument("--audit", default=None, help="append one record per request to this "
                   "hash-chained JSON-lines log")
    p.add_argument("--build-dir", default="build/conductor_rtl",
                   help="Verilator build folder (rtl backend)")
    p.add_argument("--standardized-inputs", action="store_true",
                   help="rows come already standardized by the training mean and std (the "
                        "default: rows in the data's own units, standardized by the forest's "
                        "input_scaling.json; needed for forests saved without that file)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_run(p: argparse.ArgumentParser) -> None:
    _add_conductor_args(p)
    p.add_argument("--inputs", required=True,
                   help="rows in the data's own units (digits: 64 pixels, 0 to 16): .npy, .csv "
                        "(one row per line) or .json (a list of rows). A row has the forest's "
                        "row shape, forest.input_shape in FOREST/manifest.json (digits: "
                        "[8, 8], or 64 numbers flat; `nfcore run --image IMAGE --help` "
                        "prints it); a wrong shape is refused naming both")
    p.add_argument("--batch", type=int, default=64,
                   help="requests per batch (one audit-log fsync per batch)")
    p.add_argument("--interval-cycles", type=float, default=None,
                   help="sim backend: cycles between arrivals within a batch (default: the "
                        "busiest core or host link 50%% busy)")
    p.add_argument("-o", "--output", default=None,
                   help="write the answers here, one JSON line per request")


def _add_serve(p: argparse.ArgumentParser) -> None:
    _add_conductor_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-body-bytes", type=int, default=None,
                   help="refuse request bodies larger than this with 413 (default 1 MiB)")
    p.add_argument("--lazy-verify", action="store_true",
                   help="start without checking every core of the image against its hashes "
                        "(a request that meets a corrupt core then fails, and /healthz says so)")


def _add_audit(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["verify"])
    p.add_argument("log", help="the audit log, a .jsonl file")
    p.add_argument("--expect-head", default=None,
                   help="sha256 the last record must have (an anchor kept elsewhere)")
    p.add_argument("--expect-records", type=int, default=None,
                   help="number of records the log must hold (detects a cut-off end)")


def _add_compile(p: argparse.ArgumentParser) -> None:
    p.add_argument("forest", help="forest folder written by `nfcore train`")
    p.add_argument("-o", "--output", required=True, help="image folder to write")
    p.add_argument("--precision-budget", type=float, default=1.0, metavar="PCT",
                   help="most forest test accuracy (percentage points) int8 may cost any one "
                        "layer (default 1.0); int8 is the only format the core has")
    p.add_argument("--spread", type=float, default=2.0,
                   help="placement fills a core with at most SPREAD times its even share of "
                        "the forest's bytes (default 2.0; 0: the whole SRAM)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: its handler, its help, and the function that adds its arguments."""

    name: str
    handler: Handler
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    description: str | None = None
    """The `nfcore NAME --help` text (None: `help`)."""
    config: bool = True
    """Whether it takes `--config` (the hardware config YAML)."""


COMMANDS: tuple[Command, ...] = (
    Command("verilog", cmd_verilog, "write Verilog for a block of the config", _add_verilog),
    Command("isa-doc", cmd_isa_doc, "render docs/isa.md from the ISA module", _add_isa_doc),
    Command("sim", cmd_sim,
            "what `make sim` runs: one tree through the golden model, the SimPy model and "
            "the RTL, then a trained forest compiled, placed and simulated on the mesh "
            "with every baseline; writes reports/<run>/", _add_sim),
    Command("sim-system", cmd_sim_system,
            "simulate a seeded synthetic (untrained) forest on the mesh with every baseline "
            "and write reports/<run>/", _add_sim_system),
    Command("plan", cmd_plan,
            "how many chips a forest needs to serve --rate-rps within a P99 target: simulate "
            "1 to --max-chips chips (in parallel: --workers, --cluster) and print each P99",
            _add_plan),
    Command("fpga", cmd_fpga,
            "build the FPGA targets (yowasp toolchain) and tabulate resources and Fmax",
            _add_fpga,
            description="Build the FPGA targets of nfcore.eda.fpga.build (each names its "
                        "board and config) and write fpga.md and fpga.json. `make fpga` sets "
                        "up the tools.",
            config=False),
    Command("train", cmd_train,
            "train a Neural Forest (trees, router, shared stem) and its size-matched monolith, "
            "save it to a folder (manifest.json + weights.safetensors) and print a summary",
            _add_train),
    Command("sweep", cmd_sweep,
            "compile and simulate every point of a sweep file, store each as it finishes, and "
            "write a report with Pareto fronts", _add_sweep,
            description="compile and simulate every point of a sweep file (see sweeps/), in "
                        "parallel; finished points are stored in OUTPUT/results.sqlite so a "
                        "rerun resumes",
            config=False),
    Command("run", cmd_run,
            "route, run and average a file of inputs on a backend, with an audit record per "
            "request; prints a summary", _add_run),
    Command("serve", cmd_serve,
            "serve the forest over HTTP (FastAPI): POST /v1/predict, GET /healthz, "
            "GET /metrics", _add_serve),
    Command("audit", cmd_audit,
            "verify a Conductor audit log (hash chain): prints OK and the head sha256, or the "
            "first bad line; exit 1 if the log was altered", _add_audit),
    Command("compile", cmd_compile,
            "compile a saved forest into a chip image (format 4: per-core SRAM and programs, "
            "the router, placement, residency) and write compile.md / compile.json beside it",
            _add_compile),
)
"""Every subcommand, in the order `nfcore --help` lists them."""


def run_rows_note(argv: Sequence[str]) -> str | None:
    """For `nfcore run --help` given --image or --forest: the row shape that forest reads,
    from the image's or the forest's manifest.json (plain JSON: no model is loaded)."""
    args = list(argv)
    for flag in ("--forest", "--image"):
        if flag in args[:-1]:
            manifest = Path(args[args.index(flag) + 1]) / "manifest.json"
            try:
                shape = json.loads(manifest.read_text())["forest"]["input_shape"]
                flat = math.prod(int(v) for v in shape)
            except (OSError, ValueError, KeyError, TypeError):
                return f"(no row shape: {manifest} is not readable)"
            return (f"The forest of {manifest} reads rows of shape {shape} ({flat} numbers, "
                    "or that shape), in the data's own units.")
    return None


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; `argv` only adds the row shape to `run --help` (`run_rows_note`)."""
    parser = argparse.ArgumentParser(
        prog="nfcore",
        description=(
            "NF-Core: cycle-level simulator and RTL generator for a Neural Forest inference "
            "accelerator. Every command reads the hardware from one YAML config."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        epilog = run_rows_note(argv) if command.name == "run" else None
        p = sub.add_parser(command.name, help=command.help,
                           description=command.description or command.help, epilog=epilog)
        if command.config:
            p.add_argument("--config", default=str(default_config_path()),
                           help="hardware config YAML (default: configs/default.yaml)")
        p.set_defaults(handler=command.handler)
        command.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(sys.argv[1:] if argv is None else argv).parse_args(argv)
    try:
        return int(args.handler(args))
    except (NFCoreError, ForestError) as exc:
        print(f"nfcore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nfcore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
