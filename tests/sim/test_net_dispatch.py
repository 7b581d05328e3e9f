"""Requests through the host port on the array model (`nfcore.sim.net.dispatch`): compiled
trees with host I/O (`nfcore.compiler.lower.host_io`) give the outputs of the tree run alone,
one request alone takes the golden array's cycles (the timing contract), and with requests
close together input packets wait in the network for their core."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nfcore.config import HostConfig
from nfcore.errors import ExecutionError
from nfcore.golden.array import run_array_host
from nfcore.sim.net.array import TimedProgram
from nfcore.sim.net.dispatch import (
    HostRequest,
    TreeCall,
    dispatch,
    run_requests,
    run_timed_requests,
)
from sim_tests.tb.host_scenarios import HOST_REPLAYS, HostReplay


@pytest.mark.parametrize("name", sorted(HOST_REPLAYS))
def test_outputs_equal_the_tree_alone(name: str) -> None:
    replay = HOST_REPLAYS[name]
    requests = replay.requests()
    outcomes, run = run_requests(replay.config, replay.states(), requests)
    for i, (r, o) in enumerate(zip(requests, outcomes, strict=True)):
        for got, want in zip(o.outputs, replay.reference(r), strict=True):
            values = got.reshape(-1).view(np.int8)[:len(want)]
            np.testing.assert_array_equal(values, want, err_msg=f"{name} request {i}")
        assert o.done_cycle > r.arrival_cycle
    assert run.host_packets_waited > 0, "the replay should make packets wait"


def test_one_request_takes_the_golden_arrays_cycles() -> None:
    replay = HostReplay("one", 2, 2, 7, 1, 0, top_k=4)
    (request,) = replay.requests()
    (outcome,), run = run_requests(replay.config, replay.states(), [request])
    # The golden array starts every core in cycle 0 (RUN) and has no contention; the four
    # input packets leave the host one after the other, from the cycle after the RUNs.
    _, packets, _, _ = dispatch([request])
    timed, t = [], 1
    for p in packets:
        timed.append(type(p)(max(t, p.cycle), p.dest, p.tag, p.payload))
        t = max(t, p.cycle) + 1 + len(p.payload)
    golden = run_array_host(replay.states(), timed)
    assert {c: r.cycles for c, r in golden.results.items()} == run.cycles
    assert outcome.done_cycle == max(p.arrival_cycle + len(p.payload) for p in golden.host_out)


def test_requests_out_of_order_are_refused() -> None:
    with pytest.raises(ExecutionError, match="arrival order"):
        dispatch([HostRequest(5, ()), HostRequest(3, ())])


@pytest.mark.parametrize("name", sorted(n for n, r in HOST_REPLAYS.items() if not r.split))
def test_timed_programs_take_the_same_cycles(name: str) -> None:
    """Timing alone (`TimedProgram`, a step per run of local instructions) equals the run
    that computes values, request by request."""
    replay = HOST_REPLAYS[name]
    requests = replay.requests()
    full, run = run_requests(replay.config, replay.states(), requests)
    lanes = replay.config.core.lanes
    timed_programs = {c: TimedProgram.of(t.served.cores[0].instructions(), lanes)
                      for c, t in replay.trees().items()}
    def timed(c: TreeCall) -> TreeCall:
        return dataclasses.replace(c, program=timed_programs[c.core])

    timed_requests = [HostRequest(r.arrival_cycle, tuple(map(timed, r.calls)),
                                  None if r.router is None else timed(r.router))
                      for r in requests]
    timed, timed_run = run_timed_requests(replay.config, timed_requests)
    assert [o.done_cycle for o in timed] == [o.done_cycle for o in full]
    assert timed_run.host_packets_waited == run.host_packets_waited


ROUTED = [n for n, r in HOST_REPLAYS.items() if r.router]


@pytest.mark.parametrize("name", ROUTED)
def test_routed_trees_start_after_the_host_read_the_routers_scores(name: str) -> None:
    """No tree of a routed request is RUN before `host.decision_cycles` after the host took
    the tail of the router's result; the router core's results answer the router calls."""
    replay = HOST_REPLAYS[name]
    requests = replay.requests()
    outcomes, run = run_requests(replay.config, replay.states(), requests)
    router_tails = [d.tail_cycle for d in run.host_out if d.src == (0, 0)]
    assert len(router_tails) == len(requests)
    decision = replay.config.host.decision_cycles
    runs_left = {c: list(r) for c, r in run.runs.items()}
    for r, tail in zip(requests, router_tails, strict=True):
        runs_left[(0, 0)].pop(0)
        for call in r.calls:
            taken, _ = runs_left[call.core].pop(0)
            assert taken >= tail + decision
    assert all(o.done_cycle > tail for o, tail in zip(outcomes, router_tails, strict=True))


def test_decision_latency_delays_a_lone_request_by_its_cycles() -> None:
    """Alone on the chip, a routed request ends exactly `d2 - d1` cycles later when the
    host's decision takes d2 instead of d1 cycles."""
    replay = HOST_REPLAYS[ROUTED[0]]
    request = replay.requests()[0]
    done = []
    for d in (1, 57):
        cfg = dataclasses.replace(replay.config, host=HostConfig(decision_cycles=d))
        (outcome,), _ = run_requests(cfg, replay.states(), [request])
        done.append(outcome.done_cycle)
    assert done[1] - done[0] == 56
