"""`MicroCore`: one NF-Core micro-core in Amaranth.

The core holds four memories (weight SRAM, activation scratchpad, instruction memory, and
the activation LUT inside `MacRequant`), a sequencer that fetches and decodes 64-bit
instructions and runs LOOPs, the datapaths of `nfcore.hdl.datapath`, and two flit ports to
its router. Field positions, header layouts and cycle counts come from `nfcore.arch.isa` and
`nfcore.arch.noc`; sizes come from `CoreConfig`.

Host interface
--------------
* `cmd` (stream in): one command per beat, see `CmdKind`. Accepted only while the core is
  idle; `ready` is low while a program runs or a READ_ACT is being answered.
* `rsp` (stream out): the words asked for by READ_ACT, in address order; `last` marks the
  final word. Honours `ready` (backpressure).
* `busy`: a program runs. `done`: one-cycle pulse in the cycle the program ends (HALT
  decoded, an illegal instruction, or a RECV whose header does not match). `last_run_cycles`:
  the cycles of the last program, from the cycle after RUN was accepted to the `done` cycle,
  inclusive; by the timing contract this is `sum(isa.cycles(i, lanes))` over the executed
  instructions plus the SEND stall and RECV wait cycles. `error`: the last program stopped
  at an illegal instruction or a mismatched packet; cleared by RUN.

Network interface
-----------------
* `net_out` (stream out): SEND's packet, header flit first (`nfcore.arch.noc` layout, with
  `coord_x`/`coord_y` as the source), `last` on the final payload flit. Valid holds until
  ready (full backpressure); every cycle valid and not ready adds a cycle to the SEND.
* `net_in` (stream in): ready while a RECV takes flits, one per cycle; every cycle
  ready and not valid adds a cycle to the RECV. A RECV does not take a weight packet
  (`noc` header bit `to_weights`): it stops the program as a mismatched header does (`done`,
  `error`) and leaves the packet in the router.
* Weight packets (paging, `nfcore.hdl.pager.WeightPager`): while the sequencer is idle, no
  host command is offered and the core is clocked, the core takes a weight packet whose
  header reaches `net_in`, one flit per cycle, writing each payload word to the weight SRAM
  (`waddr + k`). `paging` is high from the cycle after the header is taken to the cycle the
  last word is written; `cmd` is not ready meanwhile (a program cannot start mid-packet).
  While a program runs, weight packets wait in the router (backpressure). A core built with
  `powered=True` (inside `nfcore.hdl.power.PoweredCore`) has a `clock_on` input, its clock
  enable, so that a gated core takes no flit; packets for it wait until the host wakes it.
* `coord_x`, `coord_y`: this core's mesh coordinates. A core built with `coord=(x, y)` (as
  `nfcore.hdl.core_array.Array` builds them) has no such ports: the coordinates are constants.

Timing (cycles of one instruction): FETCH (the instruction memory, read at the pc of this cycle
one cycle ahead, has the word on its port; FETCH registers it), DECODE, then one cycle
per weight word (MATVEC, SETLUT), operand word (VADD, VMUL) or flit (SEND, RECV), then the
datapath drains. HALT and LOOP end in their DECODE cycle. In the DECODE of a loop body's last
instruction the sequencer jumps back to the body's first, so iterations cost nothing extra.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig
from nfcore.errors import ConfigError
from nfcore.hdl.datapath import (
    Activation,
    MacRequant,
    Opcode,
    VaddUnit,
    VmulUnit,
    act_write_layout,
    isa_field,
    mac_tag_layout,
    vadd_tag_layout,
)
from nfcore.hdl.decode import instr_layout, legal, validate
from nfcore.hdl.flit import HEADER_LAYOUT, flit_layout
from nfcore.hdl.pager import WeightPager

__all__ = ["CmdKind", "MicroCore", "cmd_layout", "instr_layout", "rsp_layout", "validate"]

CYCLE_COUNTER_BITS = 32
ADDR_BITS = max(isa.WEIGHT_ADDR_BITS, isa.ACT_ADDR_BITS, isa.PC_BITS)
LOOP_INDEX_BITS = exact_log2(isa.LOOP_MAX_BODY)


class CmdKind(enum.Enum, shape=3):  # type: ignore[call-arg]
    """Host commands. Write commands carry one word of `data` for address `addr`."""

    WRITE_WEIGHT = 0
    WRITE_ACT = 1
    WRITE_PROG = 2  # data[63:0] is the instruction
    RUN = 3  # run from pc 0 until HALT
    READ_ACT = 4  # send `count` scratchpad words from `addr` on rsp
    SLEEP = 5  # gate the core (`nfcore.hdl.power.PoweredCore`); a lone core ignores it


def cmd_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "kind": CmdKind,
        "addr": unsigned(ADDR_BITS),
        "count": unsigned(isa.ACT_ADDR_BITS + 1),
        "data": unsigned(lanes * 8),
    })


def rsp_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({"data": unsigned(lanes * 8), "last": unsigned(1)})


class MicroCore(wiring.Component):
    """One micro-core; see the module docstring for the interface and timing."""

    def __init__(self, *, config: CoreConfig, coord: tuple[int, int] | None = None,
                 powered: bool = False, lut_multipliers: int = 0) -> None:
        """`lut_multipliers`: lanes whose multiplier is built from LUTs rather than a DSP
        block (`MacRequant`), for an FPGA with fewer DSPs than lanes; same results."""
        try:
            validate(config)
            if not 0 <= lut_multipliers <= config.lanes:
                raise ConfigError(f"lut_multipliers = {lut_multipliers} is out of range; "
                                  f"allowed 0 to core.lanes = {config.lanes}")
        except ConfigError:
            self._MustUse__silence = True  # not built, so not "created but never used"
            raise
        self.config = config
        self.coord = coord
        self.powered = powered
        self.lut_multipliers = lut_multipliers
        lanes = config.lanes
        # Constant coordinates are elaboration parameters rather than ports tied to
        # constants, which would leave unused port wires in the Verilog.
        coord_ports = {} if coord is not None else {
            "coord_x": In(noc.COORD_BITS), "coord_y": In(noc.COORD_BITS)}
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(lanes))),
            "rsp": Out(stream.Signature(rsp_layout(lanes))),
            "net_out": Out(stream.Signature(flit_layout(lanes))),
            "net_in": In(stream.Signature(flit_layout(lanes))),
            **coord_ports,
            **({"clock_on": In(1)} if powered else {}),
            "busy": Out(1),
            "paging": Out(1),
            "done": Out(1),
            "error": Out(1),
            "last_run_cycles": Out(CYCLE_COUNTER_BITS),
        })

    def elaborate(self, platform: Any) -> Module:
        cfg = self.config
        lanes = cfg.lanes
        lane_bits = exact_log2(lanes)
        word = unsigned(lanes * 8)
        m = Module()

        m.submodules.weights = wmem = memory.Memory(shape=word, depth=cfg.weight_words, init=[])
        m.submodules.act = amem = memory.Memory(shape=word, depth=cfg.act_words, init=[])
        m.submodules.imem = imem = memory.Memory(
            shape=unsigned(isa.INSTR_BITS), depth=cfg.imem_depth, init=[])
        w_rd, w_wr = wmem.read_port(), wmem.write_port()
        # x_rd: MATVEC x, VADD/VMUL a, SEND payload, READ_ACT; b_rd: VADD/VMUL b.
        x_rd, b_rd = amem.read_port(), amem.read_port()
        act_wr = amem.write_port(granularity=8)
        i_rd, i_wr = imem.read_port(), imem.write_port()

        m.submodules.mac = mac = MacRequant(lanes=lanes, acc_bits=cfg.acc_bits,
                                                lut_multipliers=self.lut_multipliers)
        m.submodules.vadd = vadd = VaddUnit(lanes=lanes)
        m.submodules.vmul = vmul = VmulUnit(lanes=lanes)
        # A beat meets its read data one cycle after the read; the drain of the timing
        # contract is that cycle plus the datapath latency.
        # MATVEC reads its first word (the header) in DECODE, a cycle early, so its drain
        # is the pipeline alone.
        assert mac.LATENCY == isa.MATVEC_DRAIN_CYCLES, "MacRequant vs MATVEC_DRAIN_CYCLES"
        assert mac.LUT_LATENCY - mac.LATENCY == isa.LUT_CYCLES, "MacRequant vs LUT_CYCLES"
        assert 1 + vadd.LATENCY == isa.VADD_DRAIN_CYCLES, "VaddUnit vs VADD_DRAIN_CYCLES"
        assert 1 + vmul.LATENCY == isa.VMUL_DRAIN_CYCLES, "VmulUnit vs VMUL_DRAIN_CYCLES"
        assert isa.SETLUT_DRAIN_CYCLES == 2, "SETLUT: read, register, write the LUT"
        assert isa.HEADER_FLITS == 1, "SEND/RECV move one header flit"

        cmd, rsp, net_out, net_in = self.cmd, self.rsp, self.net_out, self.net_in
        if self.coord is None:
            src_x, src_y = self.coord_x, self.coord_y
        else:
            src_x, src_y = (Const(c, noc.COORD_BITS) for c in self.coord)
        ones = Const((1 << lanes) - 1, lanes)

        # -- Weight packets from the network (paging) --------------------------------------
        m.submodules.pager = pager = WeightPager(lanes=lanes,
                                                 addr_bits=ceil_log2(cfg.weight_words))
        # The pager reads net_in's own signals (a copy would stay as an unused alias).
        pager.flit.valid, pager.flit.payload = net_in.valid, net_in.payload
        pager.busy = self.paging
        seq_idle = Signal()  # the sequencer is in IDLE
        # A flit that follows a taken header is never a header, even if a mismatched RECV
        # left the rest of its packet in the router.
        mid_packet = Signal()
        with m.If(net_in.valid & net_in.ready):
            m.d.sync += mid_packet.eq(~net_in.payload.last)
        m.d.comb += [
            net_in.ready.eq(pager.flit.ready),  # a RECV overrides it below
            pager.allow.eq(seq_idle & ~cmd.valid & ~mid_packet &
                           (self.clock_on if self.powered else 1)),
        ]
        with m.If(pager.write.en):
            m.d.comb += [w_wr.addr.eq(pager.write.addr), w_wr.data.eq(pager.write.data),
                         w_wr.en.eq(1)]

        # -- Program state and the cycle counter ------------------------------------------
        # The instruction memory is read at the pc of the next cycle, so FETCH has the word at
        # `pc` on the port and registers it in `instr` for DECODE: the memory's clock-to-out
        # (slow on an FPGA) is then not on DECODE's paths, and the timing is unchanged.
        pc = Signal(isa.PC_BITS)
        pc_next = Signal(isa.PC_BITS)
        cycles = Signal(CYCLE_COUNTER_BITS)
        m.d.comb += [pc_next.eq(pc), i_rd.addr.eq(pc_next)]
        m.d.sync += pc.eq(pc_next)
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(self.done):
            m.d.sync += self.last_run_cycles.eq(cycles + 1)

        # -- LOOP state: body pcs loop_start..loop_end, iterations left, stride offsets ---
        loop_active = Signal()
        loop_start, loop_end = Signal(isa.PC_BITS), Signal(isa.PC_BITS)
        loop_left = Signal(isa.COUNT_BITS)
        x_off, y_off, x_stride, y_stride = (Signal(isa.ACT_ADDR_BITS, name=n) for n in
                                            ("x_off", "y_off", "x_stride", "y_stride"))
        x_mask, y_mask = Signal(isa.LOOP_MAX_BODY), Signal(isa.LOOP_MAX_BODY)
        body_index = (pc - loop_start)[:LOOP_INDEX_BITS]
        # Offsets of this instruction's x- and y-address (mod 2**ACT_ADDR_BITS).
        body_bit = Const(1, 1) << body_index  # one-hot, so the mask test needs no truncation
        xo = Mux(loop_active & (x_mask & body_bit).any(), x_off, 0)
        yo = Mux(loop_active & (y_mask & body_bit).any(), y_off, 0)

        # -- Decoded instruction, latched in DECODE --------------------------------------
        instr = Signal(isa.INSTR_BITS)
        views = {op: instr_layout(op)(instr) for op in isa.Opcode}
        mv, va, vm = views[isa.Opcode.MATVEC], views[isa.Opcode.VADD], views[isa.Opcode.VMUL]
        sl, lp = views[isa.Opcode.SETLUT], views[isa.Opcode.LOOP]
        sd, rv = views[isa.Opcode.SEND], views[isa.Opcode.RECV]
        # VADD and VMUL are decoded together; SEND/RECV n is stored as the header's length.
        for f in isa.FORMATS[isa.Opcode.VADD]:
            g = isa_field(isa.Opcode.VMUL, f.name)
            assert (f.lsb, f.width, f.offset) == (g.lsb, g.width, g.offset), f"VMUL.{f.name}"
        length = next(f for f in noc.HEADER_FIELDS if f.name == "length")
        assert isa_field(isa.Opcode.SEND, "n").offset == length.offset
        assert isa_field(isa.Opcode.RECV, "n").offset == length.offset
        opcode = views[isa.Opcode.HALT].op
        ok = legal(m, instr, loop_active)

        act = Signal(Activation)
        is_vmul = Signal()
        rows_last = Signal(isa.COUNT_BITS)  # rows - 1, VADD/VMUL/SETLUT words - 1, RECV n - 1
        row = Signal(isa.COUNT_BITS)  # output row, or word index
        wpr = Signal(isa.COUNT_BITS)  # MATVEC words per row (excluding the header)
        col = Signal(isa.COUNT_BITS)  # 0 = header, 1..wpr = weight words
        tail_mask = Signal(lanes)  # lanes of the last word of a row/vector in use
        w_ptr = Signal(isa.WEIGHT_ADDR_BITS)
        x_base, x_ptr, b_ptr, y_base, y_ptr = (Signal(isa.ACT_ADDR_BITS, name=n) for n in
                                               ("x_base", "x_ptr", "b_ptr", "y_base", "y_ptr"))
        drain = Signal(range(max(isa.MATVEC_DRAIN_CYCLES + isa.LUT_CYCLES + 1,
                                 isa.VADD_DRAIN_CYCLES, isa.VMUL_DRAIN_CYCLES)))
        header = Signal(HEADER_LAYOUT)  # SEND: the header flit; RECV: tag and length
        header_phase = Signal()  # SEND/RECV: the header flit is next
        flits_left = Signal(isa.COUNT_BITS + 1)  # SEND: payload words not yet read

        def count_last(op: isa.Opcode, name: str) -> Any:
            """Stored count field as (count - 1)."""
            f = isa_field(op, name)
            return getattr(views[op], name) + (f.offset - 1)

        def lanes_in_tail(last_index: Any) -> Any:
            """Mask of lanes used in the last word of a vector whose last element is
            `last_index`."""
            return Cat(Const(1, 1), *(last_index[:lane_bits] >= i for i in range(1, lanes)))

        # Beats towards the datapaths: the sequencer issues a read and its tag; the tag is
        # registered so that it meets the read data one cycle later.
        mv_tag = Signal(mac_tag_layout(lanes))
        va_tag = Signal(vadd_tag_layout(lanes))
        # SETLUT: a table word read in cycle t is registered in t + 1 and written in t + 2.
        lut_word_valid = Signal()
        lut_word_addr = Signal.like(mac.lut_write.payload.addr)
        m.d.sync += [mac.beat.valid.eq(0), vadd.beat.valid.eq(0), vmul.beat.valid.eq(0),
                     lut_word_valid.eq(0),
                     mac.lut_write.valid.eq(lut_word_valid),
                     mac.lut_write.payload.addr.eq(lut_word_addr),
                     mac.lut_write.payload.data.eq(w_rd.data)]
        # VMUL multiplies on the MAC's lane multipliers: its a and b go through the MAC's
        # beat as x and w (no MATVEC beat is valid then, and mv_tag's mask is all ones).
        m.d.comb += [
            mac.beat.payload.w.eq(Mux(vmul.beat.valid, b_rd.data, w_rd.data)),
            mac.beat.payload.x.eq(x_rd.data),
            mac.beat.payload.tag.eq(mv_tag),
            mac.act.eq(act),
            vadd.beat.payload.a.eq(x_rd.data),
            vadd.beat.payload.b.eq(b_rd.data),
            vadd.beat.payload.tag.eq(va_tag),
            vmul.beat.payload.eq(va_tag),
            *(p.eq(q) for p, q in zip(vmul.products, mac.products, strict=True)),
        ]
        for unit in (vadd, vmul):
            m.d.comb += unit.act.eq(act)

        # -- Scratchpad write port: datapath results, RECV payload, else host writes -------
        host_write = Signal(act_write_layout(lanes))
        recv_write = Signal(act_write_layout(lanes))
        with m.If(mac.result.valid):
            res = mac.result.payload
            m.d.comb += [
                act_wr.addr.eq(y_base + (res.row >> lane_bits)),
                act_wr.data.eq(res.y.as_unsigned().replicate(lanes)),
                act_wr.en.eq(Const(1, lanes) << res.row[:lane_bits]),
            ]
        for source in (vadd.result, vmul.result):
            with m.Elif(source.valid):
                res = source.payload
                m.d.comb += [act_wr.addr.eq(res.addr), act_wr.data.eq(res.data),
                             act_wr.en.eq(res.mask)]
        with m.Else():
            # RECV and the host never write in the same cycle (the host only when idle).
            m.d.comb += [act_wr.addr.eq(recv_write.addr | host_write.addr),
                         act_wr.data.eq(recv_write.data | host_write.data),
                         act_wr.en.eq(recv_write.mask | host_write.mask)]

        # -- READ_ACT response and SEND flits share the x read port ------------------------
        rd_left = Signal(isa.ACT_ADDR_BITS + 1)
        m.d.comb += [
            rsp.payload.data.eq(x_rd.data),
            rsp.payload.last.eq(rd_left == 0),
            net_out.payload.data.eq(Mux(header_phase, header.as_value(), x_rd.data)),
            net_out.payload.last.eq(~header_phase & (flits_left == 0)),
        ]

        def after_reads(m: Module, drain_cycles: Any) -> None:
            m.d.sync += drain.eq(drain_cycles - 1)
            m.next = "DRAIN"

        with m.FSM():
            with m.State("IDLE"):
                # pc is 0 while idle, so RUN's FETCH finds the first instruction on the port.
                m.d.comb += [cmd.ready.eq(~pager.busy), seq_idle.eq(1), pc_next.eq(0)]
                c = cmd.payload
                with m.If(cmd.valid & ~pager.busy), m.Switch(c.kind):
                    with m.Case(CmdKind.WRITE_WEIGHT):
                        m.d.comb += [w_wr.addr.eq(c.addr), w_wr.data.eq(c.data),
                                     w_wr.en.eq(1)]
                    with m.Case(CmdKind.WRITE_ACT):
                        m.d.comb += [host_write.addr.eq(c.addr),
                                     host_write.data.eq(c.data), host_write.mask.eq(ones)]
                    with m.Case(CmdKind.WRITE_PROG):
                        m.d.comb += [i_wr.addr.eq(c.addr), i_wr.data.eq(c.data),
                                     i_wr.en.eq(1)]
                    with m.Case(CmdKind.RUN):
                        m.d.sync += [cycles.eq(0), self.error.eq(0), loop_active.eq(0)]
                        m.next = "FETCH"
                    with m.Case(CmdKind.READ_ACT):
                        m.d.sync += [x_ptr.eq(c.addr), rd_left.eq(c.count)]
                        m.next = "READ"

            with m.State("READ"):
                # The read port holds its data while `en` is low, so a stalled word stays put.
                load = (~rsp.valid | rsp.ready) & (rd_left != 0)
                m.d.comb += [x_rd.addr.eq(x_ptr), x_rd.en.eq(load)]
                with m.If(load):
                    m.d.sync += [x_ptr.eq(x_ptr + 1), rd_left.eq(rd_left - 1),
                                 rsp.valid.eq(1)]
                with m.Elif(rsp.ready):
                    m.d.sync += rsp.valid.eq(0)
                    with m.If(rd_left == 0):
                        m.next = "IDLE"
                with m.Elif(~rsp.valid):  # count was 0
                    m.next = "IDLE"

            with m.State("FETCH"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += instr.eq(i_rd.data)
                m.next = "DECODE"

            with m.State("DECODE"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += pc_next.eq(pc + 1)
                m.d.sync += [row.eq(0), col.eq(0)]
                with m.If(~ok | (opcode == Opcode.HALT)):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += self.error.eq(~ok)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "FETCH"
                    # The body's last instruction sends the sequencer back to its first.
                    with m.If(loop_active & (pc == loop_end)):
                        with m.If(loop_left != 0):
                            m.d.comb += pc_next.eq(loop_start)
                            m.d.sync += [loop_left.eq(loop_left - 1),
                                         x_off.eq(x_off + x_stride),
                                         y_off.eq(y_off + y_stride)]
                        with m.Else():
                            m.d.sync += loop_active.eq(0)
                    with m.Switch(opcode):
                        with m.Case(Opcode.MATVEC):
                            # The first beat, the row header, is read here (the MATVEC state
                            # reads the rest); x is not read for it.
                            cols_last = count_last(isa.Opcode.MATVEC, "cols")
                            m.d.comb += w_rd.addr.eq(mv.w_addr)
                            m.d.sync += [
                                act.eq(mv.act),
                                rows_last.eq(count_last(isa.Opcode.MATVEC, "rows")),
                                wpr.eq((cols_last >> lane_bits) + 1),
                                tail_mask.eq(lanes_in_tail(cols_last)),
                                w_ptr.eq(mv.w_addr + 1),
                                x_base.eq(mv.x_addr + xo),
                                x_ptr.eq(mv.x_addr + xo),
                                y_base.eq(mv.y_addr + yo),
                                col.eq(1),
                                mac.beat.valid.eq(1),
                                mv_tag.header.eq(1),
                                mv_tag.last.eq(0),  # a row has at least one weight word
                                mv_tag.mask.eq(ones),
                                mv_tag.row.eq(0),
                            ]
                            m.next = "MATVEC"
                        with m.Case(Opcode.VADD, Opcode.VMUL):
                            n_last = count_last(isa.Opcode.VADD, "n")
                            m.d.sync += [
                                act.eq(va.act),
                                is_vmul.eq(opcode == Opcode.VMUL),
                                vmul.shift.eq(vm.shift),
                                rows_last.eq(n_last >> lane_bits),
                                tail_mask.eq(lanes_in_tail(n_last)),
                                x_ptr.eq(va.a_addr + xo),
                                b_ptr.eq(va.b_addr),
                                y_ptr.eq(va.y_addr + yo),
                            ]
                            m.next = "VECTOR"
                        with m.Case(Opcode.SETLUT):
                            m.d.sync += [w_ptr.eq(sl.w_addr),
                                         rows_last.eq(isa.lut_words(lanes) - 1)]
                            m.next = "SETLUT"
                        with m.Case(Opcode.LOOP):
                            # Stored body and count are value - 1.
                            m.d.sync += [
                                loop_active.eq(1),
                                loop_start.eq(pc + 1),
                                loop_end.eq(pc + lp.body + 1),
                                loop_left.eq(lp.count),
                                x_off.eq(0),
                                y_off.eq(0),
                                x_stride.eq(lp.x_stride),
                                y_stride.eq(lp.y_stride),
                                x_mask.eq(lp.x_mask),
                                y_mask.eq(lp.y_mask),
                            ]
                        with m.Case(Opcode.SEND):
                            m.d.sync += [
                                header.dest_x.eq(sd.dest_x),
                                header.dest_y.eq(sd.dest_y),
                                header.src_x.eq(src_x),
                                header.src_y.eq(src_y),
                                header.length.eq(sd.n),
                                header.tag.eq(sd.tag),
                                header_phase.eq(1),
                                net_out.valid.eq(1),
                                x_ptr.eq(sd.addr + xo),
                                flits_left.eq(count_last(isa.Opcode.SEND, "n") + 1),
                            ]
                            m.next = "SEND"
                        with m.Case(Opcode.RECV):
                            m.d.sync += [
                                header.tag.eq(rv.tag),
                                header.length.eq(rv.n),
                                header_phase.eq(1),
                                y_ptr.eq(rv.addr + yo),
                                rows_last.eq(count_last(isa.Opcode.RECV, "n")),
                            ]
                            m.next = "RECV"

            with m.State("MATVEC"):
                # One weight word per cycle: per row, the header then `wpr` weight words. The
                # first header was read in DECODE, so the reads end a cycle before the
                # contract's beat cycles do and the drain is a cycle longer.
                m.d.comb += [self.busy.eq(1), w_rd.addr.eq(w_ptr), x_rd.addr.eq(x_ptr)]
                first = col == 0
                last = col == wpr
                m.d.sync += [
                    w_ptr.eq(w_ptr + 1),
                    x_ptr.eq(x_ptr + 1),
                    mac.beat.valid.eq(1),
                    mv_tag.header.eq(first),
                    mv_tag.last.eq(last),
                    mv_tag.mask.eq(ones),
                    mv_tag.row.eq(row),
                ]
                with m.If(first):
                    m.d.sync += x_ptr.eq(x_base)
                with m.If(last):
                    m.d.sync += [mv_tag.mask.eq(tail_mask), col.eq(0), row.eq(row + 1)]
                    with m.If(row == rows_last):
                        after_reads(m, Mux(act == Activation.LUT,
                                           isa.MATVEC_DRAIN_CYCLES + isa.LUT_CYCLES + 1,
                                           isa.MATVEC_DRAIN_CYCLES + 1))
                with m.Else():
                    m.d.sync += col.eq(col + 1)

            with m.State("VECTOR"):
                # VADD/VMUL: one word of a and of b per cycle.
                m.d.comb += [self.busy.eq(1), x_rd.addr.eq(x_ptr), b_rd.addr.eq(b_ptr)]
                m.d.sync += [
                    x_ptr.eq(x_ptr + 1),
                    b_ptr.eq(b_ptr + 1),
                    y_ptr.eq(y_ptr + 1),
                    row.eq(row + 1),
                    vadd.beat.valid.eq(~is_vmul),
                    vmul.beat.valid.eq(is_vmul),
                    va_tag.addr.eq(y_ptr),
                    va_tag.mask.eq(ones),
                    mv_tag.mask.eq(ones),  # VMUL's products come from the MAC
                ]
                with m.If(row == rows_last):
                    m.d.sync += va_tag.mask.eq(tail_mask)
                    after_reads(m, Mux(is_vmul, isa.VMUL_DRAIN_CYCLES, isa.VADD_DRAIN_CYCLES))

            with m.State("SETLUT"):
                # One table word per cycle.
                m.d.comb += [self.busy.eq(1), w_rd.addr.eq(w_ptr)]
                m.d.sync += [w_ptr.eq(w_ptr + 1), row.eq(row + 1),
                             lut_word_valid.eq(1), lut_word_addr.eq(row)]
                with m.If(row == rows_last):
                    after_reads(m, isa.SETLUT_DRAIN_CYCLES)

            with m.State("SEND"):
                # net_out.valid is high from DECODE on; a word is read when the flit on the
                # port is taken, and the read port holds it while the network stalls.
                m.d.comb += self.busy.eq(1)
                load = net_out.ready & (flits_left != 0)
                m.d.comb += [x_rd.addr.eq(x_ptr), x_rd.en.eq(load)]
                with m.If(load):
                    m.d.sync += [x_ptr.eq(x_ptr + 1), flits_left.eq(flits_left - 1),
                                 header_phase.eq(0)]
                with m.Elif(net_out.ready):
                    m.d.sync += net_out.valid.eq(0)
                    m.next = "FETCH"

            with m.State("RECV"):
                got = HEADER_LAYOUT(net_in.payload.data[:noc.HEADER_BITS])
                # A weight packet is the pager's: left in the router, and the RECV fails.
                # (Ready looks at the header only when one is offered: a RECV's waits are
                # the cycles it is ready and the network is not valid.)
                page_head = net_in.valid & header_phase & got.to_weights
                m.d.comb += [self.busy.eq(1), net_in.ready.eq(~page_head)]
                with m.If(net_in.valid & header_phase):
                    with m.If((got.tag != header.tag) | (got.length != header.length) |
                              got.to_weights):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += self.error.eq(1)
                        m.next = "IDLE"
                    m.d.sync += header_phase.eq(0)
                with m.Elif(net_in.valid):
                    m.d.comb += [recv_write.addr.eq(y_ptr),
                                 recv_write.data.eq(net_in.payload.data),
                                 recv_write.mask.eq(ones)]
                    m.d.sync += [y_ptr.eq(y_ptr + 1), row.eq(row + 1)]
                    with m.If(row == rows_last):
                        m.next = "FETCH"

            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.next = "FETCH"

        return m
