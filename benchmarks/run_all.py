"""`make bench`: run benchmarks/bench_*.py in turn and print their figures.

Usage: `python benchmarks/run_all.py [--smoke] [NAME ...]` (`make bench BENCH="sim noc"`,
`make bench-smoke`). NAME is a benchmark's file name without `bench_` and `.py`; none means
all. `--smoke` runs each with tiny sizes, to check that it still runs (CI does); its figures
mean nothing. Each benchmark is a script with `main(argv: list[str]) -> None`; run one on its
own with `.venv/bin/python benchmarks/bench_<name>.py --help`. Figures are wall-clock or CPU
time on this machine: compare them as ratios within one run, not across machines.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {p.stem.removeprefix("bench_"): p for p in sorted(HERE.glob("bench_*.py"))}


def main(argv: list[str]) -> int:
    cli = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    cli.add_argument("names", nargs="*", metavar="NAME",
                     help=f"benchmarks to run (default all): {', '.join(BENCHES)}")
    cli.add_argument("--smoke", action="store_true",
                     help="tiny sizes: check that every benchmark runs; figures mean nothing")
    args = cli.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHES]
    if unknown:
        cli.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    failed = []
    for name, path in BENCHES.items():
        if args.names and name not in args.names:
            continue
        print(f"\n=== {name} ({path.name}){' [smoke]' if args.smoke else ''} ===", flush=True)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        t0 = time.perf_counter()
        try:
            spec.loader.exec_module(module)
            module.main(["--smoke"] if args.smoke else [])
        except (Exception, SystemExit) as exc:  # one broken benchmark must not hide the rest
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
            failed.append(name)
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
