"""The system model's paging (`nfcore.sim.system.paging`): it takes
exactly `nfcore.sim.system.dram.page_timeline`'s cycles, which are the RTL's (the file
`sim_build/<PAGING_CYCLES_FILE>` that `sim_tests/test_paging_rtl.py` writes; when it is
absent this module runs that test itself, so the comparison never skips), and
`simulate_system` charges a paged tree exactly those cycles."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from nfcore.arch import noc
from nfcore.config import DramConfig, MeshConfig, NFCoreConfig
from nfcore.sim.cost.energy import EnergyTable
from nfcore.sim.system.dram import DramChannel, page_timeline
from nfcore.sim.system.model import simulate_system
from nfcore.sim.system.paging import PAGING_CYCLES_FILE, Paging, page_core
from nfcore.sim.system.workload import SystemWorkload, mlp_program, tree_from_program
from sim_tests.tb.scenarios import SCENARIOS, rtl_key

RTL_FILE = Path(__file__).resolve().parents[2] / "sim_build" / PAGING_CYCLES_FILE
SLOW = DramConfig(latency_ns=30.0, bandwidth_gbps=8.0)


def _page(cfg: NFCoreConfig, core: tuple[int, int], words: int, start: int,
          max_words: int = 1 << noc.LENGTH_BITS) -> Paging:
    return page_core(DramChannel.of(cfg), cfg.core.lanes, core, words, start, max_words)


@pytest.mark.parametrize(("dram", "core", "words", "max_words"), [
    (DramConfig(), (3, 2), 175, 1024),
    (DramConfig(), (0, 0), 2500, 1024),  # three packets, the last partial
    (SLOW, (3, 0), 300, 128),  # slower than a flit per cycle: gaps in the packets
])
def test_page_core_takes_page_timeline_cycles_and_packets(dram: DramConfig, core: tuple[int, int],
                                                          words: int, max_words: int) -> None:
    cfg = NFCoreConfig(mesh=MeshConfig(rows=4, cols=4), dram=dram)
    for start in (0, 37):
        paged = _page(cfg, core, words, start, max_words)
        chunks = noc.page_chunks(words, max_words)
        t = page_timeline(DramChannel.of(cfg), cfg.core.lanes, core, chunks, start)
        assert paged.request_cycle == start and paged.done_cycle == t.last_write_cycle
        assert [f for k, f in paged.packets if k == "answer"] == [1 + n for n in chunks]
        assert [f for k, f in paged.packets if k == "request"] == \
            [noc.dram_request_flits(True)] * len(chunks)


@pytest.fixture(scope="module")
def rtl() -> dict[str, Any]:
    if not RTL_FILE.exists() or json.loads(RTL_FILE.read_text()).get("rtl_key") != rtl_key():
        _measure_rtl()  # absent, or measured on other RTL sources: never reused
    record: dict[str, Any] = json.loads(RTL_FILE.read_text())
    assert record["schema"] == 1, f"{RTL_FILE}: unknown schema"
    assert record["rtl_key"] == rtl_key(), f"{RTL_FILE} was measured on other RTL sources"
    return record


def _measure_rtl() -> None:
    """Regenerate `RTL_FILE` with sim_tests/test_paging_rtl.py (`make test` runs it first;
    this is for `pytest tests` alone). A failing RTL run fails this module, never skips it."""
    import importlib.util
    import sys

    sim_tests = RTL_FILE.parents[1] / "sim_tests"
    if str(sim_tests) not in sys.path:  # the cocotb runner passes sys.path to the simulator
        sys.path.insert(0, str(sim_tests))
    spec = importlib.util.spec_from_file_location("test_paging_rtl",
                                                  sim_tests / "test_paging_rtl.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.test_paging_rtl()


def test_paging_cycles_equal_the_rtl(rtl: dict[str, Any]) -> None:
    """Every paging the RTL measured without stalls (one packet, several, a slow channel):
    the system model's paging takes the same cycles."""
    base = next(sc for sc in SCENARIOS.values()
                if (sc.rows, sc.cols) == (rtl["rows"], rtl["cols"])).config
    assert base.core.lanes == rtl["lanes"] and base.technology.clock_mhz == rtl["clock_mhz"]
    assert set(rtl["runs"]) == {"one_packet", "chunks", "slow_chunks"}, rtl["runs"]
    for name, run in rtl["runs"].items():
        cfg = dataclasses.replace(base, dram=DramConfig(latency_ns=run["latency_ns"],
                                                        bandwidth_gbps=run["bandwidth_gbps"]))
        core = (rtl["dest"][0], rtl["dest"][1])
        paged = _page(cfg, core, run["words"], run["request_cycle"], max(run["chunks"]))
        assert noc.page_chunks(run["words"], max(run["chunks"])) == run["chunks"]
        assert paged.paging_cycles == run["paging_cycles"], (name, paged, run)
        assert paged.done_cycle == run["last_write_cycle"], name


def test_system_charges_a_paged_tree_its_paging_cycles() -> None:
    """One request for a tree on core (3, 2): paged, it ends `page_timeline`'s paging
    cycles + 1 later than resident (the paging starts in the arrival cycle, the core free;
    RUN is taken the cycle after the last word is written), with one DRAM read per packet
    and the request and weight packets in the traffic."""
    cfg = NFCoreConfig.from_dict({"mesh": {"rows": 4, "cols": 4}})
    dims = [64, 128, 96, 8]
    table = EnergyTable.load("horowitz_45nm")

    def run(resident: bool) -> Any:
        tree = tree_from_program(0, (3, 2), mlp_program(dims, 8), 8, input_bytes=dims[0],
                                 output_bytes=dims[-1], resident=resident)
        return tree, simulate_system(cfg, SystemWorkload((tree,), ((0,),)), [0], table)

    tree, resident = run(True)
    _, paged = run(False)
    words = -(-tree.weight_bytes // 8)
    chunks = noc.page_chunks(words)
    assert len(chunks) > 1, chunks
    t = page_timeline(DramChannel.of(cfg), 8, (3, 2), chunks, 0)
    assert paged.records[0].latency_cycles == \
        resident.records[0].latency_cycles + t.paging_cycles + 1
    assert paged.dram["reads"] == len(chunks)
    assert paged.network["packets"] == resident.network["packets"] + 2 * len(chunks)
