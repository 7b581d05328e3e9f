"""One 4096 x 4096 dense layer (a matrix-vector product per request) compiled, placed and
simulated on NF-Core, beside SCALE-Sim's figure for the same layer.

1. A random float layer (seed 0, weights N(0, 1/4096)), quantized to int8 on 64 random
   calibration rows (`quantize_tree`).
2. Lowered and split (`partition_tree`): every row runs as four MATVECs of 1,024 columns
   whose int8 partial results VADDs add (docs/compiler.md, "Layers wider than one
   MATVEC"), the rows split over the fewest cores nearest the host that hold them.
3. Golden check: `GOLDEN_ROWS` random inputs on the golden array (`run_tree`) must equal
   the integer reference (`forward_int`) bit for bit.
4. The system model (`simulate_system`): `Sizes.requests` requests arriving at the rate
   that loads the busiest core to half (`arrival_interval_cycles`); latency (cycles, µs),
   energy per request (pJ) and the model's wall and CPU time.

The core is not the default one: a 4,096-element vector needs 32 lanes (so input, output
and partial sums fit the scratchpad) and a block of 32 rows of 4,096 columns needs more
than 64 KiB of weight SRAM. `CONFIG` (an assumption of this benchmark, not a design point)
uses the largest weight SRAM the ISA addresses.

SCALE-Sim is not run here: `scalesim` 3.0.0 installs from PyPI but fails on the project's
numpy 2.4 (`double_buffered_scratchpad_mem.py` line 307, `int(max(...))` of an array: "only
0-dimensional arrays can be converted to Python scalars", on a 1 x 256 x 256 GEMM, 32 x 32
ws array). Its figure is the one measured in issue 20: 148 s and 5.4 GiB for the 4096 x
4096 layer on a 32 x 32 systolic array.
Run: `python benchmarks/bench_layer.py` (`--smoke`: a 1,500 x 1,500 layer, 2 requests).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass

import numpy as np
import options

from forest.export import TreeExport
from nfcore.compiler import partition_tree, quantize_tree
from nfcore.compiler.golden_run import run_tree
from nfcore.config import CoreConfig, MeshConfig, NFCoreConfig
from nfcore.flows.accuracy_energy import nearest_host
from nfcore.flows.system import arrival_interval_cycles
from nfcore.sim.arrivals import make_arrivals
from nfcore.sim.system.model import simulate_system
from nfcore.sim.system.workload import SystemWorkload, tree_from_chain

CONFIG = NFCoreConfig(
    core=CoreConfig(lanes=32, weight_sram_bytes=1 << 19, act_sram_bytes=1 << 14),
    mesh=MeshConfig(rows=8, cols=8))
"""32 lanes, 512 KiB of weights (2**14 words, the most a MATVEC's w_addr reaches) and
16 KiB of scratchpad per core, 8 x 8 cores: an assumption of this benchmark."""
GOLDEN_ROWS = 4
SCALESIM_ISSUE_S, SCALESIM_ISSUE_GIB = 148.0, 5.4
"""SCALE-Sim on the 4096 x 4096 layer, 32 x 32 array: measured in issue 20 (`issues show
20`, "Why"), on this machine."""


@dataclass(frozen=True)
class Sizes:
    size: int = 4096
    """Rows and columns of the layer."""
    requests: int = 200


SMOKE = Sizes(size=1500, requests=2)


def main(argv: list[str]) -> None:
    args = options.parser(__doc__).parse_args(argv)
    sz = SMOKE if args.smoke else Sizes()
    cfg, n = CONFIG, sz.size
    rng = np.random.default_rng(0)
    w = rng.normal(scale=1 / np.sqrt(n), size=(n, n)).astype(np.float32)
    b = rng.normal(scale=0.1, size=n).astype(np.float32)
    layer = TreeExport(kind="mlp", input_shape=(n,), head=[(w, b, False)])

    t0 = time.perf_counter()
    q = quantize_tree(layer, rng.normal(size=(64, n)), acc_bits=cfg.core.acc_bits,
                      tree_id="layer")
    program = partition_tree(q, cfg.core, nearest_host(cfg), tree_id="layer")
    compile_s = time.perf_counter() - t0
    matvecs = sum(1 for c in program.cores for i in c.instructions() if i.op.name == "MATVEC")
    print(f"layer {n} x {n}: {n * n:,} int8 weights on {len(program.cores)} cores of "
          f"{cfg.core.lanes} lanes, {cfg.core.weight_sram_bytes // 1024} KiB each "
          f"({matvecs} MATVECs); quantized and lowered in {compile_s:.1f} s")

    x = q.quantize_input(rng.normal(size=(GOLDEN_ROWS, n)))
    t0 = time.perf_counter()
    out, _ = run_tree(program, cfg.core, x)
    exact = bool(np.array_equal(out, q.forward_int(x)))
    print(f"golden array on {GOLDEN_ROWS} inputs: bit-exact with the integer reference: "
          f"{exact} ({time.perf_counter() - t0:.1f} s)")
    if not exact:
        sys.exit("the golden array disagrees with the integer reference")

    placed = tree_from_chain(0, [(c.coord, c.instructions()) for c in program.cores],
                             program.lanes, input_bytes=program.plan.input_len,
                             output_bytes=program.plan.output_len, kind=program.kind)
    workload = SystemWorkload((placed,), ((0,),) * sz.requests, name="layer")
    interval = arrival_interval_cycles(workload, cfg)
    arrivals = make_arrivals(sz.requests, "poisson", interval, 0, None, cfg.clock_hz)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = simulate_system(cfg, workload, arrivals)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    lat = result.latencies_cycles()
    energy_nj = np.mean([r.energy_pj_total for r in result.records]) / 1e3
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"system model, {sz.requests} requests at {interval:,.0f} cycles apart (Poisson): "
          f"latency median {np.median(lat):,.0f} cycles "
          f"({np.median(lat) / cfg.clock_hz * 1e6:.1f} µs at {cfg.technology.clock_mhz:g} MHz), "
          f"idle-chip compute {placed.program_cycles:,} cycles; energy {energy_nj:,.1f} nJ "
          f"per request ({cfg.technology.node_nm} nm, {cfg.technology.energy_table})")
    print(f"simulation time: {wall:.2f} s wall, {cpu:.2f} s CPU "
          f"({wall / sz.requests * 1e3:.2f} ms per request); peak RSS of this process "
          f"{rss_gib:.2f} GiB")
    print(f"SCALE-Sim, same layer, 32 x 32 array (issue 20's measurement; scalesim 3.0.0 "
          f"does not run on numpy 2.4): "
          f"{SCALESIM_ISSUE_S:.0f} s, {SCALESIM_ISSUE_GIB} GiB")


if __name__ == "__main__":
    main(sys.argv[1:])
