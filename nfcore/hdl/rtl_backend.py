"""Run a compiled program on the micro-core RTL under Verilator, for a batch of inputs.

`make sim` uses this to check the RTL against the golden model on real workloads. The
Python process builds the core (`toolchain.build_core`), writes the job to
`<build_dir>/rtl_job.{json,npz}`, and runs the cocotb test `nfcore.hdl.cocotb_tb.rtl_batch`,
which loads weights and program once and then, per input, writes it, RUNs, and reads the
outputs and `last_run_cycles` into `<build_dir>/rtl_job_out.npz`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.hdl.cocotb_tb import ENV_CORE, ENV_JOB, core_to_env
from nfcore.hdl.toolchain import TOPLEVEL, build_core


def run_rtl(cfg: NFCoreConfig, weights: npt.NDArray[np.uint8], program: list[int],
            inputs: list[npt.NDArray[np.int8]], input_addr: int, output_addr: int,
            output_len: int, build_dir: Path) -> list[tuple[npt.NDArray[np.int8], int]]:
    """Per input: (the `output_len` int8 outputs at scratchpad word `output_addr`, the
    program's cycles as reported by the core's `last_run_cycles`).

    `weights` (uint8 `[words, lanes]`) are written from weight word 0 and `program` from
    instruction 0, once. Each input is written from word `input_addr`, zero-padded to whole
    words. Raises ExecutionError if the simulation fails.
    """
    from cocotb_tools.check_results import get_results

    if not inputs:
        return []
    build_dir = Path(build_dir).resolve()
    runner = build_core(cfg, build_dir)
    stem = build_dir / "rtl_job"
    out_file = stem.with_name(stem.name + "_out.npz")
    out_file.unlink(missing_ok=True)
    width = max(len(x) for x in inputs)
    padded = np.zeros((len(inputs), width), dtype=np.int8)
    for i, x in enumerate(inputs):
        padded[i, : len(x)] = x
    np.savez(stem.with_suffix(".npz"), weights=np.asarray(weights, dtype=np.uint8),
             inputs=padded, lengths=np.array([len(x) for x in inputs], dtype=np.int64))
    stem.with_suffix(".json").write_text(json.dumps({
        "program": [int(w) for w in program],
        "input_addr": int(input_addr),
        "output_addr": int(output_addr),
        "output_len": int(output_len),
    }))
    log = build_dir / "rtl_job.log"
    try:
        results = runner.test(
            test_module="nfcore.hdl.cocotb_tb",
            testcase="rtl_batch",
            hdl_toplevel=TOPLEVEL,
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env={ENV_CORE: core_to_env(cfg.core), ENV_JOB: str(stem)},
            log_file=log,
        )
        _, failed = get_results(results)
    except (SystemExit, RuntimeError) as exc:
        raise ExecutionError(f"RTL simulation failed ({exc}); see {log}") from None
    if failed or not out_file.exists():
        raise ExecutionError(f"RTL simulation failed; see {log}")
    out = np.load(out_file)
    return [(o.astype(np.int8), int(c)) for o, c in zip(out["outputs"], out["cycles"],
                                                         strict=True)]
