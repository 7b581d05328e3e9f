"""The multi-core golden model: packet delivery, tags, and cycles by the contract."""

from __future__ import annotations

import numpy as np
import pytest

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden.array import run_array
from nfcore.golden.core import CoreState

CORE = CoreConfig(lanes=8, weight_sram_bytes=1024, act_sram_bytes=256, imem_depth=16)
ISSUE = isa.ISSUE_CYCLES


def _cores(programs: dict[tuple[int, int], list[isa.Instruction]]) -> dict:
    cores = {}
    for coord, program in programs.items():
        state = CoreState(CORE)
        state.load_program([i.encode() for i in program])
        state.act[:] = np.random.default_rng(coord).integers(0, 256, state.act.shape)
        cores[coord] = state
    return cores


def test_send_and_recv_move_words_with_contract_cycles() -> None:
    send = isa.send(n=3, addr=2, dest_x=2, dest_y=1, tag=7)
    recv = isa.recv(n=3, addr=10, tag=7)
    cores = _cores({(0, 0): [send, isa.halt()], (2, 1): [recv, isa.halt()]})
    sent = cores[(0, 0)].act[2:5].copy()
    results = run_array(cores)
    np.testing.assert_array_equal(cores[(2, 1)].act[10:13], sent)
    # Sender: header leaves at cycle 1 + ISSUE, nothing stalls.
    assert results[(0, 0)].cycles == isa.cycles(send, 8) + ISSUE
    # Receiver: ready at 1 + ISSUE, header arrives at 1 + ISSUE + (3 hops + 1) * 2.
    wait = noc.packet_latency_cycles((0, 0), (2, 1))
    assert wait == 8
    assert results[(2, 1)].wait_cycles == wait
    assert results[(2, 1)].cycles == isa.cycles(recv, 8) + wait + ISSUE


def test_recv_posted_late_does_not_wait() -> None:
    add = isa.vadd(n=8, a_addr=0, b_addr=1, y_addr=2)  # ISSUE + 1 + 2 = 5 cycles each
    send = isa.send(n=1, addr=0, dest_x=1, dest_y=0)
    recv = isa.recv(n=1, addr=5)
    cores = _cores({(0, 0): [send, isa.halt()], (1, 0): [add, add, add, recv, isa.halt()]})
    results = run_array(cores)
    assert results[(1, 0)].wait_cycles == 0  # arrives at cycle 7, RECV ready at 18


def test_ring_exchange_and_loopback() -> None:
    # Each of 2 x 2 cores sends to its east neighbour (wrapping) and to itself, then
    # receives both; packets are taken in arrival order, so the tags say which is which.
    programs = {}
    coords = [(x, y) for y in range(2) for x in range(2)]
    for x, y in coords:
        programs[(x, y)] = [
            isa.send(n=2, addr=0, dest_x=(x + 1) % 2, dest_y=y, tag=1),
            isa.send(n=1, addr=4, dest_x=x, dest_y=y, tag=2),
            isa.recv(n=2, addr=20, tag=1),  # neighbour: 2 routers, arrives at 3 + 4
            isa.recv(n=1, addr=24, tag=2),  # self: sent at 8, arrives at 10
            isa.halt(),
        ]
    cores = _cores(programs)
    before = {c: s.act.copy() for c, s in cores.items()}
    results = run_array(cores)
    for x, y in coords:
        west = ((x - 1) % 2, y)
        np.testing.assert_array_equal(cores[(x, y)].act[20:22], before[west][0:2])
        np.testing.assert_array_equal(cores[(x, y)].act[24], before[(x, y)][4])
        assert results[(x, y)].wait_cycles == 0


def test_tag_mismatch_deadlock_and_leftovers_are_errors() -> None:
    send = isa.send(n=1, addr=0, dest_x=1, dest_y=0, tag=3)
    with pytest.raises(ExecutionError, match="RECV expected tag 4 and 1 words.*tag 3"):
        run_array(_cores({(0, 0): [send, isa.halt()],
                          (1, 0): [isa.recv(n=1, addr=0, tag=4), isa.halt()]}))
    with pytest.raises(ExecutionError, match="deadlock"):
        run_array(_cores({(0, 0): [isa.recv(n=1, addr=0), isa.halt()]}))
    with pytest.raises(ExecutionError, match="1 packets were never received"):
        run_array(_cores({(0, 0): [send, isa.halt()], (1, 0): [isa.halt()]}))
    with pytest.raises(ExecutionError, match=r"sends to \(1, 0\), which has no core"):
        run_array(_cores({(0, 0): [send, isa.halt()]}))


def test_recv_takes_the_earliest_arrival_even_if_sent_later() -> None:
    # far, 7 hops away, hands its header over at cycle 3: it arrives at 3 + 8 * 2 = 19.
    # near, 1 hop away, sends after a 5-cycle VADD: header at 8, arrives at 8 + 2 * 2 = 12.
    far = isa.send(n=1, addr=0, dest_x=0, dest_y=0, tag=9)
    near = isa.send(n=1, addr=0, dest_x=0, dest_y=0, tag=8)
    pad = isa.vadd(n=8, a_addr=0, b_addr=1, y_addr=2)
    cores = _cores({(7, 0): [far, isa.halt()], (1, 0): [pad, near, isa.halt()],
                    (0, 0): [isa.recv(n=1, addr=0, tag=8), isa.recv(n=1, addr=1, tag=9),
                             isa.halt()]})
    results = run_array(cores)
    # First RECV ready at 3, takes near's header at 12, its word at 13; the second starts
    # at 14, is ready at 16 and takes far's header at 19.
    assert results[(0, 0)].wait_cycles == (12 - 3) + (19 - 16)
    assert results[(0, 0)].cycles == 19 + 1 + ISSUE
