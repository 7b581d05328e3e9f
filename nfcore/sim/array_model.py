"""A SimPy model of an array of cores that run SEND/RECV programs over the mesh.

Each core is a SimPy process at instruction granularity: an instruction takes its
`isa.cycles` (the one timing contract) and changes the core's memories through the golden
model (`nfcore.golden.CoreState`), so results are bit-exact with `nfcore.golden_array`.
Packets go through the system model's network (`nfcore.sim.network.Network`, its links and
reservations), with three rules of the router RTL (`nfcore.hdl.router`) added here:

* Arbitration order: the network grants a link in the order packets are sent. Packets sent
  in the same cycle are sent in the order in which their headers reach the first link they
  share (the earlier header wins, as in the RTL), ties broken by the RTL's round robin on
  the input ports of that link's router (`RoundRobin`).
* Buffers: a header stalled at the output of the k-th router of its path stalls its sender
  only if the packet is longer than the `k * (noc.ROUTER_FIFO_DEPTH + 1) - 1` flits the
  path up to it holds (a stalled worm compresses into the input FIFOs).
* Ejection: a packet offered at its destination waits there until a RECV takes it. If it
  is longer than its path holds, its sender cannot finish before the tail drains: the
  sender's last flit enters `noc.header_latency_cycles` before the tail is taken.

Timing: a SEND starting in cycle t injects its header in t + ISSUE and ends when its last
flit is injected; the packet's header is offered at its destination at
`Delivery.header_cycle`; a RECV ready in cycle r takes the first packet offered (by offer
cycle, then source row, then column) in max(r, offer), its payload in the n cycles after.
With no contention this is the golden array's timing exactly. Not modelled: packets sent in
different cycles are still granted a shared link in the order they were sent (the network
model's rule), even if the later one's header reaches it first.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from nfcore import isa, noc
from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden import MAX_STEPS, CoreState
from nfcore.isa import Opcode
from nfcore.sim.network import Network
from nfcore.sim.worm_network import Worm, WormNetwork

Coord = tuple[int, int]


@dataclass
class _Packet:
    src: Coord
    header: dict[str, int]
    payload: npt.NDArray[np.uint8]
    offer_cycle: int
    worm: Worm

    @property
    def order(self) -> tuple[int, int, int]:
        return (self.offer_cycle, self.src[1], self.src[0])


@dataclass
class ArrayModelResult:
    cycles: dict[Coord, int]
    """Each core's cycles from RUN to its HALT (as `last_run_cycles` counts them)."""
    send_stall_cycles: dict[Coord, int]
    """Cycles each core's SENDs waited for the network."""
    recv_wait_cycles: dict[Coord, int]
    """Cycles each core's RECVs waited for a header."""
    network: Network


def run_array_model(cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                    max_steps: int = MAX_STEPS, gated: Collection[Coord] = ()
                    ) -> ArrayModelResult:
    """Run the loaded programs of `cores` (keyed by (x, y) on `cfg.mesh`), all started in the
    same cycle, until every core HALTs. The states are updated in place.

    The cores in `gated` are power-gated when RUN comes: they start `cfg.power.wake_up_cycles`
    later (the wake-up latency of `nfcore.hdl.power`); their `cycles` count from their own
    start, as `last_run_cycles` does.

    Raises ExecutionError on a deadlock, a packet to a coordinate without a core, a RECV
    whose packet has another tag or length, or packets never received."""
    strangers = sorted(set(gated) - set(cores))
    if strangers:
        raise ExecutionError(f"gated cores {strangers} are not among the cores run")
    env = simpy.Environment()
    net = Network(cfg)
    lanes = cfg.core.lanes
    inbox: dict[Coord, list[_Packet]] = {c: [] for c in cores}
    signal: dict[Coord, Any] = {c: env.event() for c in cores}
    cycles: dict[Coord, int] = {}
    stalls = dict.fromkeys(cores, 0)
    waits = dict.fromkeys(cores, 0)
    mesh = WormNetwork(net)
    wake = [env.event()]

    def kick() -> None:
        if not wake[0].triggered:
            wake[0].succeed()

    def network() -> Generator[Any, Any, None]:
        """Arbitrate the links due in a cycle after every core has sent and taken in it
        (two zero delays run after the events already due in this cycle)."""
        while True:
            due = mesh.next_cycle()
            if due is None:
                yield wake[0]
            elif due > env.now:
                yield env.any_of([wake[0], env.timeout(due - env.now)])
            if wake[0].triggered:
                wake[0] = env.event()
            yield env.timeout(0)
            yield env.timeout(0)
            mesh.advance(int(env.now))

    def core(coord: Coord, state: CoreState) -> Generator[Any, Any, None]:
        start = cfg.power.wake_up_cycles if coord in gated else 0
        yield env.timeout(1 + start)  # the first running cycle is 1, as in the golden array
        state.start()
        for _ in range(max_steps):
            instr = state.fetch()
            spent = isa.cycles(instr, lanes)
            if instr.op is Opcode.HALT:
                cycles[coord] = int(env.now) + spent - 1 - start
                return
            if instr.op is Opcode.SEND:
                dest = (instr.dest_x, instr.dest_y)
                if dest not in inbox:
                    raise ExecutionError(f"core {coord} sends to {dest}, which has no core")
                yield env.timeout(isa.ISSUE_CYCLES)
                sent = int(env.now)
                flits = isa.HEADER_FLITS + instr.n
                header = noc.decode_header(noc.encode_header(
                    dest_x=dest[0], dest_y=dest[1], src_x=coord[0], src_y=coord[1],
                    length=instr.n, tag=instr.tag))
                payload = state.send_payload(instr)
                free = env.event()

                def offered(worm: Worm, cycle: int, dest: Coord = dest,
                            header: dict[str, int] = header,
                            payload: npt.NDArray[np.uint8] = payload) -> None:
                    inbox[dest].append(_Packet(coord, header, payload, cycle, worm))
                    if not signal[dest].triggered:
                        signal[dest].succeed()

                def left(worm: Worm, cycle: int, free: Any = free) -> None:
                    free.succeed(cycle)

                mesh.send(net.core(coord), net.core(dest), flits, sent, offered, left)
                kick()
                end = yield free
                stalls[coord] += end - (sent + flits)
                yield env.timeout(end - env.now)
            elif instr.op is Opcode.RECV:
                yield env.timeout(isa.ISSUE_CYCLES)
                ready = int(env.now)
                while not any(p.offer_cycle <= env.now for p in inbox[coord]):
                    signal[coord] = env.event()
                    events = [signal[coord]]
                    if inbox[coord]:
                        first = min(p.offer_cycle for p in inbox[coord])
                        events.append(env.timeout(first - env.now))
                    yield env.any_of(events)
                packet = min((p for p in inbox[coord] if p.offer_cycle <= env.now),
                             key=lambda p: p.order)
                inbox[coord].remove(packet)
                mesh.take(packet.worm, int(env.now))
                kick()
                state.receive(instr, packet.header, packet.payload)
                waits[coord] += int(env.now) - ready
                yield env.timeout(isa.HEADER_FLITS + instr.n)
            else:
                state.execute(instr)
                yield env.timeout(spent)
        raise ExecutionError(f"core {coord} did not halt within {max_steps} instructions")

    env.process(network())
    for coord, state in sorted(cores.items(), key=lambda item: (item[0][1], item[0][0])):
        env.process(core(coord, state))
    env.run()
    running = sorted(set(cores) - set(cycles))
    if running:
        raise ExecutionError(f"deadlock: cores {running} wait in RECV for packets never sent")
    left = [(c, p) for c, packets in inbox.items() for p in packets]
    if left:
        c, p = left[0]
        raise ExecutionError(f"{len(left)} packets were never received, e.g. tag "
                             f"{p.header['tag']} from {p.src} to {c}")
    return ArrayModelResult(cycles, stalls, waits, net)
