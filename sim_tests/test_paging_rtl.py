"""Weight paging through the array's DRAM port under Verilator (cocotb, paging_cocotb.py).

Writes `sim_build/<PAGING_CYCLES_FILE>`, which `tests/sim/test_system_paging.py` compares with the
system model's paging path.
"""

from __future__ import annotations

import json
import os

from test_array_rtl import BUILD, build_array

from nfcore.eda.toolchain import top_name
from nfcore.sim.system.paging import PAGING_CYCLES_FILE
from sim_tests.tb.scenarios import rtl_key

ENV_OUT = "NFCORE_PAGING_CYCLES_OUT"  # as in paging_cocotb.py


def test_paging_rtl() -> None:
    out = BUILD / PAGING_CYCLES_FILE
    out.unlink(missing_ok=True)
    runner, build_dir = build_array(2, 2)
    runner.test(  # type: ignore[attr-defined]
        test_module="paging_cocotb",
        hdl_toplevel=top_name("array"),
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env={ENV_OUT: str(out),
                   "NFCORE_TB_SEED": os.environ.get("NFCORE_TB_SEED", "1")},
        log_file=build_dir / "paging.log",
    )
    assert out.exists(), f"the cocotb test did not write {out}"
    out.write_text(json.dumps({**json.loads(out.read_text()), "rtl_key": rtl_key()}))
