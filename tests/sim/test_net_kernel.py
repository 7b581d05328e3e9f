"""The compiled array model (`nfcore.sim.net.array` on `nfcore.sim.net.kernel`) equals the
SimPy model on `nfcore.sim.net.worm` it replaced (`worm_array_reference`), which the RTL
replays matched, on everything `run_array_model` returns: seeded random traffic through
the host port (chains of timed programs, repeated RUNs, packets that wait for their core)
and the compiled trees of the RTL host replays, values included. Scenarios without the
host port are compared with the flit-level reference in `test_net_worm.py` and with the
RTL in `test_array_agreement.py`."""

from __future__ import annotations

import random

import numpy as np
import pytest
from worm_array_reference import run_array_worm

from nfcore.arch import isa
from nfcore.config import HostConfig, MeshConfig, NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden.array import HostPacket
from nfcore.golden.core import CoreState
from nfcore.sim.net.array import ArrayModelResult, TimedProgram, run_array_model
from nfcore.sim.net.dispatch import dispatch
from sim_tests.tb.host_scenarios import HOST_REPLAYS
from sim_tests.tb.scenarios import CORE

Coord = tuple[int, int]


def _facts(result: ArrayModelResult) -> dict[str, object]:
    """What a run returns, comparable across models."""
    return {"cycles": result.cycles, "runs": result.runs, "gated": result.gated,
            "send_stall_cycles": result.send_stall_cycles,
            "recv_wait_cycles": result.recv_wait_cycles,
            "host_out": [(d.src, d.tag, d.header_cycle, d.tail_cycle, d.payload.tobytes())
                         for d in result.host_out],
            "host_packets": result.host_packets,
            "host_packets_waited": result.host_packets_waited,
            "packets": result.network.packets, "flit_hops": result.network.flit_hops}


def _program(recv_words: int, local_cycles: int, send_to: Coord | None, send_words: int,
             tag: int) -> TimedProgram:
    """RECV, `local_cycles` of local instructions, SEND to `send_to` (None: the host), HALT."""
    lanes = CORE.lanes
    send = isa.send_to_host(n=send_words, addr=0, tag=tag) if send_to is None else \
        isa.send(n=send_words, addr=0, dest_x=send_to[0], dest_y=send_to[1], tag=tag)
    recv, halt = isa.recv(n=recv_words, addr=0, tag=tag), isa.halt()
    steps = [(isa.cycles(recv, lanes), recv), (local_cycles, None), (isa.cycles(send, lanes), send),
             (isa.cycles(halt, lanes), halt)]
    return TimedProgram(tuple(s for s in steps if s[0]))

RunGates = dict[tuple[Coord, int], tuple[Coord, int]]


def _random_traffic(seed: int) -> tuple[NFCoreConfig, dict[Coord, list[tuple[int, TimedProgram]]],
                                        list[HostPacket], list[int | None], frozenset[Coord],
                                        RunGates, list[tuple[Coord, int]]]:
    """Requests on a random mesh: each calls 1-3 chains of 1-2 cores (the first RECVs from
    the host, each SENDs to the next, the last to the host) with random sizes, arriving
    close together, so packets meet at the host port, on links and at busy cores. In half
    the seeds every request is routed: a router call on one core comes first, and every RUN
    of its chains waits for its result (`run_after_result`), as `dispatch` makes them. A few
    cores are gated before their first RUN, a few later RUNs find their core gated
    (`woken`)."""
    rng = random.Random(seed)
    rows, cols = rng.randint(2, 4), rng.randint(2, 4)
    cfg = NFCoreConfig(core=CORE, mesh=MeshConfig(rows=rows, cols=cols),
                       host=HostConfig(decision_cycles=rng.randint(1, 40)))
    coords = [(x, y) for y in range(rows) for x in range(cols)]
    router = rng.choice(coords)
    runs: dict[Coord, list[tuple[int, TimedProgram]]] = {}
    packets: list[HostPacket] = []
    gates: list[int | None] = []
    run_gates: RunGates = {}
    results: dict[Coord, int] = {}  # results each core has sent to the host
    # Routed requests mixed with others, or a host packet sent before its core took its
    # RUN, can deadlock: a packet for a core whose RUN waits for a router result may hold
    # the links that result, or the router's input, needs. `dispatch` makes neither.
    routed = rng.random() < 0.5
    cycle = 0
    for _ in range(rng.randint(10, 25)):
        cycle += rng.randint(0, 60)
        chains = [rng.sample(coords, rng.randint(1, 2)) for _ in range(rng.randint(1, 3))]
        if routed:
            chains.insert(0, [router])
        gate = None
        for chain in chains:
            words = rng.randint(1, 12)
            tag = rng.randint(0, 7)
            for k, core in enumerate(chain):
                nxt = chain[k + 1] if k + 1 < len(chain) else None
                out_words = rng.randint(1, 12) if nxt is not None else rng.randint(1, 3)
                if gate is not None:
                    run_gates[core, len(runs.get(core, []))] = gate
                runs.setdefault(core, []).append(
                    (cycle, _program(words, rng.randint(0, 30), nxt, out_words, tag)))
                if k == 0:
                    gates.append(len(runs[core]) - 1 if routed or rng.random() < 0.8
                                 else None)
                    packets.append(HostPacket(cycle, core, tag,
                                              np.zeros((words, CORE.lanes), np.uint8)))
                words = out_words
            results[chain[-1]] = results.get(chain[-1], 0) + 1
            if routed and gate is None:
                gate = (router, results[router] - 1)
    gated = frozenset(rng.sample(sorted(runs), rng.randint(0, 2)))
    woken = rng.sample([(c, k) for c in sorted(runs) for k in range(1, len(runs[c]))],
                       rng.randint(0, 3))
    return cfg, runs, packets, gates, gated, run_gates, woken


@pytest.mark.parametrize("seed", range(40))
def test_random_host_traffic_equals_the_worm_model(seed: int) -> None:
    cfg, runs, packets, gates, gated, run_gates, woken = _random_traffic(seed)

    def run(model: object) -> dict[str, object] | str:
        """The run's facts, or the error it raised (chains RUN in another order on two
        cores can deadlock: both models must say so)."""
        cores = {c: CoreState(cfg.core) for c in runs}
        try:
            return _facts(model(cfg, cores, gated=gated,  # type: ignore[operator]
                                host_in=packets, runs=runs, host_after_run=gates,
                                run_after_result=run_gates, woken=woken))
        except ExecutionError as e:
            return str(e)

    assert run(run_array_model) == run(run_array_worm), f"seed {seed}"


@pytest.mark.parametrize("name", ["host_2x2_busy", "host_2x2_split_mlp", "host_3x3_busy",
                                  "host_2x2_router"])
def test_host_replays_equal_the_worm_model(name: str) -> None:
    """Compiled trees, values and all, on the requests the RTL replays (routed ones too)."""
    replay = HOST_REPLAYS[name]
    runs, packets, gates, run_gates = dispatch(replay.requests())
    fast, slow = replay.states(), replay.states()
    got = run_array_model(replay.config, fast, host_in=packets, runs=runs,
                          host_after_run=gates, run_after_result=run_gates)
    want = run_array_worm(replay.config, slow, host_in=packets, runs=runs,
                          host_after_run=gates, run_after_result=run_gates)
    assert _facts(got) == _facts(want)
    for c in fast:
        np.testing.assert_array_equal(fast[c].act, slow[c].act, err_msg=f"{name} {c}")
