"""The sweep file: validation messages name the key and the allowed range; sampling."""

from pathlib import Path

import pytest
from sweep_helpers import write_sweep

from nfcore.cli import main
from nfcore.errors import ConfigError
from nfcore.sweep.spec import SweepError, SweepSpec


def test_wrong_value_names_its_path_and_range(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, {"core.lanes": [8, 12]})
    with pytest.raises(ConfigError, match=r"parameters\.core\.lanes\[1\].*core\.lanes = 12 "
                                          r"is not allowed; choose one of 8, 16, 32"):
        SweepSpec.load(path)
    path = write_sweep(tmp_path, {"mesh.size": [2, 300]})
    with pytest.raises(ConfigError, match=r"mesh\.size\[1\].*mesh\.rows = 300 is out of "
                                          r"range; allowed 1 to 256 cores"):
        SweepSpec.load(path)


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown key simulation\.request;"):
        SweepSpec.load(write_sweep(tmp_path, {"core.lanes": [8]},
                                   simulation={"request": 5}))
    with pytest.raises(ConfigError, match=r"parameters\.core\.lane\[0\]: unknown key "
                                          r"core\.lane; allowed keys at core: acc_bits"):
        SweepSpec.load(write_sweep(tmp_path, {"core.lane": [8]}))
    with pytest.raises(SweepError, match="unknown parameter 'chip.lanes'"):
        SweepSpec.load(write_sweep(tmp_path, {"chip.lanes": [8]}))
    with pytest.raises(SweepError, match="has no row 'leakage_cpu'"):
        SweepSpec.load(write_sweep(tmp_path, {"energy_table.leakage_cpu": [1.0]}))


def test_ranges_expand_inclusive(tmp_path: Path) -> None:
    spec = SweepSpec.load(write_sweep(tmp_path, {
        "core.weight_sram_bytes": {"from": 4096, "to": 32768, "times": 2},
        "technology.clock_mhz": {"from": 100, "to": 300, "step": 100}}))
    assert [p.values for p in spec.parameters] == [(4096, 8192, 16384, 32768),
                                                   (100, 200, 300)]
    assert spec.grid_size() == 12 and len(spec.points()) == 12
    with pytest.raises(SweepError, match="step must be > 0"):
        SweepSpec.load(write_sweep(tmp_path, {"mesh.size": {"from": 1, "to": 3, "step": 0}}))


def test_points_resolve_every_kind_of_parameter(tmp_path: Path) -> None:
    spec = SweepSpec.load(write_sweep(tmp_path, {
        "mesh.size": [3], "technology": [{"node_nm": 22, "energy_scale": 0.4}],
        "forest.top_k": [2], "energy_table.leakage_core_uw": [40]}))
    (p,) = spec.points()
    assert p.config["mesh"]["rows"] == p.config["mesh"]["cols"] == 3
    assert p.config["technology"]["node_nm"] == 22
    assert p.config["technology"]["energy_scale"] == 0.4
    assert p.forest.top_k == 2 and p.forest.tasks == 4
    assert p.table_rows == {"leakage_core_uw": 40.0}


def test_random_sampling_is_seeded_and_distinct(tmp_path: Path) -> None:
    params = {"mesh.size": [1, 2, 3, 4, 5], "core.lanes": [8, 16, 32]}
    a = SweepSpec.load(write_sweep(tmp_path, params,
                                   sampling={"method": "random", "samples": 6, "seed": 1}))
    picks = [tuple(p.values.values()) for p in a.points()]
    assert len(picks) == len(set(picks)) == 6
    assert picks == [tuple(p.values.values()) for p in a.points()]
    b = SweepSpec.load(write_sweep(tmp_path, params,
                                   sampling={"method": "random", "samples": 6, "seed": 2}))
    assert picks != [tuple(p.values.values()) for p in b.points()]


def test_nodes_without_area_figures_fail_at_load(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match=r"parameters\.technology\[1\]\.node_nm = 28: the "
                                         r"area table has no figures"):
        SweepSpec.load(write_sweep(tmp_path, {"technology": [{"node_nm": 45},
                                                             {"node_nm": 28}]}))


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: a\nname: b\nparameters:\n  core.lanes: [8]\n")
    with pytest.raises(SweepError, match=r"dup.yaml: line 2: duplicate key 'name'"):
        SweepSpec.load(path)


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "", "x" * 65])
def test_a_name_that_leaves_the_reports_folder_is_refused(tmp_path: Path, name: str) -> None:
    path = write_sweep(tmp_path, {"core.lanes": [8]}, name=name)
    with pytest.raises(ConfigError, match=r"name = .* is not allowed; a sweep name is 1 to 64"):
        SweepSpec.load(path)


def test_a_plain_name_is_kept(tmp_path: Path) -> None:
    spec = SweepSpec.load(write_sweep(tmp_path, {"core.lanes": [8]}, name="mesh-and.sram_2"))
    assert spec.name == "mesh-and.sram_2"


@pytest.mark.parametrize("rng", [
    {"from": 1, "to": float("inf"), "times": 2},
    {"from": 1, "to": float("inf"), "step": 1},
    {"from": 1, "to": float("nan"), "step": 1},
    {"from": 1, "to": 64, "step": float("inf")},
])
def test_a_range_to_infinity_is_one_line_naming_the_key(tmp_path: Path, rng: dict,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    path = write_sweep(tmp_path, {"mesh.size": rng})
    assert main(["sweep", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "parameters.mesh.size: range bounds and step must be finite numbers" in err


def test_a_range_of_too_many_values_is_refused_before_expanding(tmp_path: Path) -> None:
    for rng in ({"from": 1, "to": 10**12, "step": 1}, {"from": 1, "to": 1e300, "times": 1.001}):
        with pytest.raises(SweepError, match=r"parameters\.mesh\.size: the range has more "
                                             r"than 100000 values"):
            SweepSpec.load(write_sweep(tmp_path, {"mesh.size": rng}))
    with pytest.raises(SweepError, match=r"energy_table\.leakage_core_uw\[0\]: leakage_core_uw "
                                         r"must be a finite number >= 0"):
        SweepSpec.load(write_sweep(tmp_path, {"energy_table.leakage_core_uw": [float("inf")]}))
