"""The FPGA report parser (nfcore.eda.fpga.report) on real tool output of a tiny build
(tests/eda/fixtures/fpga/README.md says how it was made)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfcore.eda.fpga.report import (
    FpgaResult,
    parse_nextpnr_log,
    parse_yosys_stat,
    render_fpga_markdown,
    render_json,
    resources,
)
from nfcore.errors import NFCoreError

FIXTURES = Path(__file__).parent / "fixtures" / "fpga"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_nextpnr_ecp5_log_gives_utilisation_and_the_post_route_fmax() -> None:
    log = parse_nextpnr_log(_read("tiny_ecp5.tim"))
    assert log.utilisation["TRELLIS_COMB"] == (146, 83640)
    assert log.utilisation["TRELLIS_FF"] == (87, 83640)
    assert log.utilisation["MULT18X18D"] == (1, 156)
    assert log.utilisation["DP16KD"] == (0, 208)
    # Placement reports 124.67 MHz; the figure after routing is the last one.
    assert log.fmax_mhz == {"$glbnet$clk": (118.18, 100.0)}


def test_nextpnr_ice40_log_gives_utilisation_and_the_post_route_fmax() -> None:
    log = parse_nextpnr_log(_read("tiny_ice40.tim"))
    assert log.utilisation["ICESTORM_LC"] == (140, 5280)
    assert log.utilisation["ICESTORM_DSP"] == (1, 8)
    assert log.utilisation["ICESTORM_PLL"] == (1, 1)
    assert log.fmax_mhz == {"clk": (107.02, 24.0)}


def test_a_failing_clock_is_reported_from_its_post_route_warning_line() -> None:
    # Excerpt of a real log of the core on the ECP5: after routing, a clock that misses its
    # constraint is a "Warning:" line, not "Info:".
    log = parse_nextpnr_log(_read("core_ecp5_timing_fail_excerpt.tim"))
    assert log.fmax_mhz == {"$glbnet$clk": (46.16, 100.0)}
    assert log.utilisation["DP16KD"] == (38, 208) and log.over_capacity() == []


def test_a_design_that_does_not_fit_reports_what_is_over_capacity() -> None:
    # Real log of the micro-core on the iCE40 UP5K: nextpnr packs, then cannot place.
    log = parse_nextpnr_log(_read("core_ice40_nofit.tim"))
    assert log.over_capacity() == ["ICESTORM_DSP 10/8"]
    assert log.fmax_mhz == {}
    assert log.errors[0].startswith("Unable to place cell")
    cells = parse_yosys_stat(_read("core_ice40_nofit.stat.json"))
    assert resources("ice40", cells, log)["dsp"] == (10, 8)


def test_a_log_cut_before_packing_is_an_error_naming_the_file() -> None:
    text = _read("tiny_ecp5.tim")
    placed_only = text[: text.index("Info: Routing globals")]
    # Only the post-placement estimate is there: it is the last analysis.
    assert parse_nextpnr_log(placed_only).fmax_mhz["$glbnet$clk"] == (124.67, 100.0)
    with pytest.raises(NFCoreError, match=r"x\.tim: no 'Device utilisation'"):
        parse_nextpnr_log(text[: text.index("Info: Device utilisation")], "x.tim")


def test_yosys_stat_counts_cells_and_rejects_other_files() -> None:
    cells = parse_yosys_stat(_read("tiny_ice40.stat.json"))
    assert (cells["SB_LUT4"], cells["SB_MAC16"], cells["SB_DFFSR"]) == (119, 1, 65)
    with pytest.raises(NFCoreError, match=r"s\.json: not Yosys `stat -json` output"):
        parse_yosys_stat(json.dumps({"modules": {}}), "s.json")
    with pytest.raises(NFCoreError, match=r"s\.json"):
        parse_yosys_stat("not json", "s.json")


def test_resources_per_family() -> None:
    ecp5 = resources("ecp5", parse_yosys_stat(_read("tiny_ecp5.stat.json")),
                     parse_nextpnr_log(_read("tiny_ecp5.tim")))
    assert ecp5 == {"lut": (146, 83640), "ff": (87, 83640), "bram": (0, 208), "dsp": (1, 156)}
    # iCE40: LUT4s and flip-flops from Yosys (nextpnr counts logic cells of one of each).
    ice40 = resources("ice40", parse_yosys_stat(_read("tiny_ice40.stat.json")),
                      parse_nextpnr_log(_read("tiny_ice40.tim")))
    assert ice40 == {"lut": (119, 5280), "ff": (67, 5280), "bram": (0, 30), "dsp": (1, 8)}
    with pytest.raises(NFCoreError, match="unknown FPGA family 'gowin'"):
        resources("gowin", {}, parse_nextpnr_log(_read("tiny_ice40.tim")))


def _result() -> FpgaResult:
    return FpgaResult(
        target="tiny", board="ULX3S_85F", device="LFE5U-85F-BG381", top="core",
        config="configs/x.yaml",
        resources={"lut": (146, 83640), "ff": (87, 83640), "bram": (0, 208), "dsp": (1, 156)},
        fmax_mhz={"clk25": (300.0, 25.0), "$glbnet$clk": (118.18, 100.0)},
        build_seconds=12.3, command="make fpga FPGA_TARGETS=tiny")


def test_markdown_row_shows_used_of_available_and_the_design_clock() -> None:
    text = render_fpga_markdown([_result()])
    row = next(line for line in text.splitlines() if line.startswith("| tiny "))
    # The design clock is the fastest-constrained one (the PLL output, not the oscillator).
    assert row == ("| tiny | ULX3S_85F (LFE5U-85F-BG381) | core | 146 / 83640 | 87 / 83640 | "
                   "0 / 208 | 1 / 156 | 118.2 (100) | yes | 12 |")
    assert "`make fpga FPGA_TARGETS=tiny`" in text


def test_markdown_row_of_a_design_that_does_not_fit() -> None:
    result = _result()
    result.fmax_mhz, result.fit = {}, "no: ICESTORM_DSP 10/8"
    row = next(line for line in render_fpga_markdown([result]).splitlines()
               if line.startswith("| tiny "))
    assert row.endswith("| 1 / 156 | not routed | no: ICESTORM_DSP 10/8 | 12 |")


def test_json_has_every_figure() -> None:
    data = json.loads(render_json([_result()]))
    target = data["targets"][0]
    assert target["resources"]["dsp"] == {"used": 1, "available": 156}
    assert target["fmax_mhz"]["$glbnet$clk"] == {"achieved": 118.18, "constraint": 100.0}
    assert target["build_seconds"] == 12.3
