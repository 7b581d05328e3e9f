"""The router and mesh RTL under Verilator (cocotb): random traffic with a scoreboard, and
the no-contention latency contract. Tests marked `long` run only in `make test-long`.

The latency test writes `sim_build/noc_latency_<rows>x<cols>.json` (`noc.LATENCY_RECORD`):
{"schema": 1, "rows", "cols", "lanes", "router_hop_cycles", "inject_cycles",
"eject_cycles", "host": [x, y], "packets": [{"src": [x, y], "dest": [x, y], "hops",
"length", "header_latency_cycles", "last_flit_latency_cycles",
"contract_header_latency_cycles"}]}; cycles are measured from the header's handshake at the
source's injection port to the header's (last flit's) handshake at the destination's
ejection port; the host is [0, -1].
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from amaranth.back import verilog

from nfcore.arch import noc
from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.eda.rtl_runner import build_top, build_verilog
from nfcore.eda.toolchain import top_name
from nfcore.hdl.router import MeshRouter
from sim_tests.tb.noc_tb import ENV_NOC, TBParams

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "sim_build"
SEED = int(os.environ.get("NFCORE_TB_SEED", "1"))


def latency_json_path(rows: int, cols: int) -> Path:
    return BUILD / noc.LATENCY_RECORD.format(rows=rows, cols=cols)


def run_router(params: TBParams) -> None:
    name = top_name("router")
    build_dir = BUILD / f"router_l{params.lanes}_{params.router_x}_{params.router_y}"
    router = MeshRouter(lanes=params.lanes, x=params.router_x, y=params.router_y)
    runner = build_verilog(verilog.convert(router, name=name, emit_src=False), name,
                           build_dir, internal_signals=False)
    runner.test(test_module="noc_cocotb", testcase=["router_random", "router_round_robin"],
                hdl_toplevel=name,
                build_dir=build_dir, test_dir=build_dir,
                extra_env={ENV_NOC: params.to_env()}, log_file=build_dir / "test.log")


def run_mesh(params: TBParams, testcases: list[str]) -> None:
    cfg = NFCoreConfig(mesh=MeshConfig(rows=params.rows, cols=params.cols))
    build_dir = BUILD / f"mesh_l{params.lanes}_{params.rows}x{params.cols}"
    runner = build_top(cfg, "mesh", build_dir, internal_signals=False)
    name = top_name("mesh")
    runner.test(test_module="noc_cocotb", testcase=testcases, hdl_toplevel=name,
                build_dir=build_dir, test_dir=build_dir,
                extra_env={ENV_NOC: params.to_env()}, log_file=build_dir / "test.log")


def test_router_rtl() -> None:
    run_router(TBParams(packets=3000, seed=SEED))


@pytest.mark.parametrize("rows,cols,packets", [(2, 2, 4000), (3, 3, 4000)])
def test_mesh_rtl(rows: int, cols: int, packets: int) -> None:
    run_mesh(TBParams(rows=rows, cols=cols, packets=packets, seed=SEED,
                      latency_json=str(latency_json_path(rows, cols))),
             ["mesh_random", "mesh_latency", "mesh_misrouted"])


@pytest.mark.long
def test_router_rtl_long() -> None:
    run_router(TBParams(packets=50000, max_length=16, seed=SEED + 1))


@pytest.mark.long
@pytest.mark.parametrize("rows,cols,packets,hotspot", [
    (2, 2, 50000, 0.0), (3, 3, 50000, 0.0), (4, 4, 100000, 0.0), (4, 4, 30000, 0.5)])
def test_mesh_rtl_long(rows: int, cols: int, packets: int, hotspot: float) -> None:
    run_mesh(TBParams(rows=rows, cols=cols, packets=packets, max_length=16, seed=SEED + 1,
                      hotspot=hotspot, latency_json=str(latency_json_path(rows, cols))),
             ["mesh_random", "mesh_latency"])
