"""The array RTL under Verilator (cocotb): the shared scenarios (one build per mesh size),
a host packet, power states and the DRAM port.

Writes `sim_build/<RTL_CYCLES_FILE>` (the cycles measured per scenario and core), which
`tests/sim/test_array_agreement.py` compares with the system model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nfcore.eda.rtl_runner import build_cached
from nfcore.eda.toolchain import top_name
from sim_tests.tb.scenarios import RTL_CYCLES_FILE, SCENARIOS, rtl_key

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "sim_build"
ENV_OUT = "NFCORE_RTL_CYCLES_OUT"  # as in array_cocotb.py


ENV_MESH = "NFCORE_ARRAY_MESH"  # as in array_cocotb.py


def meshes() -> list[tuple[int, int]]:
    """The (rows, cols) of the scenarios, the 2 x 2 (that every other test uses) first."""
    return list(dict.fromkeys((sc.rows, sc.cols) for sc in SCENARIOS.values()))


def build_array(rows: int, cols: int) -> tuple[Any, Path]:
    """The array of the scenarios' mesh `rows` x `cols`, built (or found) in `BUILD` by the
    product's cache (`nfcore.eda.rtl_runner.build_cached`), which the host replays share."""
    cfg = next(sc for sc in SCENARIOS.values() if (sc.rows, sc.cols) == (rows, cols)).config
    return build_cached(cfg, "array", BUILD)


def run_rtl_scenarios(out: Path) -> None:
    """Build the array of each mesh size and run the cocotb suite (all of it on the first,
    the scenarios on the others); the scenarios' cycles go to `out`, merged."""
    record: dict[str, object] = {}
    for k, (rows, cols) in enumerate(meshes()):
        runner, build_dir = build_array(rows, cols)
        part = build_dir / RTL_CYCLES_FILE
        part.unlink(missing_ok=True)
        runner.test(  # type: ignore[attr-defined]
            test_module="array_cocotb",
            testcase=None if k == 0 else "scenarios",
            hdl_toplevel=top_name("array"),
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env={ENV_OUT: str(part), ENV_MESH: f"{rows}x{cols}",
                       "NFCORE_TB_SEED": os.environ.get("NFCORE_TB_SEED", "1")},
            log_file=build_dir / "test.log",
        )
        assert part.exists(), f"the cocotb suite did not write {part}"
        record.update(json.loads(part.read_text())["scenarios"])
    # Other keys (the compiled split trees of test_split_trees_rtl.py) are kept if they were
    # measured on the same RTL.
    key = rtl_key()
    kept = json.loads(out.read_text()) if out.exists() else {}
    if kept.get("rtl_key") != key:
        kept = {}
    out.write_text(json.dumps({**kept, "schema": 1, "rtl_key": key, "scenarios": record},
                              indent=1, sort_keys=True))


def test_array_rtl() -> None:
    out = BUILD / RTL_CYCLES_FILE
    run_rtl_scenarios(out)
    assert out.exists(), f"the cocotb suite did not write {out}"
