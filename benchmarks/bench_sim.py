"""Simulation speed of the system models: simulated requests per second of CPU time.

Headline: the exact model (`nfcore.sim.net.dispatch.run_timed_requests`, the router RTL's
rules flit by flit in the compiled kernel `nfcore.sim.net.kernel`) serving a 1,000-tree
synthetic forest with top-4 routing on a 16 x 16 mesh (Poisson arrivals every 500 cycles on
average). Then the system model (`simulate_system`) on the same forest (10% of trees
paged), and how its cost grows with mesh size and with forest size. Only the model is timed
(not workload generation or reports), best of two runs, so the exact model's one-off
start (numba loading its compiled kernel from its cache, or compiling it once when the
cache is absent) is printed apart; CPU time (`time.process_time`) is what the figure
divides by, so that other processes sharing the machine do not distort it; wall time is
printed beside it.

Run: `python benchmarks/bench_sim.py [--requests N] [--smoke]`.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import options

from nfcore.arch import isa
from nfcore.config import NFCoreConfig
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.net.dispatch import HostRequest, TreeCall, run_timed_requests
from nfcore.sim.system.model import simulate_system
from nfcore.sim.system.workload import synthetic_workload

INTERVAL_CYCLES = 500.0
"""Mean cycles between arrivals: 1 M requests/s at 500 MHz."""


def measure(rows: int, cols: int, trees: int, requests: int, top_k: int = 4,
            seed: int = 0) -> dict[str, float]:
    """Requests per CPU second and per wall second (best of two runs) and what the run did."""
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": rows, "cols": cols}})
    table = EnergyTable.load(cfg.technology.energy_table)
    wl = synthetic_workload(cfg, trees, requests, top_k, seed=seed, paged_fraction=0.1)
    arrivals = make_arrivals(requests, "poisson", INTERVAL_CYCLES, seed)
    cpu = wall = float("inf")
    for _ in range(2):
        c0, w0 = time.process_time(), time.perf_counter()
        result = simulate_system(cfg, wl, arrivals, table)
        cpu = min(cpu, time.process_time() - c0)
        wall = min(wall, time.perf_counter() - w0)
    net = result.network
    return {"cpu_rps": requests / cpu, "wall_rps": requests / wall, "cpu_s": cpu,
            "hops_per_packet": net["hops"] / max(net["packets"], 1),
            "p50_latency_cycles": float(np.median(result.latencies_cycles()))}


def measure_exact(rows: int, cols: int, trees: int, requests: int, top_k: int = 4,
                  seed: int = 0) -> dict[str, float]:
    """As `measure`, on the exact model of the host-port architecture
    (`nfcore.sim.net.dispatch.run_timed_requests`: every tree RECVs its input from the host
    and SENDs its result back, packets move flit by flit by the router RTL's rules in
    `nfcore.sim.net.kernel`, a packet for a core not in its RECV waits in the network), with
    `start_cpu_s`, the first run's extra CPU time (numba loading or compiling the kernel).
    Paging is not modelled there yet: paged trees run as if resident."""
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": rows, "cols": cols}})
    lanes = cfg.core.lanes
    wl = synthetic_workload(cfg, trees, requests, top_k, seed=seed, paged_fraction=0.1)
    arrivals = make_arrivals(requests, "poisson", INTERVAL_CYCLES, seed)
    served = [t.served_programs(lanes)[0][1] for t in wl.trees]
    host_requests = [HostRequest(int(at), tuple(
        TreeCall(wl.trees[t].core_xy, 0,
                 np.zeros((isa.words_for(wl.trees[t].input_bytes, lanes), lanes), np.uint8),
                 served[t]) for t in sel)) for at, sel in zip(arrivals, wl.requests, strict=True)]
    cpu = wall = float("inf")
    first = 0.0
    for k in range(2):
        c0, w0 = time.process_time(), time.perf_counter()
        outcomes, run = run_timed_requests(cfg, host_requests)
        spent = time.process_time() - c0
        first = spent if k == 0 else first
        cpu = min(cpu, spent)
        wall = min(wall, time.perf_counter() - w0)
    latency = [o.done_cycle - r.arrival_cycle for o, r in zip(outcomes, host_requests,
                                                               strict=True)]
    return {"cpu_rps": requests / cpu, "wall_rps": requests / wall, "cpu_s": cpu,
            "start_cpu_s": max(first - cpu, 0.0), "waited": run.host_packets_waited,
            "p50_latency_cycles": float(np.median(latency))}


def _table(title: str, label: str, rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"\n{title}")
    print(f"| {label} | req/s (CPU) | req/s (wall) | hops per packet | p50 latency (cycles) |")
    print("| --- | --- | --- | --- | --- |")
    for name, m in rows:
        print(f"| {name} | {m['cpu_rps']:,.0f} | {m['wall_rps']:,.0f} | "
              f"{m['hops_per_packet']:.1f} | {m['p50_latency_cycles']:,.0f} |")


def main(argv: list[str]) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--requests", type=int, default=4000, help="simulated requests per run")
    args = parser.parse_args(argv)
    n = 100 if args.smoke else args.requests
    head_trees = 100 if args.smoke else 1000

    exact = measure_exact(16, 16, head_trees, n)
    print(f"bench_sim exact (host port, router RTL rules, flit by flit): {head_trees:,} trees, "
          f"top-4, 16 x 16 mesh, {n} requests: {exact['cpu_rps']:,.0f} simulated requests/s "
          f"of CPU time ({exact['wall_rps']:,.0f} per wall second; {exact['waited']:,} host "
          f"packets waited; p50 latency {exact['p50_latency_cycles']:,.0f} cycles; the first "
          f"run took {exact['start_cpu_s']:.1f} CPU-s more: the kernel's start)")

    head = measure(16, 16, head_trees, n)
    print(f"bench_sim system model: {head_trees:,} trees, top-4, 16 x 16 mesh, {n} requests: "
          f"{head['cpu_rps']:,.0f} simulated requests/s of CPU time "
          f"({head['wall_rps']:,.0f} per wall second)")

    sides, sizes = ((4, 8), (50, 100)) if args.smoke else ((8, 16, 32), (250, 1000, 4000))
    meshes = [(f"{s} x {s}", measure(s, s, sizes[0], n)) for s in sides]
    _table(f"mesh size ({sizes[0]} trees, top-4):", "mesh", meshes)
    forests = [(f"{t:,}", measure(sides[-1], sides[-1], t, n)) for t in sizes]
    _table(f"forest size ({sides[-1]} x {sides[-1]} mesh, top-4):", "trees", forests)

    m0, m1 = meshes[0][1], meshes[-1][1]
    f0, f1 = forests[0][1], forests[-1][1]
    print(f"\nCPU time per request: {m1['cpu_s'] / m0['cpu_s']:.2f}x from the smallest to the "
          "largest mesh "
          f"(hops per packet {m0['hops_per_packet']:.1f} -> {m1['hops_per_packet']:.1f}); "
          f"{f1['cpu_s'] / f0['cpu_s']:.2f}x from the smallest to the largest forest. A "
          "request costs about "
          "top-k x (the compiled loop's steps for every cycle a flit of its packets moves, "
          "one per router those flits cross) plus the host's plan passes and the packets of "
          "paged weights: the cost follows the hop count (the "
          "mesh side, and how far placement spreads the trees: 250 trees fill only the first "
          "rows of a 32 x 32 mesh) and the paging rate, not the number of trees as such.")


if __name__ == "__main__":
    main(sys.argv[1:])
