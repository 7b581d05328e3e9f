"""Verilog of one micro-core, for `nfcore verilog` and the Verilator simulations."""

from __future__ import annotations

from amaranth.back import verilog

from nfcore.config import NFCoreConfig
from nfcore.hdl.core import MicroCore


def emit_core(cfg: NFCoreConfig, name: str = "nfcore_core") -> str:
    """Verilog text of a `MicroCore` for `cfg.core`, with top-level module `name`.

    Ports: `clk`, `rst` (synchronous, active high) and the component's ports with `__`
    between levels, e.g. `cmd__valid`, `cmd__payload`, `rsp__payload`, `last_run_cycles`.
    """
    core = MicroCore(config=cfg.core)
    return verilog.convert(core, name=name, emit_src=False)
