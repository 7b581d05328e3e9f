"""The per-packet array model (`nfcore.sim.net.array`) on its own: its errors, and the
power-state cycles it reports. Its agreement with the RTL (cycles, scratchpads, power
counters) is in test_array_agreement.py; with the flit model on random traffic in
test_worm_network.py."""

from __future__ import annotations

import pytest

from nfcore.arch import isa
from nfcore.errors import ExecutionError
from nfcore.golden.core import CoreState
from nfcore.sim.net.array import POWER_COUNTERS, core_state_cycles, run_array_model
from sim_tests.tb.scenarios import CORE, SCENARIOS

CFG = next(iter(SCENARIOS.values())).config


def _cores(programs: dict[tuple[int, int], list[isa.Instruction]]
           ) -> dict[tuple[int, int], CoreState]:
    out = {}
    for coord, program in programs.items():
        state = CoreState(CORE)
        state.load_program([i.encode() for i in program])
        out[coord] = state
    return out


def test_errors() -> None:
    with pytest.raises(ExecutionError, match="has no core"):
        run_array_model(CFG, _cores({(0, 0): [isa.send(n=1, addr=0, dest_x=5, dest_y=0,
                                                       tag=0), isa.halt()]}))
    with pytest.raises(ExecutionError, match="deadlock"):
        run_array_model(CFG, _cores({(0, 0): [isa.recv(n=1, addr=0, tag=0), isa.halt()]}))
    with pytest.raises(ExecutionError, match="expected tag"):
        run_array_model(CFG, _cores({(0, 0): [isa.send(n=1, addr=0, dest_x=1, dest_y=0,
                                                       tag=3), isa.halt()],
                                     (1, 0): [isa.recv(n=1, addr=0, tag=4), isa.halt()]}))
    # A short packet nobody takes: its sender halts, the packet stays in the mesh.
    with pytest.raises(ExecutionError, match="1 packets were never received"):
        run_array_model(CFG, _cores({(0, 0): [isa.send(n=1, addr=0, dest_x=1, dest_y=0,
                                                       tag=3), isa.halt()],
                                     (1, 0): [isa.halt()]}))
    # A long one: its sender cannot finish either.
    with pytest.raises(ExecutionError, match="deadlock"):
        run_array_model(CFG, _cores({(0, 0): [isa.send(n=12, addr=0, dest_x=1, dest_y=0,
                                                       tag=3), isa.halt()],
                                     (1, 0): [isa.halt()]}))
    with pytest.raises(ExecutionError, match="not among"):
        run_array_model(CFG, _cores({}), gated=[(7, 7)])


def test_state_cycles_follow_the_power_contract() -> None:
    """An awake core: its run is active, the rest idle. A gated one: gated up to and in the
    RUN cycle, W - 1 waking cycles active, one wake; each window cycle counted once."""
    sc = SCENARIOS["tree_split_gated"]
    result = run_array_model(sc.config, sc.states(), gated=sc.gated)
    wake = sc.config.power.wake_up_cycles
    window, lead = 200, 3
    counters = result.state_cycles(sc.config, window, lead)
    for coord, c in counters.items():
        assert set(c) == set(POWER_COUNTERS)
        assert c["gated_cycles"] + c["idle_cycles"] + c["active_cycles"] == window
        if coord in sc.gated:
            assert c == {"gated_cycles": lead + 1, "wakes": 1,
                         "active_cycles": result.cycles[coord] + wake - 1,
                         "idle_cycles": window - lead - 1 - result.cycles[coord] - wake + 1}
        else:
            assert c["gated_cycles"] == c["wakes"] == 0
            assert c["active_cycles"] == result.cycles[coord]


def test_state_cycles_reject_a_window_too_short() -> None:
    with pytest.raises(ExecutionError, match="window"):
        core_state_cycles(CFG, {(0, 0): 50}, (), window_cycles=40)
