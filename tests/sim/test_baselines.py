"""Baselines: hand-computed roofline, streamed monolith and floors; generated verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.sim import baselines as bl
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.cost.events import component_energy_pj
from nfcore.sim.cost.nodes import node_scaling
from nfcore.sim.cost.system_energy import SystemEnergies
from nfcore.sim.system.workload import SystemWorkload, mlp_program, tree_from_program

TABLE = EnergyTable.load("horowitz_45nm")
MONO = bl.MonolithSpec(param_bytes=1_000_000, macs=1_000_000, layers=2, input_bytes=64,
                       output_bytes=16)


def test_gpu_table_has_sources_and_datasheet_figures() -> None:
    t = bl.load_gpu_table()
    h100, h200 = t.gpus
    assert (h100.hbm_bandwidth_bytes_per_s, h100.int8_ops_per_s_dense, h100.board_power_w) \
        == (3.35e12, 1979e12, 700.0)
    assert (h200.hbm_bytes, h200.hbm_bandwidth_bytes_per_s) == (141e9, 4.8e12)
    assert (h100.node_nm, h100.l2_bytes) == (4, 50e6)
    assert all("datasheet" in g.source for g in t.gpus)
    assert t.launch_modes() == {"stream": 4e-6, "persistent": 0.0} and t.idle_power_w == 75.0
    assert all(p["assumption"] and p["reason"] and p["source"] for p in t.parameters)


def test_gpu_table_errors_name_the_entry(tmp_path: Path) -> None:
    data = yaml.safe_load(bl.GPU_TABLE.read_text())
    del data["gpus"][1]["source"]
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(bl.BaselineError, match=r"gpus\[1\]: every GPU needs a 'source'"):
        bl.load_gpu_table(path)
    data = yaml.safe_load(bl.GPU_TABLE.read_text())
    data["gpus"][0]["l2_bytes"] = 0
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(bl.BaselineError, match=r"gpus\[0\]: l2_bytes must be a number > 0"):
        bl.load_gpu_table(path)


def _gpu(l2_bytes: float) -> bl.GpuSpec:
    return bl.GpuSpec("G", 45, 1e12, 1e12, 1e15, 700.0, l2_bytes, "test")


E = bl.GpuEnergies(hbm_pj_per_byte=32.0, l2_pj_per_byte=2.0, mac_pj=0.3)


def test_gpu_energies_are_the_tables_at_the_gpus_node() -> None:
    e = bl.GpuEnergies.of(_gpu(50e6), TABLE)
    assert (e.hbm_pj_per_byte, e.l2_pj_per_byte) == (32.0, 100.0 / 8)
    assert e.mac_pj == pytest.approx(0.3)
    h100 = bl.load_gpu_table().gpus[0]
    e4 = bl.GpuEnergies.of(h100, TABLE)
    f = node_scaling(45, 4).logic
    assert e4.hbm_pj_per_byte == 32.0
    assert e4.mac_pj == pytest.approx(0.3 * f) and e4.l2_pj_per_byte == pytest.approx(12.5 * f)


def test_gpu_point_by_hand() -> None:
    """MONO (1e6 bytes, 1e6 MACs, 2 layers, 80 I/O bytes) on G (1 TB/s, 1e15 ops/s), batch 4,
    4 us launches, 75 W idle, at 1e5 requests/s.
    bytes = 1e6 + 320; t_mem = 1.00032e-6 s; t_cmp = 8e6 / 1e15 = 8e-9 s: memory-bound.
    service = 8e-6 + 1.00032e-6 = 9.00032e-6 s; fill = 3 / 2e5 = 1.5e-5 s.
    L2 (1e6 <= 2e6): dynamic = 1e6 * 2 + 320 * 32 + 4e6 * 0.3 = 3,210,240 pJ;
    energy = (75 * 9.00032e-6 * 1e12 + 3,210,240) / 4 = 169,558,560 pJ.
    HBM (l2 1e5 < 1e6): dynamic = 1e6 * 32 + 10,240 + 1.2e6 = 33,210,240 pJ."""
    p = bl.gpu_point(_gpu(2e6), MONO, 4, "stream", 4e-6, 75.0, E, 1e5)
    assert p.weights_from == "L2" and p.bound == "memory"
    assert p.service_s == pytest.approx(9.00032e-6)
    assert p.fill_wait_s == pytest.approx(1.5e-5)
    assert p.latency_s == pytest.approx(1.5e-5 + 9.00032e-6)
    assert p.dynamic_pj_per_inference == pytest.approx(3_210_240 / 4)
    assert p.energy_pj_per_inference == pytest.approx(169_558_560.0)
    assert p.keeps_up
    q = bl.gpu_point(_gpu(1e5), MONO, 4, "stream", 4e-6, 75.0, E, 1e5)
    assert q.weights_from == "HBM"
    assert q.dynamic_pj_per_inference == pytest.approx(33_210_240 / 4)
    # The switch is at l2_bytes exactly: weights of l2_bytes fit.
    assert bl.gpu_point(_gpu(1e6), MONO, 1, "stream", 0.0, 0.0, E, None).weights_from == "L2"
    assert bl.gpu_point(_gpu(1e6 - 1), MONO, 1, "stream", 0.0, 0.0, E, None).weights_from \
        == "HBM"
    big = bl.MonolithSpec(param_bytes=1000, macs=10**9, layers=1)
    assert bl.gpu_point(_gpu(1e6), big, 256, "persistent", 0.0, 0.0, E, None).bound \
        == "compute"
    with pytest.raises(bl.BaselineError, match="batch = 0"):
        bl.gpu_point(_gpu(1e6), MONO, 0, "stream", 4e-6, 75.0, E, None)


def test_batch_fill_wait_formula() -> None:
    assert bl.fill_wait_s(1, 1e6) == 0.0
    assert bl.fill_wait_s(256, 1e6) == pytest.approx(255 / 2e6)
    assert bl.fill_wait_s(64, None) == 0.0


def test_best_batch_is_the_argmin_of_those_that_keep_up() -> None:
    table = bl.load_gpu_table()
    sweep = bl.gpu_sweep(table, MONO, TABLE, rate_per_s=2e5)
    assert len(sweep) == 2 * 2 * len(bl.BATCHES)
    best = bl.best_batches(sweep)
    assert [(p.gpu, p.launch) for p in best] == [(g.name, m) for g in table.gpus
                                                 for m in ("stream", "persistent")]
    for b in best:
        group = [p for p in sweep if (p.gpu, p.launch) == (b.gpu, b.launch) and p.keeps_up]
        assert b.energy_pj_per_inference == min(p.energy_pj_per_inference for p in group)
    # At a slow arrival rate a batch of 1 keeps up; a fast one rules it out.
    slow = bl.gpu_sweep(table, MONO, TABLE, rate_per_s=10.0)
    assert all(p.keeps_up for p in slow)
    fast = [p for p in bl.gpu_sweep(table, MONO, TABLE, rate_per_s=1e7)
            if p.launch == "stream" and p.batch == 1]
    assert not any(p.keeps_up for p in fast)
    with pytest.raises(bl.BaselineError, match="does not fit H100"):
        bl.gpu_sweep(table, bl.MonolithSpec(param_bytes=10**11, macs=1), TABLE)


def test_monolith_streamed_from_dram_by_hand() -> None:
    """1 x 1 mesh, 8 lanes, 8,192 weight bytes, 8,192 MACs (shapes unknown: one row of 8,192
    columns): 1,024 words in one packet of 1,025 flits over 0 hops. Cycles = 50 (DRAM
    latency) + max(160 transfer, 1,025 flits, 1,024 MAC cycles) + 0 = 1,075.
    mac, as the core counts it: 8,192 multiplies * 0.2 + (7,168 tree + 1,025 accumulator
    adds) * 0.1 + 1 requant * 3.1 / 2 = 2,459.25; weight_sram 1,024 * 2 * 10 (8 KiB
    sub-banks) = 20,480;
    act_sram 1,024 word reads * 10 + 1 byte write * 1.25 = 10,241.25; network 1,025 * 6.4
    (one router) = 6,560; dram 8,192 * 162.5 = 1,331,200; leakage 1,075 * 0.18 = 193.5."""
    cfg = NFCoreConfig(mesh=MeshConfig(rows=1, cols=1))
    e = SystemEnergies.of(cfg, TABLE)
    b = bl.monolith_nfcore_dram(cfg, e, bl.MonolithSpec(param_bytes=8192, macs=8192))
    assert b.latency_s == pytest.approx(1075 / 500e6)
    by = b.by_component
    assert by["mac"] == pytest.approx(2459.25)
    assert by["weight_sram"] == pytest.approx(20480.0)
    assert by["act_sram"] == pytest.approx(10241.25)
    assert by["network"] == pytest.approx(6560.0)
    assert by["dram"] == pytest.approx(1331200.0)
    assert by["leakage"] == pytest.approx(193.5)
    assert b.energy_pj_per_inference == pytest.approx(sum(by.values()))
    assert b.node_nm == 45


def test_monolith_macs_are_charged_as_the_core_charges_its_layers() -> None:
    """A 10 -> 3 layer on 8 lanes pads each row to 2 words: the same events as the core's
    MATVEC, so the same energy as a tree of that layer on the simulated core."""
    cfg = NFCoreConfig(mesh=MeshConfig(rows=1, cols=1))
    e = SystemEnergies.of(cfg, TABLE)
    mono = bl.MonolithSpec(param_bytes=30, macs=30, layers=1, matvecs=((3, 10, 2),))
    ev = mono.events(8)
    # Lanes holding padding are gated: 10 multiplies and 7 + 1 tree adds per row.
    assert (ev.mults_int8, ev.adds_tree, ev.requant_mults) == (2 * 3 * 10, 2 * 3 * 8, 6)
    tree = tree_from_program(0, (0, 0), mlp_program([10, 3], 8), 8, 10, 3)
    core_mac = component_energy_pj(tree.events, e.core)["mac"]
    assert bl.monolith_nfcore_dram(cfg, e, mono).by_component["mac"] == pytest.approx(
        2 * core_mac)
    with pytest.raises(bl.BaselineError, match="matvecs"):
        bl.MonolithSpec(param_bytes=1, macs=1, matvecs=((0, 1, 1),))


def test_floors_by_hand() -> None:
    """One tree 16 -> 8: 128 MACs; weights 8 rows * (1 header + 2 data words) * 8 = 192
    bytes, read once from a bank of 192 bytes (below the table's 8 KiB point: its 10 pJ per
    64 bits). MAC floor = 128 * 0.3 = 38.4 pJ; + 192 * 10 / 8 = 240 pJ."""
    tree = tree_from_program(0, (0, 0), mlp_program([16, 8], 8), 8, 16, 8)
    assert (tree.macs, tree.weight_bytes) == (128, 192)
    cfg = NFCoreConfig()
    mac, sram = bl.floors(cfg, SystemEnergies.of(cfg, TABLE), SystemWorkload((tree,), ((0,),)),
                          TABLE)
    assert mac.energy_pj_per_inference == pytest.approx(38.4)
    assert sram.energy_pj_per_inference == pytest.approx(38.4 + 240.0)
    assert mac.kind == sram.kind == "floor" and mac.latency_s is None
    seven = NFCoreConfig.from_dict({"technology": {"node_nm": 7}})
    mac7, sram7 = bl.floors(seven, SystemEnergies.of(seven, TABLE),
                            SystemWorkload((tree,), ((0,),)), TABLE)
    f = node_scaling(45, 7).logic
    assert sram7.energy_pj_per_inference == pytest.approx(f * (38.4 + 240.0))
    assert sram7.node_nm == 7


def test_verdicts_say_where_nfcore_loses() -> None:
    ours = bl.Baseline("NF-Core", 1000.0, 2e-6, "", kind="nfcore")
    rows = [bl.Baseline("cheap GPU", 500.0, 1e-5, ""), bl.Baseline("slow thing", 4000.0, 1e-6, ""),
            bl.Baseline("floor: MAC energy", 100.0, None, "", kind="floor")]
    text = bl.verdicts(ours, rows)
    assert "NF-Core LOSES to cheap GPU on energy per inference: 1,000 pJ vs 500 pJ (2.00x " \
        "worse)." in text
    assert any(t.startswith("NF-Core beats cheap GPU on latency") for t in text)
    assert any(t.startswith("NF-Core LOSES to slow thing on latency") for t in text)
    assert any(t.startswith("NF-Core beats slow thing on energy") for t in text)
    assert "NF-Core spends 10.0x the floor: MAC energy (100 pJ)." in text


def test_verdicts_compare_each_row_at_its_node() -> None:
    ours = bl.Baseline("NF-Core", 80_000.0, 2e-6, "", kind="nfcore", node_nm=45)
    rows = [bl.Baseline("NF-Core at 4 nm", 4_000.0, 2e-6, "", kind="nfcore", node_nm=4),
            bl.Baseline("GPU", 9_000.0, 3e-4, "", kind="gpu", node_nm=4),
            bl.Baseline("DRAM monolith", 1e6, 2e-5, "", node_nm=45)]
    text = bl.verdicts(ours, rows)
    assert text[0] == ("NF-Core (at 4 nm) beats GPU on energy per inference: 4,000 pJ vs "
                       "9,000 pJ (2.25x better).")
    assert text[2].startswith("NF-Core beats DRAM monolith on energy")
    assert not any("NF-Core at 4 nm" in t for t in text)


def test_verdicts_call_equal_figures_a_tie() -> None:
    ours = bl.Baseline("NF-Core", 1000.0, 2e-6, "", kind="nfcore")
    text = bl.verdicts(ours, [bl.Baseline("twin", 1002.0, 2e-6, "")])
    assert text == [
        "NF-Core ties with twin on energy per inference: 1,000 pJ vs 1,002 pJ (within 0.5%).",
        "NF-Core ties with twin on latency: 2e-06 s vs 2e-06 s (within 0.5%).",
    ]


def test_all_trees_baseline_runs_every_tree() -> None:
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 2, "cols": 2}})
    trees = tuple(tree_from_program(i, (i % 2, i // 2), mlp_program([16, 8], 8), 8, 16, 8)
                  for i in range(4))
    wl = SystemWorkload(trees, ((0,), (1,)))
    b = bl.all_trees(cfg, wl, TABLE, requests=2)
    one = bl.floors(cfg, SystemEnergies.of(cfg, TABLE), SystemWorkload(trees, ((0, 1, 2, 3),)),
                    TABLE)[0]
    # Every request ran the four trees: its MAC energy is at least the 4-tree MAC floor.
    assert b.by_component["mac"] >= one.energy_pj_per_inference
    assert b.latency_s is not None and b.latency_s > 0
