"""Event counts of each instruction, and the energy of a set of events by component.

The counts follow the microarchitecture that `nfcore.arch.isa` describes (row-serial MATVEC,
one weight word and one input word per cycle, an adder tree across the lanes):

MATVEC rows R, cols C, on L lanes, with W = ceil(C / L) weight-data words per row:

* weight SRAM word reads: R * (1 + W): one per body cycle, the row's header word included
  (from the reuse buffer instead when it holds the region, below);
* scratchpad word reads: R * W: one word of x per weight-data word;
* int8 multiplies: R * C: lanes whose weight byte is the zero padding of a row's last word
  are gated;
* adder-tree adds: R * (C - W): a tree over a word's active lanes (k lanes, k - 1 adds);
* accumulator adds: R * (W + 1): one per word into the accumulator (which starts at the
  bias read from the header, so the bias costs no add) and one rounding add in requant;
* requant multiplies: R (accumulator x 16-bit multiplier), charged half a 32-bit multiply;
* scratchpad byte writes: R (one output byte per row, byte-enabled).

VADD n on L lanes, with W = ceil(n / L): 2W scratchpad word reads, W * L int8 adds (every
lane adds), n byte writes. VMUL: the same reads and writes, W * L int8 multiplies and W * L
rounding adds (charged as int8 adds). SETLUT: 256 / L weight word reads. SEND n: n scratchpad
word reads; RECV n: n scratchpad word writes. Every instruction (HALT and LOOP included) is
one 64-bit instruction memory read; a LOOP body's instructions are fetched in every
iteration. Cycles are `isa.cycles` (SEND/RECV without network stalls). Compares (ReLU,
saturation) are not counted. Not yet counted (no sourced energy in the table): LUT reads
and writes, and network flits (links and routers).

The weight reuse buffer (`core.wbuf_bytes`, `program_events`): in a LOOP, the first body
MATVEC whose weight region (`isa.matvec_region_words`) fits the buffer claims it until the
LOOP ends. Its first iteration reads the SRAM and writes each word into the buffer; the later
iterations read the buffer instead of the SRAM (a conv kernel across positions, an RNN cell
across steps). Cycles do not change: the buffer serves one word a cycle as the SRAM does.

The host writes a request's input into the scratchpad a word per cycle and reads the output
a word per cycle (`host_io_events`).

Adder-tree and accumulator adds are charged at the 32-bit add energy: the tree's operands
grow from 16 to 16 + log2(L) bits and the table has 8- and 32-bit figures only, so this is
an upper bound.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from nfcore.arch import isa
from nfcore.arch.isa import Instruction, Opcode
from nfcore.config import NFCoreConfig
from nfcore.errors import ISAError
from nfcore.sim.cost.energy import EnergyTable, EventEnergies

COMPONENTS = ("mac", "weight_sram", "act_sram", "control", "leakage")
"""Energy components, in the order reports show them. `mac` is all datapath arithmetic
(multiplies, adds, requant), `weight_sram` the weight memory (SRAM sub-bank reads and the
reuse buffer's reads and fills; the events keep them apart), `control` is instruction fetch,
`leakage` is static power over the cycles counted."""


@dataclass(frozen=True)
class Events:
    """Counts of the events that cost energy. Events add with `+`; all counts are >= 0."""

    cycles: int = 0
    instr_fetches: int = 0
    weight_word_reads: int = 0
    act_word_reads: int = 0
    act_word_writes: int = 0
    act_byte_writes: int = 0
    mults_int8: int = 0
    adds_int8: int = 0
    adds_tree: int = 0
    adds_acc: int = 0
    requant_mults: int = 0
    wbuf_word_reads: int = 0
    wbuf_word_writes: int = 0

    def __add__(self, other: Events) -> Events:
        if not isinstance(other, Events):
            return NotImplemented
        return Events(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self))

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def events_of(instr: Instruction, lanes: int) -> Events:
    """The events one execution of `instr` causes on a core with `lanes` lanes."""
    cycles = isa.cycles(instr, lanes)
    if instr.op in (Opcode.HALT, Opcode.LOOP):
        return Events(cycles=cycles, instr_fetches=1)
    if instr.op is Opcode.MATVEC:
        return dataclasses.replace(matvec_events(instr.rows, instr.cols, lanes), cycles=cycles,
                                   instr_fetches=1)
    if instr.op is Opcode.VADD:
        w = isa.words_for(instr.n, lanes)
        return Events(cycles=cycles, instr_fetches=1, act_word_reads=2 * w,
                      act_byte_writes=instr.n, adds_int8=w * lanes)
    if instr.op is Opcode.VMUL:
        w = isa.words_for(instr.n, lanes)
        return Events(cycles=cycles, instr_fetches=1, act_word_reads=2 * w,
                      act_byte_writes=instr.n, mults_int8=w * lanes, adds_int8=w * lanes)
    if instr.op is Opcode.SETLUT:
        return Events(cycles=cycles, instr_fetches=1, weight_word_reads=isa.lut_words(lanes))
    if instr.op is Opcode.SEND:
        return Events(cycles=cycles, instr_fetches=1, act_word_reads=instr.n)
    if instr.op is Opcode.RECV:
        return Events(cycles=cycles, instr_fetches=1, act_word_writes=instr.n)
    raise ISAError(f"no event model for {instr.op.name}")  # pragma: no cover


def matvec_events(rows: int, cols: int, lanes: int) -> Events:
    """The datapath and SRAM events of one MATVEC of `rows` x `cols` on `lanes` lanes (no
    cycles, no instruction fetch): padded lanes, the adder tree, the accumulator and one
    requant per row, as the module docstring counts them. Analytic baselines charge a
    layer with it, so they count MACs as the core does."""
    w = isa.words_for(cols, lanes)
    return Events(
        weight_word_reads=rows * (1 + w),
        act_word_reads=rows * w,
        act_byte_writes=rows,
        mults_int8=rows * cols,
        adds_tree=rows * (cols - w),
        adds_acc=rows * (w + 1),
        requant_mults=rows,
    )


def program_events(program: Sequence[Instruction], lanes: int,
                   wbuf_words: int = 0) -> list[Events]:
    """The events of each instruction a run of `program` executes, in the order of
    `isa.executed_instructions`, on a core with `lanes` lanes and a weight reuse buffer of
    `wbuf_words` words (0: none), as the module docstring describes."""
    out: list[Events] = []
    k = 0
    while k < len(program):
        instr = program[k]
        out.append(events_of(instr, lanes))
        if instr.op is Opcode.HALT:
            break
        if instr.op is Opcode.LOOP:
            body = program[k + 1 : k + 1 + instr.body]
            out += _loop_events(body, instr.count, lanes, wbuf_words)
            k += instr.body
        k += 1
    return out


def _loop_events(body: Sequence[Instruction], count: int, lanes: int,
                 wbuf_words: int) -> list[Events]:
    """Events of a LOOP body run `count` times, the first fitting MATVEC buffered."""
    per_body = [events_of(i, lanes) for i in body]
    buffered = next((j for j, i in enumerate(body) if i.op is Opcode.MATVEC and
                     isa.matvec_region_words(i.rows, i.cols, lanes) <= wbuf_words), None)
    if buffered is None or count < 2:
        return per_body * count
    ev = per_body[buffered]
    fill = dataclasses.replace(ev, wbuf_word_writes=ev.weight_word_reads)
    hit = dataclasses.replace(ev, weight_word_reads=0, wbuf_word_reads=ev.weight_word_reads)
    first, later = list(per_body), list(per_body)
    first[buffered], later[buffered] = fill, hit
    return first + later * (count - 1)


def host_io_events(input_len: int, output_len: int, lanes: int) -> Events:
    """Host stream I/O of one request: write the input and read the output, a word a cycle."""
    w_in, w_out = isa.words_for(input_len, lanes), isa.words_for(output_len, lanes)
    return Events(cycles=w_in + w_out, act_word_writes=w_in, act_word_reads=w_out)


def component_energy_pj(events: Events, e: EventEnergies) -> dict[str, float]:
    """Energy of `events` in pJ by component (keys `COMPONENTS`), from per-event energies."""
    return {
        "mac": (events.mults_int8 * e.mult_int8_pj
                + (events.adds_tree + events.adds_acc) * e.add_int32_pj
                + events.adds_int8 * e.add_int8_pj
                + events.requant_mults * e.requant_mult_pj),
        "weight_sram": (events.weight_word_reads * e.weight_word_read_pj
                        + events.wbuf_word_reads * e.wbuf_word_read_pj
                        + events.wbuf_word_writes * e.wbuf_word_write_pj),
        "act_sram": (events.act_word_reads * e.act_word_read_pj
                     + events.act_word_writes * e.act_word_write_pj
                     + events.act_byte_writes * e.act_byte_write_pj),
        "control": events.instr_fetches * e.imem_read_pj,
        "leakage": events.cycles * e.leakage_pj_per_cycle,
    }


def energy_by_component(events: Events, cfg: NFCoreConfig,
                        table: EnergyTable) -> dict[str, float]:
    """Energy of `events` on a core configured by `cfg`, in pJ by component.

    Every energy is scaled by `cfg.technology.energy_scale`.
    """
    return component_energy_pj(events, EventEnergies.of(cfg, table))
