"""Compile whole trained forests into chip images: seconds per stage, placement, int8 drop.

Trains multitask forests of 256 and 1,000 trees (one mlp tree per task, no monolith, seed
0) into a temporary folder, then runs what `nfcore compile` runs (`run_compile`, default
config: 16 x 16 mesh of 64 KiB cores, spread 2.0) and prints the stage times, cores used,
resident and paged trees, hop-bytes against random and the bound, and the measured int8
drop. Training time is printed apart: it is not the compiler's.
Run: `.venv/bin/python benchmarks/bench_compile_forest.py`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import options

ROOT = options.ROOT
TREES = (256, 1_000)
SMOKE_TREES = (16,)


def main(argv: list[str]) -> None:
    args = options.parser(__doc__).parse_args(argv)
    from forest.command import run_train
    from nfcore.config import NFCoreConfig
    from nfcore.report.compile import run_compile

    cfg = NFCoreConfig.load(ROOT / "configs" / "default.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        for n in SMOKE_TREES if args.smoke else TREES:
            t0 = time.perf_counter()
            run_train("multitask", Path(tmp) / f"f{n}", tasks=n, monolith=False, quiet=True)
            train_s = time.perf_counter() - t0
            d = run_compile(Path(tmp) / f"f{n}", cfg, Path(tmp) / f"img{n}", budget_pp=100.0,
                            quiet=True)
            lay, acc = d["layout"], d["precision"]["accuracy"]
            hop, tr = lay["hop_bytes_per_request"], lay["trees"]
            st = d["stage_seconds"]
            print(f"{n:,} trees (trained in {train_s:.1f} s, not counted): compile "
                  f"{st['total']:.1f} s")
            print("  seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in st.items()
                                            if not k.startswith("layout.")))
            print(f"  cores holding weights {lay['cores_holding_weights']}, resident "
                  f"{tr['resident']}, paged {tr['paged']}; hop-bytes/request "
                  f"{hop['placed']:.1f} (random {hop['random']:.1f}, bound "
                  f"{hop['lower_bound']:.1f})")
            print(f"  forest accuracy float {acc['float']:.4f}, int8 {acc['int8']:.4f} "
                  f"(drop {acc['int8_drop_pp']:.2f} pp on {int(acc['rows'])} test rows)")


if __name__ == "__main__":
    main(sys.argv[1:])
