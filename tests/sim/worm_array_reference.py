"""The array model as it was before the compiled kernel (`nfcore.sim.net.kernel`): a SimPy
process per core on `nfcore.sim.net.worm` (the router RTL's rules computed per packet). An
independent reference for the host port and repeated RUNs, which the flit-level reference
(`nfcore.sim.net.flit`) does not model: `tests/sim/test_net_kernel.py` checks that
`nfcore.sim.net.array.run_array_model` equals it on random requests."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Collection, Generator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy
from simpy.events import EventPriority

from nfcore.arch import isa, noc
from nfcore.arch.isa import Instruction, Opcode
from nfcore.config import NFCoreConfig
from nfcore.errors import ExecutionError
from nfcore.golden.array import HostPacket
from nfcore.golden.core import MAX_STEPS, CoreState
from nfcore.sim.net.array import ArrayModelResult, HostDelivery, Program, TimedProgram, Traffic
from nfcore.sim.net.topology import Network
from nfcore.sim.net.worm import Worm, WormNetwork

Coord = tuple[int, int]

_AFTER_CYCLE = EventPriority(simpy.core.NORMAL + 1)
"""SimPy priority of the mesh's arbitrations: after every ordinary event of their cycle."""


class _CountedWorms(WormNetwork):
    """`WormNetwork` that lists (source, destination, flits) of every packet sent."""

    def __init__(self, net: Network, takes_at_once: frozenset[int]) -> None:
        super().__init__(net, takes_at_once)
        self.sent: list[tuple[int, int, int]] = []

    def send(self, src: int, dst: int, flits: int, cycle: int,
             on_offer: Callable[[Worm, int], None] | None = None,
             on_free: Callable[[Worm, int], None] | None = None,
             on_done: Callable[[Worm, int], None] | None = None) -> Worm:
        self.sent.append((src, dst, flits))
        return super().send(src, dst, flits, cycle, on_offer, on_free, on_done)


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


def run_array_worm(cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                    max_steps: int = MAX_STEPS, gated: Collection[Coord] = (),
                    host_in: Sequence[HostPacket] = (),
                    runs: Mapping[Coord, Sequence[int | tuple[int, TimedProgram]]] | None = None,
                    host_after_run: Sequence[int | None] | None = None,
                    run_after_result: Mapping[tuple[Coord, int], tuple[Coord, int]] | None = None,
                    woken: Collection[tuple[Coord, int]] = ()) -> ArrayModelResult:
    """Run the loaded programs of `cores` (keyed by (x, y) on `cfg.mesh`), all started in the
    same cycle, until every core HALTs. The states are updated in place.

    With `runs`, core c is presented RUN in each cycle of `runs[c]` (in order; a core not
    in it is not run) instead of once in cycle 0; an entry (cycle, `TimedProgram`) runs that
    program's timing instead of the core's loaded program (a core serving several trees).
    The host port injects the packets `host_in` one after the other, each from its `cycle`
    and, if `host_after_run[i]` is k, from the cycle after its destination core took its
    k-th RUN (0-based; the host sees the `cmd` handshake); when it is free it takes the
    packet that became eligible first (ties: the order of `host_in`). With
    `run_after_result`, core c's k-th RUN keyed (c, k) -> (src, j) is presented no earlier
    than `cfg.host.decision_cycles` after the host took the tail of the j-th result packet
    (0-based) core src sent it: the host's decision on what it read.

    The cores in `gated` are power-gated when RUN comes: they start `cfg.power.wake_up_cycles`
    later (the wake-up latency of `nfcore.hdl.power`); their `cycles` count from their own
    start, as `last_run_cycles` does. Likewise core c's k-th RUN for each (c, k) in `woken`.

    Raises ExecutionError on a deadlock, a packet to a coordinate without a core, a RECV
    whose packet has another tag or length, or packets never received."""
    strangers = sorted(set(gated) - set(cores))
    if strangers:
        raise ExecutionError(f"gated cores {strangers} are not among the cores run")
    schedule: dict[Coord, list[tuple[int, Program]]] = {}
    for c in cores:
        given = runs.get(c, ()) if runs is not None else (0,)
        schedule[c] = [r if isinstance(r, tuple) else (r, cores[c]) for r in given]
    gates: list[int | None] = list(host_after_run) if host_after_run is not None else \
        [None] * len(host_in)
    if len(gates) != len(host_in):
        raise ExecutionError(f"{len(gates)} host_after_run entries for {len(host_in)} packets")
    run = _ArrayRun(cfg, cores, frozenset(gated), max_steps, schedule, host_in, gates,
                    dict(run_after_result or {}), frozenset(woken))
    run.env.run()
    running = sorted(c for c in cores if len(run.runs[c]) < len(schedule[c]))
    if running:
        raise ExecutionError(f"deadlock: cores {running} never halted (a RECV waits for a "
                             "packet never sent, or a SEND for its packet to be taken)")
    left = [(src, dst, tag) for src, dst, tag, w in run.worms if w.taken_cycle is None]
    if left:
        src, dst, tag = left[0]
        raise ExecutionError(f"{len(left)} packets were never received, e.g. tag {tag} "
                             f"from {src} to {dst}")
    host_out = sorted(run.host_out, key=lambda d: (d.tail_cycle, d.src[1], d.src[0]))
    traffic = Traffic(cfg, *(np.asarray(v, np.int64) for v in zip(*run.mesh.sent, strict=True))
                      ) if run.mesh.sent else Traffic(cfg, *(np.zeros(0, np.int64),) * 3)
    return ArrayModelResult(run.cycles, run.stalls, run.waits, traffic, run.gated, run.runs,
                            host_out, len(run.host_timed), run.host_waits())


class _ArrayRun:
    """One `run_array_model` call: the SimPy environment, the `WormNetwork`, a process per
    core (`_core`, with `_send` and `_recv`); the mesh arbitrates in `_arbitrate`, scheduled
    by `_kick`."""

    def __init__(self, cfg: NFCoreConfig, cores: Mapping[Coord, CoreState],
                 gated: frozenset[Coord], max_steps: int,
                 schedule: dict[Coord, list[tuple[int, Program]]],
                 host_in: Sequence[HostPacket], gates: list[int | None],
                 run_gates: dict[tuple[Coord, int], tuple[Coord, int]],
                 woken: frozenset[tuple[Coord, int]]) -> None:
        self.cfg, self.gated, self.max_steps = cfg, gated, max_steps
        self.lanes = cfg.core.lanes
        self.env = env = simpy.Environment()
        self.net = Network(cfg)
        self.inbox: dict[Coord, list[_Packet]] = {c: [] for c in cores}
        """Packets whose header is (or will be) offered to each core, not yet taken."""
        self.signal: dict[Coord, simpy.Event] = {c: env.event() for c in cores}
        """Per core, the event a waiting RECV wakes on when a packet is offered to it."""
        self.cycles: dict[Coord, int] = {}
        self.stalls = dict.fromkeys(cores, 0)
        self.waits = dict.fromkeys(cores, 0)
        self.mesh = _CountedWorms(self.net, takes_at_once=frozenset({self.net.host}))
        self.worms: list[tuple[Coord, Coord, int, Worm]] = []
        """(source, destination, tag, packet) of every packet to a core."""
        self.runs: dict[Coord, list[tuple[int, int]]] = {c: [] for c in cores}
        self.after_run: dict[tuple[Coord, int], int] = {}
        """(core, RUN index) -> the host packet that waits for that RUN to be taken."""
        self.host_heap: list[tuple[int, int]] = []
        self.host_packets: list[HostPacket] = []
        self.host_signal = env.event()
        """Wakes the host when a RUN is taken."""
        self.host_out: list[HostDelivery] = []
        self.run_gates, self.woken = run_gates, woken
        self.result_tails: dict[Coord, list[int]] = {}
        """Per core, the cycle the host took the tail of each of its result packets."""
        self.result_signal = env.event()
        """Wakes the cores whose RUN waits for a result packet (`run_gates`)."""
        self.host_timed: list[tuple[int, int, Worm]] = []
        """(first cycle the sender could push, header latency, packet) of every packet to
        or from the host."""
        self.scheduled: set[int] = set()
        """Cycles in which an arbitration of the mesh is scheduled."""
        if host_in:
            env.process(self._host(list(host_in), gates))
        for coord in sorted(cores, key=lambda c: (c[1], c[0])):
            env.process(self._core(coord, schedule[coord]))

    def _kick(self) -> None:
        """Make sure the mesh's next arbitration is scheduled: in its cycle, after every
        event of that cycle (`_AFTER_CYCLE` priority: after every core has sent and taken)."""
        due = self.mesh.next_cycle()
        if due is None:
            return
        due = max(due, int(self.env.now))
        if due in self.scheduled:
            return
        self.scheduled.add(due)
        event = simpy.Event(self.env)
        event._ok, event._value = True, None
        event.callbacks.append(self._arbitrate)
        self.env.schedule(event, _AFTER_CYCLE, due - self.env.now)

    def _arbitrate(self, _: simpy.Event) -> None:
        now = int(self.env.now)
        self.scheduled.discard(now)
        self.mesh.advance(now)
        self._kick()

    def host_waits(self) -> int:
        """Packets of `host_timed` that waited (see `ArrayModelResult.host_packets_waited`)."""
        return sum(w.taken_cycle is not None and w.taken_cycle > ready + latency
                   for ready, latency, w in self.host_timed)

    def _host(self, packets: list[HostPacket], gates: list[int | None]
              ) -> Generator[simpy.Event, Any, None]:
        """The host port: one packet after the other, the earliest eligible first."""
        env = self.env
        for hp in packets:
            if hp.dest not in self.inbox:
                raise ExecutionError(f"the host sends to {hp.dest}, which has no core")
        # (eligible cycle, index) of the packets whose RUN is taken (or that wait for none).
        heap = [(hp.cycle, i) for i, (hp, g) in enumerate(zip(packets, gates, strict=True))
                if g is None]
        heapq.heapify(heap)
        for i, (hp, g) in enumerate(zip(packets, gates, strict=True)):
            if g is not None:
                self.after_run[hp.dest, g] = i
        self.host_heap, self.host_packets = heap, packets
        for _ in packets:
            while not heap or heap[0][0] > env.now:
                self.host_signal = env.event()
                events = [self.host_signal]
                if heap:
                    events.append(env.timeout(heap[0][0] - env.now))
                yield env.any_of(events)
            eligible, i = heapq.heappop(heap)
            yield from self._inject(packets[i], eligible)

    def _inject(self, hp: HostPacket, eligible: int) -> Generator[simpy.Event, Any, None]:
        """Push `hp` (eligible since cycle `eligible`) through the host port from now; ends in
        the cycle after its tail."""
        env, net = self.env, self.net
        header = hp.packet().header
        free = env.event()

        def offered(worm: Worm, cycle: int, hp: HostPacket = hp,
                    header: dict[str, int] = header) -> None:
            self.inbox[hp.dest].append(_Packet(noc.HOST, header, hp.payload, cycle, worm))
            if not self.signal[hp.dest].triggered:
                self.signal[hp.dest].succeed()

        def left(worm: Worm, cycle: int, free: simpy.Event = free) -> None:
            free.succeed(cycle)

        worm = self.mesh.send(net.host, net.core(hp.dest), isa.HEADER_FLITS + len(hp.payload),
                              int(env.now), offered, left)
        self.worms.append((noc.HOST, hp.dest, hp.tag, worm))
        self.host_timed.append((eligible, noc.header_latency_cycles(noc.HOST, hp.dest), worm))
        self._kick()
        end = yield free
        yield env.timeout(end - env.now)

    def _core(self, coord: Coord, schedule: list[tuple[int, Program]]
              ) -> Generator[simpy.Event, Any, None]:
        """One core: each RUN of `schedule`, from RUN to HALT."""
        env = self.env
        wake = self.cfg.power.wake_up_cycles
        for presented, state in schedule:
            k = len(self.runs[coord])
            asleep = (k == 0 and coord in self.gated) or (coord, k) in self.woken
            gate = self.run_gates.get((coord, len(self.runs[coord])))
            if gate is not None:
                tail = yield from self._result_tail(*gate)
                presented = max(presented, tail + self.cfg.host.decision_cycles)
            taken = max(presented, int(env.now)) + wake * asleep
            i = self.after_run.pop((coord, len(self.runs[coord])), None)
            if i is not None:
                heapq.heappush(self.host_heap, (max(self.host_packets[i].cycle, taken + 1), i))
                if not self.host_signal.triggered:
                    self.host_signal.succeed()
            # The first running cycle is the one after RUN is taken (1 for a RUN in cycle 0,
            # as in the golden array).
            yield env.timeout(taken + 1 - env.now)
            done = yield from (self._timed(coord, state) if isinstance(state, TimedProgram)
                               else self._program(coord, state))
            self.cycles[coord] = done - taken
            self.runs[coord].append((taken, done))
            yield env.timeout(done + 1 - env.now)  # idle again the cycle after `done`

    def _result_tail(self, src: Coord, k: int) -> Generator[simpy.Event, Any, int]:
        """The cycle the host took the tail of core `src`'s k-th result packet, once known
        (the network knows a tail no later than its cycle)."""
        while len(self.result_tails.get(src, ())) <= k:
            if self.result_signal.triggered:  # one event for every waiting core
                self.result_signal = self.env.event()
            yield self.result_signal
        return self.result_tails[src][k]

    def _program(self, coord: Coord, state: CoreState) -> Generator[simpy.Event, Any, int]:
        """Run the loaded program from its first instruction; returns its `done` cycle."""
        env = self.env
        state.start()
        for _ in range(self.max_steps):
            instr = state.fetch()
            spent = isa.cycles(instr, self.lanes)
            if instr.op is Opcode.HALT:
                return int(env.now) + spent - 1
            if instr.op is Opcode.SEND:
                yield from self._send(coord, state, instr)
            elif instr.op is Opcode.RECV:
                yield from self._recv(coord, state, instr)
            else:
                state.execute(instr)
                yield env.timeout(spent)
        raise ExecutionError(f"core {coord} did not halt within {self.max_steps} "
                             "instructions")

    def _timed(self, coord: Coord, prog: TimedProgram) -> Generator[simpy.Event, Any, int]:
        """Run a program's timing; returns its `done` cycle."""
        env = self.env
        for cycles, instr in prog.steps:
            if instr is None:
                yield env.timeout(cycles)
            elif instr.op is Opcode.SEND:
                yield from self._send(coord, None, instr)
            elif instr.op is Opcode.RECV:
                yield from self._recv(coord, None, instr)
            else:
                return int(env.now) + cycles - 1
        raise AssertionError("a TimedProgram ends in HALT")  # pragma: no cover - `of` checks

    def _send(self, coord: Coord, state: CoreState | None, instr: Instruction
              ) -> Generator[simpy.Event, Any, None]:
        """A SEND: pushes its flits from ISSUE cycles after its fetch; ends in the cycle
        after its last push."""
        env = self.env
        to_host = bool(instr.to_host)
        dest = noc.HOST if to_host else (instr.dest_x, instr.dest_y)
        if not to_host and dest not in self.inbox:
            raise ExecutionError(f"core {coord} sends to {dest}, which has no core")
        yield env.timeout(isa.ISSUE_CYCLES)
        sent = int(env.now)
        flits = isa.HEADER_FLITS + instr.n
        header = noc.decode_header(noc.encode_header(
            dest_x=0 if to_host else dest[0], dest_y=0 if to_host else dest[1],
            src_x=coord[0], src_y=coord[1], length=instr.n, tag=instr.tag,
            to_host=int(to_host)))
        payload = state.send_payload(instr) if state is not None else \
            np.zeros((instr.n, self.lanes), dtype=np.uint8)
        packet = partial(_Packet, coord, header, payload)
        free = env.event()

        def offered(worm: Worm, cycle: int) -> None:
            self.inbox[dest].append(packet(cycle, worm))
            if not self.signal[dest].triggered:
                self.signal[dest].succeed()

        def left(worm: Worm, cycle: int) -> None:
            free.succeed(cycle)

        def delivered(worm: Worm, cycle: int) -> None:
            assert worm.taken_cycle is not None
            self.host_out.append(HostDelivery(coord, instr.tag, payload, worm.taken_cycle,
                                              cycle))
            bisect.insort(self.result_tails.setdefault(coord, []), cycle)
            if not self.result_signal.triggered:
                self.result_signal.succeed()

        if to_host:
            self.host_timed.append((sent, noc.header_latency_cycles(coord, noc.HOST),
                                    self.mesh.send(self.net.core(coord), self.net.host, flits,
                                                   sent, None, left, delivered)))
        else:
            self.worms.append((coord, dest, instr.tag, self.mesh.send(
                self.net.core(coord), self.net.core(dest), flits, sent, offered, left)))
        self._kick()
        end = yield free
        self.stalls[coord] += end - (sent + flits)
        yield env.timeout(end - env.now)

    def _recv(self, coord: Coord, state: CoreState | None, instr: Instruction
              ) -> Generator[simpy.Event, Any, None]:
        """A RECV: ready ISSUE cycles after its fetch, takes the first packet offered (by
        `_Packet.order`) in max(ready, offer); ends in the cycle after the packet's tail."""
        env, inbox = self.env, self.inbox[coord]
        yield env.timeout(isa.ISSUE_CYCLES)
        ready = int(env.now)
        while not any(p.offer_cycle <= env.now for p in inbox):
            self.signal[coord] = env.event()
            events = [self.signal[coord]]
            if inbox:
                first = min(p.offer_cycle for p in inbox)
                events.append(env.timeout(first - env.now))
            yield env.any_of(events)
        packet = min((p for p in inbox if p.offer_cycle <= env.now), key=lambda p: p.order)
        inbox.remove(packet)
        self.mesh.take(packet.worm, int(env.now))
        self._kick()
        if state is not None:
            state.receive(instr, packet.header, packet.payload)
        self.waits[coord] += int(env.now) - ready
        tail = packet.worm.done_cycle  # known once the header is taken
        assert tail is not None
        yield env.timeout(tail + 1 - env.now)
