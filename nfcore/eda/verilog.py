"""Verilog of the NF-Core blocks, for `nfcore verilog` and the Verilator simulations."""

from __future__ import annotations

from collections.abc import Callable

from amaranth.back import verilog
from amaranth.lib import wiring

from nfcore.config import NFCoreConfig
from nfcore.errors import ConfigError
from nfcore.hdl.core import MicroCore, check_core
from nfcore.hdl.core_array import CoreArray
from nfcore.hdl.mesh import Mesh
from nfcore.hdl.router import MeshRouter


def emit_core_verilog(cfg: NFCoreConfig, name: str = "nfcore_core") -> str:
    """Verilog text of a `MicroCore` for `cfg.core`, with top-level module `name`.

    Ports: `clk`, `rst` (synchronous, active high) and the component's ports with `__`
    between levels, e.g. `cmd__valid`, `cmd__payload`, `rsp__payload`, `last_run_cycles`.
    """
    return verilog.convert(_core(cfg), name=name, emit_src=False)


def _core(cfg: NFCoreConfig) -> wiring.Component:
    check_core(cfg.core)
    return MicroCore(config=cfg.core)


def _router(cfg: NFCoreConfig) -> wiring.Component:
    return MeshRouter(lanes=cfg.core.lanes, x=0, y=0)


def _mesh(cfg: NFCoreConfig) -> wiring.Component:
    return Mesh(lanes=cfg.core.lanes, rows=cfg.mesh.rows, cols=cfg.mesh.cols)


def _array(cfg: NFCoreConfig) -> wiring.Component:
    return CoreArray(config=cfg)


TOPS: dict[str, Callable[[NFCoreConfig], wiring.Component]] = {
    "core": _core,
    "router": _router,
    "mesh": _mesh,
    "array": _array,
}
"""Top-level blocks `nfcore verilog --top` can write: the micro-core; one router (at (0, 0),
flit width from core.lanes); the mesh of mesh.rows x mesh.cols routers with the host port;
the array of mesh.rows x mesh.cols cores on that mesh (`nfcore.hdl.core_array`)."""


def emit(cfg: NFCoreConfig, top: str, name: str) -> str:
    """Verilog text of block `top` (a key of `TOPS`) for `cfg`, top module `name`.
    Ports are the component's with `__` between levels (arrays: `local_in__<y>__<x>__valid`)."""
    if top not in TOPS:
        raise ConfigError(f"--top {top!r} is not a block; choose one of {', '.join(TOPS)}")
    return verilog.convert(TOPS[top](cfg), name=name, emit_src=False)
