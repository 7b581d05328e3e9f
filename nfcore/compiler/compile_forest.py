"""Compile a saved forest into a `ForestImage`: quantize, lower, lay out, assign, relocate.

`compile_forest(forest_dir, cfg)` runs, timing each stage (`ForestImage.stage_seconds`):

1. load: the forest (`forest.io.ForestReader`; a missing or corrupt folder is refused with
   `ForestFormatError` naming the file);
2. calibrate: the calibration inputs (the caller's, or the training split of the dataset the
   forest's manifest records, regenerated deterministically), their stem features, and the
   router's top-k picks, which give the routing frequencies and co-selections placement reads;
3. quantize: every tree (mlp, cnn, rnn) with `quantize_tree`, calibrated on up to
   `calib_rows` of the rows the router sends it (all calibration rows when it gets fewer
   than `MIN_ROUTED_ROWS`);
4. lower: `partition_tree` onto as few cores as hold it (a chain with SEND/RECV when the
   tree exceeds one core's weight SRAM); resource errors name the tree;
5. layout: `compile_layout` (residency by routing frequency per byte, greedy + annealed
   placement under SRAM capacity). Each tree is described to the placer as its lowered
   chain (one layer per chain core, weight bytes exactly as lowered), so the placer's parts
   are the lowering's cores;
6. assign: a resident tree is re-lowered onto the cores its parts were placed on; a paged
   tree onto the cores with the most free SRAM (see `forest_image` for how paged weights are
   loaded); every part gets a weight base word and a relocated program slot.

The router runs on the chip too: its Linear layer is exported as a one-layer mlp tree
(`forest.router.Router.export`), quantized on every calibration row (it reads every
request), lowered like a tree and laid out with the trees as one more tree that every
request selects (frequency 1, no co-selection: it exchanges nothing with the trees), so
placement puts it next to the host port; it must be resident. It is the image's
`router` (`ROUTER_ID` in slots and regions).

Deterministic under `seed` (calibration order, placement).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from nfcore.compiler.images.forest_image import (
    ROUTER_ID,
    ForestImage,
    ForestTree,
    manifest_header,
)
from nfcore.compiler.layout.input import LayerShape, LayoutInput, RouterStats, TreeShape
from nfcore.compiler.layout.stages import Layout, compile_layout
from nfcore.compiler.layout.stats import layout_stats, placement_manifest
from nfcore.compiler.lower.split import Coord, TreeProgram, partition_tree
from nfcore.compiler.quant.tree import QuantizedTree, quantize_tree
from nfcore.config import NFCoreConfig
from nfcore.errors import CompileError

SPREAD = 2.0
"""The placement spread `nfcore compile` and `make sim` use (see `compile_forest`)."""
MIN_ROUTED_ROWS = 8
DEFAULT_CALIB_MAX_ROWS = 65_536
"""Without `calib_x`, calibrate on a seeded sample of at most this many training rows: the
router and stem run over every calibration row at once, and a 10,000-task training split
(millions of rows) does not need to."""
"""Fewest routed calibration rows a tree is calibrated on; below, it uses all rows."""


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Stem features of the calibration rows and the router's picks on them."""

    features: npt.NDArray[np.float32]
    """(rows, *feature_shape)"""
    picks: npt.NDArray[np.int64]
    """(rows, top_k) tree ids"""
    source: str


def compile_forest(forest_dir: Path, cfg: NFCoreConfig, *, calib_rows: int = 256,
                   seed: int = 0, progress: bool = True,
                   calib_x: npt.ArrayLike | None = None,
                   spread: float | None = None) -> ForestImage:
    """Compile the forest saved in `forest_dir` for `cfg` (see the module docstring).

    `calib_x`: raw calibration inputs (rows, *input_shape); default: the recorded dataset's
    training split. `spread`: placement may fill a core with at most `spread` times its even
    share of the forest's weight bytes (never less than the largest lowered part; at most
    `core.weight_sram_bytes`, the default). Placement minimises hop-bytes only, which packs
    small trees onto the cores next to the host; the budget is a stated stand-in for a
    load-balancing term.
    Raises `ForestFormatError` for a missing or corrupt forest and `CompileError` naming the
    tree and resource when a tree does not fit a core or the forest cannot be laid out.
    """
    # torch (through forest.io) only where a saved forest is read: `nfcore.compiler` is
    # imported by paths that compile one exported tree and need no torch.
    from forest.io import ForestReader

    times: dict[str, float] = {}
    t0 = time.perf_counter()
    forest_dir = Path(forest_dir)
    reader = ForestReader(forest_dir)
    forest = reader.forest()
    times["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    calib = _calibration(forest, forest_dir, calib_x, seed)
    times["calibrate"] = time.perf_counter() - t0

    mesh_cores = [(x, y) for y in range(cfg.mesh.rows) for x in range(cfg.mesh.cols)]
    order = np.random.default_rng(seed).permutation(len(calib.features))
    routed_rows = _routed_rows(calib.picks, order, forest.n_trees)
    quants: list[QuantizedTree] = []
    programs: list[TreeProgram] = []
    times["quantize"] = times["lower"] = 0.0
    for t in tqdm(range(forest.n_trees), desc="compile", disable=not progress, unit="tree"):
        t0 = time.perf_counter()
        routed = routed_rows[t][:calib_rows]
        rows = routed if len(routed) >= MIN_ROUTED_ROWS else order[:calib_rows]
        q = quantize_tree(forest.tree(t).export(), calib.features[rows],
                          acc_bits=cfg.core.acc_bits, tree_id=t)
        t1 = time.perf_counter()
        programs.append(partition_tree(q, cfg.core, mesh_cores, t))
        quants.append(q)
        times["quantize"] += t1 - t0
        times["lower"] += time.perf_counter() - t1
    t0 = time.perf_counter()
    router_q = quantize_tree(forest.router.export(),
                             calib.features.reshape(len(calib.features), -1),
                             acc_bits=cfg.core.acc_bits, tree_id="router")
    quants.append(router_q)
    programs.append(partition_tree(router_q, cfg.core, mesh_cores, "router"))
    times["router"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    layout_in = LayoutInput(tuple(_tree_shape(t, tp) for t, tp in enumerate(programs)),
                            _with_router(RouterStats.from_selections(calib.picks,
                                                                     forest.n_trees)))
    largest = max(c.weights.size for tp in programs for c in tp.cores)
    cap, lanes = cfg.core.weight_sram_bytes, cfg.core.lanes
    budget = cap if spread is None else placement_budget_bytes(cfg, layout_in, spread)
    layout = compile_layout(layout_in, _with_budget(cfg, budget), seed=seed)
    try:
        assigned = _assign(cfg, layout, quants, programs)
    except _NoLanding:
        # Paged trees need free SRAM to be loaded into: keep room for the largest part
        # on every core (costs at most that part per core) and lay out again.
        budget = (cap - largest) // lanes * lanes
        if budget < largest:
            raise CompileError(
                f"the forest does not fit the chip: {layout.residency.paged.size} trees must "
                f"be paged from DRAM, and a core of core.weight_sram_bytes = {cap} cannot "
                f"hold both resident weights and the largest part a paged tree loads "
                f"({largest} bytes); raise core.weight_sram_bytes or use a larger mesh"
            ) from None
        layout = compile_layout(layout_in, _with_budget(cfg, budget), seed=seed)
        assigned = _assign(cfg, layout, quants, programs)
    times["layout"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    trees, sram, slots = assigned
    router = trees.pop()
    if not router.resident:
        raise CompileError(
            f"the router ({router.program.cores[0].weights.size} weight bytes) must be "
            f"resident, but the chip has no room left for it; raise core.weight_sram_bytes "
            f"or use a larger mesh")
    manifest = {
        **manifest_header(cfg),
        "forest": {"forest_id": reader.manifest["forest_id"], "n_trees": forest.n_trees,
                   "kinds": list(forest.kinds), "top_k": forest.top_k,
                   "input_shape": list(forest.input_shape),
                   "feature_shape": list(forest.feature_shape),
                   "n_classes": forest.n_classes},
        "calibration": {"source": calib.source, "rows": len(calib.features),
                        "calib_rows_per_tree": calib_rows, "seed": seed},
        "trees": [_tree_entry(tree) for tree in trees],
        "router": {**_tree_entry(router), "dir": "router",
                   "regions": forest.router.n_regions},
        "cores": _core_entries(cfg, [*trees, router], sram, slots),
        "residency": {"resident": [int(t) for t in layout.residency.resident
                                   if t < forest.n_trees],
                      "paged": [int(t) for t in layout.residency.paged]},
        "placement_budget_bytes_per_core": budget,
        "placement": placement_manifest(layout),
        "layout": {k: v for k, v in layout_stats(layout).items() if k != "stage_seconds"},
    }
    times["assign"] = time.perf_counter() - t0
    times.update({f"layout.{k}": v for k, v in layout.stage_seconds.items()})
    return ForestImage(cfg=cfg, manifest=manifest, layout=layout, stage_seconds=times,
                       _trees={tr.tree_id: tr for tr in [*trees, router]}, _sram=sram,
                       _programs=slots)


def placement_budget_bytes(cfg: NFCoreConfig, layout_in: LayoutInput, spread: float) -> int:
    """Weight bytes per core that placement may fill: `spread` times the even share of the
    forest's bytes, at least its largest tree (part), a whole number of words, at most the
    SRAM."""
    if spread <= 0:
        raise CompileError(f"spread = {spread} must be > 0 (times a core's even share)")
    lanes = cfg.core.lanes
    sizes = layout_in.weight_bytes
    largest = max(layer.weight_bytes for tree in layout_in.trees for layer in tree.layers)
    share = int(np.ceil(spread * sizes.sum() / (cfg.mesh.rows * cfg.mesh.cols)))
    budget = -(-max(largest, share) // lanes) * lanes
    return min(budget, cfg.core.weight_sram_bytes)


class _NoLanding(Exception):
    """A paged tree's part finds no core with room to be loaded into."""


def _with_router(stats: RouterStats) -> RouterStats:
    """`stats` with the on-chip router as one more tree that every request selects and that
    shares no traffic with the trees (its scores go to the host)."""
    return dataclasses.replace(stats, k=stats.k + 1, freq=np.append(stats.freq, 1.0))


def _with_budget(cfg: NFCoreConfig, budget_bytes: int) -> NFCoreConfig:
    """`cfg` with `budget_bytes` of weight SRAM per core, as placement sees it."""
    return dataclasses.replace(cfg, core=dataclasses.replace(cfg.core,
                                                             weight_sram_bytes=budget_bytes))


def recorded_dataset(forest: Any, folder: Path) -> Any:
    """The dataset the forest's manifest records it was trained on (`forest.datasets`),
    regenerated with the recorded seed and task count. Raises `CompileError` if none is."""
    # scikit-learn (through forest.datasets) only where a dataset is regenerated.
    from forest.datasets import DEFAULT_TASKS

    meta = forest.meta
    name = meta.get("dataset")
    if not isinstance(name, str):
        raise CompileError(f"{folder / 'manifest.json'}: records no training dataset, so "
                           "calibration and test rows cannot be regenerated; pass them")
    opts = meta.get("options") or {}
    return _load_dataset(name, int(opts.get("seed", 0)),
                         int(meta.get("n_tasks") or DEFAULT_TASKS))


@functools.lru_cache(maxsize=2)
def _load_dataset(name: str, seed: int, n_tasks: int) -> Any:
    # scikit-learn (through forest.datasets) only where a dataset is regenerated.
    from forest.datasets import load_dataset

    return load_dataset(name, seed=seed, n_tasks=n_tasks)


def _routed_rows(picks: npt.NDArray[np.int64], order: npt.NDArray[np.int64],
                 n_trees: int) -> list[npt.NDArray[np.int64]]:
    """For each tree, the calibration rows routed to it, in `order`'s order: one sort of all
    (tree, rank) pairs rather than a scan of every row per tree (rows x trees)."""
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    rows = np.repeat(np.arange(len(picks)), picks.shape[1])
    trees = picks.reshape(-1)
    by = np.lexsort((rank[rows], trees))
    trees, rows = trees[by], rows[by]
    bounds = np.searchsorted(trees, np.arange(n_trees + 1))
    return [rows[bounds[t]:bounds[t + 1]] for t in range(n_trees)]


def _calibration(forest: Any, folder: Path, calib_x: npt.ArrayLike | None,
                 seed: int) -> Calibration:
    if calib_x is None:
        data = recorded_dataset(forest, folder)
        calib_x, n = data.x_train, len(data.x_train)
        source = f"{data.name} training split ({n} rows)"
        if n > DEFAULT_CALIB_MAX_ROWS:
            pick = np.sort(np.random.default_rng(seed).choice(n, DEFAULT_CALIB_MAX_ROWS,
                                                              replace=False))
            calib_x = np.asarray(data.x_train)[pick]
            source = (f"{data.name} training split, a seeded sample of "
                      f"{DEFAULT_CALIB_MAX_ROWS} of its {n} rows")
    else:
        source = "caller's rows"
    x = np.asarray(calib_x, dtype=np.float32)
    if len(x) == 0:
        raise CompileError("calibration needs at least one input row")
    feats = forest.features(x)
    picks, _ = forest.route(feats)
    return Calibration(features=feats.numpy(), picks=picks.numpy().astype(np.int64),
                       source=source)


def _tree_shape(t: int, tp: TreeProgram) -> TreeShape:
    """The lowered chain as the placer sees it: one layer per chain core (its weight bytes),
    reading the packed input or what the previous core SENDs, writing what it SENDs on
    or the logits."""
    lanes = tp.lanes
    layers = []
    cols = tp.plan.input_len
    for k, code in enumerate(tp.cores):
        if k + 1 < len(tp.cores):
            rows = lanes * sum(i.n for i in code.instructions() if i.op.name == "SEND")
        else:
            rows = tp.plan.output_len
        layers.append(LayerShape(rows=rows, cols=cols, weight_bytes=int(code.weights.size)))
        cols = rows
    return TreeShape(name=f"tree {t}", layers=tuple(layers))


def _assign(cfg: NFCoreConfig, layout: Layout, quants: list[QuantizedTree],
            programs: list[TreeProgram]
            ) -> tuple[list[ForestTree], dict[Coord, npt.NDArray[np.uint8]],
                       dict[Coord, dict[tuple[int, int], list[int]]]]:
    """Lower every tree onto its cores, give each part a base word, relocate its program.
    The last of `quants` and `programs` is the router: its `ForestTree` has `ROUTER_ID`."""
    cols, lanes, cap = cfg.mesh.cols, cfg.core.lanes, cfg.core.weight_words
    n_trees = len(programs) - 1

    def tree_id(t: int) -> int:
        return ROUTER_ID if t == n_trees else t

    problem = layout.problem
    load = {(c % cols, c // cols): int(b) // lanes
            for c, b in enumerate(layout.core_used_bytes())}
    chains: dict[int, list[Coord]] = {}
    for t in layout.residency.resident.tolist():
        off = problem.part_offset[t]
        n_parts = len(layout.plans[t].parts)
        if n_parts != len(programs[t].cores):
            raise CompileError(f"tree {t}: the placer split it into {n_parts} parts but "
                               f"lowering needs {len(programs[t].cores)} cores")
        cores = [int(problem_core) for problem_core in layout.core_of[off:off + n_parts]]
        chains[t] = _distinct_chain([(c % cols, c // cols) for c in cores],
                                    [len(c.weights) for c in programs[t].cores], load,
                                    cap, cfg.mesh.rows)
    used: dict[Coord, int] = {}
    regions: dict[Coord, list[tuple[int, int, npt.NDArray[np.uint8]]]] = {}
    trees: dict[int, ForestTree] = {}
    for t, chain in sorted(chains.items()):
        tp = programs[t]
        if [c.coord for c in tp.cores] != chain:
            tp = partition_tree(quants[t], cfg.core, chain, t)
        bases = []
        for k, code in enumerate(tp.cores):
            base = used.get(code.coord, 0)
            used[code.coord] = base + len(code.weights)
            regions.setdefault(code.coord, []).append((t, k, code.weights))
            bases.append(base)
        trees[t] = ForestTree(tree_id(t), True, quants[t], tp, tuple(bases))
    for coord, words in used.items():
        if words > cap:  # placement keeps capacity, so this is a compiler bug
            raise CompileError(f"core {coord}: resident trees need {words} weight words but "
                               f"core.weight_sram_bytes holds {cap}")
    all_cores = [(x, y) for y in range(cfg.mesh.rows) for x in range(cfg.mesh.cols)]
    free = np.array([cap - used.get(c, 0) for c in all_cores])
    spare = [all_cores[i] for i in np.argsort(-free, kind="stable")]
    for i, t in enumerate(layout.residency.paged.tolist()):
        need = [len(c.weights) for c in programs[t].cores]
        chain = _paged_chain(t, need, spare, i, cap, used)
        tp = partition_tree(quants[t], cfg.core, chain, t)
        trees[t] = ForestTree(tree_id(t), False, quants[t], tp,
                              tuple(used.get(c, 0) for c in chain))
    sram = {coord: np.concatenate([w for _, _, w in regs], axis=0)
            for coord, regs in regions.items()}
    slots: dict[Coord, dict[tuple[int, int], list[int]]] = {}
    for t in sorted(trees):
        tree = trees[t]
        for k, coord in enumerate(tree.cores):
            slots.setdefault(coord, {})[(tree.tree_id, k)] = tree.core_program(k)
    for coord in slots:  # a core with only paged trees holds no resident words
        sram.setdefault(coord, np.zeros((0, lanes), dtype=np.uint8))
    return [trees[t] for t in range(len(programs))], sram, slots


def _distinct_chain(chain: list[Coord], words: list[int], load: dict[Coord, int], cap: int,
                    rows: int) -> list[Coord]:
    """`chain` with each core that repeats an earlier one replaced by the nearest core (in
    hops) outside the chain with room for that part's `words` (`load`: weight words placed
    per core, updated). Placement may put two parts of one tree on one core when they fit,
    but a chain cannot use that (a core does not SEND to itself)."""
    cols = len(load) // rows
    out: list[Coord] = []
    for k, (c, need) in enumerate(zip(chain, words, strict=True)):
        if c in out:
            near = sorted(load, key=lambda o: (abs(o[0] - c[0]) + abs(o[1] - c[1]), o[1], o[0]))
            free = [o for o in near if o not in out and o not in chain[k + 1:]
                    and load[o] + need <= cap]
            if not free:
                raise CompileError(f"{len(chain)}-part chain: no core of the {cols} x {rows} "
                                   f"mesh has {need} free weight words for part {k}")
            load[c] -= need
            load[free[0]] += need
            c = free[0]
        out.append(c)
    return out


def _paged_chain(t: int, need: list[int], spare: list[Coord], start: int, cap: int,
                 used: dict[Coord, int]) -> list[Coord]:
    """Distinct cores for a paged tree's parts: from the cores with the most free SRAM,
    rotating by `start` so paged trees spread out; each must have room for its part."""
    chain: list[Coord] = []
    n = len(spare)
    for k, words in enumerate(need):
        for j in range(n):
            coord = spare[(start + k + j) % n]
            if coord not in chain and cap - used.get(coord, 0) >= words:
                chain.append(coord)
                break
        else:
            raise _NoLanding(f"tree {t} part {k}: no core has {words} free weight words")
    return chain


def _tree_entry(tree: ForestTree) -> dict[str, Any]:
    tp, plan = tree.program, tree.program.plan
    return {"id": tree.tree_id, "kind": tree.kind, "resident": tree.resident,
            "dir": f"trees/tree_{tree.tree_id}",
            "cores": [list(c) for c in tree.cores], "base_words": list(tree.base_words),
            "weight_words": [len(c.weights) for c in tp.cores],
            "program_words": [len(c.program) for c in tp.cores],
            "input": {"coord": list(tp.input_coord), "addr": plan.input_addr,
                      "len": plan.input_len},
            "output": {"coord": list(tp.output_coord), "addr": plan.output_addr,
                       "len": plan.output_len},
            "compute_cycles": tp.compute_cycles()}


def _core_entries(cfg: NFCoreConfig, trees: list[ForestTree],
                  sram: dict[Coord, npt.NDArray[np.uint8]],
                  slots: dict[Coord, dict[tuple[int, int], list[int]]]) -> list[dict[str, Any]]:
    regions: dict[Coord, list[list[Any]]] = {}
    for tree in trees:
        for k, c in enumerate(tree.cores):
            regions.setdefault(c, []).append([tree.tree_id, k, tree.base_words[k],
                                              len(tree.program.cores[k].weights),
                                              tree.resident])
    entries = []
    for coord in sorted(sram, key=lambda c: (c[1], c[0])):
        offset, table = 0, []
        for (t, k), words in sorted(slots.get(coord, {}).items()):
            table.append([t, k, offset, len(words)])
            offset += len(words)
        x, y = coord
        entries.append({"coord": [x, y], "sram": f"cores/core_{x}_{y}.sram",
                        "programs": f"cores/core_{x}_{y}.programs",
                        "sram_words": int(len(sram[coord])),
                        "weight_words": cfg.core.weight_words,
                        "regions": regions.get(coord, []), "slots": table})
    return entries
