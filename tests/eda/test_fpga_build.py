"""FPGA targets and their validation (nfcore.eda.fpga.build), without running the tools."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from nfcore.config import NFCoreConfig
from nfcore.eda.fpga.build import (
    PLL_ECP5_25_TO_100,
    PLL_ICE40_12_TO_24,
    TARGETS,
    FpgaTarget,
    check_target,
    select_targets,
)
from nfcore.errors import ConfigError, NFCoreError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # target configs are paths relative to the repository


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_every_target_checks(target: FpgaTarget) -> None:
    platform, cfg = check_target(target)
    assert platform.family.lower() == target.pll.family
    assert cfg.technology.clock_mhz == target.pll.out_mhz


def test_the_targets_are_a_2x2_array_on_ecp5_and_one_core_on_an_ice40_up5k() -> None:
    by_name = {t.name: t for t in TARGETS}
    array = by_name["ecp5_array2x2"]
    cfg = NFCoreConfig.load(array.config)
    assert (array.top, cfg.mesh.rows, cfg.mesh.cols) == ("array", 2, 2)
    ice40 = by_name["ice40_core"]
    assert ice40.top == "core"
    assert check_target(ice40)[0].device == "iCE40UP5K"


def test_select_targets_keeps_order_and_rejects_unknown_names() -> None:
    assert select_targets([]) == list(TARGETS)
    assert [t.name for t in select_targets(["ice40_core"])] == ["ice40_core"]
    with pytest.raises(ConfigError, match=r"unknown FPGA target\(s\) \['nope'\]"):
        select_targets(["ice40_core", "nope"])


def _config_with_clock(tmp_path: Path, clock_mhz: float) -> str:
    data = yaml.safe_load((ROOT / "configs/fpga_ice40.yaml").read_text())
    data["technology"]["clock_mhz"] = clock_mhz
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_config_clock_must_match_the_pll(tmp_path: Path) -> None:
    target = FpgaTarget("t", "icebreaker:ICEBreakerPlatform", "core",
                        _config_with_clock(tmp_path, 30.0), PLL_ICE40_12_TO_24)
    with pytest.raises(ConfigError, match=r"cfg\.yaml: technology\.clock_mhz = 30\.0 .* 24\.0"):
        check_target(target)


@pytest.mark.parametrize(("change", "message"), [
    ({"top": "router"}, r"unknown top 'router'"),
    ({"pll": dataclasses.replace(PLL_ECP5_25_TO_100, out_mhz=24.0)},
     r"ecp5 PLL on an iCE40 board"),
    ({"platform": "icebreaker:NoSuchBoard"}, r"icebreaker:NoSuchBoard"),
    ({"pll": dataclasses.replace(PLL_ICE40_12_TO_24, in_mhz=25.0)},
     r"PLL input 25\.0 MHz but the board's clk12 is 12\.0 MHz"),
    ({"lut_multipliers": 9}, r"lut_multipliers = 9 is out of range; allowed 0 to core\.lanes = 8"),
    ({"top": "array"}, r"lut_multipliers is for top 'core' only"),
])
def test_bad_targets_are_rejected_with_the_reason(change: dict[str, object],
                                                  message: str) -> None:
    target = dataclasses.replace(TARGETS[-1], **change)  # type: ignore[arg-type]
    assert target.pll.family == "ice40" or "pll" in change
    with pytest.raises(NFCoreError, match=message):
        check_target(target)
