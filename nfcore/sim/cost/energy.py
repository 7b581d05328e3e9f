"""The energy table and the per-event energies of one core derived from it.

Every energy NF-Core reports is a count of events times a per-event energy from a table in
`nfcore/sim/tables/energy/` (one YAML file per table; each row names its source, and rows
that are not a published figure say so with `assumption: true` and a reason). This module
loads and validates a table and turns it into the per-event energies of a configured core
(`EventEnergies`). Nothing else in the package holds an energy constant.

SRAM read energy
----------------
The source quotes one 64-bit read from arrays of 8 KiB, 32 KiB and 1 MiB. For another size
the energy is interpolated linearly in log(size)-log(energy) between the two neighbouring
points (between 8 and 32 KiB that is a square-root law, `10 pJ * sqrt(size / 8 KiB)`).
Outside the quoted range the energy is **clamped** to the nearest point: an array smaller
than 8 KiB is charged the 8 KiB figure, one larger than 1 MiB the 1 MiB figure. Clamping
never charges less than a published figure, so small arrays (the scratchpad, the
instruction memory) are if anything over-charged; reports list the arrays it applied to.

A read of `bits` bits is charged `bits / 64` times the 64-bit figure: the per-bit column
energy (bitlines, sense amplifiers, output wires) is taken to dominate, and the decoder and
wordline share is not modelled separately. A write is a read of the same bits times
`sram_write_to_read_ratio` (an assumption row).

Scale and node
--------------
The table is quoted at one node (`node_nm`); a config at another `technology.node_nm` moves
every on-chip energy, leakage included, by the node factors of `nodes.py` (Stillmaker and
Baas 2017; DRAM and HBM rows are not moved). `technology.energy_scale` then multiplies every
energy. Both are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfcore.arch import isa
from nfcore.config import (
    ENERGY_TABLES_DIR,
    NFCoreConfig,
    energy_table_names,
    energy_table_path,
    read_yaml,
)
from nfcore.errors import ConfigError
from nfcore.sim.cost.nodes import node_scaling

TABLES_DIR = ENERGY_TABLES_DIR

UNITS = ("pJ", "pJ/bit", "pJ/bit/mm", "uW", "uW/KiB", "x")
"""Units a row may have. Energies are pJ; leakage is a power, uW."""

REQUIRED_ROWS: dict[str, str] = {
    "add_int8": "pJ",
    "add_int32": "pJ",
    "mult_int8": "pJ",
    "mult_int32": "pJ",
    "sram_write_to_read_ratio": "x",
    "leakage_sram_uw_per_kib": "uW/KiB",
    "leakage_core_uw": "uW",
    "wbuf_read_64b": "pJ",
}
"""Rows the core model reads, with the unit each must have. SRAM read points (rows with
`array_bytes`, unit pJ, for a 64-bit read) are required too: at least one."""

SRAM_POINT_WORD_BITS = 64
"""Word width the table's SRAM read points are quoted for."""

INSTR_BYTES = isa.INSTR_BITS // 8

NOT_MODELLED = (
    "clock distribution and sequencer/decoder logic dynamic energy (no sourced figure; the "
    "control component is instruction-memory reads only)",
    "SRAM decoder and wordline energy separately from the per-bit scaling of the 64-bit figure",
    "the power-gated state: the core leaks at its full rate whenever it is simulated",
    "power gating of weight sub-banks that hold no weights: every sub-bank leaks at the full "
    "rate (an over-estimate), and the reuse buffer's own leakage",
)
"""What the energy model leaves out; reports print this list."""

CHARGING_RULES = (
    "adder-tree and accumulator adds are charged the 32-bit add energy (operands are 16 to "
    "32 bits; the table has 8- and 32-bit adds only): an upper bound",
    "the requant multiply (32-bit accumulator x 16-bit multiplier) is charged half the "
    "32-bit multiply energy: an array multiplier's energy goes as the product of its operand "
    "widths (the table's 8- and 32-bit multiplies, 0.2 and 3.1 pJ, are 15.5x apart for 16x "
    "the width product)",
    "lanes whose weight byte is a row's zero padding are gated: their multiplies and adder-tree "
    "adds are not charged (the row's last word still reads the padding)",
    "ReLU and saturation compares are not charged",
)
"""How events map to table rows where the table has no exact match (`events.py` applies
them); reports print this list."""

_ROW_KEYS = {"name", "value", "unit", "source", "assumption", "reason", "array_bytes"}


class EnergyTableError(ConfigError):
    """An energy table is missing, not valid YAML, or has an invalid row."""


@dataclass(frozen=True)
class EnergyRow:
    """One row of an energy table: a figure, its unit and where it comes from."""

    name: str
    value: float
    unit: str
    source: str
    assumption: bool = False
    reason: str = ""
    array_bytes: int | None = None
    """For SRAM read points: the array size the 64-bit read energy was quoted for."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": self.value, "unit": self.unit,
                               "source": self.source, "assumption": self.assumption}
        if self.reason:
            out["reason"] = self.reason
        if self.array_bytes is not None:
            out["array_bytes"] = self.array_bytes
        return out


@dataclass(frozen=True)
class EnergyTable:
    """A validated energy table. Values are as written in the file (not scaled)."""

    name: str
    path: Path
    node_nm: int | None
    rows: dict[str, EnergyRow]

    @classmethod
    def load(cls, name_or_path: str | Path) -> EnergyTable:
        """Load a table by name (a file in `nfcore/sim/tables/energy/`) or by path.

        A string with no path separator and no `.yaml`/`.yml` suffix is a name.
        Raises `EnergyTableError` naming the file, the row and the key at fault.
        """
        text = str(name_or_path)
        path = energy_table_path(text)
        if not path.is_file():
            known = ", ".join(energy_table_names())
            raise EnergyTableError(
                f"energy table {text!r} not found (looked for {path}); known tables: {known}"
            )
        return cls.from_dict(read_yaml(path, EnergyTableError), path)

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> EnergyTable:
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise EnergyTableError(f"{path}: a table is a mapping with a list under 'rows'")
        rows: dict[str, EnergyRow] = {}
        for i, raw in enumerate(data["rows"]):
            row = _parse_row(raw, f"{path}: rows[{i}]")
            if row.name in rows:
                raise EnergyTableError(f"{path}: rows[{i}]: duplicate row name {row.name!r}")
            rows[row.name] = row
        for name, unit in REQUIRED_ROWS.items():
            if name not in rows:
                raise EnergyTableError(f"{path}: missing required row {name!r} (unit {unit})")
            if rows[name].unit != unit:
                raise EnergyTableError(
                    f"{path}: row {name!r} has unit {rows[name].unit!r}; expected {unit!r}"
                )
        table = cls(name=str(data.get("name", path.stem)), path=path,
                    node_nm=data.get("node_nm"), rows=rows)
        if not table.sram_points():
            raise EnergyTableError(
                f"{path}: no SRAM read points (rows with array_bytes and unit pJ)"
            )
        return table

    def value(self, name: str) -> float:
        """The unscaled value of row `name`."""
        try:
            return self.rows[name].value
        except KeyError:
            raise EnergyTableError(f"{self.path}: no row {name!r}") from None

    def sram_points(self) -> list[EnergyRow]:
        """SRAM 64-bit read points, smallest array first."""
        pts = [r for r in self.rows.values() if r.array_bytes is not None]
        return sorted(pts, key=lambda r: r.array_bytes or 0)

    def sram_read_64b_pj(self, array_bytes: int) -> float:
        """Unscaled energy of one 64-bit read from an array of `array_bytes` bytes.

        Log-log interpolation between the neighbouring points; clamped outside them.
        """
        if array_bytes <= 0:
            raise EnergyTableError(f"SRAM array size must be positive, got {array_bytes}")
        pts = [(float(r.array_bytes or 0), r.value) for r in self.sram_points()]
        if array_bytes <= pts[0][0]:
            return pts[0][1]
        if array_bytes >= pts[-1][0]:
            return pts[-1][1]
        for (s0, e0), (s1, e1) in zip(pts, pts[1:], strict=False):
            if s0 <= array_bytes <= s1:
                t = math.log(array_bytes / s0) / math.log(s1 / s0)
                return math.exp(math.log(e0) + t * (math.log(e1) - math.log(e0)))
        raise AssertionError("unreachable: points are sorted")  # pragma: no cover

    def sram_clamped(self, array_bytes: int) -> bool:
        """Whether `array_bytes` lies outside the quoted range (its energy is clamped)."""
        pts = self.sram_points()
        return not (pts[0].array_bytes or 0) <= array_bytes <= (pts[-1].array_bytes or 0)


def _parse_row(raw: Any, where: str) -> EnergyRow:
    if not isinstance(raw, dict):
        raise EnergyTableError(f"{where}: a row is a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _ROW_KEYS)
    if unknown:
        raise EnergyTableError(
            f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_ROW_KEYS))}"
        )
    for key in ("name", "value", "unit", "source"):
        if key not in raw:
            raise EnergyTableError(f"{where}: missing key {key!r}")
    name = raw["name"]
    where = f"{where} ({name})"
    value = raw["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise EnergyTableError(f"{where}: value must be a number >= 0, got {value!r}")
    if raw["unit"] not in UNITS:
        raise EnergyTableError(
            f"{where}: unit {raw['unit']!r} is not one of {', '.join(UNITS)}"
        )
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise EnergyTableError(f"{where}: source must be a non-empty citation")
    assumption = raw.get("assumption", False)
    if not isinstance(assumption, bool):
        raise EnergyTableError(f"{where}: assumption must be true or false")
    reason = str(raw.get("reason", "")).strip()
    if assumption and not reason:
        raise EnergyTableError(f"{where}: an assumption row needs a one-line 'reason'")
    array_bytes = raw.get("array_bytes")
    if array_bytes is not None and (
        isinstance(array_bytes, bool) or not isinstance(array_bytes, int) or array_bytes <= 0
        or raw["unit"] != "pJ"
    ):
        raise EnergyTableError(
            f"{where}: array_bytes must be a positive integer on a pJ row, got {array_bytes!r}"
        )
    return EnergyRow(name=str(name), value=float(value), unit=raw["unit"],
                     source=" ".join(raw["source"].split()), assumption=assumption,
                     reason=" ".join(reason.split()), array_bytes=array_bytes)


# --- Per-event energies of a configured core ----------------------------------------------


@dataclass(frozen=True)
class EventEnergies:
    """Energy of each event a core counts, in pJ, with the node factor and `energy_scale`
    already applied.

    Derived from one table and one config; `events.energy_by_component` multiplies these by
    event counts.
    """

    energy_scale: float
    node_factor: float
    """The logic factor from the table's node to the config's (`nodes.NodeScaling.logic`)."""
    weight_word_read_pj: float
    """One read of a `lanes`-byte word from one weight SRAM sub-bank
    (`core.subbank_bytes`)."""
    wbuf_word_read_pj: float
    """One read of a `lanes`-byte word from the weight reuse buffer."""
    wbuf_word_write_pj: float
    """One write of a `lanes`-byte word into the weight reuse buffer (its fill)."""
    act_word_read_pj: float
    """One read of a `lanes`-byte word from the activation scratchpad."""
    act_word_write_pj: float
    """One write of a whole `lanes`-byte scratchpad word (host input)."""
    act_byte_write_pj: float
    """One byte-enabled write of one byte into the scratchpad (datapath outputs)."""
    imem_read_pj: float
    """One 64-bit instruction fetch from the instruction memory."""
    mult_int8_pj: float
    add_int8_pj: float
    add_int32_pj: float
    requant_mult_pj: float
    """One requantization multiply (32-bit accumulator x `isa.MULT_BITS`-bit multiplier)."""
    leakage_pj_per_cycle: float
    """Leakage of the core's SRAM (weights + scratchpad + instruction memory) and logic,
    over one clock cycle."""

    @classmethod
    def of(cls, cfg: NFCoreConfig, table: EnergyTable) -> EventEnergies:
        node = node_scaling(table.node_nm, cfg.technology.node_nm).logic
        s = cfg.technology.energy_scale * node
        word_bits = cfg.core.lanes * 8

        def read(array_bytes: int, bits: int) -> float:
            return s * table.sram_read_64b_pj(array_bytes) * bits / SRAM_POINT_WORD_BITS

        w = table.value("sram_write_to_read_ratio")
        act = cfg.core.act_sram_bytes
        leak_uw = (table.value("leakage_sram_uw_per_kib") * sram_kib(cfg)
                   + table.value("leakage_core_uw"))
        return cls(
            energy_scale=cfg.technology.energy_scale,
            node_factor=node,
            weight_word_read_pj=read(cfg.core.subbank_bytes, word_bits),
            wbuf_word_read_pj=s * table.value("wbuf_read_64b") * word_bits / SRAM_POINT_WORD_BITS,
            wbuf_word_write_pj=w * s * table.value("wbuf_read_64b") * word_bits
            / SRAM_POINT_WORD_BITS,
            act_word_read_pj=read(act, word_bits),
            act_word_write_pj=w * read(act, word_bits),
            act_byte_write_pj=w * read(act, 8),
            imem_read_pj=read(imem_bytes(cfg), isa.INSTR_BITS),
            mult_int8_pj=s * table.value("mult_int8"),
            add_int8_pj=s * table.value("add_int8"),
            add_int32_pj=s * table.value("add_int32"),
            requant_mult_pj=s * table.value("mult_int32") * isa.MULT_BITS / 32,
            # uW / MHz = 1e-6 W / 1e6 Hz = 1e-12 J: microwatts over megahertz is pJ per cycle.
            leakage_pj_per_cycle=s * leak_uw / cfg.technology.clock_mhz,
        )

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def imem_bytes(cfg: NFCoreConfig) -> int:
    """Instruction memory size in bytes (64-bit instructions)."""
    return cfg.core.imem_depth * INSTR_BYTES


def sram_kib(cfg: NFCoreConfig) -> float:
    """KiB of SRAM in one core that leaks: weights, scratchpad and instruction memory."""
    return (cfg.core.weight_sram_bytes + cfg.core.act_sram_bytes + imem_bytes(cfg)) / 1024


ROWS_USED = ("mult_int8", "add_int8", "add_int32", "mult_int32", "sram_write_to_read_ratio",
             "leakage_sram_uw_per_kib", "leakage_core_uw", "wbuf_read_64b")
"""Rows the core model reads, besides the SRAM read points."""


def energy_model_summary(cfg: NFCoreConfig, table: EnergyTable | None = None) -> dict[str, Any]:
    """What a report prints about the energy model: table, scale, rows used, derived
    per-event energies, and every assumption (rows marked as such, clamped arrays, what is
    not modelled). JSON-serialisable."""
    table = table or EnergyTable.load(cfg.technology.energy_table)
    used = [table.rows[n] for n in ROWS_USED] + table.sram_points()
    arrays = {"weight SRAM sub-bank": cfg.core.subbank_bytes,
              "activation scratchpad": cfg.core.act_sram_bytes,
              "instruction memory": imem_bytes(cfg)}
    scaling = node_scaling(table.node_nm, cfg.technology.node_nm)
    assumptions = [
        f"node: table {table.name} is quoted at {table.node_nm} nm; this config is at "
        f"{cfg.technology.node_nm} nm: on-chip energies x {scaling.logic:.4g} (logic, SRAM, "
        f"routers, leakage), wires x {scaling.wire:.4g}, DRAM/HBM x 1 (Stillmaker and Baas "
        "2017; see technology.nodes)",
        f"technology.energy_scale = {cfg.technology.energy_scale:g}: multiplies every energy "
        "after the node factors",
        "SRAM read energy: log-log interpolation between the table's points, clamped outside "
        "them; scaled by bits/64 for the word width",
    ]
    for label, size in arrays.items():
        if table.sram_clamped(size):
            assumptions.append(
                f"{label} ({size} bytes) is outside the table's SRAM range: charged the "
                f"{table.sram_read_64b_pj(size):g} pJ point (clamped)"
            )
    assumptions += [f"{r.name} = {r.value:g} {r.unit}: {r.reason}"
                    for r in used if r.assumption]
    assumptions += list(CHARGING_RULES)
    assumptions += [f"not modelled: {item}" for item in NOT_MODELLED]
    return {
        "table": table.name,
        "table_path": str(table.path),
        "energy_scale": cfg.technology.energy_scale,
        "node_nm": cfg.technology.node_nm,
        "node_scaling": scaling.to_dict(),
        "clock_mhz": cfg.technology.clock_mhz,
        "sram_kib_leaking": sram_kib(cfg),
        "rows": [r.to_dict() for r in used],
        "per_event_pj": EventEnergies.of(cfg, table).to_dict(),
        "assumptions": assumptions,
    }
