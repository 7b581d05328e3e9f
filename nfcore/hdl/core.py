"""`MicroCore`: one NF-Core micro-core in Amaranth.

The core holds three memories (weight SRAM, activation scratchpad, instruction memory), a
sequencer that fetches and decodes 64-bit instructions, and the datapaths of
`nfcore.hdl.datapath`. Field positions, header layout and cycle counts come from
`nfcore.isa`; sizes come from `CoreConfig`.

Host interface
--------------
* `cmd` (stream in): one command per beat, see `CmdKind`. Accepted only while the core is
  idle; `ready` is low while a program runs or a READ_ACT is being answered.
* `rsp` (stream out): the words asked for by READ_ACT, in address order; `last` marks the
  final word. Honours `ready` (backpressure).
* `busy`: a program runs. `done`: one-cycle pulse in the cycle the program ends (HALT
  decoded, or an illegal instruction). `last_run_cycles`: the cycles of the last program,
  from the cycle after RUN was accepted to the `done` cycle, inclusive; by the timing
  contract this is `sum(isa.cycles(i, lanes))` over the executed instructions.
  `error`: the last program stopped at an illegal instruction (an opcode this core does not
  implement, reserved bits set, or an activation other than NONE/RELU); cleared by RUN.

Timing (cycles of one instruction): FETCH (instruction memory read), DECODE, then one cycle
per weight word (MATVEC) or operand word (VADD) read, then the datapath drains. HALT ends in
its DECODE cycle.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from nfcore import isa
from nfcore.config import CoreConfig
from nfcore.errors import ConfigError
from nfcore.hdl.datapath import (
    Activation,
    MacRequant,
    Opcode,
    VaddUnit,
    act_write_layout,
    isa_field,
    mac_tag_layout,
    vadd_tag_layout,
)

CYCLE_COUNTER_BITS = 32
ADDR_BITS = max(isa.WEIGHT_ADDR_BITS, isa.ACT_ADDR_BITS, isa.PC_BITS)


class CmdKind(enum.Enum, shape=3):  # type: ignore[call-arg]
    """Host commands. Write commands carry one word of `data` for address `addr`."""

    WRITE_WEIGHT = 0
    WRITE_ACT = 1
    WRITE_PROG = 2  # data[63:0] is the instruction
    RUN = 3  # run from pc 0 until HALT
    READ_ACT = 4  # send `count` scratchpad words from `addr` on rsp


def cmd_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({
        "kind": CmdKind,
        "addr": unsigned(ADDR_BITS),
        "count": unsigned(isa.ACT_ADDR_BITS + 1),
        "data": unsigned(lanes * 8),
    })


def rsp_layout(lanes: int) -> data.StructLayout:
    return data.StructLayout({"data": unsigned(lanes * 8), "last": unsigned(1)})


def instr_layout(op: isa.Opcode) -> data.FlexibleLayout:
    """The encoding of `op` as a view over a 64-bit word: fields hold stored values
    (value - offset)."""
    fields = {"op": data.Field(Opcode, 0)}
    for f in isa.FORMATS[op]:
        fields[f.name] = data.Field(Activation if f.name == "act" else unsigned(f.width), f.lsb)
    return data.FlexibleLayout(isa.INSTR_BITS, fields)


def validate(core: CoreConfig) -> None:
    """Raise ConfigError if the RTL cannot be built for `core`."""
    lanes = core.lanes
    if lanes < isa.HEADER_BYTES or lanes & (lanes - 1):
        raise ConfigError(
            f"core.lanes = {lanes}: the RTL needs a power of two >= {isa.HEADER_BYTES} "
            f"(the MATVEC row header and a 64-bit instruction fit in one word)"
        )
    for key, value, bits in (
        ("core.weight_words", core.weight_words, isa.WEIGHT_ADDR_BITS),
        ("core.act_words", core.act_words, isa.ACT_ADDR_BITS),
        ("core.imem_depth", core.imem_depth, isa.PC_BITS),
    ):
        if not 2 <= value <= 1 << bits:
            raise ConfigError(f"{key} = {value} is out of range; allowed 2 to {1 << bits}")
    if not 16 <= core.acc_bits <= 32:
        raise ConfigError(f"core.acc_bits = {core.acc_bits} is out of range; allowed 16 to 32")


class MicroCore(wiring.Component):
    """One micro-core; see the module docstring for the interface and timing."""

    def __init__(self, *, config: CoreConfig) -> None:
        try:
            validate(config)
        except ConfigError:
            self._MustUse__silence = True  # not built, so not "created but never used"
            raise
        self.config = config
        lanes = config.lanes
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(lanes))),
            "rsp": Out(stream.Signature(rsp_layout(lanes))),
            "busy": Out(1),
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
        x_rd, b_rd = amem.read_port(), amem.read_port()  # x/a/READ_ACT, and VADD's b
        act_wr = amem.write_port(granularity=8)
        i_rd, i_wr = imem.read_port(), imem.write_port()

        m.submodules.mac = mac = MacRequant(lanes=lanes, acc_bits=cfg.acc_bits)
        m.submodules.vadd = vadd = VaddUnit(lanes=lanes)
        # A beat meets its read data one cycle after the read; the drain of the timing
        # contract is that cycle plus the datapath latency.
        assert 1 + mac.LATENCY == isa.MATVEC_DRAIN_CYCLES, "MacRequant vs MATVEC_DRAIN_CYCLES"
        assert 1 + vadd.LATENCY == isa.VADD_DRAIN_CYCLES, "VaddUnit vs VADD_DRAIN_CYCLES"

        cmd, rsp = self.cmd, self.rsp
        ones = Const((1 << lanes) - 1, lanes)

        # -- Program state and the cycle counter ------------------------------------------
        pc = Signal(isa.PC_BITS)
        cycles = Signal(CYCLE_COUNTER_BITS)
        m.d.comb += i_rd.addr.eq(pc)
        with m.If(self.busy):
            m.d.sync += cycles.eq(cycles + 1)
        with m.If(self.done):
            m.d.sync += self.last_run_cycles.eq(cycles + 1)

        # -- Decoded instruction, latched in DECODE --------------------------------------
        instr = i_rd.data
        implemented = (isa.Opcode.HALT, isa.Opcode.MATVEC, isa.Opcode.VADD)
        views = {op: instr_layout(op)(instr) for op in implemented}
        mv, va = views[isa.Opcode.MATVEC], views[isa.Opcode.VADD]
        opcode = views[isa.Opcode.HALT].op
        legal = Signal()  # implemented opcode, reserved bits clear, act NONE or RELU
        with m.Switch(opcode):
            for op, view in views.items():
                with m.Case(Opcode[op.name]):
                    ok = instr[isa.reserved_lsb(op):] == 0
                    if any(f.name == "act" for f in isa.FORMATS[op]):
                        ok &= (view.act == Activation.NONE) | (view.act == Activation.RELU)
                    m.d.comb += legal.eq(ok)

        act = Signal(Activation)
        rows_last = Signal(isa.COUNT_BITS)  # rows - 1, or VADD words - 1
        row = Signal(isa.COUNT_BITS)  # output row, or VADD word index
        wpr = Signal(isa.COUNT_BITS)  # MATVEC words per row (excluding the header)
        col = Signal(isa.COUNT_BITS)  # 0 = header, 1..wpr = weight words
        tail_mask = Signal(lanes)  # lanes of the last word of a row/vector in use
        w_ptr = Signal(isa.WEIGHT_ADDR_BITS)
        x_base, x_ptr, b_ptr, y_base, y_ptr = (Signal(isa.ACT_ADDR_BITS, name=n) for n in
                                               ("x_base", "x_ptr", "b_ptr", "y_base", "y_ptr"))
        drain = Signal(range(max(isa.MATVEC_DRAIN_CYCLES, isa.VADD_DRAIN_CYCLES, 1)))

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
        m.d.sync += [mac.beat.valid.eq(0), vadd.beat.valid.eq(0)]
        m.d.comb += [
            mac.beat.payload.w.eq(w_rd.data),
            mac.beat.payload.x.eq(x_rd.data),
            mac.beat.payload.tag.eq(mv_tag),
            mac.act.eq(act),
            vadd.beat.payload.a.eq(x_rd.data),
            vadd.beat.payload.b.eq(b_rd.data),
            vadd.beat.payload.tag.eq(va_tag),
            vadd.act.eq(act),
        ]

        # -- Scratchpad write port: datapath results, else host writes --------------------
        host_write = Signal(act_write_layout(lanes))
        with m.If(mac.result.valid):
            res = mac.result.payload
            m.d.comb += [
                act_wr.addr.eq(y_base + (res.row >> lane_bits)),
                act_wr.data.eq(res.y.as_unsigned().replicate(lanes)),
                act_wr.en.eq(Const(1, lanes) << res.row[:lane_bits]),
            ]
        with m.Elif(vadd.result.valid):
            res = vadd.result.payload
            m.d.comb += [act_wr.addr.eq(res.addr), act_wr.data.eq(res.data),
                         act_wr.en.eq(res.mask)]
        with m.Else():
            m.d.comb += [act_wr.addr.eq(host_write.addr), act_wr.data.eq(host_write.data),
                         act_wr.en.eq(host_write.mask)]

        # -- READ_ACT response ------------------------------------------------------------
        rd_left = Signal(isa.ACT_ADDR_BITS + 1)
        m.d.comb += [rsp.payload.data.eq(x_rd.data), rsp.payload.last.eq(rd_left == 0)]

        def after_reads(m: Module, drain_cycles: int) -> None:
            if drain_cycles:
                m.d.sync += drain.eq(drain_cycles - 1)
                m.next = "DRAIN"
            else:
                m.next = "FETCH"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += cmd.ready.eq(1)
                c = cmd.payload
                with m.If(cmd.valid), m.Switch(c.kind):
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
                        m.d.sync += [pc.eq(0), cycles.eq(0), self.error.eq(0)]
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
                m.next = "DECODE"

            with m.State("DECODE"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [pc.eq(pc + 1), row.eq(0), col.eq(0)]
                with m.If(~legal):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += self.error.eq(1)
                    m.next = "IDLE"
                with m.Elif(opcode == Opcode.HALT):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
                with m.Elif(opcode == Opcode.MATVEC):
                    cols_last = count_last(isa.Opcode.MATVEC, "cols")
                    m.d.sync += [
                        act.eq(mv.act),
                        rows_last.eq(count_last(isa.Opcode.MATVEC, "rows")),
                        wpr.eq((cols_last >> lane_bits) + 1),
                        tail_mask.eq(lanes_in_tail(cols_last)),
                        w_ptr.eq(mv.w_addr),
                        x_base.eq(mv.x_addr),
                        y_base.eq(mv.y_addr),
                    ]
                    m.next = "MATVEC"
                with m.Else():  # VADD
                    n_last = count_last(isa.Opcode.VADD, "n")
                    m.d.sync += [
                        act.eq(va.act),
                        rows_last.eq(n_last >> lane_bits),
                        tail_mask.eq(lanes_in_tail(n_last)),
                        x_ptr.eq(va.a_addr),
                        b_ptr.eq(va.b_addr),
                        y_ptr.eq(va.y_addr),
                    ]
                    m.next = "VADD"

            with m.State("MATVEC"):
                # One weight word per cycle: per row, the header then `wpr` weight words.
                m.d.comb += [self.busy.eq(1), w_rd.addr.eq(w_ptr), x_rd.addr.eq(x_ptr)]
                header = col == 0
                last = col == wpr
                m.d.sync += [
                    w_ptr.eq(w_ptr + 1),
                    x_ptr.eq(x_ptr + 1),
                    mac.beat.valid.eq(1),
                    mv_tag.header.eq(header),
                    mv_tag.last.eq(last),
                    mv_tag.mask.eq(ones),
                    mv_tag.row.eq(row),
                ]
                with m.If(header):
                    m.d.sync += x_ptr.eq(x_base)
                with m.If(last):
                    m.d.sync += [mv_tag.mask.eq(tail_mask), col.eq(0), row.eq(row + 1)]
                    with m.If(row == rows_last):
                        after_reads(m, isa.MATVEC_DRAIN_CYCLES)
                with m.Else():
                    m.d.sync += col.eq(col + 1)

            with m.State("VADD"):
                # One word of a and of b per cycle.
                m.d.comb += [self.busy.eq(1), x_rd.addr.eq(x_ptr), b_rd.addr.eq(b_ptr)]
                last = row == rows_last
                m.d.sync += [
                    x_ptr.eq(x_ptr + 1),
                    b_ptr.eq(b_ptr + 1),
                    y_ptr.eq(y_ptr + 1),
                    row.eq(row + 1),
                    vadd.beat.valid.eq(1),
                    va_tag.addr.eq(y_ptr),
                    va_tag.mask.eq(ones),
                ]
                with m.If(last):
                    m.d.sync += va_tag.mask.eq(tail_mask)
                    after_reads(m, isa.VADD_DRAIN_CYCLES)

            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.next = "FETCH"

        return m
