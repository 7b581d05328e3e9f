"""NFCoreConfig: loading, defaults, and error messages that name the key and the range."""

from pathlib import Path

import pytest

from nfcore.config import (
    ENERGY_TABLES_DIR,
    CoreConfig,
    MeshConfig,
    NFCoreConfig,
    check_field,
    default_config_path,
)
from nfcore.errors import ConfigError


def test_default_file_equals_dataclass_defaults() -> None:
    assert NFCoreConfig.load(default_config_path()) == NFCoreConfig()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"core": {"lanes": 12}}, "core.lanes = 12 is not allowed; choose one of 8, 16, 32"),
        ({"core": {"lane": 8}}, "unknown key core.lane; allowed keys at core:"),
        ({"cores": {}},
         "unknown key cores; allowed keys at top level: chips, core, dram, host, mesh, power, "
         "technology"),
        ({"host": {"decision_cycles": 0}},
         "host.decision_cycles = 0 is out of range; allowed 1 to 1000000 cycles"),
        (
            {"core": {"act_sram_bytes": 100}},
            "core.act_sram_bytes = 100 is out of range; allowed 256 to 32768 bytes",
        ),
        ({"technology": {"clock_mhz": "fast"}}, "technology.clock_mhz must be float"),
        ({"core": {"lanes": True}}, "core.lanes must be int"),
        ({"core": 8}, "core must be a mapping"),
        (
            {"core": {"weight_sram_bytes": 65540}},
            "core.weight_sram_bytes = 65540 must be a multiple of core.lanes = 8",
        ),
        (
            {"core": {"lanes": 8, "weight_sram_bytes": 262144}},
            "core.weight_sram_bytes = 262144 exceeds what the ISA can address",
        ),
        ({"core": {"weight_subbank_bytes": 3000}},
         "core.weight_subbank_bytes = 3000 is not allowed; choose one of 1024, 2048,"),
        ({"core": {"weight_sram_bytes": 40960, "weight_subbank_bytes": 16384}},
         "core.weight_subbank_bytes = 16384 must divide core.weight_sram_bytes = 40960"),
        ({"core": {"wbuf_bytes": 8192}},
         "core.wbuf_bytes = 8192 is out of range; allowed 0 to 4096 bytes"),
        ({"core": {"wbuf_bytes": 100}},
         "core.wbuf_bytes = 100 must be a multiple of core.lanes = 8"),
    ],
)
def test_bad_values_name_key_and_range(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        NFCoreConfig.from_dict(data, source="bad.yaml")
    assert str(err.value).startswith("bad.yaml: ")
    assert message in str(err.value)


def test_int_is_accepted_for_float_keys() -> None:
    cfg = NFCoreConfig.from_dict({"technology": {"clock_mhz": 250}})
    assert cfg.clock_hz == 250e6


def test_load_reports_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        NFCoreConfig.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("core: [lanes: 8\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        NFCoreConfig.load(bad)


def test_hash_changes_with_any_value() -> None:
    base = NFCoreConfig()
    other = NFCoreConfig.from_dict({"core": {"acc_bits": 24}})
    assert base.hash() == NFCoreConfig().hash()
    assert base.hash() != other.hash()


def test_dram_and_power_sections() -> None:
    cfg = NFCoreConfig.from_dict({"dram": {"kind": "hbm", "latency_ns": 80, "bandwidth_gbps": 1000},
                        "power": {"wake_up_cycles": 50, "gated_retains_sram": False}})
    assert (cfg.dram.kind, cfg.dram.latency_ns, cfg.dram.bandwidth_gbps) == ("hbm", 80.0, 1000.0)
    assert cfg.power.wake_up_cycles == 50 and cfg.power.gated_retains_sram is False
    assert NFCoreConfig().power.gated_retains_sram is True
    assert NFCoreConfig().dram.kind == "ddr"
    for bad, message in (
            ({"dram": {"latency_ns": 0.5}}, r"dram.latency_ns = 0.5 is out of range; allowed "
                                            r"1.0 to 10000.0 ns"),
            ({"dram": {"kind": "sram"}}, "dram.kind = 'sram' is not allowed"),
            ({"power": {"gated_retains_sram": "yes"}}, "power.gated_retains_sram must be bool"),
            ({"power": {"wake_up_cycles": True}}, "power.wake_up_cycles must be int"),
            ({"power": {"sleep": 1}}, "unknown key power.sleep")):
        with pytest.raises(ConfigError, match=message):
            NFCoreConfig.from_dict(bad)


def test_check_field_reads_the_range_from_the_field_metadata() -> None:
    """Checks outside a config file (the RTL's) use the fields' own ranges and messages."""
    check_field(MeshConfig, "rows", 256)
    with pytest.raises(ConfigError, match=r"^Mesh: rows = 257 is out of range; allowed 1 to 256 "
                                          r"cores$"):
        check_field(MeshConfig, "rows", 257, "Mesh: rows")
    with pytest.raises(ConfigError, match=r"^lanes = 12 is not allowed; choose one of 8, 16, 32"):
        check_field(CoreConfig, "lanes", 12)


@pytest.mark.parametrize("text, message", [
    ("mesh:\n  rows: 4\nmesh:\n  rows: 2\n",
     r"line 3: duplicate key 'mesh' \(first at line 1\)"),
    ("core:\n  lanes: 8\n  lanes: 16\n", r"line 3: duplicate key 'lanes' \(first at line 2\)"),
])
def test_load_refuses_a_key_given_twice(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        NFCoreConfig.load(path)


@pytest.mark.parametrize("raw", ["mesh:\n  rows: 4\n".encode("utf-16"), b"\x00\x01\xfe\xff",
                                 b"mesh:\n  rows: \xe9\n"])
def test_load_refuses_what_is_not_utf8(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=r"binary.yaml: not UTF-8 text \(byte \d+ is 0x"):
        NFCoreConfig.load(path)


def test_yaml_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("mesh: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        NFCoreConfig.load(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("table", ["no_such_table", "missing/table.yaml", "horowitz_45nm.yml"])
def test_load_refuses_an_energy_table_that_does_not_exist(tmp_path: Path, table: str) -> None:
    """Issue 19: `energy_table: no_such_table` loaded, and failed only when a simulation ran."""
    path = tmp_path / "cfg.yaml"
    path.write_text(f"technology:\n  energy_table: {table}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: technology.energy_table = '{table}' is "
                                          r"not a known energy table; allowed names: "
                                          r"horowitz_45nm \(files in nfcore/sim/tables/energy/\)"):
        NFCoreConfig.load(path)


def test_an_energy_table_given_by_path_loads(tmp_path: Path) -> None:
    table = tmp_path / "mine.yaml"
    table.write_text((ENERGY_TABLES_DIR / "horowitz_45nm.yaml").read_text())
    cfg = NFCoreConfig.from_dict({"technology": {"energy_table": str(table)}})
    assert cfg.technology.energy_table == str(table)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"chips": {"count": 0}}, "chips.count = 0 is out of range; allowed 1 to 64 chips"),
        ({"chips": {"topology": "ring"}},
         "chips.topology = 'ring' is not allowed; choose one of star, chain"),
        ({"chips": {"link": {"bandwidth_gbps": 0}}},
         "chips.link.bandwidth_gbps = 0.0 is out of range; allowed 0.1 to 100000.0 Gb/s"),
        ({"chips": {"link": {"energy_pj_per_bit": -1.0}}},
         "chips.link.energy_pj_per_bit = -1.0 is out of range; allowed 0.0 to 1000.0 pJ/bit"),
        ({"chips": {"link": {"latency": 2}}}, "unknown key chips.link.latency"),
    ],
)
def test_chips_section_errors_name_key_and_range(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        NFCoreConfig.from_dict(data)
    assert message in str(err.value)


def test_two_chips_example_loads() -> None:
    cfg = NFCoreConfig.load(default_config_path().parent / "two_chips.yaml")
    assert (cfg.chips.count, cfg.chips.topology) == (2, "star")
    assert NFCoreConfig().chips.count == 1  # one chip unless a config says otherwise
