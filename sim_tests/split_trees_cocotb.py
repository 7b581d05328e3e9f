"""cocotb test of compiled split trees on the `CoreArray` top (run by test_split_trees_rtl.py).

Each tree of `sim_tests.tb.split_scenarios.SPLIT_CASES` (mlp, cnn, rnn, trained and random; 2-4
chain cores) is loaded on the 2 x 2 array through every core's `cmd` stream; then each
request writes its packed input into the first chain core, RUNs all cores in the same cycle
and reads the logits from the last, with random idle cycles on `cmd` and random
backpressure on `rsp`. Checked per request: the logits equal the compiler's integer
reference (`QuantizedTree.forward_int`) and the golden array's, and every core's `last_run_cycles`
equals the golden array's count (the timing contract: no contention on a chain); after the
requests every core's whole scratchpad equals its golden model's. The measured cycles go to
the file named by `ENV_OUT` (schema: `sim_tests.tb.split_scenarios.SPLIT_KEY`). The compiled
trees come from the pytest process (`ENV_CASES`, a pickle that `test_split_trees_rtl.py`
writes), so the simulator never starts torch.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

from nfcore.eda.rtl_runner import Stalls
from nfcore.golden.array import run_array
from sim_tests.tb.array_tb import ArrayTB
from sim_tests.tb.split_scenarios import SPLIT_CASES, chain_setups

ENV_OUT = "NFCORE_SPLIT_CYCLES_OUT"
ENV_CASES = "NFCORE_SPLIT_CASES"
SEED = int(os.environ.get("NFCORE_TB_SEED", "1"))
STALLS = Stalls(cmd_idle=0.3, rsp_stall=0.4, seed=SEED)


@cocotb.test()
async def compiled_split_trees(dut: Any) -> None:
    first = next(iter(SPLIT_CASES.values()))
    # Built by the pytest process (training needs torch, which is slow to start inside the
    # simulator): {name: (TreeProgram, int8 inputs, integer reference logits, digest)}.
    built = pickle.loads(Path(os.environ[ENV_CASES]).read_bytes())
    tb = ArrayTB(dut, first.config, STALLS)
    record: dict[str, Any] = {}
    for k, case in enumerate(SPLIT_CASES.values()):
        assert case.config == first.config, f"{case.name}: every case must use one build"
        tp, x_int, expected_out, digest = built[case.name]
        await tb.reset()
        await tb.load(chain_setups(tp, case.config))
        requests = []
        for r, vec in enumerate(tp.plan.pack_input(x_int)):
            await tb.cores[tp.input_coord].write_vector(tp.plan.input_addr, vec)
            golden = run_array({c: t.model for c, t in tb.cores.items()})
            got = await tb.run_all(watch=(k + r) % 2 == 1)
            assert not any(tb.errors().values()), f"{case.name}: error set {tb.errors()}"
            logits = await tb.cores[tp.output_coord].read_vector(tp.plan.output_addr,
                                                                 tp.plan.output_len)
            model_logits = tb.cores[tp.output_coord].model.read_vector(tp.plan.output_addr,
                                                                       tp.plan.output_len)
            np.testing.assert_array_equal(logits, expected_out[r],
                                          err_msg=f"{case.name} request {r}: RTL vs int ref")
            np.testing.assert_array_equal(model_logits, expected_out[r],
                                          err_msg=f"{case.name} request {r}: golden vs int ref")
            for coord, result in golden.items():
                assert got[coord] == result.cycles, (
                    f"{case.name} request {r} core {coord}: RTL {got[coord]} cycles, "
                    f"contract {result.cycles}")
            dut._log.info("%s request %d: RTL %s", case.name, r, got)
            requests.append({f"{x},{y}": got[x, y] for (x, y) in got})
        await tb.check_scratchpads()
        record[case.name] = {"setup_sha256": digest,
                             "chain": [list(c.coord) for c in tp.cores],
                             "requests": requests}
    out = Path(os.environ[ENV_OUT])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1, sort_keys=True))
