"""Verilator simulation speed of the mesh RTL (simulated cycles per wall-clock second).

For each mesh size the cocotb test `nfcore.hdl.noc_tb.mesh_speed` runs random traffic
between all nodes and the host through the full testbench (drivers with idle cycles,
monitors with backpressure, scoreboard): Python touches every port once per cycle, so this
is the speed of a checked simulation. It then lets the clock run alone for as many cycles
(cocotb's clock, no Python per cycle), the floor of the cocotb + Verilator cost.
Build time is not counted. Run: `python benchmarks/bench_noc.py [--packets N] [-q]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.hdl.noc_tb import ENV_BENCH_OUT, ENV_NOC, TBParams
from nfcore.hdl.toolchain import build_top, top_name

ROOT = Path(__file__).resolve().parent.parent
MESHES = ((2, 2), (4, 4))


def measure(rows: int, cols: int, packets: int) -> dict[str, float]:
    cfg = NFCoreConfig(mesh=MeshConfig(rows=rows, cols=cols))
    build_dir = ROOT / "sim_build" / f"mesh_l{cfg.core.lanes}_{rows}x{cols}"
    runner = build_top(cfg, "mesh", build_dir)
    params = TBParams(rows=rows, cols=cols, packets=packets, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speed.json"
        runner.test(test_module="nfcore.hdl.noc_tb", testcase="mesh_speed",
                    hdl_toplevel=top_name("mesh"), build_dir=build_dir, test_dir=build_dir,
                    extra_env={ENV_NOC: params.to_env(), ENV_BENCH_OUT: str(out)},
                    log_file=build_dir / "bench.log")
        result: dict[str, float] = json.loads(out.read_text())
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20000,
                        help="random packets per mesh (lengths 1..8 flits)")
    args = parser.parse_args(argv)
    print("mesh  packets  cycles   traffic cycles/s  clock-only cycles/s  flits/cycle")
    for rows, cols in MESHES:
        r = measure(rows, cols, args.packets)
        print(f"{rows}x{cols}  {r['packets']:7d}  {r['cycles']:7d}  "
              f"{r['cycles'] / r['traffic_s']:16,.0f}  "
              f"{r['cycles'] / r['clock_only_s']:19,.0f}  {r['flits'] / r['cycles']:11.2f}")


if __name__ == "__main__":
    main()
