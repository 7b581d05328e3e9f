"""Node scaling: the paper's factors at its nodes, and a 7 nm config's energies moved by them."""

from __future__ import annotations

from pathlib import Path

import pytest

from nfcore.config import NFCoreConfig
from nfcore.sim.cost.energy import EnergyTable, EventEnergies, energy_model_summary
from nfcore.sim.cost.nodes import NodeTableError, load_node_table, node_scaling
from nfcore.sim.cost.system_energy import SystemEnergies

TABLE = EnergyTable.load("horowitz_45nm")

# Stillmaker and Baas (2017), Table 5, HP devices: E(V) = a V^2 + b V + c, typed here from the
# paper, independently of the YAML table.
PAPER = {45: ((1.018, -0.3107, 0.1539), 0.9), 32: ((0.8367, -0.4341, 0.1701), 0.9),
         7: ((0.1776, -0.09097, 0.02447), 0.7)}


def _fit(nm: int) -> float:
    (a, b, c), v = PAPER[nm]
    return a * v * v + b * v + c


def test_factors_equal_the_papers_at_its_nodes() -> None:
    # The authors' corrigendum: HP32 at 0.9 V gives an energy factor of 0.4571.
    assert _fit(32) == pytest.approx(0.4571, abs=1e-4)
    for nm in (32, 7):
        s = node_scaling(45, nm)
        assert s.logic == pytest.approx(_fit(nm) / _fit(45), rel=1e-12)
        assert s.wire == pytest.approx((PAPER[nm][1] / 0.9) ** 2)
    assert node_scaling(45, 7).area == pytest.approx(0.059)
    assert node_scaling(45, 45) == node_scaling(45, 45, None)
    assert node_scaling(45, 45).logic == 1.0


def test_nodes_beyond_the_paper_are_marked_assumptions() -> None:
    t = load_node_table()
    assert not t.node(7).assumption
    assert t.node(5).assumption and t.node(4).assumption and t.node(5).reason
    assert t.node(5).energy_vs_45nm == pytest.approx(0.7 * t.node(7).energy_vs_45nm)


def test_a_7nm_config_moves_energies_by_exactly_those_factors() -> None:
    base, seven = NFCoreConfig(), NFCoreConfig.from_dict({"technology": {"node_nm": 7}})
    s = node_scaling(45, 7)
    e45, e7 = EventEnergies.of(base, TABLE), EventEnergies.of(seven, TABLE)
    for name in ("mult_int8_pj", "add_int32_pj", "weight_word_read_pj", "imem_read_pj",
                 "leakage_pj_per_cycle"):
        assert getattr(e7, name) == pytest.approx(getattr(e45, name) * s.logic, rel=1e-12)
    assert e7.node_factor == pytest.approx(s.logic)
    s45, s7 = SystemEnergies.of(base, TABLE), SystemEnergies.of(seven, TABLE)
    assert s7.wire_pj_per_flit_hop == pytest.approx(s45.wire_pj_per_flit_hop * s.wire)
    assert s7.router_pj_per_flit == pytest.approx(s45.router_pj_per_flit * s.logic)
    assert s7.dram_pj_per_byte == s45.dram_pj_per_byte
    summary = energy_model_summary(seven, TABLE)
    assert summary["node_scaling"]["logic"] == pytest.approx(s.logic)
    assert any("x 0.06842" in a for a in summary["assumptions"])


def test_a_node_without_factors_is_one_line_naming_the_key() -> None:
    cfg = NFCoreConfig.from_dict({"technology": {"node_nm": 28}})
    with pytest.raises(NodeTableError, match=r"technology.node_nm = 28: .* nodes: 4, 5, 7"):
        EventEnergies.of(cfg, TABLE)


def test_a_node_table_error_names_the_node(tmp_path: Path) -> None:
    path = tmp_path / "n.yaml"
    path.write_text("nodes:\n  - {node_nm: 45, energy_coeffs: [1, 0, 0], vdd_v: 1.0, "
                    "area_vs_45nm: 1, source: s}\n  - {node_nm: 7, relative_to_nm: 45, "
                    "energy_ratio: -1, area_ratio: 1, vdd_v: 1, source: s}\n")
    with pytest.raises(NodeTableError, match=r"node 7 nm: energy_ratio must be a number > 0"):
        load_node_table(path)
