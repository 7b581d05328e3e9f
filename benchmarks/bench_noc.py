"""Verilator simulation speed of the mesh RTL (simulated cycles per wall-clock second).

Two measurements per mesh size (builds expose only the top's ports to cocotb):
* `hw traffic`: `sim_tests.tb.traffic.MeshTraffic`, random packets made by LFSR generators in
  the design on every node and the host port; cocotb only runs the clock, so no Python runs
  per cycle. This is the speed a simulation can reach with stimulus in the design.
* `cocotb tb`: the checked testbench of the tests (`noc_tb.MeshTB`: Python drivers with idle
  cycles, monitors with backpressure, scoreboard), which touches every port each cycle.
Build time is not counted. Run: `python benchmarks/bench_noc.py [--cycles N] [--packets N]`.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import options
from amaranth.back import verilog

from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.eda.rtl_runner import build_top, build_verilog
from nfcore.eda.toolchain import top_name
from sim_tests.tb.noc_tb import ENV_BENCH_OUT, ENV_NOC, TBParams
from sim_tests.tb.traffic import MeshTraffic

ROOT = options.ROOT
MESHES = ((2, 2), (4, 4))
LANES = NFCoreConfig().core.lanes


def run(runner: Any, toplevel: str, build_dir: Path, testcase: str,
        params: TBParams) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speed.json"
        runner.test(test_module="sim_tests.tb.noc_tb", testcase=testcase,
                    hdl_toplevel=toplevel, build_dir=build_dir, test_dir=build_dir,
                    extra_env={ENV_NOC: params.to_env(), ENV_BENCH_OUT: str(out)},
                    log_file=build_dir / f"{testcase}.log")
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def hw_traffic(rows: int, cols: int, cycles: int) -> tuple[float, float]:
    """(cycles per second, flits delivered per cycle) with the LFSR traffic generators."""
    name = "nfcore_mesh_traffic"
    build_dir = ROOT / "sim_build" / f"mesh_traffic_l{LANES}_{rows}x{cols}"
    text = verilog.convert(MeshTraffic(lanes=LANES, rows=rows, cols=cols), name=name,
                           emit_src=False)
    runner = build_verilog(text, name, build_dir, internal_signals=False)
    r = run(runner, name, build_dir, "traffic_speed",
            TBParams(rows=rows, cols=cols, packets=cycles))
    return r["cycles"] / r["wall_s"], r["flits"] / r["cycles"]


def cocotb_tb(rows: int, cols: int, packets: int) -> tuple[float, float]:
    """(cycles per second, flits delivered per cycle) with the checked cocotb testbench."""
    cfg = NFCoreConfig(mesh=MeshConfig(rows=rows, cols=cols))
    build_dir = ROOT / "sim_build" / f"mesh_l{LANES}_{rows}x{cols}"
    runner = build_top(cfg, "mesh", build_dir, internal_signals=False)
    r = run(runner, top_name("mesh"), build_dir, "mesh_speed",
            TBParams(rows=rows, cols=cols, packets=packets, seed=7))
    return r["cycles"] / r["traffic_s"], r["flits"] / r["cycles"]


def main(argv: list[str]) -> None:
    parser = options.parser(__doc__)
    parser.add_argument("--cycles", type=int, default=500_000,
                        help="cycles of the hardware-traffic run per mesh")
    parser.add_argument("--packets", type=int, default=5_000,
                        help="random packets of the cocotb-testbench run per mesh")
    args = parser.parse_args(argv)
    meshes = MESHES[:1] if args.smoke else MESHES
    if args.smoke:
        args.cycles, args.packets = 2_000, 20
    print(f"NoC RTL simulation speed (Verilator, lanes={LANES}; build time not counted)")
    print("mesh  stimulus    cycles/s  flits/cycle")
    for rows, cols in meshes:
        speed, load = hw_traffic(rows, cols, args.cycles)
        print(f"{rows}x{cols}   hw traffic  {speed:9,.0f}  {load:11.2f}")
        speed, load = cocotb_tb(rows, cols, args.packets)
        print(f"{rows}x{cols}   cocotb tb   {speed:9,.0f}  {load:11.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
