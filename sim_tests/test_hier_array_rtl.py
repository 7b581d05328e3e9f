"""The hierarchical array (what `nfcore verilog --top array` writes) equals the flat one,
cycle for cycle, under Verilator.

Both 2 x 2 builds of the scenarios' core run the same scenarios of `sim_tests.tb.scenarios`
through `array_cocotb.scenarios` (random idle cycles on every `cmd`, random backpressure on
every `rsp`, the same seed): contention on a link and at an ejection port, a sender stalled
by a full path, round-robin order, gated cores that wake on RUN, and a random DAG. The
records must be equal: per core, its cycles, its RUN offset, a digest of its whole
scratchpad after the run and its power counters. The hierarchical build is the one the array
suite uses (`test_array_rtl.build_array`); the flat one has its own build folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_array_rtl import BUILD, build_array

from nfcore.eda.rtl_runner import build_top
from nfcore.eda.toolchain import top_name
from sim_tests.tb.scenarios import SCENARIOS

ENV_OUT = "NFCORE_RTL_CYCLES_OUT"  # as in array_cocotb.py
ENV_MESH = "NFCORE_ARRAY_MESH"  # as in array_cocotb.py
ENV_ONLY = "NFCORE_ARRAY_SCENARIOS"  # as in array_cocotb.py
COMPARED = ("crossing_link", "fan_in_round_robin", "pipeline_gated", "random_dag_0")
"""Contention and a stalled sender, round-robin order, gated cores, random traffic."""


def run_scenarios(runner: Any, build_dir: Path) -> dict[str, Any]:
    """The `scenarios` record of `COMPARED` on the build in `build_dir`."""
    out = build_dir / "hier_vs_flat.json"
    out.unlink(missing_ok=True)
    runner.test(test_module="array_cocotb", testcase="scenarios",
                hdl_toplevel=top_name("array"), build_dir=build_dir, test_dir=build_dir,
                extra_env={ENV_OUT: str(out), ENV_MESH: "2x2", ENV_ONLY: ",".join(COMPARED),
                           "NFCORE_TB_SEED": "1"},
                log_file=build_dir / "hier_vs_flat.log")
    assert out.exists(), f"the cocotb test failed; see {build_dir / 'hier_vs_flat.log'}"
    record: dict[str, Any] = json.loads(out.read_text())["scenarios"]
    return record


def test_hierarchical_array_equals_flat() -> None:
    cfg = SCENARIOS[COMPARED[0]].config
    hier = run_scenarios(*build_array(2, 2))
    flat_dir = BUILD / f"array_2x2_l{cfg.core.lanes}_flat"
    flat = run_scenarios(build_top(cfg, "array", flat_dir, internal_signals=False, flat=True),
                         flat_dir)
    assert sorted(hier) == sorted(COMPARED)
    for name in COMPARED:
        assert hier[name] == flat[name], f"{name}: hierarchical {hier[name]}, flat {flat[name]}"
