"""The flit-level array model (`nfcore.sim.net.flit`) on its own: the timing contract
without contention, the wake-up latency, contention costs, and its errors. Its agreement
with the RTL is in test_array_agreement.py."""

from __future__ import annotations

import numpy as np
import pytest

from nfcore.arch import isa, noc
from nfcore.errors import ExecutionError
from nfcore.golden.array import run_array
from nfcore.golden.core import CoreState
from nfcore.sim.net.flit import run_array_flits
from sim_tests.tb.scenarios import CORE, SCENARIOS, act_digest

CFG = next(iter(SCENARIOS.values())).config


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items()
                                  if not s.contention and not s.gated])
def test_contract_cycles_and_data_without_contention(name: str) -> None:
    sc = SCENARIOS[name]
    golden, flits = sc.states(), sc.states()
    expected = run_array(golden)
    result = run_array_flits(sc.config, flits)
    assert result.cycles == {c: r.cycles for c, r in expected.items()}
    assert {c: act_digest(s.act) for c, s in flits.items()} == \
        {c: act_digest(s.act) for c, s in golden.items()}


def _cores(programs: dict[tuple[int, int], list[isa.Instruction]]
           ) -> dict[tuple[int, int], CoreState]:
    out = {}
    for y in range(CFG.mesh.rows):
        for x in range(CFG.mesh.cols):
            state = CoreState(CORE)
            state.act[:] = np.arange(CORE.act_words * CORE.lanes).reshape(-1, CORE.lanes) % 251
            state.load_program([i.encode() for i in programs.get((x, y), [isa.halt()])])
            out[x, y] = state
    return out


def test_packet_waits_for_a_late_recv_and_gated_core_starts_late() -> None:
    """(1, 1) sends 2 words to (0, 0), whose RECV comes after a VADD: the packet waits in
    the router; gating (0, 0) delays its RECV by `power.wake_up_cycles` more."""
    n = 2
    programs = {(1, 1): [isa.send(n=n, addr=0, dest_x=0, dest_y=0, tag=5), isa.halt()],
                (0, 0): [isa.vadd(n=64, a_addr=0, b_addr=8, y_addr=40),
                         isa.recv(n=n, addr=30, tag=5), isa.halt()]}
    recv_cycles = isa.ISSUE_CYCLES + isa.HEADER_FLITS + n
    late = isa.cycles(programs[0, 0][0], CORE.lanes)
    assert late > noc.header_latency_cycles((1, 1), (0, 0)) + isa.ISSUE_CYCLES
    awake = run_array_flits(CFG, _cores(programs)).cycles
    assert awake[0, 0] == late + recv_cycles + isa.ISSUE_CYCLES  # no wait for the packet
    gated = run_array_flits(CFG, _cores(programs), gated=[(0, 0)]).cycles
    assert gated == awake  # each core's cycles count from its own RUN


def test_two_packets_to_one_core_serialise() -> None:
    """(1, 0) and (0, 1) send 6 words to (1, 1) at once: one header ejects first, the other
    waits for its tail, so the second RECV ends later than with one sender."""
    n = 6
    programs = {c: [isa.send(n=n, addr=0, dest_x=1, dest_y=1, tag=1), isa.halt()]
                for c in ((1, 0), (0, 1))}
    programs[1, 1] = [isa.recv(n=n, addr=20, tag=1), isa.recv(n=n, addr=40, tag=1),
                      isa.halt()]
    both = run_array_flits(CFG, _cores(programs)).cycles
    alone = dict(programs)
    alone[0, 1] = [isa.halt()]
    alone[1, 1] = [isa.recv(n=n, addr=20, tag=1), isa.halt()]
    one = run_array_flits(CFG, _cores(alone)).cycles
    second = both[1, 1] - one[1, 1]
    assert second >= isa.ISSUE_CYCLES + isa.HEADER_FLITS + n


def test_errors() -> None:
    with pytest.raises(ExecutionError, match="has no core"):
        run_array_flits(CFG, _cores({(0, 0): [isa.send(n=1, addr=0, dest_x=5, dest_y=0,
                                                       tag=0), isa.halt()]}))
    with pytest.raises(ExecutionError, match="deadlock"):
        run_array_flits(CFG, _cores({(0, 0): [isa.recv(n=1, addr=0, tag=0), isa.halt()]}),
                        max_cycles=500)
    with pytest.raises(ExecutionError, match="expected tag"):
        run_array_flits(CFG, _cores({(0, 0): [isa.send(n=1, addr=0, dest_x=1, dest_y=0,
                                                       tag=3), isa.halt()],
                                     (1, 0): [isa.recv(n=1, addr=0, tag=4), isa.halt()]}))
    with pytest.raises(ExecutionError, match="never received"):
        run_array_flits(CFG, _cores({(0, 0): [isa.send(n=1, addr=0, dest_x=1, dest_y=0,
                                                       tag=3), isa.halt()]}))
    with pytest.raises(ExecutionError, match="not among"):
        run_array_flits(CFG, _cores({}), gated=[(7, 7)])
