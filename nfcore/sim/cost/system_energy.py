"""Per-event energies of the whole chip: the cores, the mesh, the DRAM channel, power states.

Extends `energy.EventEnergies` (one core) with the energies the system model charges, all
read from the same energy table, moved to the config's node (`nodes.py`: wires by the
supply's square, routers and SRAM leakage as logic, DRAM and HBM not at all) and scaled by
`technology.energy_scale`:

* network, per flit: a flit of `noc.flit_bits(lanes)` bits costs
  `bits * core_pitch_mm * wire_pj_per_bit_mm` per router-to-router hop and
  `bits * router_pj_per_bit` per router it passes through. A packet over `h` hops passes
  `h + 1` routers (source and destination routers included), so a packet of `F` flits costs
  `F * (h * wire_per_flit_hop + (h + 1) * router_per_flit)`;
* DRAM, per byte: `8 * dram_read_64b_low / 64` for `dram.kind = ddr` (the low end of
  Horowitz's 1.3 to 2.6 nJ per 64-bit read: the figure least favourable to residency) or
  `8 * hbm_pj_per_bit` for `hbm`;
* wake-up, per wake of a gated core: `wakeup_leakage_cycles` cycles of the core's active
  leakage;
* gated leakage, per cycle: `gated_sram_leakage_fraction` of the SRAM part of the core's
  leakage if `power.gated_retains_sram`, else zero (the core is fully off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nfcore.arch import noc
from nfcore.config import NFCoreConfig
from nfcore.sim.cost.energy import EnergyTable, EventEnergies, energy_model_summary, sram_kib
from nfcore.sim.cost.nodes import node_scaling

SYSTEM_ROWS_USED = ("wire_pj_per_bit_mm", "router_pj_per_bit", "dram_read_64b_low",
                    "dram_read_64b_high", "hbm_pj_per_bit", "gated_sram_leakage_fraction",
                    "wakeup_leakage_cycles")
"""Rows the system model reads besides the core's (`energy.ROWS_USED`)."""

MAC_COMPONENTS = ("mac", "weight_sram", "act_sram", "control")
SYSTEM_COMPONENTS = ("mac", "weight_sram", "act_sram", "control", "network", "dram",
                     "leakage", "wakeup", "router")
"""Energy components of a request in the system model, in report order. `router` is all of
the on-chip router's run (its events, packets, leakage and wake-ups), the others the
trees'."""


@dataclass(frozen=True)
class SystemEnergies:
    """Energies in pJ with `energy_scale` applied; `core` holds one core's event energies."""

    core: EventEnergies
    flit_bits: int
    wire_pj_per_flit_hop: float
    """One flit over one router-to-router link of `core_pitch_mm`."""
    router_pj_per_flit: float
    """One flit through one router."""
    weight_word_write_pj: float
    """One word written into the weight SRAM (a paged tree's weights arriving)."""
    dram_pj_per_byte: float
    wakeup_pj: float
    """One wake of a gated core."""
    gated_leakage_pj_per_cycle: float
    """Leakage of a gated core holding weights, per cycle."""

    @classmethod
    def of(cls, cfg: NFCoreConfig, table: EnergyTable) -> SystemEnergies:
        s = cfg.technology.energy_scale
        node = node_scaling(table.node_nm, cfg.technology.node_nm)
        core = EventEnergies.of(cfg, table)
        bits = noc.flit_bits(cfg.core.lanes)
        if cfg.dram.kind == "ddr":
            dram_pj_per_bit = table.value("dram_read_64b_low") / 64
        else:
            dram_pj_per_bit = table.value("hbm_pj_per_bit")
        sram_leak_pj = (s * node.logic * table.value("leakage_sram_uw_per_kib") * sram_kib(cfg)
                        / cfg.technology.clock_mhz)
        gated = (table.value("gated_sram_leakage_fraction") * sram_leak_pj
                 if cfg.power.gated_retains_sram else 0.0)
        return cls(
            core=core,
            flit_bits=bits,
            wire_pj_per_flit_hop=s * node.row_factor("wire_pj_per_bit_mm") * bits
            * cfg.mesh.core_pitch_mm * table.value("wire_pj_per_bit_mm"),
            router_pj_per_flit=s * node.row_factor("router_pj_per_bit") * bits
            * table.value("router_pj_per_bit"),
            weight_word_write_pj=table.value("sram_write_to_read_ratio")
            * core.weight_word_read_pj,
            dram_pj_per_byte=s * 8 * dram_pj_per_bit,
            wakeup_pj=table.value("wakeup_leakage_cycles") * core.leakage_pj_per_cycle,
            gated_leakage_pj_per_cycle=gated,
        )

    def packet_pj(self, flits: int, hops: int) -> float:
        """Network energy of one packet of `flits` flits over `hops` hops."""
        return flits * (hops * self.wire_pj_per_flit_hop + (hops + 1) * self.router_pj_per_flit)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if k != "core"}
        out["core"] = self.core.to_dict()
        return out


def leakage_pj_from_state_cycles(energies: SystemEnergies,
                                 counters: Mapping[Any, Mapping[str, int]]) -> float:
    """Leakage energy in pJ of cores that spent the given cycles in each power state:
    `counters` maps each core to its `active_cycles`, `idle_cycles` and `gated_cycles` (the
    array RTL's counters, `nfcore.hdl.power`, or the models' `core_state_cycles`). Active
    and idle cycles leak at the core's full rate (a waking core counts as active), gated
    ones at `gated_leakage_pj_per_cycle`. The one place where state cycles become leakage:
    the system model (`nfcore.sim.system.model`) and a run of the RTL both call it."""
    full = sum(c["active_cycles"] + c["idle_cycles"] for c in counters.values())
    gated = sum(c["gated_cycles"] for c in counters.values())
    return full * energies.core.leakage_pj_per_cycle + \
        gated * energies.gated_leakage_pj_per_cycle


def wakeup_pj_from_state_cycles(energies: SystemEnergies,
                                counters: Mapping[Any, Mapping[str, int]]) -> float:
    """Wake-up energy in pJ of the `wakes` in `counters` (as `leakage_pj_from_state_cycles`)."""
    return sum(c["wakes"] for c in counters.values()) * energies.wakeup_pj


def system_energy_summary(cfg: NFCoreConfig, table: EnergyTable | None = None) -> dict[str, Any]:
    """`energy.energy_model_summary` plus the system rows, energies and assumptions."""
    table = table or EnergyTable.load(cfg.technology.energy_table)
    summary = energy_model_summary(cfg, table)
    summary["rows"] += [table.rows[n].to_dict() for n in SYSTEM_ROWS_USED]
    e = SystemEnergies.of(cfg, table)
    summary["system_per_event_pj"] = {k: v for k, v in e.to_dict().items() if k != "core"}
    # The single-core model's "not modelled: power-gated state" does not hold here.
    summary["assumptions"] = [a for a in summary["assumptions"] if "power-gated" not in a]
    summary["assumptions"] += [
        f"{table.rows[n].name} = {table.rows[n].value:g} {table.rows[n].unit}: "
        f"{table.rows[n].reason}" for n in SYSTEM_ROWS_USED if table.rows[n].assumption]
    summary["assumptions"] += [
        f"DRAM energy: dram.kind = {cfg.dram.kind}; ddr uses the low end (1.3 nJ per 64-bit "
        "read) of Horowitz's range, the figure least favourable to keeping weights resident",
        "network: a packet passes hops + 1 routers and hops links of mesh.core_pitch_mm = "
        f"{cfg.mesh.core_pitch_mm:g} mm; the host and DRAM edge links are not charged",
        "leakage: active and idle cores leak at the full rate; gated cores at "
        "gated_sram_leakage_fraction of their SRAM leakage when power.gated_retains_sram, "
        "else zero; cores holding no tree are off",
    ]
    return summary
