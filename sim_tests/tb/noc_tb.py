"""cocotb testbenches of the network RTL (`MeshRouter`, `Mesh`) under Verilator.

Shared by `sim_tests/` and `benchmarks/bench_noc.py`. One clocked loop per test drives every
source and samples every sink once per cycle (two triggers per cycle: after the rising edge
the drivers write, in ReadOnly the monitors sample), instead of one coroutine per port, to
keep Python's share of each cycle small.

* `Source` (driver): offers the flits of its packets in order, holds `valid` and the payload
  until accepted, inserts random idle cycles between flits and between packets.
* `Sink` (monitor): random backpressure (`ready` low with a probability per cycle), checks
  that a stalled flit stays valid and unchanged, assembles packets at `last`.
* `Scoreboard`: the reference model says where each packet must leave (`noc.route` for one
  router, `noc.header_dest` for the mesh); every packet must arrive there exactly once,
  intact, and in order per (source, destination) pair.
* A watchdog fails the test when packets are outstanding and no flit has moved for
  `watchdog_cycles` cycles (deadlock or livelock).

Test convention: a packet's first payload flit carries its source id (`SRC_ID_BITS` low bits)
and its sequence number per (source, destination); the scoreboard reads the source from it,
since the header's source fields cannot name the host.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from nfcore.arch import noc
from nfcore.arch.noc import Port
from nfcore.hdl.flit import flit_layout

CLOCK_PERIOD_NS = 10
ENV_NOC = "NFCORE_NOC_TB"  # JSON of TBParams
SRC_ID_BITS = 16
Node = tuple[int, int]


@dataclass
class TBParams:
    """What a NoC cocotb test runs; passed from pytest in the environment (`ENV_NOC`)."""

    lanes: int = 8
    rows: int = 1
    cols: int = 1
    router_x: int = 1  # the router-alone test's coordinates
    router_y: int = 1
    packets: int = 1000  # total over all sources
    max_length: int = 8  # payload flits per packet, 1..max_length
    idle_flit: float = 0.1  # probability of an idle cycle before a payload flit
    idle_packet: float = 0.2  # probability of an idle cycle before a header
    stall: float = 0.3  # probability of ready low on a sink in a cycle
    hotspot: float = 0.0  # share of the mesh's random packets sent to the host
    seed: int = 1
    watchdog_cycles: int = 2000
    latency_json: str = ""  # where the latency test writes its measurements

    @classmethod
    def from_env(cls) -> TBParams:
        return cls(**json.loads(os.environ[ENV_NOC]))

    def to_env(self) -> str:
        return json.dumps(self.__dict__)


@dataclass
class Packet:
    src: Any  # a node (x, y), noc.HOST, or a router Port
    sink: Any  # where the reference model says it leaves
    flits: list[int]  # data words, header first
    injected_cycle: int = -1  # header handshake at the source
    ejected_cycle: int = -1  # header handshake at the sink
    last_cycle: int = -1  # last flit's handshake at the sink


class Source:
    """Drives one input stream from a queue of packets."""

    def __init__(self, dut: Any, prefix: str, name: Any, rng: random.Random,
                 params: TBParams, last_bit: int) -> None:
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.name, self.rng, self.params, self.last_bit = name, rng, params, last_bit
        self.queue: deque[Packet] = deque()
        self.flit = 0
        self.offering = False
        self.valid_value = 0
        self.valid.value = 0

    def drive(self) -> None:
        if not self.offering and self.queue:
            p = self.params.idle_packet if self.flit == 0 else self.params.idle_flit
            if not (p and self.rng.random() < p):
                packet = self.queue[0]
                last = self.flit == len(packet.flits) - 1
                self.payload.value = packet.flits[self.flit] | int(last) << self.last_bit
                self.offering = True
        if self.valid_value != self.offering:
            self.valid_value = int(self.offering)
            self.valid.value = self.valid_value

    def sample(self, cycle: int) -> Packet | None:
        """The packet whose last flit was accepted in this cycle, if any."""
        if not (self.offering and self.ready.value):
            return None
        self.offering = False
        packet = self.queue[0]
        if self.flit == 0:
            packet.injected_cycle = cycle
        self.flit += 1
        if self.flit < len(packet.flits):
            return None
        self.flit = 0
        return self.queue.popleft()


class Sink:
    """Receives one output stream with random backpressure and checks the protocol."""

    def __init__(self, dut: Any, prefix: str, name: Any, rng: random.Random, stall: float,
                 last_bit: int) -> None:
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.name, self.rng, self.stall, self.last_bit = name, rng, stall, last_bit
        self.ready_value = 0
        self.ready.value = 0
        self.held: int | None = None  # payload of a flit that was offered but not taken
        self.flits: list[int] = []
        self.header_cycle = -1

    def drive(self) -> None:
        ready = int(not (self.stall and self.rng.random() < self.stall))
        if ready != self.ready_value:
            self.ready_value = ready
            self.ready.value = ready

    def sample(self, cycle: int) -> tuple[list[int], int, int] | None:
        """(data words, header cycle, last cycle) of a packet completed in this cycle."""
        if not self.valid.value:
            assert self.held is None, f"{self.name}: valid dropped while stalled"
            return None
        word = int(self.payload.value)
        assert self.held is None or word == self.held, f"{self.name}: payload changed " \
            f"while stalled ({self.held:#x} -> {word:#x})"
        if not self.ready_value:
            self.held = word
            return None
        self.held = None
        if not self.flits:
            self.header_cycle = cycle
        self.flits.append(word & ((1 << self.last_bit) - 1))
        if not word >> self.last_bit:
            return None
        flits, self.flits = self.flits, []
        return flits, self.header_cycle, cycle


@dataclass
class Scoreboard:
    """Expected packets per (source, sink), in the order their source will send them."""

    expected: dict[tuple[Any, Any], deque[Packet]] = field(default_factory=dict)
    outstanding: int = 0
    received: list[Packet] = field(default_factory=list)

    def add(self, packet: Packet) -> None:
        self.expected.setdefault((packet.src, packet.sink), deque()).append(packet)
        self.outstanding += 1

    def check(self, sink: Any, flits: list[int], source_of: dict[int, Any],
              header_cycle: int, last_cycle: int) -> None:
        src_id = flits[1] & ((1 << SRC_ID_BITS) - 1) if len(flits) > 1 else -1
        src = source_of.get(src_id, f"unknown source id {src_id}")
        queue = self.expected.get((src, sink))
        assert queue, f"packet from {src} arrived at {sink}, none expected there " \
            f"(header {flits[0]:#x})"
        want = queue.popleft()
        assert flits == want.flits, (
            f"packet {src} -> {sink} differs from the next one expected (lost, reordered "
            f"or corrupted): got {len(flits)} flits {[hex(f) for f in flits[:3]]}..., "
            f"expected {len(want.flits)} flits {[hex(f) for f in want.flits[:3]]}...")
        want.ejected_cycle, want.last_cycle = header_cycle, last_cycle
        self.outstanding -= 1
        self.received.append(want)


class NocTB:
    """Clock, reset, sources, sinks, scoreboard and the clocked loop; `RouterTB` and `MeshTB`
    say which ports exist and where each packet must leave."""

    def __init__(self, dut: Any, params: TBParams) -> None:
        self.dut, self.params = dut, params
        self.rng = random.Random(params.seed)
        self.last_bit = flit_layout(params.lanes)["last"].offset
        self.sources: dict[Any, Source] = {}
        self.sinks: dict[Any, Sink] = {}
        self.source_id: dict[Any, int] = {}
        self.scoreboard = Scoreboard()
        self.seq: dict[tuple[Any, Any], int] = {}
        self.cycle = 0
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()

    def add_port(self, name: Any, prefix_in: str, prefix_out: str) -> None:
        self.source_id[name] = len(self.source_id)
        rng = random.Random(self.rng.random())
        self.sources[name] = Source(self.dut, prefix_in, name, rng, self.params,
                                    self.last_bit)
        self.sinks[name] = Sink(self.dut, prefix_out, name, random.Random(rng.random()),
                                self.params.stall, self.last_bit)

    async def reset(self) -> None:
        self.dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0

    def sink_of(self, dest: Node, src: Any) -> Any:
        raise NotImplementedError

    def send(self, src: Any, dest: Node, length: int) -> Packet:
        """Queue a packet of `length` payload flits from port `src` to node `dest`."""
        sink = self.sink_of(dest, src)
        key = (src, sink)
        seq = self.seq[key] = self.seq.get(key, -1) + 1
        to_host = dest == noc.HOST
        src_xy = src if isinstance(src, tuple) and src != noc.HOST else (0, 0)
        header = noc.encode_header(
            dest_x=0 if to_host else dest[0], dest_y=0 if to_host else dest[1],
            src_x=src_xy[0], src_y=src_xy[1], length=length, tag=seq & 0xFF,
            to_host=int(to_host))
        bits = self.params.lanes * 8
        words = [self.rng.getrandbits(bits) for _ in range(length)]
        words[0] = (words[0] >> 48 << 48) | (seq & 0xFFFFFFFF) << SRC_ID_BITS \
            | self.source_id[src]
        packet = Packet(src=src, sink=sink, flits=[header, *words])
        self.sources[src].queue.append(packet)
        self.scoreboard.add(packet)
        return packet

    async def run(self, max_cycles: int = 10_000_000) -> int:
        """Run until every queued packet has arrived; returns the cycles taken."""
        source_of = {i: name for name, i in self.source_id.items()}
        sources, sinks = list(self.sources.values()), list(self.sinks.items())
        board = self.scoreboard
        clk = self.dut.clk
        start, quiet = self.cycle, 0
        while board.outstanding:
            await RisingEdge(clk)
            for s in sources:
                s.drive()
            for _, k in sinks:
                k.drive()
            await ReadOnly()
            moved = False
            for s in sources:
                if s.offering and s.ready.value:
                    moved = True
                s.sample(self.cycle)
            for name, k in sinks:
                done = k.sample(self.cycle)
                if k.ready_value and k.valid.value:
                    moved = True
                if done is not None:
                    board.check(name, done[0], source_of, done[1], done[2])
            self.cycle += 1
            quiet = 0 if moved else quiet + 1
            assert quiet < self.params.watchdog_cycles, (
                f"watchdog: no flit moved for {quiet} cycles with {board.outstanding} "
                f"packets outstanding (deadlock)")
            assert self.cycle - start < max_cycles, f"not done after {max_cycles} cycles"
        taken = self.cycle - start
        # Nothing more may come out: a duplicated packet would arrive after the last one.
        drain = noc.ROUTER_HOP_CYCLES * (self.params.rows + self.params.cols + 2) * 2
        for _ in range(drain):
            await RisingEdge(clk)
            for s in sources:
                s.drive()  # drops valid
            for _, k in sinks:
                k.drive()
            await ReadOnly()
            for name, k in sinks:
                assert not k.valid.value, f"{name}: a flit arrived after every packet had"
            self.cycle += 1
        return taken


class RouterTB(NocTB):
    """One `MeshRouter` with all five ports (Verilog ports `<port>_in__*`, `<port>_out__*`)."""

    def __init__(self, dut: Any, params: TBParams) -> None:
        super().__init__(dut, params)
        self.xy = (params.router_x, params.router_y)
        for p in Port:
            self.add_port(p, f"{p.name.lower()}_in", f"{p.name.lower()}_out")

    def sink_of(self, dest: Node, src: Any) -> Any:
        return noc.route(*self.xy, *dest)

    def random_dest(self, out: Port) -> Node:
        """A destination that this router sends out of `out`."""
        x, y = self.xy
        r = self.rng.randint
        choices = {
            Port.LOCAL: [(x, y)],
            Port.EAST: [(r(x + 1, x + 4), r(0, y + 3))],
            Port.WEST: [(r(0, x - 1), r(0, y + 3))] + ([noc.HOST] if x > 0 else []),
            Port.SOUTH: [(x, r(y + 1, y + 4))],
            Port.NORTH: [(x, r(0, y - 1))] + ([noc.HOST] if x == 0 else []),
        }[out]
        dest = self.rng.choice(choices)
        assert noc.route(x, y, *dest) is out
        return dest


class MeshTB(NocTB):
    """A `Mesh`: sources and sinks on every LOCAL port (named by node (x, y)) and the host
    port (named `noc.HOST`)."""

    def __init__(self, dut: Any, params: TBParams) -> None:
        super().__init__(dut, params)
        self.nodes: list[Node] = [(x, y) for y in range(params.rows)
                                  for x in range(params.cols)]
        for x, y in self.nodes:
            self.add_port((x, y), f"local_in__{y}__{x}", f"local_out__{y}__{x}")
        self.add_port(noc.HOST, "host_in", "host_out")
        self.nodes.append(noc.HOST)

    def sink_of(self, dest: Node, src: Any) -> Any:
        return dest

    def random_traffic(self, packets: int) -> None:
        """`packets` packets between random pairs of nodes (host included, not host to
        host), lengths 1..max_length; a share `hotspot` of them goes to the host."""
        hot = self.params.hotspot
        for _ in range(packets):
            src = self.rng.choice(self.nodes)
            dest = noc.HOST if hot and self.rng.random() < hot else self.rng.choice(self.nodes)
            while src == dest == noc.HOST:
                dest = self.rng.choice(self.nodes)
            self.send(src, dest, self.rng.randint(1, self.params.max_length))


# -- benchmarks/bench_noc.py's measurement ------------------------------------------------

ENV_BENCH_OUT = "NFCORE_NOC_BENCH_OUT"  # JSON file the benchmark test writes


@cocotb.test()
async def mesh_speed(dut: Any) -> None:
    """Simulation speed of a `Mesh` under random traffic through the full testbench
    (Python drives and samples every port each cycle)."""
    params = TBParams.from_env()
    tb = MeshTB(dut, params)
    await tb.reset()
    tb.random_traffic(params.packets)
    t0 = time.perf_counter()
    cycles = await tb.run()
    traffic_s = time.perf_counter() - t0
    flits = sum(len(p.flits) for p in tb.scoreboard.received)
    Path(os.environ[ENV_BENCH_OUT]).write_text(json.dumps({
        "rows": params.rows, "cols": params.cols, "packets": params.packets,
        "flits": flits, "cycles": cycles, "traffic_s": traffic_s}))


@cocotb.test()
async def traffic_speed(dut: Any) -> None:
    """Simulation speed of `traffic.MeshTraffic`: traffic made in hardware, the clock runs
    `params.packets` cycles with no Python per cycle."""
    params = TBParams.from_env()
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    await Timer(2 * CLOCK_PERIOD_NS, unit="ns")
    dut.rst.value = 0
    cycles = params.packets
    t0 = time.perf_counter()
    await Timer(cycles * CLOCK_PERIOD_NS, unit="ns")
    wall_s = time.perf_counter() - t0
    sent, received = int(dut.sent_flits.value), int(dut.received_flits.value)
    assert 0 < received <= sent, (sent, received)
    Path(os.environ[ENV_BENCH_OUT]).write_text(json.dumps({
        "rows": params.rows, "cols": params.cols, "cycles": cycles, "flits": received,
        "wall_s": wall_s}))
