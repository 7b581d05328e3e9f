"""Verilator simulation speed of the array RTL (simulated cycles per wall-clock second).

The 1 x 1 (one core and its router), 2 x 2 and 4 x 4 arrays of the scenarios' small core
(`sim_tests.tb.scenarios.CORE`) run `sim_tests.tb.array_tb.ring_programs`: every core loops over a
16 x 16 MATVEC, a SEND to the next core of a ring and a RECV from the previous one.
Two ways of waiting for the end of a run (`ArrayTB.run_all`): `edge` awaits one falling
edge of `any_busy` (no Python per cycle); `watch` runs the per-cycle Python loop that checks
every core's busy/done. Builds expose only the top's ports to cocotb. Build and load time are
not counted. Figures per wall-clock second and per CPU second of the simulator process (the
CPU figure is the one to compare on a machine shared with other work).
Run: `python benchmarks/bench_array.py [--iterations N] [--runs N] [--no-watch]`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import options

from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.eda.rtl_runner import build_top
from nfcore.eda.toolchain import top_name
from sim_tests.tb.array_tb import ENV_BENCH, ENV_BENCH_OUT
from sim_tests.tb.scenarios import CORE

ROOT = options.ROOT
ARRAYS = ((1, 1), (2, 2), (4, 4))


def speed(rows: int, cols: int, iterations: int, runs: int, watch: bool
          ) -> tuple[float, float, int]:
    """(simulated cycles per wall-clock second, per CPU second, cycles simulated) of `runs`
    runs of the ring."""
    cfg = NFCoreConfig(core=CORE, mesh=MeshConfig(rows=rows, cols=cols))
    build_dir = ROOT / "sim_build" / f"array_{rows}x{cols}_l{CORE.lanes}"
    runner = build_top(cfg, "array", build_dir, internal_signals=False)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speed.json"
        params = {"rows": rows, "cols": cols, "iterations": iterations, "runs": runs,
                  "watch": watch}
        runner.test(test_module="sim_tests.tb.array_tb", testcase="array_speed",
                    hdl_toplevel=top_name("array"), build_dir=build_dir, test_dir=build_dir,
                    extra_env={ENV_BENCH: json.dumps(params), ENV_BENCH_OUT: str(out)},
                    log_file=build_dir / "bench.log")
        r = json.loads(out.read_text())
    return r["cycles"] / r["wall_s"], r["cycles"] / r["cpu_s"], r["cycles"]


def main(argv: list[str]) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--iterations", type=int, default=1024, help="ring loop count, 1..1024")
    parser.add_argument("--runs", type=int, default=3, help="runs per array and wait mode")
    parser.add_argument("--no-watch", action="store_true",
                        help="skip the (slow) per-cycle Python watch")
    args = parser.parse_args(argv)
    arrays = [(2, 2)] if args.smoke else ARRAYS  # smoke: the 2 x 2 that `make test` built
    if args.smoke:
        args.iterations, args.runs, args.no_watch = 4, 1, True
    print(f"Array RTL simulation speed (Verilator, lanes={CORE.lanes}; build and load not "
          "counted)")
    print("array  wait    cycles simulated   cycles/s (wall)   cycles/s (CPU)")
    for rows, cols in arrays:
        modes = [("edge", False)] + ([] if args.no_watch else [("watch", True)])
        for name, watch in modes:
            iterations = args.iterations if not watch else max(1, args.iterations // 8)
            wall, cpu, cycles = speed(rows, cols, iterations, args.runs, watch)
            print(f"{rows}x{cols}    {name:6s} {cycles:16,d}  {wall:15,.0f}  {cpu:15,.0f}")


if __name__ == "__main__":
    main(sys.argv[1:])
