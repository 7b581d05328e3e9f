"""cocotb test of requests served through the host port (run by test_host_replay_rtl.py).

Every replay of `sim_tests.tb.host_scenarios` on the build's mesh: compiled trees with host
RECV and SEND are loaded, the requests are served as the host does
(`sim_tests.tb.array_tb.ArrayTB.replay`, the rule of `nfcore.sim.net.dispatch`), and every
request's completion cycle and outputs are compared with the model
(`nfcore.sim.net.dispatch.run_requests` on `nfcore.sim.net.worm`). The counts go to the JSON
file named by `ENV_OUT`: `{name: {"requests_compared", "packets_compared", "packets_waited",
"cycle_mismatches", "output_mismatches", "first_mismatch"}}`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import cocotb

from nfcore.sim.net.dispatch import collect, compare, run_requests
from sim_tests.tb.array_tb import ArrayTB
from sim_tests.tb.host_scenarios import HOST_REPLAYS

ENV_OUT = "NFCORE_HOST_REPLAY_OUT"
ENV_MESH = "NFCORE_ARRAY_MESH"


@cocotb.test()
async def host_replays(dut: Any) -> None:
    rows, cols = (int(v) for v in os.environ[ENV_MESH].split("x"))
    mine = [r for r in HOST_REPLAYS.values() if (r.rows, r.cols) == (rows, cols)]
    assert mine, f"no host replay on a {rows} x {cols} mesh"
    tb = ArrayTB(dut, mine[0].config)
    record: dict[str, Any] = {}
    for replay in mine:
        await tb.reset()
        await tb.load(replay.setups())
        requests = replay.requests()
        expected, model = run_requests(replay.config, replay.states(), requests)
        got = collect(requests, await tb.replay(requests))
        assert not any(tb.errors().values()), f"{replay.name}: error set {tb.errors()}"
        agreement = compare(expected, got)
        record[replay.name] = {**dataclasses.asdict(agreement),
                               "packets_compared": model.host_packets,
                               "packets_waited": model.host_packets_waited}
        dut._log.info("%s: %s", replay.name, record[replay.name])
    out = Path(os.environ[ENV_OUT])
    out.write_text(json.dumps(record, indent=1, sort_keys=True))
    for name, r in record.items():
        assert r["first_mismatch"] is None, f"{name}: {r['first_mismatch']}"
