"""Instruction decode for `MicroCore`: field views of the 64-bit encodings, legality, and
the configurations the RTL can be built for. Everything comes from `nfcore.arch.isa`."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module, Signal, Value, signed, unsigned
from amaranth.lib import data

from nfcore.arch import isa
from nfcore.config import CoreConfig, check_field
from nfcore.errors import ConfigError
from nfcore.hdl.datapath import Activation, Opcode


def instr_layout(op: isa.Opcode) -> data.FlexibleLayout:
    """The encoding of `op` as a view over a 64-bit word: fields hold stored values
    (value - offset; signed fields two's complement)."""
    fields = {"op": data.Field(Opcode, 0)}
    for f in isa.FORMATS[op]:
        if f.name == "act":
            shape: Any = Activation
        else:
            shape = signed(f.width) if f.signed else unsigned(f.width)
        fields[f.name] = data.Field(shape, f.lsb)
    return data.FlexibleLayout(isa.INSTR_BITS, fields)


def legal(m: Module, instr: Value, loop_active: Value) -> Signal:
    """High when `instr` may run: a known opcode, reserved bits clear, an activation its
    opcode allows, and for LOOP no loop running and no mask bits at or above `body`."""
    ok = Signal()
    opcode = instr_layout(isa.Opcode.HALT)(instr).op
    with m.Switch(opcode):
        for op in isa.Opcode:
            view = instr_layout(op)(instr)
            with m.Case(Opcode[op.name]):
                check = instr[isa.reserved_lsb(op):] == 0
                if op in isa.ACTIVATIONS:
                    allowed = [view.act == Activation[a.name] for a in isa.ACTIVATIONS[op]]
                    check &= _any(allowed)
                if op is isa.Opcode.LOOP:
                    body = view.body + 1
                    check &= ~loop_active
                    check &= (view.x_mask >> body) == 0
                    check &= (view.y_mask >> body) == 0
                m.d.comb += ok.eq(check)
    return ok


def _any(terms: list[Any]) -> Any:
    out = terms[0]
    for t in terms[1:]:
        out = out | t
    return out


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
    check_field(CoreConfig, "acc_bits", core.acc_bits, "core.acc_bits")
