"""Technology nodes: the factors that move an energy or a logic area from one node to another.

The factors come from `tables/nodes/stillmaker_baas_2017.yaml` (Stillmaker and Baas,
Integration 2017: fitted energy per node as a quadratic in the supply voltage, and
node-to-node area factors; nodes beyond the paper's 7 nm are marked assumptions there).

How an energy-table row moves from the table's node `x` to the config's node `y`
(`NodeScaling`), by what the row prices:

* on-chip logic and SRAM (arithmetic, SRAM reads, routers, leakage): `logic` =
  E_y(V_y) / E_x(V_x), the paper's energy ratio. SRAM reads are moved by this logic ratio
  and leakage power by it too: assumptions (the paper fits logic circuits' dynamic energy;
  SRAM bitlines and leakage scale less well, so a smaller node flatters SRAM-heavy designs);
* on-chip wires (`wire_pj_per_bit_mm`): `wire` = (V_y / V_x)^2. A wire's capacitance per mm
  barely changes with the node, so only the supply's square is credited: an assumption,
  and the less favourable one to a smaller node;
* off-chip memory (DRAM, HBM rows) and dimensionless rows (unit `x`): 1. They are not CMOS
  logic of the chip.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfcore.config import read_yaml
from nfcore.errors import ConfigError

NODES_TABLE = Path(__file__).resolve().parent.parent / "tables" / "nodes" / \
    "stillmaker_baas_2017.yaml"

WIRE_ROWS = ("wire_pj_per_bit_mm",)
"""Energy-table rows scaled as wires: by the supply's square."""
OFF_CHIP_ROWS = ("dram_read_64b_low", "dram_read_64b_high", "hbm_pj_per_bit")
"""Energy-table rows that price off-chip memory: not scaled with the chip's node."""


class NodeTableError(ConfigError):
    """The node table is invalid, or has no figure for a requested node."""


@dataclass(frozen=True)
class Node:
    """One node of the table: its energy relative to 45 nm, supply, logic area vs 45 nm."""

    node_nm: int
    energy_vs_45nm: float
    vdd_v: float
    area_vs_45nm: float
    source: str
    assumption: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NodeTable:
    name: str
    path: Path
    nodes: dict[int, Node]

    def node(self, node_nm: int) -> Node:
        """The row of `node_nm`; `NodeTableError` names the nodes the table has."""
        if node_nm not in self.nodes:
            raise NodeTableError(
                f"technology.node_nm = {node_nm}: the node table {self.name} has no factors "
                f"for that node; nodes: {', '.join(map(str, sorted(self.nodes)))}")
        return self.nodes[node_nm]


def load_node_table(path: str | Path = NODES_TABLE) -> NodeTable:
    """Load the node table; every node's energy is resolved relative to 45 nm."""
    path = Path(path)
    data = read_yaml(path, NodeTableError)
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
        raise NodeTableError(f"{path}: a node table is a mapping with a list under 'nodes'")
    raw = {}
    for i, row in enumerate(data["nodes"]):
        if not isinstance(row, dict) or not isinstance(row.get("node_nm"), int):
            raise NodeTableError(f"{path}: nodes[{i}]: needs an integer node_nm")
        if not str(row.get("source", "")).strip():
            raise NodeTableError(f"{path}: nodes[{i}] ({row['node_nm']} nm): needs a source")
        if row.get("assumption") and not str(row.get("reason", "")).strip():
            raise NodeTableError(f"{path}: nodes[{i}] ({row['node_nm']} nm): an assumption "
                                 "needs a reason")
        raw[row["node_nm"]] = row
    if 45 not in raw or "energy_coeffs" not in raw[45]:
        raise NodeTableError(f"{path}: the 45 nm node needs its energy_coeffs (the reference)")
    ref = _fit(raw[45], path)
    nodes: dict[int, Node] = {}

    def resolve(nm: int, depth: int = 0) -> Node:
        if nm in nodes:
            return nodes[nm]
        if nm not in raw or depth > len(raw):
            raise NodeTableError(f"{path}: node {nm} nm is referenced but not resolvable")
        row = raw[nm]
        if "energy_coeffs" in row:
            energy, area = _fit(row, path) / ref, _positive(row, "area_vs_45nm", path)
        else:
            base = resolve(_int(row, "relative_to_nm", path), depth + 1)
            energy = base.energy_vs_45nm * _positive(row, "energy_ratio", path)
            area = base.area_vs_45nm * _positive(row, "area_ratio", path)
        nodes[nm] = Node(nm, energy, _positive(row, "vdd_v", path), area,
                         " ".join(str(row["source"]).split()), bool(row.get("assumption")),
                         " ".join(str(row.get("reason", "")).split()))
        return nodes[nm]

    for nm in raw:
        resolve(nm)
    return NodeTable(str(data.get("name", path.stem)), path, dict(sorted(nodes.items())))


@functools.cache
def default_node_table() -> NodeTable:
    """The node table of `NODES_TABLE`, read once per process (it is not modified)."""
    return load_node_table()


def _fit(row: dict[str, Any], path: Path) -> float:
    """The paper's energy factor a V^2 + b V + c at the node's `vdd_v`."""
    coeffs = row.get("energy_coeffs")
    if not (isinstance(coeffs, list) and len(coeffs) == 3
            and all(isinstance(c, int | float) for c in coeffs)):
        raise NodeTableError(f"{path}: node {row['node_nm']} nm: energy_coeffs must be "
                             "[a, b, c]")
    v = _positive(row, "vdd_v", path)
    value = float(coeffs[0] * v * v + coeffs[1] * v + coeffs[2])
    if value <= 0:
        raise NodeTableError(f"{path}: node {row['node_nm']} nm: energy fit is {value:g} "
                             f"at {v:g} V; must be > 0")
    return value


def _positive(row: dict[str, Any], key: str, path: Path) -> float:
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or v <= 0:
        raise NodeTableError(f"{path}: node {row['node_nm']} nm: {key} must be a number > 0, "
                             f"got {v!r}")
    return float(v)


def _int(row: dict[str, Any], key: str, path: Path) -> int:
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise NodeTableError(f"{path}: node {row['node_nm']} nm: {key} must be an integer")
    return v


@dataclass(frozen=True)
class NodeScaling:
    """Factors from node `from_nm` (an energy table's) to node `to_nm` (a config's)."""

    from_nm: int
    to_nm: int
    logic: float
    """Energy of logic, SRAM and leakage: the paper's E_to(V_to) / E_from(V_from)."""
    wire: float
    """Energy of on-chip wires: (V_to / V_from)^2."""
    area: float
    """Logic area: area_vs_45nm(to) / area_vs_45nm(from)."""

    def row_factor(self, row: str) -> float:
        """The factor for energy-table row `row` (see the module docstring)."""
        if row in OFF_CHIP_ROWS:
            return 1.0
        return self.wire if row in WIRE_ROWS else self.logic

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def node_scaling(from_nm: int | None, to_nm: int,
                 table: NodeTable | None = None) -> NodeScaling:
    """The factors from `from_nm` to `to_nm`. The same node gives 1 everywhere, whether or not
    the table lists it; `from_nm` None (a table that names no node) only allows that."""
    if from_nm == to_nm:
        return NodeScaling(to_nm, to_nm, 1.0, 1.0, 1.0)
    if from_nm is None:
        raise NodeTableError(f"technology.node_nm = {to_nm}: the energy table names no "
                             "node (node_nm), so it cannot be scaled to another")
    table = table or default_node_table()
    a, b = table.node(from_nm), table.node(to_nm)
    return NodeScaling(from_nm, to_nm, b.energy_vs_45nm / a.energy_vs_45nm,
                       (b.vdd_v / a.vdd_v) ** 2, b.area_vs_45nm / a.area_vs_45nm)


def nodes_summary(from_nm: int | None, to_nms: dict[str, int]) -> dict[str, Any]:
    """What a report prints (`technology.nodes`): the table, every node's row, and the
    factors from the energy table's node to each named node (`to_nms`: label -> nm)."""
    table = default_node_table()
    return {
        "table": table.name,
        "energy_table_node_nm": from_nm,
        "scaling": {label: node_scaling(from_nm, nm, table).to_dict()
                    for label, nm in to_nms.items()},
        "nodes": [n.to_dict() for n in table.nodes.values()],
        "rules": [
            "logic, SRAM, routers and leakage: the paper's energy ratio (fitted on logic; "
            "SRAM reads and leakage moved by it too: assumptions that flatter SRAM-heavy "
            "designs at small nodes)",
            "on-chip wires: (V_to / V_from)^2 (an assumption)",
            "DRAM and HBM energies: not scaled (off-chip)",
            "logic area: the paper's factor is listed (scaling.area) but the area model "
            "(nfcore/sim/cost/area.py) uses the published SRAM bit cell of each node and "
            "scales logic by their ratio",
        ],
    }
