"""System energies (network, DRAM, wake-up, gated leakage): pinned, hand-computed numbers.

A change in these numbers is a change in the model: update them deliberately, with the
reason in the commit message.
"""

from __future__ import annotations

import pytest

from nfcore.config import NFCoreConfig
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.system_energy import SYSTEM_ROWS_USED, SystemEnergies, system_energy_summary

TABLE = EnergyTable.load("horowitz_45nm")


def test_new_rows_have_sources_and_assumptions_have_reasons() -> None:
    for name in SYSTEM_ROWS_USED:
        row = TABLE.rows[name]
        assert row.source and (not row.assumption or row.reason), name
    assert TABLE.value("router_pj_per_bit") == 0.1
    assert TABLE.value("wire_pj_per_bit_mm") == 0.1
    assert TABLE.value("hbm_pj_per_bit") == 4.0
    assert "O'Connor" in TABLE.rows["hbm_pj_per_bit"].source


def test_default_config_by_hand() -> None:
    """Default: 8 lanes -> 64-bit flits; pitch 0.5 mm; 500 MHz; scale 1.

    wire per flit-hop = 64 bit * 0.5 mm * 0.1 pJ/bit/mm = 3.2 pJ
    router per flit   = 64 bit * 0.1 pJ/bit = 6.4 pJ
    a 9-flit packet over 3 hops = 9 * (3 * 3.2 + 4 * 6.4) = 9 * 35.2 = 316.8 pJ
    DRAM (ddr) per byte = 8 * 1300 pJ / 64 = 162.5 pJ
    leakage per cycle = (70 KiB * 1 uW/KiB + 20 uW) / 500 MHz = 0.18 pJ
    wake-up = 100 cycles * 0.18 = 18 pJ
    gated (retains SRAM) = 0.1 * 70 KiB * 1 uW/KiB / 500 MHz = 0.014 pJ per cycle
    weight word write = 1 x the 64-bit read of an 8 KiB sub-bank = 10 pJ
    """
    e = SystemEnergies.of(NFCoreConfig(), TABLE)
    assert e.flit_bits == 64
    assert e.wire_pj_per_flit_hop == pytest.approx(3.2)
    assert e.router_pj_per_flit == pytest.approx(6.4)
    assert e.packet_pj(9, 3) == pytest.approx(316.8)
    assert e.packet_pj(2, 0) == pytest.approx(12.8)  # same router: no wire
    assert e.dram_pj_per_byte == pytest.approx(162.5)
    assert e.core.leakage_pj_per_cycle == pytest.approx(0.18)
    assert e.wakeup_pj == pytest.approx(18.0)
    assert e.gated_leakage_pj_per_cycle == pytest.approx(0.014)
    assert e.weight_word_write_pj == pytest.approx(10.0)


def test_hbm_pitch_lanes_and_scale() -> None:
    """hbm: 8 * 4 = 32 pJ per byte; pitch 1 mm and 16 lanes: 128 * 1 * 0.1 = 12.8 pJ per
    flit-hop; energy_scale 0.5 halves every figure."""
    cfg = NFCoreConfig.from_dict({"dram": {"kind": "hbm"}, "mesh": {"core_pitch_mm": 1.0},
                                  "core": {"lanes": 16}})
    e = SystemEnergies.of(cfg, TABLE)
    assert e.dram_pj_per_byte == pytest.approx(32.0)
    assert e.wire_pj_per_flit_hop == pytest.approx(12.8)
    half = SystemEnergies.of(NFCoreConfig.from_dict({"technology": {"energy_scale": 0.5}}),
                             TABLE)
    full = SystemEnergies.of(NFCoreConfig(), TABLE)
    for name in ("wire_pj_per_flit_hop", "router_pj_per_flit", "dram_pj_per_byte",
                 "wakeup_pj", "gated_leakage_pj_per_cycle", "weight_word_write_pj"):
        assert getattr(half, name) == pytest.approx(0.5 * getattr(full, name)), name


def test_summary_prints_scale_rows_and_assumptions() -> None:
    s = system_energy_summary(NFCoreConfig(), TABLE)
    names = {r["name"] for r in s["rows"]}
    assert set(SYSTEM_ROWS_USED) <= names and "mult_int8" in names
    text = "\n".join(s["assumptions"])
    assert "energy_scale = 1" in text and "router_pj_per_bit" in text
    assert "gated_sram_leakage_fraction" in text and "wakeup_leakage_cycles" in text
    assert "core leaks at its full rate whenever" not in text
    assert s["system_per_event_pj"]["dram_pj_per_byte"] == pytest.approx(162.5)
