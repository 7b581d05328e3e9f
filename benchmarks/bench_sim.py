"""Simulation speed of the system model: simulated requests per wall-clock second.

Headline: a 1,000-tree synthetic forest with top-4 routing on a 16 x 16 mesh (Poisson
arrivals, 10% of trees paged). Then how the cost grows with mesh size and forest size.
Only `simulate_system` is timed (workload generation and reports are not).

Run: `python benchmarks/bench_sim.py [--requests N]`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from nfcore.config import NFCoreConfig
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.energy import EnergyTable
from nfcore.sim.system import simulate_system
from nfcore.sim.workload import synthetic_workload

INTERVAL_CYCLES = 500.0
"""Mean cycles between arrivals: 1 M requests/s at 500 MHz, a moderate load."""


def measure(rows: int, cols: int, trees: int, requests: int, top_k: int = 4,
            seed: int = 0) -> dict[str, float]:
    """Simulated requests per wall second, best of two runs, and what the run did."""
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": rows, "cols": cols}})
    table = EnergyTable.load(cfg.technology.energy_table)
    wl = synthetic_workload(cfg, trees, requests, top_k, seed=seed, paged_fraction=0.1)
    arrivals = make_arrivals(requests, "poisson", INTERVAL_CYCLES, seed)
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        result = simulate_system(cfg, wl, arrivals, table)
        best = min(best, time.perf_counter() - t0)
    hops = np.mean([result.network["flit_hops"] / max(result.network["packets"], 1)])
    return {"req_per_s": requests / best, "wall_s": best, "flit_hops_per_packet": float(hops),
            "p50_latency_cycles": float(np.median(result.latencies_cycles()))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args(argv)
    n = args.requests

    head = measure(16, 16, 1000, n)
    print(f"bench_sim: 1,000 trees, top-4, 16 x 16 mesh, {n} requests: "
          f"{head['req_per_s']:,.0f} simulated requests/s ({head['wall_s']:.2f} s wall)")

    print("\nmesh size (250 trees, top-4):")
    print("| mesh | req/s | flit-hops per packet | p50 latency (cycles) |")
    print("| --- | --- | --- | --- |")
    for side in (8, 16, 32):
        m = measure(side, side, 250, n)
        print(f"| {side} x {side} | {m['req_per_s']:,.0f} | {m['flit_hops_per_packet']:.1f} | "
              f"{m['p50_latency_cycles']:,.0f} |")

    print("\nforest size (32 x 32 mesh, top-4):")
    print("| trees | req/s | flit-hops per packet | p50 latency (cycles) |")
    print("| --- | --- | --- | --- |")
    for trees in (250, 1000, 4000):
        m = measure(32, 32, trees, n)
        print(f"| {trees:,} | {m['req_per_s']:,.0f} | {m['flit_hops_per_packet']:.1f} | "
              f"{m['p50_latency_cycles']:,.0f} |")
    print("\nCost per request is about top-k x (SimPy events of one tree job + one Python step "
          "per hop of its two packets): it grows with the mean hop count (the mesh side), "
          "not with the forest size, except through paging and the workload tables.")


if __name__ == "__main__":
    main()
