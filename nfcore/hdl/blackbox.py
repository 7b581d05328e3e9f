"""Black boxes: blocks that a hierarchical top instantiates by Verilog module name.

A flat Amaranth design becomes one Verilog module per *instance* of every block (a 16 x 16
array: 3,841 modules, 180 MB). A hierarchical top instead holds `amaranth.hdl.Instance`s of
named modules, each defined once: a `BlackBox` pairs a module name with the component that
defines it, and `Hierarchy` makes each distinct one once. `nfcore.eda.verilog` writes every
box's component as its module beside the top; the top's Amaranth netlist sees only the
instances. A box's component must not depend on where it is instantiated (per-place
parameters are its input ports, tied to constants by each instance).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from amaranth.hdl import ClockSignal, Instance, ResetSignal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In

__all__ = ["BlackBox", "Hierarchy"]


@dataclass(frozen=True)
class BlackBox:
    """Verilog module `name`, defined by `design` (a component with the `sync` domain)."""

    name: str
    design: wiring.Component

    def instance(self, **members: Any) -> Instance:
        """An instance whose ports are bound to `members`: each top-level member of the
        design's signature by name, to a value (a port) or an interface object with the same
        members (a stream, ...). The module's ports are named as `amaranth.back.verilog` names
        a top's: the member path joined by `__` (`cmd__valid`), plus `clk` and `rst`."""
        missing = set(self.design.signature.members) ^ set(members)
        assert not missing, f"{self.name}: bind exactly its members; differ: {sorted(missing)}"
        ports: dict[str, Any] = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in self.design.signature.flatten(SimpleNamespace(**members)):
            kind = "i" if member.flow == In else "o"
            ports[f"{kind}_{'__'.join(map(str, path))}"] = Value.cast(value)
        return Instance(self.name, **ports)


class Hierarchy:
    """The black boxes of one top, each distinct one made once. Module names are
    `<prefix>__<suffix>`, so that two tops' modules do not collide."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._boxes: dict[str, BlackBox] = {}

    def box(self, suffix: str, make: Callable[[], wiring.Component]) -> BlackBox:
        """The box `<prefix>__<suffix>`, made by `make()` the first time it is asked for."""
        name = f"{self.prefix}__{suffix}"
        if name not in self._boxes:
            self._boxes[name] = BlackBox(name, make())
        return self._boxes[name]

    @property
    def boxes(self) -> list[BlackBox]:
        """Every box made so far, in the order they were first asked for."""
        return list(self._boxes.values())
