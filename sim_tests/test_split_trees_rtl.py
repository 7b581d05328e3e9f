"""Compiled mlp, cnn and rnn trees split across cores by the compiler, on the array RTL
under Verilator (`split_trees_cocotb.py`; the 2 x 2 build of the scenarios is reused).

Merges the measured cycles into `sim_build/<RTL_CYCLES_FILE>` under
`sim_tests.tb.split_scenarios.SPLIT_KEY`, which `tests/sim/test_system_split.py` compares with the
timing contract and the simulator's models.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

from test_array_rtl import BUILD, build_array, run_rtl_scenarios

from nfcore.eda.toolchain import top_name
from sim_tests.tb.scenarios import RTL_CYCLES_FILE, rtl_key
from sim_tests.tb.split_scenarios import SPLIT_CASES, SPLIT_KEY

ENV_OUT = "NFCORE_SPLIT_CYCLES_OUT"  # as in split_trees_cocotb.py
ENV_CASES = "NFCORE_SPLIT_CASES"  # as in split_trees_cocotb.py


def run_split_rtl(out: Path) -> None:
    """Run the cocotb test and merge its record into the cycles file `out` (other keys of
    the file are kept; the array scenarios' record is measured first if `out` lacks it)."""
    data = json.loads(out.read_text()) if out.exists() else {}
    if "scenarios" not in data or data.get("rtl_key") != rtl_key():
        # The file never holds this record alone, nor beside scenarios of other RTL.
        run_rtl_scenarios(out)
    stale = json.loads(out.read_text())  # a failed run must not leave an older record
    stale.pop(SPLIT_KEY, None)
    out.write_text(json.dumps(stale, indent=1, sort_keys=True))
    runner, build_dir = build_array(2, 2)
    part = build_dir / "split_trees_cycles.json"
    part.unlink(missing_ok=True)
    cases = build_dir / "split_trees_cases.pickle"
    built = {}
    for name, case in SPLIT_CASES.items():
        q, tp, x_int = case.build()
        built[name] = (tp, x_int, q.forward_int(x_int), case.digest())
    cases.write_bytes(pickle.dumps(built))
    runner.test(  # type: ignore[attr-defined]
        test_module="split_trees_cocotb",
        hdl_toplevel=top_name("array"),
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env={ENV_OUT: str(part), ENV_CASES: str(cases),
                   "NFCORE_TB_SEED": os.environ.get("NFCORE_TB_SEED", "1")},
        log_file=build_dir / "split_trees.log",
    )
    assert part.exists(), f"the cocotb test did not write {part} (see split_trees.log)"
    record = json.loads(out.read_text())
    record[SPLIT_KEY] = json.loads(part.read_text())
    out.write_text(json.dumps(record, indent=1, sort_keys=True))


def test_compiled_split_trees_rtl() -> None:
    out = BUILD / RTL_CYCLES_FILE
    run_split_rtl(out)
    assert SPLIT_KEY in json.loads(out.read_text())
