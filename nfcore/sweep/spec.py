"""The sweep file: what forest, which base hardware, which parameters vary, how to sample.

A sweep file is YAML, validated like the config (`nfcore.config.build_validated`): a wrong
key or value fails at load time with the file, the key's path and the allowed range::

    name: mesh-and-sram
    forest:                      # trained once per distinct spec, cached on disk
      dataset: multitask
      tasks: 16
    base_config: ../configs/default.yaml   # relative to this file; default: the default config
    config: {mesh: {rows: 4, cols: 4}}     # optional inline overrides of the base
    simulation: {requests: 400, golden_requests: 50, utilization: 0.5}  # or rate_rps: 1e5
    sampling: {method: grid}               # or {method: random, samples: 12, seed: 0}
    parameters:
      mesh.size: [4, 6, 8]                 # rows = cols
      core.lanes: [8, 16]
      core.weight_sram_bytes: {from: 8192, to: 65536, times: 2}
      technology:                          # linked values: a section's keys vary together
        - {node_nm: 45, energy_scale: 1.0}
        - {node_nm: 7, clock_mhz: 1000.0}
      energy_table.leakage_core_uw: [10, 20, 40]
      forest.top_k: [1, 2]

Parameter names: `<section>.<key>` of the config; `<section>` alone with mappings (keys of
that section varied together, e.g. a node with its clock); `mesh.size`
(square meshes); `forest.<key>` (a different trained forest); `energy_table.<row>` (a row of
the base energy table replaced, e.g. the leakage rows, which have no single sourced figure).
Values: a list, `{from, to, step}` (arithmetic, inclusive) or `{from, to, times}`
(geometric, inclusive). Each value is checked alone at load time; a combination the config
rejects (e.g. SRAM not a multiple of lanes) becomes a failed point of the sweep.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forest.datasets import DATASETS
from nfcore.config import NFCoreConfig, build_validated, default_config_path, read_yaml
from nfcore.errors import ConfigError
from nfcore.sim.cost.area import AreaTable
from nfcore.sim.cost.energy import EnergyTable

MAX_POINTS = 100_000
"""Largest grid a sweep file may expand to (a typo in a range should not hang the CLI)."""


class SweepError(ConfigError):
    """A sweep file is missing, not valid YAML, or has a bad key or value."""


def _range(lo: float, hi: float, unit: str = "") -> dict[str, Any]:
    return {"min": lo, "max": hi, "unit": unit}


@dataclass(frozen=True)
class ForestSpec:
    """The forest every point compiles: trained once per distinct spec (`forests.py`).
    0 means the dataset's preset (`forest.command.PRESETS`), which also sets the tree kinds
    (multitask: MLP trees; digits: CNN and MLP; sequence: RNN and MLP)."""

    dataset: str = field(default="multitask", metadata={"choices": tuple(DATASETS)})
    tasks: int = field(default=16, metadata=_range(2, 100_000, "tasks"))
    """Tasks of the synthetic multitask dataset (multitask: one tree per task)."""
    trees: int = field(default=0, metadata=_range(0, 100_000, "trees"))
    top_k: int = field(default=0, metadata=_range(0, 64, "trees per request"))
    tree_size: int = field(default=0, metadata=_range(0, 4096, "hidden units"))
    epochs: int = field(default=0, metadata=_range(0, 10_000, "passes"))
    seed: int = field(default=0, metadata=_range(0, 2**31 - 1))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SimulationSpec:
    """How each point is simulated."""

    requests: int = field(default=500, metadata=_range(1, 10_000_000, "requests"))
    golden_requests: int = field(default=50, metadata=_range(1, 1_000_000, "requests"))
    """Requests whose selected trees also run on the golden model (bit-exact check)."""
    utilization: float = field(default=0.5, metadata=_range(0.01, 1.0, "of the busiest "
                                                                        "resource"))
    """Offered load: Poisson arrivals that keep each design's busiest core or host link busy
    this share of the time (`nfcore.flows.system.arrival_interval_cycles`), so latency is
    compared at equal relative load."""
    rate_rps: float = field(default=0.0, metadata=_range(0.0, 1e12, "requests/s"))
    """A fixed Poisson arrival rate for every point instead (0: `utilization` decides): a
    capacity sweep compares designs at the load they must serve."""
    seed: int = field(default=0, metadata=_range(0, 2**31 - 1))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SamplingSpec:
    method: str = field(default="grid", metadata={"choices": ("grid", "random")})
    samples: int = field(default=16, metadata=_range(1, MAX_POINTS, "points"))
    """Random sampling: distinct points drawn from the grid (all of it if it is smaller)."""
    seed: int = field(default=0, metadata=_range(0, 2**31 - 1))


@dataclass(frozen=True)
class _Header:
    name: str = field(default="sweep", metadata={
        "pattern": r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,63}",
        "pattern_help": "a sweep name is 1 to 64 letters, digits, '.', '_' or '-', starting "
                        "with a letter or digit and without '..' (it names the folder "
                        "reports/sweep-<name>)"})
    base_config: str = field(default="", metadata={})
    forest: ForestSpec = field(default_factory=ForestSpec)
    simulation: SimulationSpec = field(default_factory=SimulationSpec)
    sampling: SamplingSpec = field(default_factory=SamplingSpec)


@dataclass(frozen=True)
class Parameter:
    """One varied parameter: its name as written and its values (each checked alone)."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    """One design point: parameter values and what they resolve to."""

    index: int
    values: dict[str, Any]
    """Parameter name -> value, as in the sweep file."""
    config: dict[str, Any]
    """Config mapping (base + overrides); validated as a whole when the point runs."""
    forest: ForestSpec
    table_rows: dict[str, float]
    """Energy-table rows replaced for this point (name -> value in the row's unit)."""


@dataclass(frozen=True)
class SweepSpec:
    name: str
    source: Path
    base_config: dict[str, Any]
    forest: ForestSpec
    simulation: SimulationSpec
    sampling: SamplingSpec
    parameters: tuple[Parameter, ...]

    @classmethod
    def load(cls, path: str | Path) -> SweepSpec:
        path = Path(path)
        try:
            data = read_yaml(path, SweepError)
        except OSError as exc:
            raise SweepError(f"{path}: cannot read sweep file: {exc.strerror}") from exc
        return cls.from_dict(data if data is not None else {}, path)

    @classmethod
    def from_dict(cls, data: Any, path: Path) -> SweepSpec:
        src = str(path)
        if not isinstance(data, dict):
            raise SweepError(f"{src}: a sweep file is a mapping, got {type(data).__name__}")
        data = dict(data)
        params_raw = data.pop("parameters", None)
        inline = data.pop("config", {}) or {}
        header = build_validated(_Header, data, source=src)
        base = _base_config(header.base_config, inline, path)
        if not isinstance(params_raw, dict) or not params_raw:
            raise SweepError(f"{src}: 'parameters' must be a non-empty mapping of parameter "
                             "name to values")
        table = EnergyTable.load(str(base.get("technology", {}).get(
            "energy_table", NFCoreConfig().technology.energy_table)))
        params = tuple(_parameter(str(name), raw, src, table)
                       for name, raw in params_raw.items())
        _check_area_nodes(base, params, src)
        spec = cls(header.name, path, base, header.forest, header.simulation,
                   header.sampling, params)
        if spec.sampling.method == "grid" and spec.grid_size() > MAX_POINTS:
            raise SweepError(f"{src}: the grid has {spec.grid_size()} points; at most "
                             f"{MAX_POINTS} (use sampling.method: random)")
        return spec

    def grid_size(self) -> int:
        return int(np.prod([len(p.values) for p in self.parameters], dtype=object))

    def points(self) -> list[Point]:
        """The points to run: the whole grid, or `sampling.samples` distinct grid points
        drawn with `sampling.seed` (in grid order)."""
        sizes = [len(p.values) for p in self.parameters]
        total = self.grid_size()
        if self.sampling.method == "grid" or self.sampling.samples >= total:
            combos: list[tuple[int, ...]] = list(itertools.product(*map(range, sizes)))
        else:
            rng = np.random.default_rng(self.sampling.seed)
            flat = sorted(rng.choice(total, size=self.sampling.samples, replace=False).tolist())
            combos = [tuple(int(i) for i in np.unravel_index(f, sizes)) for f in flat]
        return [self._point(n, combo) for n, combo in enumerate(combos)]

    def _point(self, index: int, combo: tuple[int, ...]) -> Point:
        config = _deep_copy(self.base_config)
        forest: dict[str, Any] = {}
        rows: dict[str, float] = {}
        values: dict[str, Any] = {}
        for param, i in zip(self.parameters, combo, strict=True):
            value = param.values[i]
            values[param.name] = value
            head, _, key = param.name.partition(".")
            if param.name == "mesh.size":
                config.setdefault("mesh", {}).update(rows=value, cols=value)
            elif head == "forest":
                forest[key] = value
            elif head == "energy_table":
                rows[key] = float(value)
            elif not key:
                config.setdefault(head, {}).update(value)
            else:
                config.setdefault(head, {})[key] = value
        return Point(index, values, config, dataclasses.replace(self.forest, **forest), rows)


_CONFIG_SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(NFCoreConfig)}


def _parameter(name: str, raw: Any, src: str, table: EnergyTable) -> Parameter:
    where = f"{src}: parameters.{name}"
    values = _expand(raw, where)
    head, _, key = name.partition(".")
    for i, value in enumerate(values):
        at = f"{where}[{i}]"
        if name == "mesh.size":
            build_validated(_CONFIG_SECTIONS["mesh"], {"rows": value},  # type: ignore[arg-type]
                            path="mesh.", source=at)
        elif head == "forest" and key:
            build_validated(ForestSpec, {key: value}, path="forest.", source=at)
        elif head == "energy_table" and key:
            if key not in table.rows:
                raise SweepError(f"{at}: energy table {table.name} has no row {key!r}; rows: "
                                 f"{', '.join(sorted(table.rows))}")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 \
                    or not math.isfinite(value):
                raise SweepError(f"{at}: {key} must be a finite number >= 0 "
                                 f"({table.rows[key].unit}), got {value!r}")
        elif head in _CONFIG_SECTIONS:
            section = _CONFIG_SECTIONS[head]
            if key:
                build_validated(section, {key: value}, path=f"{head}.",  # type: ignore[arg-type]
                                source=at)
            elif isinstance(value, dict):
                build_validated(section, value, path=f"{head}.",  # type: ignore[arg-type]
                                source=at)
            else:
                raise SweepError(f"{at}: values of a whole section ({head}) are mappings of "
                                 f"its keys, got {value!r}")
        else:
            allowed = ", ".join([*(f"{s}.<key>" for s in _CONFIG_SECTIONS), "mesh.size",
                                 "forest.<key>", "energy_table.<row>"])
            raise SweepError(f"{where}: unknown parameter {name!r}; allowed: {allowed}")
    return Parameter(name, tuple(values))


def _check_area_nodes(base: dict[str, Any], params: tuple[Parameter, ...], src: str) -> None:
    """Every node the sweep can reach must have area figures (the area is an objective)."""
    nodes = AreaTable.load().nodes()
    reach = [("base config technology.node_nm",
              base.get("technology", {}).get("node_nm", NFCoreConfig().technology.node_nm))]
    for p in params:
        for i, v in enumerate(p.values):
            if p.name == "technology.node_nm":
                reach.append((f"parameters.{p.name}[{i}]", v))
            elif p.name == "technology" and "node_nm" in v:
                reach.append((f"parameters.technology[{i}].node_nm", v["node_nm"]))
    for where, node in reach:
        if node not in nodes:
            raise SweepError(f"{src}: {where} = {node}: the area table has no figures for "
                             f"that node; nodes with sourced figures: "
                             f"{', '.join(map(str, nodes))}")


def _expand(raw: Any, where: str) -> list[Any]:
    """A value list, or an inclusive {from, to, step} / {from, to, times} range."""
    if isinstance(raw, list):
        if not raw:
            raise SweepError(f"{where}: the value list is empty")
        return raw
    if not isinstance(raw, dict):
        raise SweepError(f"{where}: give a list of values or a range "
                         f"{{from, to, step}} / {{from, to, times}}, got {raw!r}")
    keys = set(raw)
    if keys not in ({"from", "to", "step"}, {"from", "to", "times"}):
        raise SweepError(f"{where}: a range has keys from, to and step (arithmetic) or "
                         f"times (geometric); got {', '.join(sorted(map(str, keys)))}")
    lo, hi = raw["from"], raw["to"]
    by = raw["times"] if "times" in raw else raw["step"]
    nums = (lo, hi, by)
    if any(isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
           for v in nums):
        raise SweepError(f"{where}: range bounds and step must be finite numbers, got {raw!r}")
    if hi < lo:
        raise SweepError(f"{where}: range 'to' ({hi}) is below 'from' ({lo})")
    geometric = "times" in raw
    if (geometric and (by <= 1 or lo <= 0)) or (not geometric and by <= 0):
        need = "times must be > 1 and from > 0" if geometric else "step must be > 0"
        raise SweepError(f"{where}: {need}, got {raw!r}")
    count = math.log(hi / lo) / math.log(by) if geometric else (hi - lo) / by
    if count >= MAX_POINTS:
        raise SweepError(f"{where}: the range has more than {MAX_POINTS} values; at most "
                         f"{MAX_POINTS} (a larger step, or a list of values)")
    out: list[Any] = []
    v = lo
    while v <= hi * (1 + 1e-12):
        out.append(v)
        v = v * by if geometric else v + by
    if all(isinstance(x, int) for x in nums):
        out = [int(x) for x in out]
    else:
        out = [round(float(x), 12) for x in out]
    return out


def _base_config(base_path: str, inline: Any, sweep_path: Path) -> dict[str, Any]:
    """The base config mapping (file, then the sweep's inline overrides), validated."""
    path = (sweep_path.parent / base_path) if base_path else default_config_path()
    try:
        data = read_yaml(path) or {}
    except OSError as exc:
        raise SweepError(f"{sweep_path}: base_config {path}: cannot read: "
                         f"{exc.strerror}") from exc
    except ConfigError as exc:
        raise SweepError(f"{sweep_path}: base_config {exc}") from None
    if not isinstance(inline, dict):
        raise SweepError(f"{sweep_path}: config must be a mapping of config sections")
    merged = _merge(data, inline)
    NFCoreConfig.from_dict(merged, source=f"{sweep_path} (base_config + config)")
    return merged


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = _deep_copy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}
