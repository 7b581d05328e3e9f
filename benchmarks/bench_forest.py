"""Benchmark: train an N-tree MLP forest on the synthetic multi-task data (one tree per task).

Runs what `nfcore train --dataset multitask --trees N --no-monolith` runs (dataset, stem,
partition, all trees as one grouped batch, router, evaluation, save) and prints its wall
time, the process's CPU time and peak RSS (`resource.getrusage`: the whole process, so the
dataset and the evaluation are included), the forest's test accuracy and its host-side
inference rate. Run: `.venv/bin/python benchmarks/bench_forest.py [--trees N] [--threads T]`.
The issue's target at 10,000 trees: under 5 minutes and under 4 GiB of RSS on 2 cores. Wall
time on a shared machine depends on its load: the benchmark prints the load average beside it.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import options
import torch

from forest.command import run_train

TARGET_SECONDS = 300
TARGET_RSS_MIB = 4096


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> None:
    """Run with the defaults (10,000 trees) unless `argv` gives options."""
    parser = options.parser(__doc__)
    parser.add_argument("--trees", type=int, default=10_000, help="trees = tasks")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.smoke:
        args.trees, args.quiet = 16, True

    cpu0, t0 = _cpu_s(), time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = run_train("multitask", Path(tmp) / "forest", trees=args.trees,
                           monolith=False, threads=args.threads, quiet=args.quiet)
    wall_s, cpu_s = time.perf_counter() - t0, _cpu_s() - cpu0
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    forest, report, data = result.forest, result.report, result.data
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    forest.predict(data.x_test)
    infer_s = time.perf_counter() - t0
    print(f"bench_forest: {args.trees:,} MLP trees ({report.params_per_tree['mlp']} params "
          f"each), {len(data.x_train):,} training rows, {args.threads} torch threads, "
          f"{os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    print(f"  nfcore train (no monolith) {wall_s:8.1f} s wall, {cpu_s:.1f} s CPU "
          f"(target < {TARGET_SECONDS} s)")
    print(f"    of which forest training {report.train_seconds:8.1f} s (stem, partition, trees, "
          f"router)")
    print(f"  peak RSS                   {peak_mib:8.0f} MiB (target < {TARGET_RSS_MIB} MiB)")
    print(f"  forest test accuracy       {report.accuracy:8.4f}")
    print(f"  host inference             {len(data.x_test) / infer_s:8.0f} requests/s "
          f"({len(data.x_test):,} requests, top-{forest.top_k})")
    s = report.specialization
    print(f"  specialization             own region {s.mean_home:.3f} vs elsewhere "
          f"{s.mean_away:.3f} ({s.better_at_home}/{s.measured} trees better at home)")


if __name__ == "__main__":
    main(sys.argv[1:])
