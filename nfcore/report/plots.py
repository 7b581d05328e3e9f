"""PNG figures of a run: energy by component, mesh heatmap, latency histogram, idle silicon,
GPU sweep, and the compile report's SRAM heatmap."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import numpy.typing as npt

matplotlib.use("Agg")  # figures go to files; never open a window
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from nfcore.arch import noc  # noqa: E402
from nfcore.compiler.layout.stages import Layout  # noqa: E402


def plot_energy(path: Path, by_component_pj: dict[str, float]) -> None:
    """Bar chart of energy per inference by component, pJ."""
    names = list(by_component_pj)
    values = [by_component_pj[n] for n in names]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bars = ax.bar(names, values, color="#4c72b0")
    ax.bar_label(bars, labels=[f"{v:,.1f}" for v in values], fontsize=8)
    ax.set_ylabel("energy per inference (pJ)")
    ax.set_xlabel("component")
    ax.set_title(f"Energy per inference by component, total {sum(values):,.1f} pJ")
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_mesh_heatmap(path: Path, utilization: npt.NDArray[np.float64],
                      router_flits: npt.NDArray[np.int64]) -> None:
    """Two panels over the mesh (x = column, y = row, the host's router marked): the share
    of the span each core was active, and the flits through each router."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, grid, title, label in (
            (axes[0], utilization, "core activity (share of span active)", "share"),
            (axes[1], router_flits, "router traffic (flits)", "flits")):
        im = ax.imshow(grid, cmap="viridis", origin="upper", aspect="equal")
        ax.set_title(title, fontsize=10)
        hx, hy = noc.HOST_ROUTER
        ax.annotate("host", (hx, hy), color="red", fontsize=8, ha="center", va="center")
        ax.set_xlabel("x (column)")
        ax.set_ylabel("y (row)")
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency_histogram(path: Path, counts: Sequence[int], edges_s: Sequence[float],
                           marks_s: dict[str, float]) -> None:
    """Histogram of request latency in microseconds from stored bin `counts` and `edges_s`
    (seconds), with vertical lines at `marks_s` (e.g. {"p50": ..., "p99": ...})."""
    edges_us = np.asarray(edges_s, dtype=float) * 1e6
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.stairs(np.asarray(counts, dtype=float), edges_us, fill=True, color="#4c72b0")
    for (name, v), style in zip(marks_s.items(), ("--", ":", "-."), strict=False):
        ax.axvline(v * 1e6, color="k", linestyle=style, label=f"{name} {v * 1e6:,.2f} µs")
    ax.set_xlabel("latency (µs)")
    ax.set_ylabel("requests")
    ax.set_title(f"Request latency, {int(np.sum(counts))} requests")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_idle_silicon(path: Path, t_s: npt.NDArray[np.float64],
                      idle: npt.NDArray[np.float64]) -> None:
    """Share of the mesh's cores not active over time."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(t_s * 1e3, idle, color="#55a868")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("idle share of cores")
    ax.set_title("Idle silicon over time")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_gpu_sweep(path: Path, points: Sequence[dict[str, Any]], nfcore_pj: float,
                   nfcore_latency_s: float, nfcore_at_gpu_node: tuple[int, float] | None = None
                   ) -> None:
    """Energy and latency per inference (batch-fill wait included) of the monolith on each
    GPU and launch mode against batch size, with NF-Core's figures as horizontal lines
    (`nfcore_at_gpu_node`: (node in nm, pJ) of the same run priced at the GPUs' node)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    series = list(dict.fromkeys((p["gpu"], p["launch"]) for p in points))
    for gpu, launch in series:
        pts = [p for p in points if (p["gpu"], p["launch"]) == (gpu, launch)]
        b = [p["batch"] for p in pts]
        label = f"{gpu}, {launch}"
        axes[0].plot(b, [p["energy_pj_per_inference"] for p in pts], marker="o", label=label)
        axes[1].plot(b, [p["latency_s"] * 1e6 for p in pts], marker="o", label=label)
    axes[0].axhline(nfcore_pj, color="k", linestyle="--", label="NF-Core forest")
    if nfcore_at_gpu_node is not None:
        node_nm, pj = nfcore_at_gpu_node
        axes[0].axhline(pj, color="k", linestyle=":", label=f"NF-Core forest at {node_nm} nm")
    axes[1].axhline(nfcore_latency_s * 1e6, color="k", linestyle="--", label="NF-Core p50")
    for ax, ylabel in ((axes[0], "energy per inference (pJ)"), (axes[1], "latency (µs)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("GPU batch size")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    axes[0].set_title("Monolith on GPU: energy per inference", fontsize=10)
    axes[1].set_title("Monolith on GPU: latency (batch fill included)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sram_heatmap(layout: Layout, path: str | Path) -> Path:
    """Write a PNG heatmap of weight SRAM bytes used per core; returns its path."""
    mesh = layout.mesh
    used_kib = layout.core_used_bytes().reshape(mesh.rows, mesh.cols) / 1024
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    image = ax.imshow(used_kib, cmap="viridis", vmin=0, vmax=mesh.cap_bytes / 1024,
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, label="weight SRAM used (KiB)")
    hx, hy = noc.HOST_ROUTER
    ax.annotate("host", xy=(hx - 0.5, hy), xytext=(hx - 0.5 - 0.08 * mesh.cols, hy),
                annotation_clip=False, va="center", ha="right", fontsize=8,
                arrowprops={"arrowstyle": "->"})
    ax.set_xlabel("column x")
    ax.set_ylabel("row y")
    hop = layout.hop_bytes
    ax.set_title(f"SRAM used per core, {mesh.rows}x{mesh.cols} mesh; "
                 f"{hop['placed']:,.0f} hop-bytes/request", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_accuracy_energy(path: Path, points: Sequence[dict[str, Any]], target: float,
                         at_target: dict[str, dict[str, Any]]) -> None:
    """Test accuracy against energy per inference (pJ, log axis), one colour per curve (a
    family at one process node, `nfcore.flows.accuracy_energy`; the legend names both), one
    marker per family, each point labelled;
    a dashed line at the forest's accuracy, and each curve's energy read there (a ring,
    labelled measured, interpolated or extrapolated). The forest's points are not joined
    (they are different forests, not a ladder)."""
    curves = list(dict.fromkeys(p["curve"] for p in points))
    families = list(dict.fromkeys(p["family"] for p in points))
    fig, ax = plt.subplots(figsize=(13, 6))
    for i, curve in enumerate(curves):
        pts = sorted((p for p in points if p["curve"] == curve),
                     key=lambda p: p["energy_pj_per_inference"])
        color, fam = f"C{i % 10}", families.index(pts[0]["family"])
        ax.plot([p["energy_pj_per_inference"] for p in pts], [p["accuracy"] for p in pts],
                marker="os^vD<>"[fam % 7], color=color, label=curve,
                linestyle="none" if fam == 0 else "-", alpha=0.9)
        for p in pts:
            ax.annotate(p.get("label", p["model"]), (p["energy_pj_per_inference"],
                                                     p["accuracy"]),
                        fontsize=6, xytext=(4, 3 - 10 * (i % 2)), textcoords="offset points",
                        color=color)
        est = at_target.get(curve, {})
        if est.get("energy_pj_per_inference"):
            ax.plot([est["energy_pj_per_inference"]], [target], marker="o", markersize=9,
                    markerfacecolor="none", color=color)
            ax.annotate(est["method"], (est["energy_pj_per_inference"], target), fontsize=6,
                        xytext=(4, -9), textcoords="offset points", color=color)
    ax.axhline(target, color="grey", linestyle="--", linewidth=0.8)
    ax.text(0.01, target, f" forest accuracy {target:.4f}", fontsize=7, color="grey",
            va="bottom", transform=ax.get_yaxis_transform())
    ax.set_xscale("log")
    ax.margins(x=0.12, y=0.08)
    ax.set_xlabel("energy per inference (pJ, log scale)")
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_title("Accuracy against energy per inference: the forest and its monolith, "
                 "priced at each node")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the points
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
