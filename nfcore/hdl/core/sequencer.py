"""`Sequencer`: the micro-core's fetch, decode and issue, with its `LoopUnit`.

From RUN to the end of the program the sequencer fetches and decodes 64-bit instructions,
issues the beats of MATVEC, VADD, VMUL and SETLUT to the `Datapath` (reading the SRAMs in the
same cycle), hands SEND and RECV to the `NetPort` and waits for them, and runs LOOPs.

Timing (cycles of one instruction): FETCH (the instruction memory, read at the pc of this cycle
one cycle ahead, has the word on its port; FETCH registers it), DECODE, then one cycle per
weight word (MATVEC, SETLUT), operand word (VADD, VMUL) or flit (SEND, RECV), then the
datapath drains. HALT and LOOP end in their DECODE cycle. In the DECODE of a loop body's last
instruction the sequencer jumps back to the body's first, so iterations cost nothing extra.

`busy` is high from FETCH of the first instruction to the end; `done` pulses in the cycle the
program ends (HALT decoded, an illegal instruction, or a failed RECV); `error` tells the last
two apart and is cleared by `run`. `last_run_cycles` counts the cycles of the last program,
from the cycle after `run` to the `done` cycle, inclusive.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from nfcore.arch import isa, noc
from nfcore.config import CoreConfig
from nfcore.hdl.core.datapath import issue_signature
from nfcore.hdl.core.decode import Activation, Opcode, field_shape, instr_layout, isa_field, legal
from nfcore.hdl.core.net_port import net_control_signature
from nfcore.hdl.core.ports import read_port

__all__ = ["CYCLE_COUNTER_BITS", "LoopUnit", "Sequencer"]

CYCLE_COUNTER_BITS = 32
LOOP_INDEX_BITS = exact_log2(isa.LOOP_MAX_BODY)
LOOP_LAYOUT = data.StructLayout({f.name: field_shape(f) for f in isa.FORMATS[isa.Opcode.LOOP]})
"""A LOOP's fields, stored values (body and count are value - 1)."""


class LoopUnit(wiring.Component):
    """The LOOP state: body pcs `start..end`, iterations left, and the strided address
    offsets of the body's instructions.

    * `load` (stream in, always ready): a LOOP decoded at `pc`; its body starts at `pc + 1`.
    * `clear`: no loop runs (RUN).
    * `pc`: the pc of the instruction in DECODE. `step`: that instruction is done and the next
      one is fetched. At the body's last instruction with iterations left, `jump` is high and
      the next pc is `start`; with none left, the loop ends.
    * `x_offset`, `y_offset`: the offsets of the x- and y-address of the instruction at `pc`
      (0 outside a loop and for the body instructions whose mask bit is clear),
      mod 2**ACT_ADDR_BITS.
    """

    def __init__(self) -> None:
        super().__init__({
            "load": In(stream.Signature(LOOP_LAYOUT, always_ready=True)),
            "clear": In(1),
            "pc": In(isa.PC_BITS),
            "step": In(1),
            "active": Out(1),
            "jump": Out(1),
            "start": Out(isa.PC_BITS),
            "x_offset": Out(isa.ACT_ADDR_BITS),
            "y_offset": Out(isa.ACT_ADDR_BITS),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        pc, active, start, lp = self.pc, self.active, self.start, self.load.payload
        end = Signal(isa.PC_BITS)
        left = Signal(isa.COUNT_BITS)
        x_off, y_off, x_stride, y_stride = (Signal(isa.ACT_ADDR_BITS, name=n) for n in
                                            ("x_off", "y_off", "x_stride", "y_stride"))
        x_mask, y_mask = Signal(isa.LOOP_MAX_BODY), Signal(isa.LOOP_MAX_BODY)
        body_index = (pc - start)[:LOOP_INDEX_BITS]
        body_bit = Const(1, 1) << body_index  # one-hot, so the mask test needs no truncation
        at_end = active & (pc == end)
        m.d.comb += [
            self.x_offset.eq(Mux(active & (x_mask & body_bit).any(), x_off, 0)),
            self.y_offset.eq(Mux(active & (y_mask & body_bit).any(), y_off, 0)),
            self.jump.eq(self.step & at_end & (left != 0)),
        ]
        with m.If(self.clear):
            m.d.sync += active.eq(0)
        with m.If(self.step & at_end):
            with m.If(left != 0):
                m.d.sync += [left.eq(left - 1), x_off.eq(x_off + x_stride),
                             y_off.eq(y_off + y_stride)]
            with m.Else():
                m.d.sync += active.eq(0)
        with m.If(self.load.valid):
            # Stored body and count are value - 1.
            m.d.sync += [
                active.eq(1),
                start.eq(pc + 1),
                end.eq(pc + lp.body + 1),
                left.eq(lp.count),
                x_off.eq(0),
                y_off.eq(0),
                x_stride.eq(lp.x_stride),
                y_stride.eq(lp.y_stride),
                x_mask.eq(lp.x_mask),
                y_mask.eq(lp.y_mask),
            ]
        return m


class _Registers:
    """The sequencer's state while an instruction runs."""

    def __init__(self, lanes: int) -> None:
        self.pc = Signal(isa.PC_BITS)
        self.pc_next = Signal(isa.PC_BITS)
        self.instr = Signal(isa.INSTR_BITS)
        self.is_vmul = Signal()
        self.rows_last = Signal(isa.COUNT_BITS)  # rows - 1, VADD/VMUL/SETLUT words - 1
        self.row = Signal(isa.COUNT_BITS)  # output row, or word index
        self.wpr = Signal(isa.COUNT_BITS)  # MATVEC words per row (excluding the header)
        self.col = Signal(isa.COUNT_BITS)  # 0 = header, 1..wpr = weight words
        self.tail_mask = Signal(lanes)  # lanes of the last word of a row/vector in use
        self.w_ptr = Signal(isa.WEIGHT_ADDR_BITS)
        self.x_base, self.x_ptr, self.b_ptr, self.y_ptr = (
            Signal(isa.ACT_ADDR_BITS, name=n) for n in ("x_base", "x_ptr", "b_ptr", "y_ptr"))
        self.drain = Signal(range(max(isa.MATVEC_DRAIN_CYCLES + isa.LUT_CYCLES + 1,
                                      isa.VADD_DRAIN_CYCLES, isa.VMUL_DRAIN_CYCLES)))


class Sequencer(wiring.Component):
    """Fetch, decode and issue for a core of `config`; see the module docstring.

    Memory ports (flipped, see `nfcore.hdl.core.ports`): `i_rd` instruction memory; the read
    addresses of the beats: `w_rd` weight SRAM (MATVEC, SETLUT), `x_rd` scratchpad (MATVEC x,
    VADD/VMUL a), `b_rd` scratchpad (VADD/VMUL b). `issue`, `act` and `shift` go to the
    `Datapath`, `net` to the `NetPort`.
    """

    def __init__(self, *, config: CoreConfig) -> None:
        self.lanes = lanes = config.lanes
        act_addr_bits = ceil_log2(config.act_words)
        super().__init__({
            "run": In(1),
            "idle": Out(1),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
            "last_run_cycles": Out(CYCLE_COUNTER_BITS),
            "i_rd": In(read_port(addr_bits=ceil_log2(config.imem_depth),
                                 data=unsigned(isa.INSTR_BITS))),
            "w_rd": In(read_port(addr_bits=ceil_log2(config.weight_words))),
            "x_rd": In(read_port(addr_bits=act_addr_bits)),
            "b_rd": In(read_port(addr_bits=act_addr_bits)),
            "issue": Out(issue_signature(lanes)),
            "act": Out(Activation),
            "shift": Out(unsigned(ceil_log2(isa.VMUL_MAX_SHIFT + 1))),
            "net": Out(net_control_signature()),
        })

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.loop = loop = LoopUnit()
        r = _Registers(self.lanes)
        # The instruction memory is read at the pc of the next cycle, so FETCH has the word at
        # `pc` on the port and registers it in `instr` for DECODE: the memory's clock-to-out
        # (slow on an FPGA) is then not on DECODE's paths, and the timing is unchanged.
        cycles = Signal(CYCLE_COUNTER_BITS)
        m.d.comb += [r.pc_next.eq(r.pc), self.i_rd.addr.eq(r.pc_next), loop.pc.eq(r.pc)]
        m.d.sync += r.pc.eq(r.pc_next)
        opcode = instr_layout(isa.Opcode.HALT)(r.instr).op
        ok = legal(m, r.instr, loop.active)
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(self.done):
            m.d.sync += self.last_run_cycles.eq(cycles + 1)

        with m.FSM():
            with m.State("IDLE"):
                # pc is 0 while idle, so RUN's FETCH finds the first instruction on the port.
                m.d.comb += [self.idle.eq(1), r.pc_next.eq(0)]
                with m.If(self.run):
                    m.d.sync += [cycles.eq(0), self.error.eq(0)]
                    m.d.comb += loop.clear.eq(1)
                    m.next = "FETCH"

            with m.State("FETCH"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += r.instr.eq(self.i_rd.data)
                m.next = "DECODE"

            with m.State("DECODE"):
                m.d.comb += [self.busy.eq(1), r.pc_next.eq(r.pc + 1)]
                m.d.sync += [r.row.eq(0), r.col.eq(0)]
                with m.If(~ok | (opcode == Opcode.HALT)):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += self.error.eq(~ok)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "FETCH"
                    # The body's last instruction sends the sequencer back to its first.
                    m.d.comb += loop.step.eq(1)
                    with m.If(loop.jump):
                        m.d.comb += r.pc_next.eq(loop.start)
                    self._decode(m, r, loop, opcode)

            self._run_states(m, r)

            with m.State("NET"):
                # SEND or RECV, in the NetPort.
                m.d.comb += self.busy.eq(1)
                with m.If(self.net.failed):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += self.error.eq(1)
                    m.next = "IDLE"
                with m.Elif(self.net.done):
                    m.next = "FETCH"

            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += r.drain.eq(r.drain - 1)
                with m.If(r.drain == 0):
                    m.next = "FETCH"
        return m

    def _decode(self, m: Module, r: _Registers, loop: LoopUnit, opcode: Any) -> None:
        """DECODE of a legal instruction other than HALT: latch its operands, issue MATVEC's
        first beat, start a LOOP, SEND or RECV."""
        lanes, ones = self.lanes, Const((1 << self.lanes) - 1, self.lanes)
        views = {op: instr_layout(op)(r.instr) for op in isa.Opcode}
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
        xo, yo = loop.x_offset, loop.y_offset

        def count_last(op: isa.Opcode, name: str) -> Any:
            """Stored count field as (count - 1)."""
            return getattr(views[op], name) + (isa_field(op, name).offset - 1)

        with m.Switch(opcode):
            with m.Case(Opcode.MATVEC):
                # The first beat, the row header, is read here (the MATVEC state reads the
                # rest); x is not read for it.
                cols_last = count_last(isa.Opcode.MATVEC, "cols")
                m.d.comb += [self.w_rd.addr.eq(mv.w_addr), self.issue.mac.valid.eq(1)]
                tag = self.issue.mac.payload
                m.d.comb += [tag.header.eq(1), tag.last.eq(0),  # a row has a weight word
                             tag.mask.eq(ones), tag.row.eq(0)]
                m.d.sync += [
                    self.act.eq(mv.act),
                    r.rows_last.eq(count_last(isa.Opcode.MATVEC, "rows")),
                    r.wpr.eq((cols_last >> exact_log2(lanes)) + 1),
                    r.tail_mask.eq(self._lanes_in_tail(cols_last)),
                    r.w_ptr.eq(mv.w_addr + 1),
                    r.x_base.eq(mv.x_addr + xo),
                    r.x_ptr.eq(mv.x_addr + xo),
                    self.issue.y_base.eq(mv.y_addr + yo),
                    r.col.eq(1),
                ]
                m.next = "MATVEC"
            with m.Case(Opcode.VADD, Opcode.VMUL):
                n_last = count_last(isa.Opcode.VADD, "n")
                m.d.sync += [
                    self.act.eq(va.act),
                    r.is_vmul.eq(opcode == Opcode.VMUL),
                    self.shift.eq(vm.shift),
                    r.rows_last.eq(n_last >> exact_log2(lanes)),
                    r.tail_mask.eq(self._lanes_in_tail(n_last)),
                    r.x_ptr.eq(va.a_addr + xo),
                    r.b_ptr.eq(va.b_addr),
                    r.y_ptr.eq(va.y_addr + yo),
                ]
                m.next = "VECTOR"
            with m.Case(Opcode.SETLUT):
                m.d.sync += [r.w_ptr.eq(sl.w_addr),
                             r.rows_last.eq(isa.lut_words(lanes) - 1)]
                m.next = "SETLUT"
            with m.Case(Opcode.LOOP):
                m.d.comb += loop.load.valid.eq(1)
                m.d.comb += [getattr(loop.load.payload, f.name).eq(getattr(lp, f.name))
                             for f in isa.FORMATS[isa.Opcode.LOOP]]
            with m.Case(Opcode.SEND):
                send = self.net.send
                m.d.comb += [send.valid.eq(1), send.payload.dest_x.eq(sd.dest_x),
                             send.payload.dest_y.eq(sd.dest_y), send.payload.length.eq(sd.n),
                             send.payload.tag.eq(sd.tag), send.payload.addr.eq(sd.addr + xo),
                             send.payload.to_host.eq(sd.to_host)]
                m.next = "NET"
            with m.Case(Opcode.RECV):
                recv = self.net.recv
                m.d.comb += [recv.valid.eq(1), recv.payload.tag.eq(rv.tag),
                             recv.payload.length.eq(rv.n), recv.payload.addr.eq(rv.addr + yo)]
                m.next = "NET"

    def _run_states(self, m: Module, r: _Registers) -> None:
        """The states that read one word per cycle: MATVEC, VECTOR (VADD, VMUL), SETLUT."""
        ones = Const((1 << self.lanes) - 1, self.lanes)

        def after_reads(drain_cycles: Any) -> None:
            m.d.sync += r.drain.eq(drain_cycles - 1)
            m.next = "DRAIN"

        with m.State("MATVEC"):
            # One weight word per cycle: per row, the header then `wpr` weight words. The
            # first header was read in DECODE, so the reads end a cycle before the contract's
            # beat cycles do and the drain is a cycle longer.
            first, last = r.col == 0, r.col == r.wpr
            tag = self.issue.mac.payload
            m.d.comb += [self.busy.eq(1), self.w_rd.addr.eq(r.w_ptr), self.x_rd.addr.eq(r.x_ptr),
                         self.issue.mac.valid.eq(1), tag.header.eq(first), tag.last.eq(last),
                         tag.mask.eq(Mux(last, r.tail_mask, ones)), tag.row.eq(r.row)]
            m.d.sync += [r.w_ptr.eq(r.w_ptr + 1), r.x_ptr.eq(r.x_ptr + 1)]
            with m.If(first):
                m.d.sync += r.x_ptr.eq(r.x_base)
            with m.If(last):
                m.d.sync += [r.col.eq(0), r.row.eq(r.row + 1)]
                with m.If(r.row == r.rows_last):
                    after_reads(Mux(self.act == Activation.LUT,
                                    isa.MATVEC_DRAIN_CYCLES + isa.LUT_CYCLES + 1,
                                    isa.MATVEC_DRAIN_CYCLES + 1))
            with m.Else():
                m.d.sync += r.col.eq(r.col + 1)

        with m.State("VECTOR"):
            # VADD/VMUL: one word of a and of b per cycle.
            vector = self.issue.vector
            last = r.row == r.rows_last
            m.d.comb += [self.busy.eq(1), self.x_rd.addr.eq(r.x_ptr), self.b_rd.addr.eq(r.b_ptr),
                         vector.valid.eq(1), vector.payload.vmul.eq(r.is_vmul),
                         vector.payload.tag.addr.eq(r.y_ptr),
                         vector.payload.tag.mask.eq(Mux(last, r.tail_mask, ones))]
            m.d.sync += [r.x_ptr.eq(r.x_ptr + 1), r.b_ptr.eq(r.b_ptr + 1),
                         r.y_ptr.eq(r.y_ptr + 1), r.row.eq(r.row + 1)]
            with m.If(last):
                after_reads(Mux(r.is_vmul, isa.VMUL_DRAIN_CYCLES, isa.VADD_DRAIN_CYCLES))

        with m.State("SETLUT"):
            # One table word per cycle.
            m.d.comb += [self.busy.eq(1), self.w_rd.addr.eq(r.w_ptr),
                         self.issue.lut.valid.eq(1), self.issue.lut.payload.addr.eq(r.row)]
            m.d.sync += [r.w_ptr.eq(r.w_ptr + 1), r.row.eq(r.row + 1)]
            with m.If(r.row == r.rows_last):
                after_reads(isa.SETLUT_DRAIN_CYCLES)

    def _lanes_in_tail(self, last_index: Any) -> Any:
        """Mask of lanes used in the last word of a vector whose last element is
        `last_index`."""
        lane_bits = exact_log2(self.lanes)
        return Cat(Const(1, 1), *(last_index[:lane_bits] >= i for i in range(1, self.lanes)))
