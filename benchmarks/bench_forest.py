"""Benchmark: train a 1,000-tree MLP forest on the synthetic multi-task data (one tree per task).

Prints the wall-clock training time (stem, partition, all trees, router; evaluation not
included), the forest's test accuracy and its host-side inference rate. Trees of one shape
train and run as grouped matrix multiplies, so the time does not scale with a Python loop over
trees. Run: `.venv/bin/python benchmarks/bench_forest.py [--trees N] [--threads T]`.
The issue's target: under 2 minutes on a 2-core machine.
"""

from __future__ import annotations

import os
import sys
import time

import options
import torch

from forest.build import ForestOptions, train_forest
from forest.datasets import load_dataset


def main(argv: list[str]) -> None:
    """Run with the defaults (1,000 trees) unless `argv` gives options."""
    parser = options.parser(__doc__)
    parser.add_argument("--trees", type=int, default=1000, help="trees = tasks")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--samples-per-task", type=int, default=64)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.smoke:
        args.trees, args.samples_per_task, args.quiet = 16, 16, True

    t0 = time.perf_counter()
    data = load_dataset("multitask", seed=0, n_tasks=args.trees,
                        samples_per_task=args.samples_per_task)
    gen_s = time.perf_counter() - t0
    opts = ForestOptions(n_trees=args.trees, top_k=1, kinds=("mlp",), tree_size=8, seed=0,
                         threads=args.threads)
    forest, report = train_forest(data, opts, quiet=args.quiet)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    forest.predict(data.x_test)
    infer_s = time.perf_counter() - t0
    print(f"bench_forest: {args.trees} MLP trees ({report.params_per_tree['mlp']} params each), "
          f"{len(data.x_train)} training rows, {args.threads} torch threads, "
          f"{os.cpu_count()} CPUs visible")
    print(f"  dataset generation        {gen_s:8.2f} s")
    print(f"  forest training           {report.train_seconds:8.2f} s   (target < 120 s)")
    print(f"  forest test accuracy      {report.accuracy:8.4f}")
    print(f"  host inference            {len(data.x_test) / infer_s:8.0f} requests/s "
          f"({len(data.x_test)} requests, top-{forest.top_k})")
    s = report.specialization
    print(f"  specialization            own region {s.mean_home:.3f} vs elsewhere "
          f"{s.mean_away:.3f} ({s.better_at_home}/{s.measured} trees better at home)")


if __name__ == "__main__":
    main(sys.argv[1:])
