"""The energy table: loading, validation, SRAM interpolation, width and scale."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from nfcore.config import CoreConfig, NFCoreConfig, TechnologyConfig
from nfcore.sim.cost.energy import (
    TABLES_DIR,
    EnergyTable,
    EnergyTableError,
    EventEnergies,
    energy_model_summary,
)

KIB = 1024


@pytest.fixture(scope="module")
def table() -> EnergyTable:
    return EnergyTable.load("horowitz_45nm")


def test_default_table_rows_have_sources(table: EnergyTable) -> None:
    assert table.node_nm == 45
    assert table.value("mult_int8") == 0.2
    assert table.value("mult_int32") == 3.1
    assert table.value("add_int8") == 0.03
    assert table.value("add_int32") == 0.1
    assert table.value("dram_read_64b_low") == 1300.0
    assert table.value("dram_read_64b_high") == 2600.0
    for row in table.rows.values():
        assert row.source
        assert not row.assumption or row.reason
    assert {r.name for r in table.rows.values() if r.assumption} >= {
        "leakage_sram_uw_per_kib", "leakage_core_uw"}


def test_load_by_path_equals_load_by_name(table: EnergyTable) -> None:
    assert EnergyTable.load(TABLES_DIR / "horowitz_45nm.yaml").rows == table.rows


def test_sram_interpolation_is_log_log_and_clamped(table: EnergyTable) -> None:
    # At the quoted points: 10, 20, 100 pJ.
    assert table.sram_read_64b_pj(8 * KIB) == pytest.approx(10.0)
    assert table.sram_read_64b_pj(32 * KIB) == pytest.approx(20.0)
    assert table.sram_read_64b_pj(1024 * KIB) == pytest.approx(100.0)
    # 16 KiB: square-root law between 8 and 32 KiB: 10 * sqrt(2) = 14.142 pJ.
    assert table.sram_read_64b_pj(16 * KIB) == pytest.approx(10 * math.sqrt(2))
    # 64 KiB: exponent ln(100/20)/ln(1024/32) = ln 5 / ln 32 = 0.46439; 20 * 2**0.46439.
    assert table.sram_read_64b_pj(64 * KIB) == pytest.approx(27.5946, abs=1e-4)
    # Outside 8 KiB..1 MiB: clamped to the nearest point.
    assert table.sram_read_64b_pj(4 * KIB) == 10.0
    assert table.sram_read_64b_pj(4096 * KIB) == 100.0
    assert table.sram_clamped(4 * KIB) and not table.sram_clamped(64 * KIB)


def test_word_width_and_scale_apply_to_every_energy(table: EnergyTable) -> None:
    base = NFCoreConfig()
    e8 = EventEnergies.of(base, table)
    # lanes = 16: a 128-bit word costs twice the 64-bit read from the same array.
    wide = dataclasses.replace(base, core=CoreConfig(lanes=16))
    assert EventEnergies.of(wide, table).weight_word_read_pj == pytest.approx(
        2 * e8.weight_word_read_pj)
    scaled = dataclasses.replace(base, technology=TechnologyConfig(energy_scale=0.5))
    e_half = EventEnergies.of(scaled, table)
    for name, value in e8.to_dict().items():
        if name not in ("energy_scale", "node_factor"):
            assert getattr(e_half, name) == pytest.approx(0.5 * value), name
    assert e_half.energy_scale == 0.5


def test_leakage_per_cycle_by_hand(table: EnergyTable) -> None:
    # SRAM: 64 KiB weights + 4 KiB scratchpad + 256 * 8 B = 2 KiB imem = 70 KiB.
    # (70 KiB * 1 uW/KiB + 20 uW) / 500 MHz = 90 uW / 500 MHz = 0.18 pJ per cycle.
    assert EventEnergies.of(NFCoreConfig(), table).leakage_pj_per_cycle == pytest.approx(0.18)


Mutation = Callable[[dict[str, Any]], None]


def _write(tmp_path: Path, mutate: Mutation) -> Path:
    data = yaml.safe_load((TABLES_DIR / "horowitz_45nm.yaml").read_text())
    mutate(data)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _drop(row: str) -> Mutation:
    return lambda d: d.__setitem__("rows", [r for r in d["rows"] if r["name"] != row])


def _edit(row: str, **changes: Any) -> Mutation:
    """Set keys of row `row`; a value of None deletes the key."""
    def mutate(d: dict[str, Any]) -> None:
        for r in d["rows"]:
            if r["name"] == row:
                r.update(changes)
                for k, v in changes.items():
                    if v is None:
                        del r[k]
    return mutate


@pytest.mark.parametrize(("mutate", "message"), [
    (_drop("mult_int8"), "missing required row 'mult_int8'"),
    (_edit("mult_int8", unit="nJ"), "unit 'nJ' is not one of"),
    (_edit("mult_int8", value=-1), "value must be a number >= 0"),
    (_edit("leakage_core_uw", reason=None), "assumption row needs a one-line 'reason'"),
    (_edit("add_int8", source=""), "source must be a non-empty citation"),
    (_edit("add_int8", colour="red"), "unknown key 'colour'"),
    (_edit("leakage_core_uw", unit="pJ"), "row 'leakage_core_uw' has unit 'pJ'"),
    (_edit("add_int32", name="add_int8"), "duplicate row name 'add_int8'"),
])
def test_invalid_tables_fail_with_the_row_named(tmp_path: Path, mutate: Mutation,
                                                message: str) -> None:
    with pytest.raises(EnergyTableError, match=message):
        EnergyTable.load(_write(tmp_path, mutate))


def test_unknown_table_name_lists_the_known_ones() -> None:
    with pytest.raises(EnergyTableError, match="known tables: horowitz_45nm"):
        EnergyTable.load("horowitz_7nm")


def test_summary_lists_assumptions_and_clamped_arrays(table: EnergyTable) -> None:
    summary = energy_model_summary(NFCoreConfig(), table)
    text = "\n".join(summary["assumptions"])
    assert "energy_scale = 1" in text
    assert "activation scratchpad (4096 bytes)" in text and "clamped" in text
    assert "leakage_sram_uw_per_kib" in text and "leakage_core_uw" in text
    assert "not modelled" in text
    assert {r["name"] for r in summary["rows"]} >= {"mult_int8", "sram_read_64b_32kib"}


def test_a_table_with_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: t\nname: u\nrows: []\n")
    with pytest.raises(EnergyTableError, match=r"dup.yaml: line 2: duplicate key 'name'"):
        EnergyTable.load(path)
