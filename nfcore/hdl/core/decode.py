"""Instruction decode for the sequencer: the opcode and activation shapes, field views of the
64-bit encodings, and legality. Everything comes from `nfcore.arch.isa`."""

from __future__ import annotations

import types
from enum import IntEnum
from typing import Any

from amaranth.hdl import Module, Signal, Value, signed, unsigned
from amaranth.lib import data, enum

from nfcore.arch import isa

__all__ = ["Activation", "Opcode", "field_shape", "hw_enum", "instr_layout", "isa_field",
           "legal"]


def hw_enum(py_enum: type[IntEnum], bits: int) -> Any:
    """An Amaranth enum shape with the members of `py_enum`, so waveforms show names."""

    def body(ns: dict[str, Any]) -> None:
        for member in py_enum:
            ns[member.name] = member.value

    return types.new_class(py_enum.__name__, (enum.Enum,), {"shape": bits}, body)


def isa_field(op: isa.Opcode, name: str) -> isa.Field:
    for f in isa.FORMATS[op]:
        if f.name == name:
            return f
    raise KeyError(f"{op.name} has no field {name!r}")


Opcode = hw_enum(isa.Opcode, isa.OPCODE_BITS)
Activation = hw_enum(isa.Activation, isa_field(isa.Opcode.MATVEC, "act").width)


def field_shape(f: isa.Field) -> Any:
    """The shape of field `f`'s stored value (signed fields two's complement)."""
    if f.name == "act":
        return Activation
    return signed(f.width) if f.signed else unsigned(f.width)


def instr_layout(op: isa.Opcode) -> data.FlexibleLayout:
    """The encoding of `op` as a view over a 64-bit word: fields hold stored values
    (value - offset; signed fields two's complement)."""
    fields = {"op": data.Field(Opcode, 0)}
    for f in isa.FORMATS[op]:
        fields[f.name] = data.Field(field_shape(f), f.lsb)
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
