"""The sweep report: every point as a table (md, csv, json), Pareto fronts as PNGs, and the
best point per objective with its config as YAML that `NFCoreConfig.load` reads.

Files in the output folder: `report.md`, `points.csv`, `points.json`,
`pareto_energy_latency.png`, `pareto_energy_area.png`, `best/<objective>.yaml`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import yaml

from nfcore.config import NFCoreConfig
from nfcore.sim.cost.area import AreaTable, area_summary
from nfcore.sweep.pareto import pareto_front
from nfcore.sweep.runner import SweepOutcome
from nfcore.sweep.spec import SweepSpec
from nfcore.sweep.store import StoredPoint

matplotlib.use("Agg")  # figures go to files; never open a window
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

OBJECTIVES = {
    "energy": ("energy_pj_per_inference", "energy per inference (pJ)"),
    "latency": ("latency_s_p50", "median latency (s)"),
    "area": ("area_mm2", "modelled area (mm^2)"),
}
"""Objectives a best point is chosen for (all minimised): name -> (metric, label)."""

_PLOT_UNITS = {"latency": (1e9, "median latency (ns)")}
"""Objectives plotted in another unit: name -> (factor, axis label)."""

FRONTS = {"pareto_energy_latency.png": ("latency", "energy"),
          "pareto_energy_area.png": ("area", "energy")}
"""Pareto plots: file -> (x objective, y objective)."""

COLUMNS = ("energy_pj_per_inference", "latency_s_p50", "latency_s_p99", "throughput_rps",
           "area_mm2", "accuracy_int8", "paged_trees", "cores_used")


def write_report(spec: SweepSpec, outcome: SweepOutcome, out_dir: Path) -> dict[str, Any]:
    """Write the report files; return its summary (fronts, best points)."""
    points = outcome.points
    ok = [p for p in points if p.status == "ok"]
    names = [p.name for p in spec.parameters]
    _write_tables(out_dir, points, names)
    fronts: dict[str, list[int]] = {}
    for fname, (xo, yo) in FRONTS.items():
        front = _front(ok, xo, yo)
        fronts[fname] = [ok[i].index for i in front]
        if ok:
            _plot_front(out_dir / fname, ok, front, xo, yo, spec.name)
    best = _write_best(out_dir, spec, ok)
    summary = {"sweep": spec.name, "points": len(points), "ok": len(ok),
               "failed": len(points) - len(ok), "ran_this_time": outcome.ran,
               "seconds": outcome.seconds, "pareto_fronts": fronts, "best": best}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    _write_markdown(out_dir, spec, points, names, summary)
    return summary


def _front(ok: list[StoredPoint], xo: str, yo: str) -> list[int]:
    if not ok:
        return []
    costs = [[p.metrics[OBJECTIVES[xo][0]], p.metrics[OBJECTIVES[yo][0]]] for p in ok]
    return pareto_front(costs)


def _row(p: StoredPoint, names: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"point": p.index, "status": p.status}
    row.update({n: json.dumps(p.params.get(n)) if isinstance(p.params.get(n), dict)
                else p.params.get(n) for n in names})
    row.update({c: p.metrics.get(c) for c in COLUMNS})
    row["error"] = p.error
    row["seconds"] = round(p.seconds, 3)
    return row


def _write_tables(out_dir: Path, points: list[StoredPoint], names: list[str]) -> None:
    rows = [_row(p, names) for p in points]
    with open(out_dir / "points.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["point"])
        writer.writeheader()
        writer.writerows(rows)
    full = [{"point": p.index, "key": p.key, "params": p.params, "status": p.status,
             "error": p.error, "metrics": p.metrics, "config": p.config,
             "seconds": p.seconds} for p in points]
    (out_dir / "points.json").write_text(json.dumps(full, indent=1))


def _write_best(out_dir: Path, spec: SweepSpec, ok: list[StoredPoint]) -> dict[str, Any]:
    """best/<objective>.yaml per objective: the resolved config of the point with the lowest
    value (ties: the lower point index)."""
    best: dict[str, Any] = {}
    if not ok:
        return best
    (out_dir / "best").mkdir(exist_ok=True)
    for name, (metric, label) in OBJECTIVES.items():
        p = min(ok, key=lambda q: (q.metrics[metric], q.index))
        cfg = NFCoreConfig.from_dict(p.config, source=f"point {p.index}")
        path = out_dir / "best" / f"{name}.yaml"
        header = (f"# Best {label} of sweep {spec.name!r}: point {p.index}, "
                  f"{metric} = {p.metrics[metric]:.6g}\n"
                  f"# parameters: {json.dumps(p.params)}\n"
                  f"# forest (not part of the hardware config): "
                  f"{json.dumps(spec.forest.to_dict())} with the point's forest.* values\n")
        path.write_text(header + yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        NFCoreConfig.load(path)  # what we write must load back
        best[name] = {"point": p.index, "metric": metric, "value": p.metrics[metric],
                      "params": p.params, "config_yaml": str(path)}
    return best


def _plot_front(path: Path, ok: list[StoredPoint], front: list[int], xo: str, yo: str,
                title: str) -> None:
    (xm, xl), (ym, yl) = OBJECTIVES[xo], OBJECTIVES[yo]
    xf, xl = _PLOT_UNITS.get(xo, (1.0, xl))
    yf, yl = _PLOT_UNITS.get(yo, (1.0, yl))
    x = np.array([p.metrics[xm] for p in ok]) * xf
    y = np.array([p.metrics[ym] for p in ok]) * yf
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    ax.scatter(x, y, s=18, color="0.6", label=f"all points ({len(ok)})")
    ax.plot(x[front], y[front], "o-", color="tab:red", ms=5, drawstyle="steps-post",
            label=f"Pareto front ({len(front)})")
    for i in front:
        ax.annotate(str(ok[i].index), (x[i], y[i]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    # Log axes only where the points span a decade or more (else the ticks are unreadable).
    for values, set_scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if values.min() > 0 and values.max() / values.min() >= 10:
            set_scale("log")
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_title(f"sweep {title}: {yl.split(' (')[0]} vs {xl.split(' (')[0]}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _write_markdown(out_dir: Path, spec: SweepSpec, points: list[StoredPoint],
                    names: list[str], summary: dict[str, Any]) -> None:
    rows = [_row(p, names) for p in points]
    cols = ["point", *names, *COLUMNS, "status"]
    lines = [f"# Sweep {spec.name}", "",
             f"{summary['points']} points ({summary['ok']} ok, {summary['failed']} failed), "
             f"{summary['ran_this_time']} computed by the last run in "
             f"{summary['seconds']:.1f} s. Sweep file: `{spec.source}`.", "",
             f"Forest: `{json.dumps(spec.forest.to_dict())}` (per point, `forest.*` "
             "parameters override it). Each point: the trained forest compiled for the "
             "point's config, checked on the golden model, placed, and simulated in SimPy with "
             f"{spec.simulation.requests} Poisson requests at {_load(spec)}.", ""]
    lines += ["## Best point per objective", ""]
    for name, b in summary["best"].items():
        lines.append(f"- {name}: point {b['point']}, {b['metric']} = {b['value']:.4g}, "
                     f"{json.dumps(b['params'])} -> `{b['config_yaml']}`")
    lines += ["", "## Pareto fronts", ""]
    for fname, idx in summary["pareto_fronts"].items():
        lines += [f"![{fname}]({fname})", "", f"Front ({fname}): points {idx}", ""]
    lines += ["## All points", "", "| " + " | ".join(cols) + " |",
              "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    failed = [p for p in points if p.status != "ok"]
    if failed:
        lines += ["", "## Failed points", ""]
        lines += [f"- point {p.index} {json.dumps(p.params)}: {p.error}" for p in failed]
    lines += ["", "## Assumptions", "",
              "- energy: the energy table of each point's config (rows, sources and "
              "assumptions as in `make sim`'s report); `energy_table.*` parameters replace "
              "rows in a derived table (under `tables/`) marked as assumptions",
              "- latency: median over the simulated requests, queueing included"]
    try:
        area = area_summary(NFCoreConfig.from_dict(spec.base_config), AreaTable.load())
        lines += [f"- area: {a}" for a in area["assumptions"]]
    except Exception as exc:  # the base node may lack area figures; the points say so
        lines.append(f"- area: base config: {exc}")
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")


def _load(spec: SweepSpec) -> str:
    """The offered load of every point, as the report states it."""
    sim = spec.simulation
    if sim.rate_rps:
        return (f"{sim.rate_rps:,.0f} requests/s, the same for every point (latency is "
                "compared at the load each design must serve)")
    return (f"{sim.utilization:g} utilization of the point's busiest core or host link (so "
            "latency is compared at equal relative load; throughput differs)")
