"""`NFCoreConfig`: the one description of the hardware, read by every stage.

A configuration is YAML with sections that mirror the dataclasses below. Loading validates
every value and fails with the key's dotted path and the allowed range, so a typo is caught
before any work starts::

    core:
      lanes: 8                  # MAC lanes; one weight SRAM word is `lanes` bytes
      weight_sram_bytes: 65536
    technology:
      energy_table: horowitz_45nm

Keys that are not given take the defaults below; unknown keys are errors.

Each field's allowed values live in its metadata (choices, min/max with a unit, or a pattern) and
nowhere else: `check_field` applies them to values that do not come from a config file (the
RTL's parameter checks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from nfcore.arch.isa import ACT_ADDR_BITS, PC_BITS, WEIGHT_ADDR_BITS
from nfcore.arch.noc import COORD_BITS
from nfcore.errors import ConfigError

# The ISA's address fields bound the memories a core can address; a config that the
# encoding cannot reach fails at load time.
_MAX_WEIGHT_WORDS = 1 << WEIGHT_ADDR_BITS
_MAX_ACT_WORDS = 1 << ACT_ADDR_BITS
_MAX_IMEM_DEPTH = 1 << PC_BITS
# A packet header's coordinate fields bound the mesh.
_MAX_MESH_SIDE = 1 << COORD_BITS


def _range(lo: float, hi: float, unit: str = "") -> dict[str, Any]:
    return {"min": lo, "max": hi, "unit": unit}


ENERGY_TABLES_DIR = Path(__file__).resolve().parent / "sim" / "tables" / "energy"
"""The named energy tables: one YAML file per table (read by `nfcore.sim.cost.energy`)."""


def energy_table_path(name_or_path: str) -> Path:
    """The file of an energy table given by name (a file in `ENERGY_TABLES_DIR`) or by path:
    a string with no path separator and no `.yaml`/`.yml` suffix is a name."""
    text = str(name_or_path)
    is_name = not any(s in text for s in ("/", "\\")) and not text.endswith((".yaml", ".yml"))
    return ENERGY_TABLES_DIR / f"{text}.yaml" if is_name else Path(text)


def energy_table_names() -> list[str]:
    return sorted(p.stem for p in ENERGY_TABLES_DIR.glob("*.yaml"))


def _table(folder_help: str) -> dict[str, Any]:
    """Metadata of a field naming an energy table: it must exist when the config loads."""
    return {"energy_table": folder_help}


def _choices(*values: Any) -> dict[str, Any]:
    return {"choices": values}


@dataclass(frozen=True)
class CoreConfig:
    """One micro-core: its datapath width and its memories."""

    lanes: int = field(default=8, metadata=_choices(8, 16, 32))
    """MAC lanes. A weight or activation SRAM word is `lanes` bytes."""
    weight_sram_bytes: int = field(default=65536, metadata=_range(1024, 1 << 20, "bytes"))
    """Weight SRAM per core, a multiple of `lanes` and at most 2**14 words."""
    weight_subbank_bytes: int = field(default=8192,
                                      metadata=_choices(*(1 << k for k in range(10, 21))))
    """Size of one weight SRAM sub-bank (a power of two). A read activates the one sub-bank
    that holds its word and is charged that array's energy (the RTL's weight memory is one
    `Memory`; sub-banks are how it is built as SRAM macros). Every sub-bank leaks at the full
    rate: gating empty ones is not modelled. At or above `weight_sram_bytes` the weight SRAM
    is one bank."""
    wbuf_bytes: int = field(default=0, metadata=_range(0, 4096, "bytes"))
    """Weight reuse buffer (a latch array), a multiple of `lanes`; 0 = none, the default: the
    RTL has no buffer yet, so the default chip's energy does not count one (the sweep
    `sweeps/core_energy.yaml` prices it). It keeps the
    weight region of the last MATVEC that fits, so a LOOP's MATVEC (a conv kernel across
    positions, an RNN cell across steps) reads the weight SRAM once per run."""
    act_sram_bytes: int = field(default=4096, metadata=_range(256, 1 << 15, "bytes"))
    """Activation scratchpad per core, a multiple of `lanes` and at most 2**10 words."""
    imem_depth: int = field(default=256, metadata=_range(4, _MAX_IMEM_DEPTH, "instructions"))
    """Instruction memory depth in 64-bit instructions."""
    acc_bits: int = field(default=32, metadata=_range(16, 32, "bits"))
    """Accumulator width; sums wrap modulo 2**acc_bits (the compiler keeps them in range)."""

    @property
    def weight_words(self) -> int:
        return self.weight_sram_bytes // self.lanes

    @property
    def act_words(self) -> int:
        return self.act_sram_bytes // self.lanes

    @property
    def subbank_bytes(self) -> int:
        """Bytes of one weight sub-bank as built: `weight_subbank_bytes`, or the whole
        weight SRAM when that is smaller."""
        return min(self.weight_subbank_bytes, self.weight_sram_bytes)

    @property
    def weight_subbanks(self) -> int:
        """Sub-banks of the weight SRAM."""
        return self.weight_sram_bytes // self.subbank_bytes

    @property
    def wbuf_words(self) -> int:
        return self.wbuf_bytes // self.lanes


@dataclass(frozen=True)
class MeshConfig:
    """The array of cores: `rows` x `cols` micro-cores, each with a router."""

    rows: int = field(default=16, metadata=_range(1, _MAX_MESH_SIDE, "cores"))
    cols: int = field(default=16, metadata=_range(1, _MAX_MESH_SIDE, "cores"))
    core_pitch_mm: float = field(default=0.5, metadata=_range(0.01, 10.0, "mm"))
    """Distance between neighbouring cores; sets the wire length of one network hop."""


@dataclass(frozen=True)
class TechnologyConfig:
    """Technology and the energy table that every energy figure comes from."""

    node_nm: int = field(default=45, metadata=_range(3, 180, "nm"))
    clock_mhz: float = field(default=500.0, metadata=_range(1.0, 5000.0, "MHz"))
    energy_table: str = field(default="horowitz_45nm",
                              metadata=_table("nfcore/sim/tables/energy/"))
    """Name of a table in `nfcore/sim/tables/energy/` or a path to a YAML table."""
    energy_scale: float = field(default=1.0, metadata=_range(0.01, 10.0, "x"))
    """Factor applied to every energy after the table's energies are moved to `node_nm` by
    the node model (`nfcore/sim/cost/nodes.py`). A stated assumption, printed in every
    report; 1 means the node model alone."""


@dataclass(frozen=True)
class DramConfig:
    """The DRAM channel that pages non-resident trees' weights onto the chip."""

    kind: str = field(default="ddr", metadata=_choices("ddr", "hbm"))
    """Which energy-table row prices a DRAM bit: `ddr` (Horowitz's 64-bit DRAM read) or
    `hbm` (HBM2, O'Connor et al.)."""
    latency_ns: float = field(default=100.0, metadata=_range(1.0, 10000.0, "ns"))
    """From a read request to its first byte, with an idle channel (default: an assumed
    typical DDR4 figure)."""
    bandwidth_gbps: float = field(default=204.8, metadata=_range(0.1, 100000.0, "Gb/s"))
    """Channel bandwidth in gigabits per second (204.8 Gb/s = 25.6 GB/s, one 64-bit
    DDR4-3200 channel)."""


@dataclass(frozen=True)
class PowerConfig:
    """Per-core power states: active (running), idle (clock-gated, leaking), gated."""

    wake_up_cycles: int = field(default=20, metadata=_range(0, 100000, "cycles"))
    """Cycles from a request reaching a gated core to the core taking it (the RTL's
    contract, `nfcore.hdl.power`; the default value is an assumption)."""
    gate_after_idle_cycles: int = field(default=2000, metadata=_range(0, 1 << 40, "cycles"))
    """An idle core is power-gated after this many cycles without work (a policy choice;
    default an assumption)."""
    gated_retains_sram: bool = field(default=True, metadata={})
    """True: a gated core keeps its SRAM at a retention voltage (leaking a fraction, see the
    energy table) and its weights survive. False: a gated core is fully off and its trees'
    weights must be reloaded from DRAM when it wakes."""


@dataclass(frozen=True)
class HostConfig:
    """The host beside the chip, as far as the chip's timing depends on it."""

    decision_cycles: int = field(default=100, metadata=_range(1, 1_000_000, "cycles"))
    """Cycles from the host taking the tail of a request's router scores (the on-chip
    router's result packet) to presenting RUN to the trees it picked: reading the scores and
    taking the top-k (`nfcore.sim.net.dispatch`). The default, 200 ns at 500 MHz, is an
    assumption (a host core's top-k over about a hundred int8 scores), not a measurement."""


@dataclass(frozen=True)
class LinkConfig:
    """One chip-to-chip link, each direction a FIFO server (`nfcore.sim.system.link`).

    Defaults: a UCIe standard-package (2D) module, 16 lanes at 32 GT/s. Source: D. Das
    Sharma (Intel), UCIe for on-package memory, IEEE Hot Interconnects 2025, as summarised
    at https://dev.convergedigest.com/?p=104749: 2D links 0.5 pJ/bit up to 16 GT/s and 0.6
    pJ/bit above, about 2 ns round trip. (Das Sharma et al., IEEE Trans. CPMT 12(9), 2022,
    defines the UCIe 1.0 standard package; its table was not checked here.)"""

    bandwidth_gbps: float = field(default=512.0, metadata=_range(0.1, 100000.0, "Gb/s"))
    """Payload bandwidth per direction (512 Gb/s = 16 lanes x 32 GT/s, UCIe standard
    package; its flit framing and CRC are not modelled)."""
    latency_ns: float = field(default=2.0, metadata=_range(0.0, 100000.0, "ns"))
    """From a message's last bit leaving one chip to it reaching the other (UCIe's target
    for the PHY and die-to-die adapter, both sides: < 2 ns)."""
    energy_pj_per_bit: float = field(default=0.6, metadata=_range(0.0, 1000.0, "pJ/bit"))
    """Energy of one bit over the link (UCIe 2D above 16 GT/s: 0.6 pJ/bit, source above)."""


@dataclass(frozen=True)
class ChipsConfig:
    """How many chips serve one forest, and how they are joined. The host is attached to
    chip 0 (the host chip); a request reaches chip k over the links between chip 0 and k."""

    count: int = field(default=1, metadata=_range(1, 64, "chips"))
    """Chips, each a whole `mesh` of `core`s with its own DRAM channel."""
    topology: str = field(default="star", metadata=_choices("star", "chain"))
    """star: a link from chip 0 to every other chip; chain: chip k reaches chip 0 through
    chips k - 1, ..., 1 (k links, store and forward at each)."""
    link: LinkConfig = field(default_factory=LinkConfig)


@dataclass(frozen=True)
class NFCoreConfig:
    """The hardware. Frozen: derive a changed copy with `dataclasses.replace`."""

    core: CoreConfig = field(default_factory=CoreConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    technology: TechnologyConfig = field(default_factory=TechnologyConfig)
    dram: DramConfig = field(default_factory=DramConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    host: HostConfig = field(default_factory=HostConfig)
    chips: ChipsConfig = field(default_factory=ChipsConfig)

    def __post_init__(self) -> None:
        c = self.core
        for key, size, max_words in (
            ("core.weight_sram_bytes", c.weight_sram_bytes, _MAX_WEIGHT_WORDS),
            ("core.act_sram_bytes", c.act_sram_bytes, _MAX_ACT_WORDS),
            ("core.wbuf_bytes", c.wbuf_bytes, _MAX_WEIGHT_WORDS),
        ):
            if size % c.lanes:
                raise ConfigError(
                    f"{key} = {size} must be a multiple of core.lanes = {c.lanes}"
                )
            if size // c.lanes > max_words:
                raise ConfigError(
                    f"{key} = {size} exceeds what the ISA can address with "
                    f"core.lanes = {c.lanes}: at most {max_words * c.lanes} bytes "
                    f"({max_words} words)"
                )
        if c.weight_sram_bytes % c.subbank_bytes:
            raise ConfigError(
                f"core.weight_subbank_bytes = {c.weight_subbank_bytes} must divide "
                f"core.weight_sram_bytes = {c.weight_sram_bytes}"
            )

    @property
    def clock_hz(self) -> float:
        return self.technology.clock_mhz * 1e6

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """SHA-256 of the resolved config; images record it to refuse a mismatched config."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> NFCoreConfig:
        return _build(cls, data, path="", source=source)

    @classmethod
    def load(cls, path: str | Path) -> NFCoreConfig:
        path = Path(path)
        try:
            data = read_yaml(path)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
        return cls.from_dict(data if data is not None else {}, source=str(path))


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that gives one key twice (plain YAML keeps the
    last, so a second `mesh:` would silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"{self.name}: line {line}: duplicate key {key!r} (first at "
                                  f"line {seen[key]}); give each key once")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path, error: type[ConfigError] = ConfigError) -> Any:
    """The YAML document of the file `path`: UTF-8 text, safe tags only, no key given twice.
    Raises `error` (a `ConfigError`) naming the file and what is wrong; OSError if the file
    cannot be read."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); "
                    "a YAML file of NF-Core is UTF-8") from None
    loader = _StrictLoader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except ConfigError as exc:
        raise error(str(exc)) from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]


T = TypeVar("T")


def _build(cls: type[T], data: Any, path: str, source: str) -> T:
    where = path.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {path}{unknown[0]!s}; allowed keys at {where}: "
            f"{', '.join(sorted(fields))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        key = f"{path}{name}"
        section = f.default_factory
        if isinstance(section, type) and dataclasses.is_dataclass(section):
            kwargs[name] = _build(section, value, path=f"{key}.", source=source)
        else:
            kwargs[name] = _check_value(key, value, f, source)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def build_validated(cls: type[T], data: Any, path: str = "", source: str = "<dict>") -> T:
    """Validate the mapping `data` into the frozen dataclass `cls` by the rules of the config
    (field metadata: choices, or min/max with a unit; nested dataclass sections; unknown keys
    are errors). `path` prefixes key names in messages (e.g. "forest."). Other YAML files
    (sweep files) reuse it so their errors read like the config's."""
    return _build(cls, data, path=path, source=source)


def _check_value(key: str, value: Any, f: dataclasses.Field[Any], source: str) -> Any:
    expected = type(f.default)
    # bool is an int subclass: only a bool field accepts true/false.
    ok_type = isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok_type = float(value), True
    if not ok_type:
        raise ConfigError(
            f"{source}: {key} must be {expected.__name__}, got {value!r} "
            f"({type(value).__name__})"
        )
    problem = _disallowed(key, value, f.metadata)
    if problem:
        raise ConfigError(f"{source}: {problem}")
    return value


def _disallowed(key: str, value: Any, meta: Mapping[str, Any]) -> str | None:
    """Why `value` is not allowed by a field's metadata (choices, min/max, a `pattern` with
    its `pattern_help`, or an `energy_table` that must exist), else None."""
    if "choices" in meta and value not in meta["choices"]:
        allowed = ", ".join(str(c) for c in meta["choices"])
        return f"{key} = {value!r} is not allowed; choose one of {allowed}"
    if "min" in meta and not meta["min"] <= value <= meta["max"]:
        unit = f" {meta['unit']}" if meta.get("unit") else ""
        return f"{key} = {value!r} is out of range; allowed {meta['min']} to {meta['max']}{unit}"
    if "pattern" in meta and not re.fullmatch(meta["pattern"], str(value)):
        return f"{key} = {value!r} is not allowed; {meta['pattern_help']}"
    if "energy_table" in meta and not energy_table_path(value).is_file():
        return (f"{key} = {value!r} is not a known energy table; allowed names: "
                f"{', '.join(energy_table_names())} (files in {meta['energy_table']}), or the "
                "path of a table file that exists")
    return None


def _field(section: type, name: str) -> dataclasses.Field[Any]:
    fields = {f.name: f for f in dataclasses.fields(section)}
    return fields[name]


def check_field(section: type, name: str, value: Any, key: str | None = None) -> None:
    """Raise ConfigError if `value` is outside what field `name` of the config section
    `section` allows (its metadata: choices, or min/max with a unit). The message names `key`
    (default `name`) and the allowed range, as a config file's errors do. For checks of values
    that do not come from a config file, e.g. the RTL's constructor arguments."""
    problem = _disallowed(key or name, value, _field(section, name).metadata)
    if problem:
        raise ConfigError(problem)


def default_config_path() -> Path:
    return Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
