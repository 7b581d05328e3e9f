"""The micro-core RTL (Amaranth), its Verilog emission and its Verilator simulation."""

from nfcore.hdl.core import CmdKind, MicroCore

__all__ = ["CmdKind", "MicroCore"]
