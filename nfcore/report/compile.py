"""`nfcore compile`: a saved forest -> a forest image plus its report (compile.md, .json).

`run_compile` compiles (`compile_forest`), measures each layer's int8 accuracy drop on the
recorded dataset's test split (`precision`), writes the report and the SRAM heatmap into
the image folder, checks the precision budget, and saves the image. A layer over the
budget fails the command after the report is written (so the numbers can be read) and
before the image is saved.

Report contents, all measured by this run: cores used and weight SRAM per core (heatmap
PNG, min / mean / max), trees resident and paged (count and bytes), expected hop-bytes per
request against a random placement and the lower bound, precision per layer with its drop,
and seconds per stage.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from forest.io import ForestReader
from nfcore.compiler.compile_forest import SPREAD, compile_forest, recorded_dataset
from nfcore.compiler.images.forest_image import ForestImage
from nfcore.compiler.layout.stats import layout_stats
from nfcore.compiler.quant.precision import FORMATS, NOT_AVAILABLE, check_budget, measure
from nfcore.config import NFCoreConfig
from nfcore.errors import CompileError
from nfcore.report.plots import plot_sram_heatmap

EVAL_ROWS = 4000
"""Most test rows the precision measurement uses (a seeded sample of the test split)."""


def run_compile(forest_dir: Path, cfg: NFCoreConfig, out: Path, *,
                budget_pp: float = 1.0, spread: float | None = SPREAD, seed: int = 0,
                quiet: bool = False) -> dict[str, Any]:
    """Compile, report, check the budget, save; returns the report data."""
    if budget_pp < 0:
        raise CompileError(f"--precision-budget = {budget_pp} must be >= 0 (percentage points)")
    t_all = time.perf_counter()
    image = compile_forest(forest_dir, cfg, seed=seed, progress=not quiet, spread=spread)
    times = dict(image.stage_seconds)

    t0 = time.perf_counter()
    layers, acc = _precision(image, forest_dir, seed)
    times["precision"] = time.perf_counter() - t0

    out.mkdir(parents=True, exist_ok=True)
    assert image.layout is not None
    heatmap = plot_sram_heatmap(image.layout, out / "sram_heatmap.png")
    over = [p for p in layers if p.drop_pp > budget_pp]
    data = _report_data(image, forest_dir, layers, acc, budget_pp, spread, times,
                        heatmap.name)
    if not over:
        t0 = time.perf_counter()
        image.save(out)
        times["save"] = time.perf_counter() - t0
    times["total"] = time.perf_counter() - t_all
    data["stage_seconds"] = times
    data["status"] = "ok" if not over else "precision budget exceeded: image not saved"
    (out / "compile.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / "compile.md").write_text(render_compile_markdown(data))
    check_budget(layers, budget_pp)
    return data


def _precision(image: ForestImage, forest_dir: Path, seed: int
               ) -> tuple[list[Any], dict[str, Any]]:
    forest = ForestReader(forest_dir).forest()
    data = recorded_dataset(forest, forest_dir)
    # A seeded sample: the multitask test split is grouped by task.
    rows = np.random.default_rng(seed).permutation(len(data.x_test))[:EVAL_ROWS]
    x, y = data.x_test[rows], data.y_test[rows]
    feats = forest.features(x)
    picks, weights = forest.route(feats)
    exports = [forest.tree(t).export() for t in range(forest.n_trees)]
    quants = [image.tree(t).quant for t in range(forest.n_trees)]
    layers, acc = measure(exports, quants, feats.numpy(), picks.numpy(), weights.numpy(),
                          np.asarray(y))
    return layers, {**acc, "dataset": data.name}


def _report_data(image: ForestImage, forest_dir: Path, layers: list[Any],
                 acc: dict[str, Any], budget_pp: float, spread: float | None,
                 times: dict[str, float], heatmap: str) -> dict[str, Any]:
    m = image.manifest
    assert image.layout is not None
    stats = layout_stats(image.layout)
    stats.pop("stage_seconds", None)
    kinds: dict[str, int] = {}
    for t in m["trees"]:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    return {
        "schema_version": 1,
        "forest": {"dir": str(forest_dir), "forest_id": m["forest"]["forest_id"],
                   "trees": image.n_trees, "trees_by_kind": kinds,
                   "top_k": m["forest"]["top_k"]},
        "config_hash": m["config_hash"],
        "mesh": stats["mesh"],
        "placement_budget_bytes_per_core": m["placement_budget_bytes_per_core"],
        "weight_sram_bytes_per_core": image.cfg.core.weight_sram_bytes,
        "spread": spread,
        "layout": stats,
        "split_trees": sum(1 for t in m["trees"] if len(t["cores"]) > 1),
        "precision": {"budget_pp": budget_pp, "formats_supported": list(FORMATS),
                      "formats_not_available": NOT_AVAILABLE, "accuracy": acc,
                      "layers": [p.to_dict() for p in layers]},
        "heatmap": heatmap,
        "calibration": m["calibration"],
        "stage_seconds": times,
    }


def render_compile_markdown(d: dict[str, Any]) -> str:
    """compile.md from the report data."""
    lay, pre = d["layout"], d["precision"]
    sram = lay["sram_used_bytes"]
    used = [b for b in sram["per_core"] if b > 0]
    hop, trees = lay["hop_bytes_per_request"], lay["trees"]
    acc = pre["accuracy"]
    kinds = ", ".join(f"{n} {k}" for k, n in d["forest"]["trees_by_kind"].items())
    lines = [
        "# Compile report", "",
        f"Status: **{d['status']}**", "",
        f"Forest `{d['forest']['dir']}` (forest_id `{d['forest']['forest_id'][:16]}...`): "
        f"{d['forest']['trees']} trees ({kinds}), top-{d['forest']['top_k']}. Config hash "
        f"`{d['config_hash'][:16]}...`, mesh {lay['mesh']['rows']} x {lay['mesh']['cols']}; "
        f"placement may fill {lay['mesh']['weight_sram_bytes_per_core']:,} B of each core's "
        f"{d['weight_sram_bytes_per_core']:,} B weight SRAM (spread {d['spread']}).", "",
        "## SRAM and cores", "",
        f"![weight SRAM used per core]({d['heatmap']})", "",
        f"* cores holding weights: {lay['cores_holding_weights']} of {lay['mesh']['cores']}",
        f"* weight SRAM used: {sram['total']:,} B in total; per used core min "
        f"{min(used) if used else 0:,} / mean {sram['mean_over_used_cores']:,.0f} / max "
        f"{sram['max']:,} B",
        f"* resident: {trees['resident'] - 1} trees and the router "
        f"({trees['resident_bytes']:,} B), paged from DRAM: {trees['paged']} trees "
        f"({trees['paged_bytes']:,} B); resident programs serve "
        f"{100 * trees['resident_selection_share']:.1f}% of selections (the router's "
        "included: the layout places it as a tree every request selects)",
        f"* trees split over several cores: {d['split_trees']}", "",
        "## Traffic (expected hop-bytes per request)", "",
        "| placement | hop-bytes |", "|---|---:|",
        f"| compiled (greedy + annealing) | {hop['placed']:,.1f} |",
        f"| greedy only | {hop['greedy']:,.1f} |",
    ]
    if "random" in hop:
        ratio = lay["hop_bytes_ratio"]
        over_lb = ratio["placed_over_lower_bound"]
        lines += [f"| random | {hop['random']:,.1f} |",
                  f"| lower bound (the larger of host + pairwise bounds, "
                  f"{hop['lower_bound_host'] + hop['lower_bound_pair']:,.1f}, and the coupled "
                  f"bound, {hop['lower_bound_coupled']:,.1f}) | {hop['lower_bound']:,.1f} |", "",
                  f"Compiled / random = {ratio['placed_over_random']:.3f}; compiled / lower "
                  f"bound = " + (f"{over_lb:.3f}." if np.isfinite(over_lb) else
                                 "n/a (the bound is 0).")]
    lines += [
        "", "## Precision per layer", "",
        f"Formats the core supports: {', '.join(pre['formats_supported'])}. Not available: "
        + "; ".join(f"{k} ({v})" for k, v in pre["formats_not_available"].items())
        + ". So every layer is int8; the table gives what int8 costs each layer (that layer "
        "int8 in every tree of its kind, the rest float) on the forest's test accuracy, "
        f"against the budget of {pre['budget_pp']:g} pp.", "",
        f"Forest test accuracy on {int(acc['rows'])} {acc['dataset']} test rows: float "
        f"{acc['float']:.4f}, all-int8 {acc['int8']:.4f} (drop {acc['int8_drop_pp']:.2f} pp).",
        "", "| kind | layer | trees | format | drop (pp) | within budget |",
        "|---|---|---:|---|---:|---|",
    ]
    for p in pre["layers"]:
        ok = "yes" if p["drop_pp"] <= pre["budget_pp"] else "**no**"
        lines.append(f"| {p['kind']} | {p['layer']} | {p['trees']} | {p['format']} | "
                     f"{p['drop_pp']:.2f} | {ok} |")
    lines += ["", "## Compile time per stage (seconds)", "", "| stage | s |", "|---|---:|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in d["stage_seconds"].items()]
    cal = d["calibration"]
    lines += ["", f"Calibration: {cal['source']}, up to {cal['calib_rows_per_tree']} routed "
              f"rows per tree, seed {cal['seed']}.", ""]
    return "\n".join(lines)
