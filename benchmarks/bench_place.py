"""Placement of 1,000 and 10,000 synthetic trees: time per stage and hop-bytes per request.

Workloads come from `nfcore.compiler.layout.synthetic` (seeded MLP trees, clustered top-4
router statistics over 8 requests per tree). 10,000 trees go on a 64 x 64 mesh of 64 KiB
cores; 1,000 trees on the smallest square mesh whose weight SRAM holds the forest at
about 70 % fill. Hop-bytes are expected bytes x hops per request (`nfcore.compiler.layout.traffic`)
for the annealed placement, a random capacity-respecting placement, and the lower bound.
Run: `.venv/bin/python benchmarks/bench_place.py [--heatmap DIR]`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

import options

SEED = 0
TARGET_FILL = 0.7
CASES = ((1_000, None), (10_000, 64))
"""(trees, mesh side); None picks the side from the forest's size."""
SMOKE_CASES = ((100, None),)


def main(argv: list[str]) -> None:
    from nfcore.compiler.layout.stages import compile_layout
    from nfcore.compiler.layout.stats import layout_stats
    from nfcore.compiler.layout.synthetic import synthetic_layout_input
    from nfcore.config import NFCoreConfig
    from nfcore.report.plots import plot_sram_heatmap

    parser = options.parser(__doc__)
    parser.add_argument("--heatmap", type=Path, help="write SRAM heatmaps to this folder")
    args = parser.parse_args(argv)
    sram = NFCoreConfig().core.weight_sram_bytes
    for n_trees, side in SMOKE_CASES if args.smoke else CASES:
        t0 = time.perf_counter()
        workload = synthetic_layout_input(n_trees, seed=SEED)
        gen_s = time.perf_counter() - t0
        forest_bytes = int(workload.weight_bytes.sum())
        if side is None:
            side = math.ceil(math.sqrt(forest_bytes / (TARGET_FILL * sram)))
        cfg = NFCoreConfig.from_dict({"mesh": {"rows": side, "cols": side}})
        t0 = time.perf_counter()
        layout = compile_layout(workload, cfg, seed=SEED)
        total_s = time.perf_counter() - t0
        st = layout_stats(layout)
        hop = st["hop_bytes_per_request"]
        stages = st["stage_seconds"]
        place_s = sum(v for k, v in stages.items() if k != "baselines")
        trees = st["trees"]
        print(f"{n_trees:,} trees on {side}x{side} mesh ({forest_bytes / 2**20:.1f} MiB "
              f"forest, {sram // 1024} KiB/core; workload generated in {gen_s:.2f} s)")
        fill = st["sram_used_bytes"]["fill_of_used_cores"]
        print(f"  parts {trees['parts']:,} (split trees {trees['split']}), resident "
              f"{trees['resident']:,}, paged {trees['paged']:,}, cores holding weights "
              f"{st['cores_holding_weights']:,}, fill {fill:.1%}")
        print("  seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
              + f"; compile stages total {place_s:.2f} (with baselines {total_s:.2f}); "
              f"compile stages CPU {layout.compile_cpu_s:.2f} s (target <= 5 at 10,000 trees)")
        print(f"  hop-bytes/request: placed {hop['placed']:,.1f}  greedy {hop['greedy']:,.1f}  "
              f"random {hop['random']:,.1f}  lower bound {hop['lower_bound']:,.1f}")
        print(f"  host terms: placed {hop['placed_host']:,.1f}, bound "
              f"{hop['lower_bound_host']:,.1f}; pairwise terms: placed "
              f"{hop['placed_pair']:,.1f}, bound {hop['lower_bound_pair']:,.1f}; both "
              f"together: coupled bound {hop['lower_bound_coupled']:,.1f}")
        print(f"  placed / random {hop['placed'] / hop['random']:.3f}, "
              f"placed / lower bound {hop['placed'] / hop['lower_bound']:.3f} (aim <= 1.10); "
              f"load average {os.getloadavg()[0]:.1f}")
        if args.heatmap:
            out = plot_sram_heatmap(layout, args.heatmap / f"sram_{n_trees}.png")
            print(f"  heatmap {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
