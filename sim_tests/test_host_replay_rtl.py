"""Requests through the host port on the array RTL under Verilator equal the exact model,
request by request, through the product's path (`nfcore.eda.array_tb.run_array_replay`, the
cocotb test `make sim` runs, against `nfcore.sim.net.dispatch.run_requests` on golden cores):
seeded random forests of `sim_tests.tb.host_scenarios.HOST_REPLAYS` (mlp, cnn and rnn trees
on every core, a tree split over a chain of cores, arrivals close enough that packets wait)
on 2 x 2 and 3 x 3 meshes, and 4 x 4 with `make test-long` (marker `long`)."""

from __future__ import annotations

import pytest
from test_array_rtl import BUILD

from nfcore.eda.array_tb import run_array_replay
from nfcore.eda.replay_job import CoreLoad, states
from nfcore.sim.net.dispatch import collect, compare, run_requests
from sim_tests.tb.host_scenarios import HOST_REPLAYS

LONG_MESHES = {(4, 4)}
"""Meshes whose build takes long on a shared machine (about 20 minutes for 4 x 4): run by
`make test-long` (marker `long`)."""


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.long] if (r.rows, r.cols) in LONG_MESHES else [])
    for n, r in sorted(HOST_REPLAYS.items())])
def test_host_replay_rtl(name: str) -> None:
    replay = HOST_REPLAYS[name]
    cfg = replay.config
    loads = {c: CoreLoad(s.weights, tuple(i.encode() for i in s.program), act=s.act)
             for c, s in replay.setups().items()}
    requests = replay.requests()
    expected, model = run_requests(cfg, states(cfg, loads), requests)
    got = collect(requests, run_array_replay(cfg, loads, requests, BUILD))
    agreement = compare(expected, got)
    print(name, agreement, "packets", model.host_packets, "waited", model.host_packets_waited)
    assert agreement.first_mismatch is None, f"{name}: {agreement.first_mismatch}"
    assert agreement.requests_compared == replay.requests_n
    assert model.host_packets_waited > 0, "the arrivals should make packets wait"
