"""Baselines: hand-computed roofline, streamed monolith and floors; generated verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nfcore.config import MeshConfig, NFCoreConfig
from nfcore.sim import baselines as bl
from nfcore.sim.cost.energy import EnergyTable
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
    assert all("datasheet" in g.source for g in t.gpus)
    assert t.kernel_launch_overhead_s == 5e-6 and t.idle_power_w == 75.0
    assert all(p["assumption"] and p["reason"] for p in t.parameters)


def test_gpu_table_errors_name_the_entry(tmp_path: Path) -> None:
    data = yaml.safe_load(bl.GPU_TABLE.read_text())
    del data["gpus"][1]["source"]
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(bl.BaselineError, match=r"gpus\[1\]: every GPU needs a 'source'"):
        bl.load_gpu_table(path)


def test_roofline_by_hand() -> None:
    """H100, batch 1: bytes = 1e6 weights + 80 I/O; t_mem = 1,000,080 / 3.35e12 =
    2.98531e-7 s; t_cmp = 2e6 / 1.979e15 = 1.0106e-9 s (memory-bound); launch = 2 * 5 us.
    latency = 1e-5 + 2.98531e-7 = 1.0298531e-5 s.
    energy = 700 W * 2.98531e-7 s + 75 W * 1e-5 s = 2.08972e-4 + 7.5e-4 = 9.58972e-4 J.
    HBM alone = 1,000,080 * 8 * 4 pJ = 3.2002560e7 pJ.
    Batch 256: bytes = 1e6 + 256 * 80 = 1,020,480, t_mem = 3.04621e-7 s; t_cmp = 2e6 * 256
    / 1.979e15 = 2.58716e-7 s: still memory-bound; energy per inference =
    (700 * 3.04621e-7 + 75 * 1e-5) / 256 = 3.76263e-6 J."""
    h100 = bl.load_gpu_table().gpus[0]
    p1 = bl.gpu_roofline(h100, MONO, 1, 5e-6, 75.0, 4.0)
    assert p1.latency_s == pytest.approx(1.0298531e-5, rel=1e-6)
    assert p1.energy_pj_per_inference == pytest.approx(9.58972e8, rel=1e-5)
    assert p1.bound == "memory"
    assert p1.hbm_pj_per_inference == pytest.approx(3.200256e7)
    p256 = bl.gpu_roofline(h100, MONO, 256, 5e-6, 75.0, 4.0)
    assert p256.bound == "memory"
    assert p256.energy_pj_per_inference == pytest.approx(3.76263e6, rel=1e-5)
    big = bl.MonolithSpec(param_bytes=1000, macs=10**9, layers=1)
    assert bl.gpu_roofline(h100, big, 256, 0.0, 0.0, 4.0).bound == "compute"
    with pytest.raises(bl.BaselineError, match="batch = 0"):
        bl.gpu_roofline(h100, MONO, 0, 5e-6, 75.0, 4.0)
    sweep = bl.gpu_sweep(bl.load_gpu_table(), MONO, 4.0)
    assert len(sweep) == 2 * len(bl.BATCHES)
    with pytest.raises(bl.BaselineError, match="does not fit H100"):
        bl.gpu_sweep(bl.load_gpu_table(), bl.MonolithSpec(param_bytes=10**11, macs=1), 4.0)


def test_monolith_streamed_from_dram_by_hand() -> None:
    """1 x 1 mesh, 8 lanes, 8,192 weight bytes, 8,192 MACs: 1,024 words in one packet of
    1,025 flits over 0 hops. Cycles = 50 (DRAM latency) + max(160 transfer, 1,025 flits,
    1,024 MAC cycles) + 0 = 1,075.
    mac 8,192 * 0.3 = 2,457.6; weight_sram 1,024 * 2 * 27.5946 = 56,513.7;
    act_sram 1,024 * 10 = 10,240; network 1,025 * 6.4 (one router) = 6,560;
    dram 8,192 * 162.5 = 1,331,200; leakage 1,075 * 0.18 = 193.5."""
    cfg = NFCoreConfig(mesh=MeshConfig(rows=1, cols=1))
    e = SystemEnergies.of(cfg, TABLE)
    b = bl.monolith_nfcore_dram(cfg, e, bl.MonolithSpec(param_bytes=8192, macs=8192))
    assert b.latency_s == pytest.approx(1075 / 500e6)
    by = b.by_component
    assert by["mac"] == pytest.approx(2457.6)
    assert by["weight_sram"] == pytest.approx(56513.7, abs=0.1)
    assert by["act_sram"] == pytest.approx(10240.0)
    assert by["network"] == pytest.approx(6560.0)
    assert by["dram"] == pytest.approx(1331200.0)
    assert by["leakage"] == pytest.approx(193.5)
    assert b.energy_pj_per_inference == pytest.approx(sum(by.values()))


def test_floors_by_hand() -> None:
    """One tree 16 -> 8: 128 MACs; weights 8 rows * (1 header + 2 data words) * 8 = 192
    bytes. MAC floor = 128 * 0.3 = 38.4 pJ; + 192 bytes * 27.5946 / 8 = 662.27 pJ."""
    tree = tree_from_program(0, (0, 0), mlp_program([16, 8], 8), 8, 16, 8)
    assert (tree.macs, tree.weight_bytes) == (128, 192)
    cfg = NFCoreConfig()
    mac, sram = bl.floors(cfg, SystemEnergies.of(cfg, TABLE), SystemWorkload((tree,), ((0,),)))
    assert mac.energy_pj_per_inference == pytest.approx(38.4)
    assert sram.energy_pj_per_inference == pytest.approx(38.4 + 192 * 27.5946 / 8, abs=1e-3)
    assert mac.kind == sram.kind == "floor" and mac.latency_s is None


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
    one = bl.floors(cfg, SystemEnergies.of(cfg, TABLE), SystemWorkload(trees, ((0, 1, 2, 3),)))[0]
    # Every request ran the four trees: its MAC energy is at least the 4-tree MAC floor.
    assert b.by_component["mac"] >= one.energy_pj_per_inference
    assert b.latency_s is not None and b.latency_s > 0
