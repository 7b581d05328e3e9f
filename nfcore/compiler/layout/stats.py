"""Statistics of a layout: placement figures and the placement manifest.

`layout_stats` returns plain JSON-ready data (the compile report embeds it in
`compile.json` and renders it in `compile.md`); `placement_manifest` is the placement and
residency for the image manifest. `nfcore.report.plots.plot_sram_heatmap` draws the SRAM
used per core.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nfcore.arch import noc
from nfcore.compiler.layout.partition import PartKind
from nfcore.compiler.layout.stages import Layout


def layout_stats(layout: Layout) -> dict[str, Any]:
    """Placement statistics of `layout` (bytes, hop-bytes per request, seconds)."""
    mesh, res = layout.mesh, layout.residency
    used = layout.core_used_bytes()
    busy = used > 0
    hop = {k: float(v) for k, v in layout.hop_bytes.items()}
    split = [p for p in (layout.plans[t] for t in res.resident) if p.is_split]
    stats: dict[str, Any] = {
        "mesh": {"rows": mesh.rows, "cols": mesh.cols, "cores": mesh.n_cores,
                 "weight_sram_bytes_per_core": mesh.cap_bytes,
                 "host_router": list(noc.HOST_ROUTER), "host_port": noc.HOST_PORT.name},
        "cores_used": int(np.unique(layout.core_of).size),
        "cores_holding_weights": int(busy.sum()),
        "sram_used_bytes": {
            "total": int(used.sum()),
            "per_core": used.tolist(),
            "max": int(used.max()) if used.size else 0,
            "mean_over_used_cores": float(used[busy].mean()) if busy.any() else 0.0,
            "fill_of_used_cores": float(used[busy].sum() / (busy.sum() * mesh.cap_bytes))
            if busy.any() else 0.0,
        },
        "trees": {
            "total": len(layout.workload.trees),
            "resident": int(res.resident.size),
            "paged": int(res.paged.size),
            "split": len(split),
            "parts": layout.problem.n_parts,
            "row_split_layers": _count_joins(split, PartKind.ROW_SLICE),
            "col_split_layers": _count_joins(split, PartKind.COL_SLICE),
            "resident_bytes": res.resident_bytes,
            "paged_bytes": res.paged_bytes,
            "resident_selection_share": res.resident_request_share,
            "paged_dram_bytes_per_request": res.paged_bytes_per_request,
        },
        "hop_bytes_per_request": hop,
        "anneal_moves": layout.anneal_moves,
        "stage_seconds": dict(layout.stage_seconds),
        "compile_cpu_seconds": layout.compile_cpu_s,
    }
    if "random" in hop and "lower_bound" in hop:
        stats["hop_bytes_ratio"] = {
            "placed_over_random": hop["placed"] / hop["random"] if hop["random"] else 0.0,
            "placed_over_lower_bound": hop["placed"] / hop["lower_bound"]
            if hop["lower_bound"] else float("inf"),
        }
    return stats


def placement_manifest(layout: Layout) -> dict[str, Any]:
    """The placement and residency as JSON-ready data, for the image manifest.

    Per tree (in workload order): its name, `resident` (false: paged from DRAM), and its
    parts (kind, stage, layer / row / column ranges, weight bytes, and for resident trees
    the core as `[x, y]`), and its flows `[src, dst, bytes]` (part indices, -1 the host).
    """
    cols = layout.mesh.cols
    resident = set(layout.residency.resident.tolist())
    trees = []
    for plan, tree in zip(layout.plans, layout.workload.trees, strict=True):
        base = layout.problem.part_offset.get(plan.tree)
        parts = []
        for i, part in enumerate(plan.parts):
            entry: dict[str, Any] = {
                "kind": part.kind.value, "stage": part.stage, "layers": list(part.layers),
                "rows": list(part.rows), "cols": list(part.cols),
                "weight_bytes": part.weight_bytes,
            }
            if base is not None:
                core = int(layout.core_of[base + i])
                entry["core"] = [core % cols, core // cols]
            parts.append(entry)
        trees.append({
            "name": tree.name, "resident": plan.tree in resident, "parts": parts,
            "flows": [[f.src, f.dst, f.nbytes] for f in plan.flows],
        })
    return {"mesh": {"rows": layout.mesh.rows, "cols": cols}, "trees": trees}


def _count_joins(plans: list[Any], kind: PartKind) -> int:
    """Split layers whose slices are of `kind` (one join per split layer)."""
    return sum(
        len({p.layers for p in plan.parts if p.kind is kind}) for plan in plans
    )
