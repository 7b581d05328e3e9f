"""Verilog of the NF-Core blocks, for `nfcore verilog` and the Verilator simulations.

The array and the mesh are hierarchical by default: one text holds every distinct module
once (the core, one router module per set of ports, and their submodules) and the top, made
of instances of them (`nfcore.hdl.blackbox`; the top's ports are the flat design's). The
default 16 x 16 array is then 2.6 MB and 59 modules, written with 18 s of CPU (a flat one: 180 MB,
3,841 modules, 33 minutes; docs/fpga.md, "Hierarchical Verilog"). `flat=True` writes one
Verilog module per instance, as Amaranth does for a design without black boxes.

Every text goes through `compact_zero_inits`: Yosys' `write_verilog` initialises a memory
with one statement per word, 9,000 per core (the weight SRAM alone: 8,192), and Verilator
copies them into every instance (2.3 GB of the 6.1 GB it took to lint the 16 x 16 array); a
loop says the same in one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from amaranth.back import verilog
from amaranth.lib import wiring

from nfcore.config import NFCoreConfig
from nfcore.errors import ConfigError
from nfcore.hdl.blackbox import Hierarchy
from nfcore.hdl.core import MicroCore, check_core
from nfcore.hdl.core_array import CoreArray
from nfcore.hdl.mesh import Mesh
from nfcore.hdl.router import MeshRouter

_ZERO_INIT = re.compile(
    r"^  reg (?P<width>\[\d+:0\] )?(?P<name>\\\S+ |[A-Za-z_]\w*) \[(?P<last>\d+):0\];\n"
    r"  initial begin\n(?P<words>(?:    (?P=name)\[\d+\] = \d+'h0+;\n)+)  end\n", re.M)
"""A memory as `write_verilog` declares it, with an `initial` block that sets words to 0
(a name is plain, or escaped: a backslash, the name and a space)."""


def compact_zero_inits(text: str) -> str:
    """`text` with each memory whose `initial` block sets every word to 0 initialised by a
    loop instead (same contents; a memory with other initial values is left as it is)."""
    def loop(match: re.Match[str]) -> str:
        last, name = int(match["last"]), match["name"]
        if match["words"].count("\n") != last + 1:  # not every word
            return match[0]
        bare = name.strip().lstrip("\\")
        i = f"\\{bare}$zero "  # the loop variable: an escaped name, as Yosys writes them
        index = f"{i}[{max(1, last.bit_length()) - 1}:0]"
        return (f"  reg {match['width'] or ''}{name} [{last}:0];\n  integer {i};\n"
                f"  initial for ({i} = 0; {i} <= {last}; {i} = {i} + 1) {name}[{index}] = 0;\n")
    return _ZERO_INIT.sub(loop, text)


def _convert(design: wiring.Component, name: str, *, compact: bool = True) -> str:
    """Verilog text of `design` as module `name` (`compact_zero_inits` applied if
    `compact`)."""
    text = verilog.convert(design, name=name, emit_src=False)
    return compact_zero_inits(text) if compact else text


def emit_core_verilog(cfg: NFCoreConfig, name: str = "nfcore_core") -> str:
    """Verilog text of a `MicroCore` for `cfg.core`, with top-level module `name`.

    Ports: `clk`, `rst` (synchronous, active high) and the component's ports with `__`
    between levels, e.g. `cmd__valid`, `cmd__payload`, `rsp__payload`, `last_run_cycles`.
    """
    return _convert(_core(cfg, None), name)


def _core(cfg: NFCoreConfig, hierarchy: Hierarchy | None) -> wiring.Component:
    check_core(cfg.core)
    return MicroCore(config=cfg.core)


def _router(cfg: NFCoreConfig, hierarchy: Hierarchy | None) -> wiring.Component:
    return MeshRouter(lanes=cfg.core.lanes, x=0, y=0)


def _mesh(cfg: NFCoreConfig, hierarchy: Hierarchy | None) -> wiring.Component:
    return Mesh(lanes=cfg.core.lanes, rows=cfg.mesh.rows, cols=cfg.mesh.cols,
                hierarchy=hierarchy)


def _array(cfg: NFCoreConfig, hierarchy: Hierarchy | None) -> wiring.Component:
    return CoreArray(config=cfg, hierarchy=hierarchy)


TOPS: dict[str, Callable[[NFCoreConfig, Hierarchy | None], wiring.Component]] = {
    "core": _core,
    "router": _router,
    "mesh": _mesh,
    "array": _array,
}
"""Top-level blocks `nfcore verilog --top` can write, made from the config and, for the
blocks of `HIERARCHICAL`, a `Hierarchy` (None: flat): the micro-core; one router (at (0, 0),
flit width from core.lanes); the mesh of mesh.rows x mesh.cols routers with the host port;
the array of mesh.rows x mesh.cols cores on that mesh (`nfcore.hdl.core_array`)."""

HIERARCHICAL = frozenset({"mesh", "array"})
"""The blocks made of instances of other blocks, hierarchical unless asked flat."""


def emit(cfg: NFCoreConfig, top: str, name: str, *, flat: bool = False) -> str:
    """Verilog text of block `top` (a key of `TOPS`) for `cfg`, top module `name`.
    Ports are the component's with `__` between levels (arrays: `local_in__<y>__<x>__valid`).
    A block of `HIERARCHICAL` is written hierarchically (`emit_hierarchical`) unless `flat`."""
    if top not in TOPS:
        raise ConfigError(f"--top {top!r} is not a block; choose one of {', '.join(TOPS)}")
    if flat or top not in HIERARCHICAL:
        return _convert(TOPS[top](cfg, None), name)
    hierarchy = Hierarchy(prefix=name)
    return emit_hierarchical(TOPS[top](cfg, hierarchy), hierarchy, name)


def emit_modules(hierarchy: Hierarchy, *, compact: bool = True) -> str:
    """The Verilog of every black box of `hierarchy`, each as its module (with its own
    submodules, named `<module>.<path>`). `compact=False` keeps Yosys' word-by-word memory
    initialisation, which Yosys reads at once, where it takes 83 s of CPU to unroll the
    weight SRAM's loop (the FPGA flow; Verilator is the other way round)."""
    return "".join(_convert(box.design, box.name, compact=compact) for box in hierarchy.boxes)


def emit_hierarchical(design: wiring.Component, hierarchy: Hierarchy, name: str) -> str:
    """One Verilog text: the modules of `hierarchy`'s boxes, then `design`, made of
    instances of them, as module `name`."""
    return emit_modules(hierarchy) + _convert(design, name)
