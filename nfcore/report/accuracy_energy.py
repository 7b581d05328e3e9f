"""The accuracy-energy section of `report.md` and `accuracy_energy.png`, from report data
alone (`nfcore.flows.accuracy_energy` computes it): the forest against its monolith at equal
accuracy, and how evenly the router spreads requests over the trees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nfcore.report.plots import plot_accuracy_energy

FIGURE = "accuracy_energy.png"


def write_accuracy_energy_figure(run_dir: Path, system: dict[str, Any]) -> None:
    """`accuracy_energy.png` in `run_dir`, if the system data has the points."""
    if system.get("accuracy_energy"):
        eq = system["equal_accuracy"]
        plot_accuracy_energy(run_dir / FIGURE, system["accuracy_energy"],
                             eq["target_accuracy"], eq["curves"])


def accuracy_energy_markdown(system: dict[str, Any]) -> list[str]:
    """The section: the equal-accuracy reading per curve (a family at one node) against the
    forest at the same node, the points, the monolith ladder and the router's load balance
    (empty if the data has none)."""
    if not system.get("accuracy_energy"):
        return []
    eq = system["equal_accuracy"]
    target = eq["target_accuracy"]
    forest_at = {f["node_nm"]: f["energy_pj_per_inference"] for f in eq["forest_at_nodes"]}
    reached = "reached" if eq["monolith_matched_on_test"] else (
        "reached on validation but NOT on test" if eq["monolith_reached_on_validation"]
        else "NOT reached by any rung")
    out = ["## Accuracy against energy (equal accuracy)", "",
           f"![accuracy against energy]({FIGURE})", "",
           f"- the forest's float test accuracy {target:.4f}, simulated at "
           + ", ".join(f"{e:,.0f} pJ per inference at {n} nm" for n, e in forest_at.items())
           + f"; the monolith ladder: {reached}",
           "", "| at the forest's accuracy | energy per inference (pJ) | read as | "
           "forest at the same node / it |", "| --- | --- | --- | --- |"]
    for curve, est in eq["curves"].items():
        e, ours = est["energy_pj_per_inference"], forest_at.get(est["node_nm"])
        cell = "-" if e is None else f"{e:,.0f}"
        ratio = "-" if e is None or ours is None else f"{ours / e:.3g}x"
        out.append(f"| {curve} | {cell} | {est['method']} ({est['points']} points) | "
                   f"{ratio} |")
    out += ["", "Interpolated and extrapolated figures assume log(energy) linear in accuracy "
            "between, or beyond, the two nearest points; extrapolated ones are a trend, not a "
            "measurement.", ""]
    out += [f"- rung not on the chip: {s}" for s in eq.get("skipped_rungs", [])]
    out += ["| model | test accuracy | energy per inference (pJ) | node (nm) |",
            "| --- | --- | --- | --- |"]
    for p in system["accuracy_energy"]:
        out.append(f"| {p['model']} | {p['accuracy']:.4f} | "
                   f"{p['energy_pj_per_inference']:,.0f} | {p['node_nm']} |")
    forest = system.get("forest") or {}
    ladder = forest.get("monolith_ladder")
    if ladder:
        out += ["", "### Monolith ladder (early stopping on a validation split of the "
                "training split)", "",
                "| width x depth | parameters | validation accuracy | test accuracy | "
                "best epoch / epochs run |", "| --- | --- | --- | --- | --- |"]
        out += [f"| {r['width']}x{r['depth']} | {r['n_parameters']:,} | "
                f"{r['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | "
                f"{r['best_epoch']} / {r['epochs']} |" for r in ladder["tried"]]
    out += load_balance_markdown(forest.get("load_balance"))
    out.append("")
    return out


def load_balance_markdown(lb: dict[str, Any] | None) -> list[str]:
    """Each tree's share of the routed picks and the balance figures."""
    if not lb:
        return []
    shares = lb["per_tree_share"]
    n = len(shares)
    shown = ", ".join(f"{100 * s:.1f}%" for s in shares[:32]) + (" ..." if n > 32 else "")
    return ["", "### Router load balance (simulated requests)", "",
            f"- trees serving at least one request: {lb['trees_serving']} of {n} "
            f"({100 * lb['serving_fraction']:.1f}%); max / mean share "
            f"{lb['max_over_mean_share']:.2f} (1 is even); router trained with load-balancing "
            f"weight {lb['router_balance_weight']} (Switch Transformer auxiliary loss)",
            f"- share of routed picks per tree: {shown}"]
