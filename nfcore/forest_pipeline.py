"""A trained forest on the whole chip: compile every tree, place them, simulate, report.

`make sim`'s system section runs this path (`run_forest_system`):

1. train a forest with `nfcore train`'s code (`forest.command.run_train`) or load a saved one;
   the shared stem runs on the host, so trees read stem features and are calibrated on them;
2. compile each tree to one core (`compile_tree`): int8 quantization calibrated on the rows
   its router sends it, lowering to the ISA;
3. check the golden model: every selected tree of a sample of requests runs on
   `nfcore.golden.CoreState` and must equal the compiler's integer reference bit for bit;
   the int8 forest's accuracy is the router-weighted average of the dequantized tree outputs;
4. lay the trees out on the mesh (`nfcore.compiler.layout`: residency by routing
   frequency, placement minimising hop-bytes, with router statistics from the training set);
5. build the system model's `Workload` from the programs (cycles and events by the timing
   contract) and the router's picks on the test set, and run it with every baseline against
   the forest's own monolith, trained to the forest's accuracy on the same data.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from forest.export import TreeExport
from forest.forest import NeuralForest
from nfcore import noc
from nfcore.compiler import CoreProgram, QuantizedMLP, compile_mlp
from nfcore.compiler.layout import Layout, compile_layout
from nfcore.compiler.layout_input import LayerShape, LayoutInput, RouterStats, TreeShape
from nfcore.config import NFCoreConfig
from nfcore.errors import CompileError, NFCoreError
from nfcore.golden import CoreState
from nfcore.sim import baselines as bl
from nfcore.sim.workload import TreeSpec, Workload, tree_from_program

if TYPE_CHECKING:
    from forest.command import TrainResult


class AgreementError(NFCoreError):
    """The golden model and the compiler's integer reference disagree."""


@dataclass(frozen=True)
class CompiledTree:
    """One tree on one core: its integer model and its program."""

    tree_id: int
    kind: str
    quant: QuantizedMLP
    program: CoreProgram


@dataclass(frozen=True)
class ForestSystemOptions:
    dataset: str = "multitask"
    trees: int | None = None
    """Trees of the forest (None: the dataset's preset; multitask: one per task)."""
    tasks: int = 256
    """Tasks of the synthetic multitask dataset."""
    top_k: int | None = None
    kinds: tuple[str, ...] | None = None
    requests: int = 2000
    """Requests simulated (drawn from the test set, repeated if it is smaller)."""
    golden_requests: int = 500
    """Requests whose selected trees also run on the golden model."""
    seed: int = 0
    quiet: bool = False


@dataclass
class ForestSystemRun:
    forest: NeuralForest
    compiled: list[CompiledTree]
    layout: Layout
    workload: Workload
    monolith: bl.MonolithSpec
    summary: dict[str, Any]


def export_macs(export: TreeExport) -> int:
    """Multiply-accumulates of one inference of a tree, from its export."""
    macs = 0
    length = export.input_shape[0]
    for conv in export.convs:
        out_ch, in_ch, k = conv.weight.shape
        length = (length - k) // conv.stride + 1
        macs += length * out_ch * in_ch * k
    if export.cell is not None:
        macs += length * export.cell.weight.size
    return macs + sum(int(w.size) for w, _, _ in export.head)


def compile_tree(tree_id: int, export: TreeExport, calib: npt.NDArray[np.float32],
                 cfg: NFCoreConfig) -> CompiledTree:
    """Quantize and lower one tree onto one core of `cfg`."""
    if export.kind != "mlp":
        raise CompileError(f"tree {tree_id}: lowering {export.kind} trees is not in this "
                           "pipeline yet; train the forest with --kinds mlp")
    try:
        quant, program = compile_mlp(export.head, calib.reshape(len(calib), -1), cfg)
    except CompileError as exc:
        raise CompileError(f"tree {tree_id}: {exc}") from None
    return CompiledTree(tree_id, export.kind, quant, program)


def run_tree_golden(core: CoreState, tree: CompiledTree,
                    x_int: npt.NDArray[np.int8]) -> npt.NDArray[np.int8]:
    """Run `tree`'s program on `core` for each row of `x_int`; outputs (n, output_len)."""
    prog = tree.program
    core.load_weights(prog.weights, prog.weight_addr)
    core.load_program(prog.program)
    out = np.empty((len(x_int), prog.output_len), dtype=np.int8)
    for i, x in enumerate(x_int):
        core.write_vector(prog.input_addr, x)
        core.run()
        out[i] = core.read_vector(prog.output_addr, prog.output_len)
    return out


def run_forest_system(cfg: NFCoreConfig, opts: ForestSystemOptions,
                      forest_dir: Path, trained: TrainResult | None = None) -> ForestSystemRun:
    """Train (into `forest_dir`), compile, check, place and build the system workload.

    `trained`: an already trained forest (`forest.command.run_train`'s result), used instead
    of training one; then `opts`' forest fields and `forest_dir` are not read. Sweeps pass
    it so that every design point of one forest compiles the same trained weights."""
    from forest.command import run_train

    stage_s: dict[str, float] = {}
    t0 = time.perf_counter()
    if trained is None:
        trained = run_train(opts.dataset, forest_dir, trees=opts.trees, top_k=opts.top_k,
                            kinds=opts.kinds, tasks=opts.tasks, seed=opts.seed,
                            quiet=opts.quiet)
    forest, data = trained.forest, trained.data
    stage_s["train"] = time.perf_counter() - t0

    feats_train = forest.features(data.x_train)
    feats_test = forest.features(data.x_test)
    picks_train, _ = forest.route(feats_train)
    picks_test, _ = forest.route(feats_test)

    t0 = time.perf_counter()
    compiled = []
    for t in tqdm(range(forest.n_trees), desc="compile", disable=opts.quiet, unit="tree"):
        routed = torch.any(picks_train == t, dim=1)
        calib = feats_train[routed] if int(routed.sum()) >= 8 else feats_train
        compiled.append(compile_tree(t, forest.tree(t).export(), calib.numpy(), cfg))
    stage_s["compile"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    golden = _golden_check(cfg, forest, compiled, data.x_test, data.y_test, opts)
    stage_s["golden"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    layout_in = _layout_input(compiled, picks_train.numpy())
    budget = placement_budget_bytes(cfg, layout_in)
    layout = compile_layout(layout_in, _with_weight_budget(cfg, budget), seed=opts.seed)
    stage_s["layout"] = time.perf_counter() - t0

    n = opts.requests
    order = np.resize(np.random.default_rng(opts.seed).permutation(len(data.x_test)), n)
    requests = tuple(tuple(int(t) for t in picks_test[i]) for i in order)
    workload = Workload(_tree_specs(cfg, compiled, layout), requests,
                        name=f"{data.name}-{forest.n_trees}t-top{forest.top_k}",
                        notes={"dataset": data.name, "trees_by_kind": _kinds(forest),
                               "top_k": forest.top_k, "trained": True,
                               "paged_trees": int(len(layout.residency.paged))})
    workload.validate(cfg)
    monolith = _monolith(trained, compiled)
    summary = {
        "dataset": data.name, "trees": forest.n_trees, "top_k": forest.top_k,
        "trees_by_kind": _kinds(forest),
        "accuracy": {"forest_float": trained.report.accuracy, **golden,
                     "monolith_float": trained.monolith.accuracy if trained.monolith else None,
                     "monolith_matched": trained.monolith.matched if trained.monolith else None},
        "params_touched_per_request": {"forest": trained.report.params_touched,
                                       "monolith": monolith.param_bytes},
        "layout": {"hop_bytes_per_request": layout.hop_bytes,
                   "placement_budget_bytes_per_core": budget,
                   "resident_trees": int(len(layout.residency.resident)),
                   "paged_trees": int(len(layout.residency.paged)),
                   "cores_used": int(np.count_nonzero(layout.core_used_bytes())),
                   "stage_seconds": layout.stage_seconds},
        "stage_seconds": stage_s,
    }
    return ForestSystemRun(forest, compiled, layout, workload, monolith, summary)


HOT_UTILIZATION = 0.5
"""Offered load of the default arrival process: the busiest resource, a core (its trees'
routing frequency times their program cycles) or the host link (one flit per cycle for
every input and output packet), is busy this share of the time."""


def arrival_interval_cycles(workload: Workload, cfg: NFCoreConfig,
                            utilization: float = HOT_UTILIZATION) -> float:
    """Mean cycles between requests that load the busiest core or the host link to
    `utilization`."""
    lanes = cfg.core.lanes
    core_load = np.zeros(cfg.mesh.rows * cfg.mesh.cols)
    host_flits = 0
    for sel in workload.requests:
        for t in sel:
            tree = workload.trees[t]
            core_load[tree.core_xy[1] * cfg.mesh.cols + tree.core_xy[0]] += tree.program_cycles
            host_flits += (sum(noc.transfer_packets(tree.input_bytes, lanes))
                           + sum(noc.transfer_packets(tree.output_bytes, lanes)))
    busiest = max(float(core_load.max()), float(host_flits))
    return busiest / len(workload.requests) / utilization


def _golden_check(cfg: NFCoreConfig, forest: NeuralForest, compiled: Sequence[CompiledTree],
                  x_raw: npt.NDArray[np.floating], labels: npt.NDArray[np.integer],
                  opts: ForestSystemOptions) -> dict[str, Any]:
    """Run the picked trees of `golden_requests` random test rows on the golden model,
    compare with the integer reference, and score the int8 forest and the float forest on
    those rows (averaging as `forest.router.average` does)."""
    n = min(opts.golden_requests, len(x_raw))
    sample = np.random.default_rng(opts.seed).permutation(len(x_raw))[:n]
    x_raw, labels = np.asarray(x_raw)[sample], np.asarray(labels)[sample]
    feats = forest.features(x_raw)
    picks, weights = forest.route(feats)
    x = feats.reshape(n, -1).numpy()
    logits = np.zeros((n, picks.shape[1], forest.n_classes))
    core = CoreState(cfg.core)
    runs = 0
    for t in tqdm(sorted(set(picks.reshape(-1).tolist())), desc="golden",
                  disable=opts.quiet, unit="tree"):
        rows, slots = np.nonzero(picks.numpy() == t)
        tree = compiled[t]
        x_int = tree.quant.quantize_input(x[rows])
        out = run_tree_golden(core, tree, x_int)
        if not np.array_equal(out, tree.quant.forward_int(x_int)):
            raise AgreementError(f"tree {t}: golden model differs from the integer reference")
        logits[rows, slots] = out.astype(np.float64) * tree.quant.output_scale
        runs += len(rows)
    probs = np.einsum("nkc,nk->nc", _softmax(logits), weights.numpy())
    return {"int8_forest_golden": float(np.mean(probs.argmax(1) == labels)),
            "float_forest_same_requests": forest.accuracy(x_raw, labels),
            "golden_requests": int(n), "golden_tree_runs": int(runs),
            "golden_mismatches": 0}


SPREAD = 2.0
"""Placement budget: a core may hold at most `SPREAD` times its even share of the forest's
bytes (and never less than the largest tree). Placement minimises hop-bytes only, which
would pack small trees onto the cores next to the host and queue every request there; the
budget is a stated stand-in for a load-balancing term."""


def placement_budget_bytes(cfg: NFCoreConfig, layout_in: LayoutInput) -> int:
    """Weight bytes per core that placement may fill (see `SPREAD`)."""
    lanes = cfg.core.lanes
    sizes = layout_in.weight_bytes
    n_cores = cfg.mesh.rows * cfg.mesh.cols
    share = int(np.ceil(SPREAD * sizes.sum() / n_cores))
    budget = max(int(sizes.max()), share)
    budget = -(-budget // lanes) * lanes
    return min(budget, cfg.core.weight_sram_bytes)


def _with_weight_budget(cfg: NFCoreConfig, budget: int) -> NFCoreConfig:
    return dataclasses.replace(cfg, core=dataclasses.replace(cfg.core,
                                                             weight_sram_bytes=budget))


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _layout_input(compiled: Sequence[CompiledTree], picks: npt.NDArray[np.int64]) -> LayoutInput:
    trees = tuple(
        TreeShape(name=f"tree {c.tree_id}",
                  layers=tuple(LayerShape(p.rows, p.cols, p.w_words * c.program.lanes)
                               for p in c.program.layers))
        for c in compiled)
    return LayoutInput(trees, RouterStats.from_selections(picks, len(compiled)))


def _tree_specs(cfg: NFCoreConfig, compiled: Sequence[CompiledTree],
                layout: Layout) -> tuple[TreeSpec, ...]:
    """Placed trees; a paged tree runs on the resident core with the most free SRAM."""
    cols = cfg.mesh.cols
    core_of_tree: dict[int, int] = {}
    problem = layout.problem
    for part, core in enumerate(layout.core_of):
        tree = int(problem.part_tree[part])
        if tree in core_of_tree and core_of_tree[tree] != int(core):
            raise CompileError(f"tree {tree} is split across cores; the system workload of "
                               "this pipeline runs single-core trees only")
        core_of_tree[tree] = int(core)
    free = cfg.core.weight_sram_bytes - layout.core_used_bytes()
    spare = np.argsort(-free, kind="stable")
    for i, tree in enumerate(sorted(set(range(len(compiled))) - set(core_of_tree))):
        core_of_tree[tree] = int(spare[i % len(spare)])
    specs = []
    for c in compiled:
        core = core_of_tree[c.tree_id]
        specs.append(tree_from_program(
            c.tree_id, (core % cols, core // cols), c.program.instructions(), c.program.lanes,
            input_bytes=c.program.input_len, output_bytes=c.program.output_len,
            resident=c.tree_id in set(layout.residency.resident.tolist()), kind=c.kind))
    return tuple(specs)


def _monolith(trained: Any, compiled: Sequence[CompiledTree]) -> bl.MonolithSpec:
    """The trained monolith of equal accuracy as int8 bytes and MACs."""
    mono = trained.monolith
    if mono is None:
        raise CompileError("the forest was trained without its monolith baseline")
    export = mono.tree.export()
    return bl.MonolithSpec(
        param_bytes=int(mono.n_parameters), macs=export_macs(export),
        layers=len(export.head) + len(export.convs) + (export.cell is not None),
        input_bytes=int(np.prod(export.input_shape)),
        output_bytes=int(export.head[-1][0].shape[0]),
        notes=f"trained {mono.spec.kind} monolith on the same data, test accuracy "
              f"{mono.accuracy:.4f} vs the forest's {mono.target_accuracy:.4f}"
              + ("" if mono.matched else " (NOT matched: no width reached the forest)")
              + "; one byte per parameter")


def _kinds(forest: NeuralForest) -> dict[str, int]:
    kinds = forest.tree_kinds()
    return {k: kinds.count(k) for k in forest.kinds}
