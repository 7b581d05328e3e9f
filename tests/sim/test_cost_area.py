"""The area model: a hand calculation from the table's rows, node scaling, bad tables."""

from pathlib import Path

import pytest

from nfcore.config import NFCoreConfig
from nfcore.sim.cost.area import AreaTable, AreaTableError, area_summary, chip_area_mm2, core_area


def test_default_core_matches_a_hand_calculation() -> None:
    # 45 nm, 8 lanes, 64 KiB weights + 4 KiB scratchpad + 256 x 8 B instructions.
    # SRAM: (65536 + 4096 + 2048) B * 8 bit * 0.346 um2 / 0.6 efficiency = 330,683.7 um2
    # plus 7 more 8 KiB weight sub-banks' periphery: 7 * 8192 * 0.346 = 19,841.0 um2
    # no reuse buffer in the default core; a 512 B one: 512 * 8 bit * 8 (latch / bit cell)
    # * 0.346 = 11,337.7 um2
    # MACs: 8 * (282 + 137) = 3,352 um2; requant: 3,495 um2; router: 64 bit * 4,178 = 267,392
    core = core_area(NFCoreConfig())
    buffered = core_area(NFCoreConfig.from_dict({"core": {"wbuf_bytes": 512}}))
    assert core.weight_sram_um2 + core.act_sram_um2 + core.imem_um2 == pytest.approx(
        71680 * 8 * 0.346 / 0.6 + 7 * 8192 * 0.346)
    assert core.wbuf_um2 == 0
    assert buffered.wbuf_um2 == pytest.approx(512 * 8 * 8 * 0.346)
    assert core.mac_lanes_um2 == pytest.approx(3352)
    assert core.requant_um2 == pytest.approx(3495)
    assert core.router_um2 == pytest.approx(267392)
    assert core.total_um2 == pytest.approx(636101.48 - 512 * 8 * 8 * 0.346, abs=0.01)
    assert buffered.total_um2 == pytest.approx(636101.48, abs=0.01)
    # 16 x 16 cores.
    assert chip_area_mm2(NFCoreConfig()) == pytest.approx(256 * core.total_um2 / 1e6, rel=1e-7)


def test_other_nodes_scale_logic_by_the_bit_cell_ratio() -> None:
    cfg = NFCoreConfig.from_dict({"technology": {"node_nm": 22}, "core": {"lanes": 16}})
    core = core_area(cfg)
    scale = 0.092 / 0.346
    assert core.weight_sram_um2 == pytest.approx(65536 * 8 * 0.092 / 0.6 + 7 * 8192 * 0.092)
    assert core.mac_lanes_um2 == pytest.approx(16 * (282 + 137) * scale)
    assert core.router_um2 == pytest.approx(128 * 4178 * scale)
    summary = area_summary(cfg)
    assert any("scaled by 0.266" in a for a in summary["assumptions"])
    assert any(a.startswith("router_um2_per_flit_bit") for a in summary["assumptions"])


def test_a_node_without_figures_is_named() -> None:
    cfg = NFCoreConfig.from_dict({"technology": {"node_nm": 28}})
    with pytest.raises(AreaTableError, match=r"node_nm = 28.*nodes with a sourced figure: "
                                             r"5, 7, 14, 22, 32, 45, 65"):
        core_area(cfg)


def test_rows_need_a_source(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("logic_node_nm: 45\nrows:\n  - {name: sram_bitcell_um2, node_nm: 45, "
                    "value: 0.3, unit: um2, source: ''}\n")
    with pytest.raises(AreaTableError, match=r"rows\[0\] \(sram_bitcell_um2\): source must"):
        AreaTable.load(path)
