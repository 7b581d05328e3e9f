"""Silicon area of a configured chip, from the sourced table `tables/area/area_nodes.yaml`.

A core's area, in um^2, at node `cfg.technology.node_nm`:

    SRAM       (weight_sram_bytes + act_sram_bytes + imem bytes) * 8 * bitcell_um2(node)
               / sram_array_efficiency
               + (weight_subbanks - 1) * subbank_periphery_bitcells * bitcell_um2(node)
    reuse buf  wbuf_bytes * 8 * latch_to_bitcell_area * bitcell_um2(node)
    MAC lanes  lanes * (mult_int8_um2 + add_int32_um2) * logic_scale(node)
               (one 8-bit multiplier per lane, and one 32-bit add per lane for the adder tree
               and accumulator; the same charging rule as the energy model)
    requant    mult_int32_um2 * logic_scale(node)   (the 32 x 16-bit requant multiplier)
    router     (lanes * 8) * router_um2_per_flit_bit * logic_scale(node)

and the chip is `mesh.rows * mesh.cols` cores. `logic_scale(node)` is the ratio of the node's
SRAM bit cell to the bit cell of the node the logic rows are quoted at (`logic_node_nm`): an
assumption (logic density taken to track SRAM density), listed in `area_summary`.

Not modelled (listed too): the sequencer and instruction decoder, the activation LUT, clock
tree, the host and DRAM interfaces, and any whitespace between cores; the chip's footprint
by `mesh.core_pitch_mm` is reported beside the modelled area for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfcore.config import NFCoreConfig, read_yaml
from nfcore.errors import ConfigError
from nfcore.sim.cost.energy import imem_bytes

TABLES_DIR = Path(__file__).resolve().parent.parent / "tables" / "area"
DEFAULT_TABLE = "area_nodes"
UNITS = ("um2", "um2/bit", "x")
REQUIRED_ROWS = {"sram_bitcell_um2": "um2", "sram_array_efficiency": "x",
                 "add_int32_um2": "um2", "mult_int8_um2": "um2", "mult_int32_um2": "um2",
                 "router_um2_per_flit_bit": "um2/bit", "subbank_periphery_bitcells": "x",
                 "latch_to_bitcell_area": "x"}
_ROW_KEYS = {"name", "node_nm", "value", "unit", "source", "assumption", "reason"}

NOT_MODELLED = (
    "sequencer, instruction decoder and activation lookup table logic",
    "clock tree, power grid, host and DRAM interfaces, whitespace between cores",
)


class AreaTableError(ConfigError):
    """An area table is missing, invalid, or has no figure for the configured node."""


@dataclass(frozen=True)
class AreaRow:
    name: str
    value: float
    unit: str
    source: str
    node_nm: int | None = None
    assumption: bool = False
    reason: str = ""


@dataclass(frozen=True)
class AreaTable:
    """A validated area table; `rows[(name, node_nm)]`, node None for node-free rows."""

    name: str
    path: Path
    logic_node_nm: int
    rows: dict[tuple[str, int | None], AreaRow]

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_TABLE) -> AreaTable:
        text = str(name_or_path)
        is_name = "/" not in text and not text.endswith((".yaml", ".yml"))
        path = TABLES_DIR / f"{text}.yaml" if is_name else Path(text)
        try:
            data = read_yaml(path, AreaTableError)
        except OSError as exc:
            raise AreaTableError(f"area table {text!r}: cannot read {path}: "
                                 f"{exc.strerror}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise AreaTableError(f"{path}: a table is a mapping with a list under 'rows'")
        if not isinstance(data.get("logic_node_nm"), int):
            raise AreaTableError(f"{path}: logic_node_nm must be an integer (nm)")
        rows: dict[tuple[str, int | None], AreaRow] = {}
        for i, raw in enumerate(data["rows"]):
            row = _parse_row(raw, f"{path}: rows[{i}]")
            key = (row.name, row.node_nm)
            if key in rows:
                raise AreaTableError(f"{path}: rows[{i}]: duplicate row {key}")
            rows[key] = row
        table = cls(str(data.get("name", path.stem)), path, data["logic_node_nm"], rows)
        for name, unit in REQUIRED_ROWS.items():
            found = [r for (n, _), r in rows.items() if n == name]
            if not found:
                raise AreaTableError(f"{path}: missing required row {name!r} (unit {unit})")
            if any(r.unit != unit for r in found):
                raise AreaTableError(f"{path}: row {name!r} must have unit {unit!r}")
        table.bitcell_um2(table.logic_node_nm)
        return table

    def nodes(self) -> list[int]:
        return sorted(n for (name, n) in self.rows if name == "sram_bitcell_um2"
                      and n is not None)

    def row(self, name: str, node_nm: int | None = None) -> AreaRow:
        """The row for `node_nm`, else the node-free row."""
        found = self.rows.get((name, node_nm)) or self.rows.get((name, None))
        if found is None:
            raise AreaTableError(f"{self.path}: no row {name!r} for {node_nm} nm")
        return found

    def bitcell_um2(self, node_nm: int) -> float:
        if ("sram_bitcell_um2", node_nm) not in self.rows:
            raise AreaTableError(
                f"technology.node_nm = {node_nm}: area table {self.name} has no SRAM bit cell "
                f"for that node; nodes with a sourced figure: "
                f"{', '.join(map(str, self.nodes()))}")
        return self.rows[("sram_bitcell_um2", node_nm)].value

    def logic_scale(self, node_nm: int) -> float:
        """Area factor from `logic_node_nm` to `node_nm` (ratio of SRAM bit cells)."""
        return self.bitcell_um2(node_nm) / self.bitcell_um2(self.logic_node_nm)

    def logic_um2(self, name: str, node_nm: int) -> float:
        return self.row(name, self.logic_node_nm).value * self.logic_scale(node_nm)


@dataclass(frozen=True)
class CoreArea:
    """One core's area by component, in um^2."""

    weight_sram_um2: float
    """The weight SRAM's sub-banks, each beyond the first with its periphery."""
    wbuf_um2: float
    """The weight reuse buffer (a latch array)."""
    act_sram_um2: float
    imem_um2: float
    mac_lanes_um2: float
    requant_um2: float
    router_um2: float

    @property
    def total_um2(self) -> float:
        return sum(self.to_dict().values())

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def core_area(cfg: NFCoreConfig, table: AreaTable | None = None) -> CoreArea:
    """Area of one core of `cfg` (see the module docstring for the formula)."""
    table = table or AreaTable.load()
    node = cfg.technology.node_nm
    bitcell = table.bitcell_um2(node)
    per_byte = 8 * bitcell / table.row("sram_array_efficiency", node).value
    lanes = cfg.core.lanes
    periphery = table.row("subbank_periphery_bitcells", node).value * bitcell
    return CoreArea(
        weight_sram_um2=cfg.core.weight_sram_bytes * per_byte
        + (cfg.core.weight_subbanks - 1) * periphery,
        wbuf_um2=cfg.core.wbuf_bytes * 8 * table.row("latch_to_bitcell_area", node).value
        * bitcell,
        act_sram_um2=cfg.core.act_sram_bytes * per_byte,
        imem_um2=imem_bytes(cfg) * per_byte,
        mac_lanes_um2=lanes * (table.logic_um2("mult_int8_um2", node)
                               + table.logic_um2("add_int32_um2", node)),
        requant_um2=table.logic_um2("mult_int32_um2", node),
        router_um2=lanes * 8 * table.logic_um2("router_um2_per_flit_bit", node),
    )


def chip_area_mm2(cfg: NFCoreConfig, table: AreaTable | None = None) -> float:
    """Modelled area of all `mesh.rows * mesh.cols` cores, in mm^2."""
    return cfg.mesh.rows * cfg.mesh.cols * core_area(cfg, table).total_um2 / 1e6


def area_summary(cfg: NFCoreConfig, table: AreaTable | None = None) -> dict[str, Any]:
    """Area figures and every assumption behind them; JSON-serialisable."""
    table = table or AreaTable.load()
    node = cfg.technology.node_nm
    core = core_area(cfg, table)
    n_cores = cfg.mesh.rows * cfg.mesh.cols
    assumptions = [f"{r.name} = {r.value:g} {r.unit}: {r.reason}"
                   for r in table.rows.values() if r.assumption]
    if node != table.logic_node_nm:
        assumptions.append(
            f"logic areas quoted at {table.logic_node_nm} nm scaled by "
            f"{table.logic_scale(node):.3f} (ratio of SRAM bit cells) to {node} nm")
    assumptions += [f"not modelled: {item}" for item in NOT_MODELLED]
    return {
        "table": table.name, "node_nm": node,
        "chip_mm2": n_cores * core.total_um2 / 1e6,
        "core_mm2": core.total_um2 / 1e6,
        "core_by_component_mm2": {k: v / 1e6 for k, v in core.to_dict().items()},
        "pitch_footprint_mm2": n_cores * cfg.mesh.core_pitch_mm ** 2,
        "assumptions": assumptions,
    }


def _parse_row(raw: Any, where: str) -> AreaRow:
    if not isinstance(raw, dict):
        raise AreaTableError(f"{where}: a row is a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _ROW_KEYS)
    if unknown:
        raise AreaTableError(f"{where}: unknown key {unknown[0]!r}; allowed: "
                             f"{', '.join(sorted(_ROW_KEYS))}")
    for key in ("name", "value", "unit", "source"):
        if key not in raw:
            raise AreaTableError(f"{where}: missing key {key!r}")
    where = f"{where} ({raw['name']})"
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise AreaTableError(f"{where}: value must be a number > 0, got {value!r}")
    if raw["unit"] not in UNITS:
        raise AreaTableError(f"{where}: unit {raw['unit']!r} is not one of {', '.join(UNITS)}")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise AreaTableError(f"{where}: source must be a non-empty citation")
    node = raw.get("node_nm")
    if node is not None and (isinstance(node, bool) or not isinstance(node, int) or node <= 0):
        raise AreaTableError(f"{where}: node_nm must be a positive integer, got {node!r}")
    assumption = raw.get("assumption", False)
    reason = " ".join(str(raw.get("reason", "")).split())
    if assumption and not reason:
        raise AreaTableError(f"{where}: an assumption row needs a one-line 'reason'")
    return AreaRow(str(raw["name"]), float(value), raw["unit"], " ".join(raw["source"].split()),
                   node, bool(assumption), reason)
