"""A trained forest on the whole chip: compile every tree, place them, simulate, report.

`make sim`'s system section runs this path (`run_forest_system`):

1. train a forest with `nfcore train`'s code (`forest.command.run_train`) or load a saved one;
   the shared stem runs on the host, so trees read stem features and are calibrated on them;
2. compile the saved forest into a forest image (`nfcore.compiler.compile_forest`): every
   tree of any kind (mlp, cnn, rnn) quantized to int8, calibrated on the training rows its
   router sends it, lowered to the ISA, and laid out on the mesh (residency by routing
   frequency, placement minimising hop-bytes under the `SPREAD` budget, router statistics
   from the training set);
3. check the golden model: the int8 router (`golden_run.run_image_router`) and every tree
   its scores select for a sample of requests run from what the image puts on their core(s)
   (resident SRAM, relocated program slot; `golden_run.run_image_tree`) and must equal the
   compiler's integer reference bit for bit; the int8 forest's accuracy is the int8
   router-weighted average of the dequantized tree outputs, and the share of requests whose
   int8 router picks the float router's trees is reported;
4. build the system model's `SystemWorkload` from the image's programs (cycles and events by the
   timing contract), the router on its core, and the int8 router's picks on the test set,
   and run it with every baseline
   against the forest's own monolith, trained to the forest's accuracy on the same data.
   A tree the image splits over a chain of cores runs there stage by stage
   (`nfcore.sim.system.workload.tree_from_chain`, `PlacedTree.stages`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from tqdm import tqdm

from forest.command import TrainResult, run_train
from forest.export import TreeExport
from forest.forest import NeuralForest
from forest.io import load_forest
from forest.router import top_k
from forest.trees import TreeModule
from nfcore.compiler import ForestImage, compile_forest
from nfcore.compiler.compile_forest import SPREAD, recorded_dataset
from nfcore.compiler.golden_run import run_image_router, run_image_tree
from nfcore.compiler.images.forest_image import ForestTree
from nfcore.compiler.layout.stages import Layout
from nfcore.config import NFCoreConfig
from nfcore.errors import AgreementError, CompileError
from nfcore.sim import baselines as bl
from nfcore.sim.system.workload import PlacedTree, SystemWorkload, tree_from_chain

__all__ = ["SPREAD", "ForestSystemOptions", "ForestSystemRun", "export_macs", "load_balance",
           "monolith_bytes", "run_forest_system", "saved_forest_workload"]


@dataclass(frozen=True)
class ForestSystemOptions:
    dataset: str = "multitask_seq"
    trees: int | None = None
    """Trees of the forest (None: the dataset's preset; multitask, multitask_seq: one of each
    kind per task)."""
    tasks: int = 96
    """Tasks of the synthetic multitask datasets."""
    top_k: int | None = None
    kinds: tuple[str, ...] | None = None
    tree_size: int | None = None
    """mlp hidden width, cnn channels or rnn hidden units (None: the dataset's preset)."""
    epochs: int | None = None
    """Training passes of the trees and the monolith (None: the dataset's preset)."""
    requests: int = 2000
    """Requests simulated (drawn from the test set, repeated if it is smaller)."""
    golden_requests: int = 500
    """Requests whose selected trees also run on the golden model."""
    seed: int = 0
    quiet: bool = False


@dataclass
class ForestSystemRun:
    forest: NeuralForest
    image: ForestImage
    """The compiled forest: per tree its integer model and program, per core its contents."""
    workload: SystemWorkload
    monolith: bl.MonolithSpec
    summary: dict[str, Any]
    x_test: npt.NDArray[np.float32]
    """The dataset's raw test inputs (rows, *input_shape) the requests were drawn from."""
    trained: TrainResult
    """The trained forest, its data and its monolith ladder."""
    request_rows: npt.NDArray[np.int64]
    """The test row of each simulated request, in request order."""

    @property
    def layout(self) -> Layout:
        assert self.image.layout is not None
        return self.image.layout


def export_matvecs(export: TreeExport) -> tuple[tuple[int, int, int], ...]:
    """A tree's layers as matrix-vector products (rows, cols, times per inference): a
    convolution one per output position, the recurrent cell one per step, the head one per
    layer."""
    out = []
    length = export.input_shape[0]
    for conv in export.convs:
        out_ch, in_ch, k = conv.weight.shape
        length = (length - k) // conv.stride + 1
        out.append((int(out_ch), int(in_ch * k), int(length)))
    if export.cell is not None:
        rows, cols = export.cell.weight.shape
        out.append((int(rows), int(cols), int(length)))
    return tuple(out) + tuple((int(w.shape[0]), int(w.shape[1]), 1) for w, _, _ in export.head)


def export_macs(export: TreeExport) -> int:
    """Multiply-accumulates of one inference of a tree, from its export."""
    return sum(rows * cols * times for rows, cols, times in export_matvecs(export))


def run_forest_system(cfg: NFCoreConfig, opts: ForestSystemOptions,
                      forest_dir: Path, trained: TrainResult | None = None) -> ForestSystemRun:
    """Train (into `forest_dir`), compile, check, place and build the system workload.

    `trained`: an already trained forest (`forest.command.run_train`'s result), used instead
    of training one; then `opts`' forest fields are not read and `forest_dir` must hold that
    forest as `run_train` saved it (the compiler reads it from there). Sweeps pass it so that
    every design point of one forest compiles the same trained weights."""
    stage_s: dict[str, float] = {}
    t0 = time.perf_counter()
    if trained is None:
        trained = run_train(opts.dataset, forest_dir, trees=opts.trees, top_k=opts.top_k,
                            kinds=opts.kinds, tree_size=opts.tree_size, epochs=opts.epochs,
                            tasks=opts.tasks, seed=opts.seed, quiet=opts.quiet)
    forest, data = trained.forest, trained.data
    stage_s["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # Every routed training row calibrates its tree (calib_rows: all of them).
    image = compile_forest(forest_dir, cfg, calib_rows=len(data.x_train), seed=opts.seed,
                           progress=not opts.quiet, calib_x=data.x_train, spread=SPREAD)
    layout = image.layout
    assert layout is not None
    stage_s["compile"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    golden = _golden_check(forest, image, data.x_test, data.y_test, opts)
    stage_s["golden"] = time.perf_counter() - t0

    workload, order = _workload(cfg, forest, image, data.name, data.x_test, opts.requests,
                                opts.seed)
    requests = workload.requests
    mono = trained.monolith
    if mono is None:
        raise CompileError("the forest was trained without its monolith baseline")
    monolith = monolith_bytes(mono.tree, f"trained {mono.spec.kind} monolith on the same data, "
                              f"test accuracy {mono.accuracy:.4f} vs the forest's "
                              f"{mono.target_accuracy:.4f}"
                              + ("" if mono.matched else " (NOT matched: see the ladder)"))
    summary = {
        "dataset": data.name, "trees": forest.n_trees, "top_k": forest.top_k,
        "trees_by_kind": _kinds(forest),
        "accuracy": {"forest_float": trained.report.accuracy, **golden,
                     "monolith_float": mono.accuracy, "monolith_matched": mono.matched},
        "monolith_ladder": mono.to_dict(),
        "router": _router_summary(forest, workload.router),
        "load_balance": load_balance(requests, forest.n_trees,
                                     forest.meta.get("router_balance")),
        "params_touched_per_request": {"forest": trained.report.params_touched,
                                       "monolith": monolith.param_bytes},
        "layout": {"hop_bytes_per_request": layout.hop_bytes,
                   "placement_budget_bytes_per_core":
                       image.manifest["placement_budget_bytes_per_core"],
                   "resident_trees": len(image.resident_trees),
                   "paged_trees": int(len(layout.residency.paged)),
                   "cores_used": int(np.count_nonzero(layout.core_used_bytes())),
                   "stage_seconds": layout.stage_seconds},
        "compile_stage_seconds": image.stage_seconds,
        "stage_seconds": stage_s,
    }
    return ForestSystemRun(forest, image, workload, monolith, summary,
                           np.asarray(data.x_test, dtype=np.float32), trained, order)


def _golden_check(forest: NeuralForest, image: ForestImage,
                  x_raw: npt.NDArray[np.floating], labels: npt.NDArray[np.integer],
                  opts: ForestSystemOptions) -> dict[str, Any]:
    """Run the picked trees of `golden_requests` random test rows on the golden model from
    the image's core contents, compare with the integer reference, and score the int8
    forest and the float forest on those rows (averaging as `forest.router.average` does)."""
    n = min(opts.golden_requests, len(x_raw))
    sample = np.random.default_rng(opts.seed).permutation(len(x_raw))[:n]
    x_raw, labels = np.asarray(x_raw)[sample], np.asarray(labels)[sample]
    feats = forest.features(x_raw)
    picks, weights = forest.route(feats)
    x = feats.numpy()
    router = image.router()
    router_in = router.quant.quantize_input(x.reshape(n, -1))
    scores, _ = run_image_router(image, router_in)
    if not np.array_equal(scores, router.quant.forward_int(router_in)):
        raise AgreementError("the router: golden model differs from the integer reference")
    float_picks = picks
    picks, weights = int8_route(forest, image, feats, scores)
    same = np.sort(picks.numpy(), 1) == np.sort(float_picks.numpy(), 1)
    logits = np.zeros((n, picks.shape[1], forest.n_classes))
    runs = 0
    for t in tqdm(sorted(set(picks.reshape(-1).tolist())), desc="golden",
                  disable=opts.quiet, unit="tree"):
        rows, slots = np.nonzero(picks.numpy() == t)
        quant = image.tree(t).quant
        x_int = quant.quantize_input(x[rows])
        out, _ = run_image_tree(image, t, x_int)
        if not np.array_equal(out, quant.forward_int(x_int)):
            raise AgreementError(f"tree {t}: golden model differs from the integer reference")
        logits[rows, slots] = out.astype(np.float64) * quant.output_scale
        runs += len(rows)
    probs = np.einsum("nkc,nk->nc", _softmax(logits), weights.numpy())
    return {"int8_forest_golden": float(np.mean(probs.argmax(1) == labels)),
            "float_forest_same_requests": forest.accuracy(x_raw, labels),
            "router_int8_float_same_picks": float(np.mean(same.all(1))),
            "golden_requests": int(n), "golden_tree_runs": int(runs),
            "golden_mismatches": 0}


def int8_route(forest: NeuralForest, image: ForestImage, feats: torch.Tensor,
               logits_int: npt.NDArray[np.int8] | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Picked tree ids [N, k] and weights [N, k] by the image's int8 router: its region
    logits (`logits_int`, or the integer reference's on `feats`), dequantized, through the
    forest's own scores and top-k (`forest.router`)."""
    router = image.router().quant
    if logits_int is None:
        x = feats.numpy().reshape(len(feats), -1)
        logits_int = router.forward_int(router.quantize_input(x))
    logits = torch.as_tensor(router.dequantize_output(logits_int), dtype=torch.float32)
    return top_k(forest.router.scores_of_logits(logits), forest.top_k)


def _router_summary(forest: NeuralForest, router: PlacedTree | None) -> dict[str, Any]:
    """Where the on-chip router runs and what one run of it costs."""
    assert router is not None
    return {"core": list(router.core_xy), "regions": forest.router.n_regions,
            "parameters": sum(p.numel() for p in forest.router.parameters()),
            "weight_bytes": router.weight_bytes, "program_cycles": router.program_cycles,
            "macs": router.macs}


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def saved_forest_workload(cfg: NFCoreConfig, forest_dir: Path, requests: int, seed: int = 0,
                          quiet: bool = False) -> SystemWorkload:
    """The system workload of a forest saved by `nfcore train`: compiled for the chip of `cfg`
    (calibrated on its recorded dataset's training split) and `requests` router picks of its
    test rows (seeded, repeated if fewer). No golden check, no monolith."""
    forest = load_forest(forest_dir)
    image = compile_forest(forest_dir, cfg, seed=seed, progress=not quiet, spread=SPREAD)
    data = recorded_dataset(forest, forest_dir)
    return _workload(cfg, forest, image, data.name, data.x_test, requests, seed)[0]


def _workload(cfg: NFCoreConfig, forest: NeuralForest, image: ForestImage, dataset: str,
              x_test: npt.NDArray[np.float32], n: int, seed: int
              ) -> tuple[SystemWorkload, npt.NDArray[np.int64]]:
    """The image's trees, its router on its core, and `n` requests, the int8 router's picks
    of seeded test rows (and those rows); tree popularity is the float router's on the
    compiler's calibration rows."""
    layout = image.layout
    assert layout is not None
    picks_test, _ = int8_route(forest, image, forest.features(x_test))
    order = np.resize(np.random.default_rng(seed).permutation(len(x_test)), n)
    requests = tuple(tuple(int(t) for t in picks_test[i]) for i in order)
    workload = SystemWorkload(_tree_specs(image), requests,
                              name=f"{dataset}-{forest.n_trees}t-top{forest.top_k}",
                              notes={"dataset": dataset, "trees_by_kind": _kinds(forest),
                                     "top_k": forest.top_k, "trained": True,
                                     "paged_trees": int(len(layout.residency.paged))},
                              popularity=tuple(float(f) for f in
                                               layout.workload.stats.freq[:image.n_trees]),
                              router=_placed(image.router(), -1, image))
    workload.validate(cfg)
    return workload, order


def _tree_specs(image: ForestImage) -> tuple[PlacedTree, ...]:
    """Every tree on the core(s) the image assigns it (a paged tree: where it is loaded); a
    tree the image splits over a chain of cores becomes one stage per chain core."""
    return tuple(_placed(image.tree(t), t, image) for t in range(image.n_trees))


def _placed(tree: ForestTree, tree_id: int, image: ForestImage) -> PlacedTree:
    plan = tree.program.plan
    return tree_from_chain(
        tree_id, [(c.coord, c.instructions()) for c in tree.program.cores], tree.program.lanes,
        input_bytes=plan.input_len, output_bytes=plan.output_len, resident=tree.resident,
        kind=tree.kind, wbuf_words=image.cfg.core.wbuf_words)


def monolith_bytes(tree: TreeModule, notes: str) -> bl.MonolithSpec:
    """A trained monolith as int8 bytes (one per parameter) and MACs, for the analytic
    baselines."""
    export = tree.export()
    return bl.MonolithSpec(
        param_bytes=int(tree.n_parameters), macs=export_macs(export),
        layers=len(export.head) + len(export.convs) + (export.cell is not None),
        input_bytes=int(np.prod(export.input_shape)),
        output_bytes=int(export.head[-1][0].shape[0]),
        matvecs=export_matvecs(export),
        notes=f"{notes}; one byte per parameter")


def load_balance(requests: tuple[tuple[int, ...], ...], n_trees: int,
                 router_balance: float | None) -> dict[str, Any]:
    """Each tree's share of the routed picks of `requests`, and the balance figures:
    max / mean share (1 is even; n_trees is one tree taking every pick) and the fraction of
    trees that serve at least one request. `router_balance`: the load-balancing weight the
    router was trained with (`forest.build.ForestOptions.router_balance`)."""
    counts = np.bincount([t for sel in requests for t in sel], minlength=n_trees)
    share = counts / max(int(counts.sum()), 1)
    return {"per_tree_share": share.tolist(),
            "max_over_mean_share": float(share.max() / share.mean()),
            "trees_serving": int(np.count_nonzero(counts)),
            "serving_fraction": float(np.count_nonzero(counts) / n_trees),
            "router_balance_weight": router_balance}


def _kinds(forest: NeuralForest) -> dict[str, int]:
    kinds = forest.tree_kinds()
    return {k: kinds.count(k) for k in forest.kinds}
