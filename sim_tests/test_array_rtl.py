"""The array RTL under Verilator (cocotb): the shared scenarios and a host packet.

Writes `sim_build/<RTL_CYCLES_FILE>` (the cycles measured per scenario and core), which
`tests/sim/test_array_agreement.py` compares with the system model.
"""

from __future__ import annotations

import os
from pathlib import Path

from nfcore.hdl.toolchain import build_top, top_name
from nfcore.scenarios import RTL_CYCLES_FILE, SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "sim_build"
ENV_OUT = "NFCORE_RTL_CYCLES_OUT"  # as in array_cocotb.py


def build_array() -> tuple[object, Path]:
    cfg = next(iter(SCENARIOS.values())).config
    build_dir = BUILD / f"array_{cfg.mesh.rows}x{cfg.mesh.cols}_l{cfg.core.lanes}"
    return build_top(cfg, "array", build_dir, internal_signals=False), build_dir


def run_rtl_scenarios(out: Path) -> None:
    """Build the array and run the cocotb suite; the scenarios' cycles go to `out`."""
    runner, build_dir = build_array()
    runner.test(  # type: ignore[attr-defined]
        test_module="array_cocotb",
        hdl_toplevel=top_name("array"),
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env={ENV_OUT: str(out),
                   "NFCORE_TB_SEED": os.environ.get("NFCORE_TB_SEED", "1")},
        log_file=build_dir / "test.log",
    )


def test_array_rtl() -> None:
    out = BUILD / RTL_CYCLES_FILE
    out.unlink(missing_ok=True)
    run_rtl_scenarios(out)
    assert out.exists(), f"the cocotb suite did not write {out}"
