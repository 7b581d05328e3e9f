"""Speed of the three single-core backends on the default workload (`make sim`'s tree).

Prints requests per second of the golden model, the SimPy core model and the RTL under
Verilator (including its per-request host I/O over the cmd/rsp streams), and the simulated
core cycles per wall-clock second of the RTL run.
"""

from __future__ import annotations

import sys
import time

import options

ROOT = options.ROOT
REQUESTS = 300
RTL_REQUESTS = 100


def main(argv: list[str]) -> None:
    args = options.parser(__doc__).parse_args(argv)
    requests, rtl_requests = (20, 4) if args.smoke else (REQUESTS, RTL_REQUESTS)
    from forest.datasets import load_dataset
    from forest.train import train_mlp
    from nfcore.compiler import compile_mlp
    from nfcore.config import NFCoreConfig, default_config_path
    from nfcore.eda.rtl_runner import run_rtl
    from nfcore.golden.core import CoreState
    from nfcore.sim.core import simulate

    cfg = NFCoreConfig.load(default_config_path())
    data = load_dataset("digits", seed=0)
    tree, _ = train_mlp(data, hidden=(32,), seed=0)
    quant, prog = compile_mlp(tree.layers(), data.x_train, cfg)
    inputs = list(quant.quantize_input(data.x_test[:requests]))

    core = CoreState(cfg.core)
    core.load_weights(prog.weights)
    core.load_program(prog.program)
    t0 = time.perf_counter()
    cycles = 0
    for x in inputs:
        core.write_vector(prog.input_addr, x)
        cycles += core.run().cycles
    golden_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    simulate(cfg, prog.weights, prog.program, inputs, prog.input_addr, prog.output_addr,
             prog.output_len, arrival="burst", progress=False)
    simpy_s = time.perf_counter() - t0

    build = ROOT / "build" / "bench_core"
    rtl_inputs = inputs[:rtl_requests]
    run_rtl(cfg, prog.weights, prog.program, rtl_inputs[:1], prog.input_addr,
            prog.output_addr, prog.output_len, build_dir=build)  # build outside the timing
    t0 = time.perf_counter()
    results = run_rtl(cfg, prog.weights, prog.program, rtl_inputs, prog.input_addr,
                      prog.output_addr, prog.output_len, build_dir=build)
    rtl_s = time.perf_counter() - t0
    rtl_cycles = sum(c for _, c in results)

    print(f"workload: digits MLP 64-32-10, {len(prog.program)} instructions, "
          f"{cycles // len(inputs)} program cycles per request")
    print(f"golden model : {len(inputs) / golden_s:10.0f} requests/s")
    print(f"SimPy model  : {len(inputs) / simpy_s:10.0f} requests/s")
    print(f"RTL/Verilator: {len(rtl_inputs) / rtl_s:10.1f} requests/s "
          f"({rtl_cycles / rtl_s:,.0f} program cycles/s, wall time includes simulator start "
          f"and host I/O cycles)")


if __name__ == "__main__":
    main(sys.argv[1:])
