"""Forced specialization: partition the training data into regions, one tree per region.

Regions come from k-means on the input embedding (the shared features, flattened), or from
task ids where the data has tasks. Each tree trains on its region plus a border: a point
also joins its second-nearest region when its squared distance to that region's centroid is
within (1 + overlap) of the distance to its own, so neighbouring trees agree at the borders.
`measure_specialization` then checks that it worked: each tree's accuracy on its own region's
test points versus elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from forest.errors import ForestError

KMEANS_ITERS = 25
CHUNK_ELEMENTS = 1 << 22
"""Distances per block (rows x centroids, 16 MiB of float32), so 10,000 regions fit in
memory and the block stays in cache-friendly sizes."""


@dataclass(frozen=True)
class Partition:
    """Regions of the training set.

    centroids: [R, E] region centres in embedding space (the router starts from them).
    label: [N] each training point's own region.
    members: [R, M] training-point indices of each region (own points and border points),
      padded; only the first counts[r] of row r are valid.
    task_region: [n_tasks] region of each task in "task" mode, else None.
    """

    mode: str
    centroids: torch.Tensor
    label: torch.Tensor
    members: torch.Tensor
    counts: torch.Tensor
    overlap: float
    task_region: torch.Tensor | None = None

    @property
    def n_regions(self) -> int:
        return int(self.centroids.shape[0])


def _sq_dist(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return (x.pow(2).sum(1, keepdim=True) - 2 * x @ c.T + c.pow(2).sum(1)[None, :]).clamp_min(0)


def nearest_two(x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared distances [N, 2] and indices [N, 2] of each row's two nearest centroids.

    Ranks by |c|^2 - 2 x.c (one fused matmul pass over the [rows, R] block; |x|^2 is the
    same for every centroid of a row) and adds |x|^2 to the two kept only: at 10,000 regions
    the block is the cost of partitioning.
    """
    k = min(2, len(c))
    c_sq, x_sq = c.pow(2).sum(1), x.pow(2).sum(1, keepdim=True)
    rows = max(1, CHUNK_ELEMENTS // len(c))
    d_parts, i_parts = [], []
    for start in range(0, len(x), rows):
        part = torch.addmm(c_sq, x[start:start + rows], c.T, alpha=-2)
        d, i = torch.topk(part, k, dim=1, largest=False)
        d_parts.append((d + x_sq[start:start + rows]).clamp_min(0))
        i_parts.append(i)
    return torch.cat(d_parts), torch.cat(i_parts)


def kmeans(x: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Centroids [k, E] of x [N, E]: k-means++ seeding from `seed`, then Lloyd iterations.

    A cluster that empties is re-seeded at the point farthest from its centre.
    """
    if not 1 <= k <= len(x):
        raise ForestError(f"cannot make {k} regions from {len(x)} training points")
    rng = np.random.default_rng(seed)
    centres = [int(rng.integers(len(x)))]
    d_min = _sq_dist(x, x[centres[0]][None]).squeeze(1).double()
    for _ in range(1, k):
        p = (d_min / d_min.sum()).numpy() if float(d_min.sum()) > 0 else None
        nxt = int(rng.choice(len(x), p=p))
        centres.append(nxt)
        d_min = torch.minimum(d_min, _sq_dist(x, x[nxt][None]).squeeze(1).double())
    c = x[centres].clone()
    for _ in range(KMEANS_ITERS):
        d, idx = nearest_two(x, c)
        label = idx[:, 0]
        sums = torch.zeros_like(c).index_add_(0, label, x)
        counts = torch.bincount(label, minlength=k)
        empty = counts == 0
        c = torch.where(empty[:, None], c, sums / counts.clamp_min(1)[:, None])
        if bool(empty.any()):
            far = torch.topk(d[:, 0], int(empty.sum())).indices
            c[empty] = x[far]
    return c


def _pad_members(region: torch.Tensor, point: torch.Tensor,
                 n_regions: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.argsort(region * (int(point.max()) + 1) + point)
    region, point = region[order], point[order]
    counts = torch.bincount(region, minlength=n_regions)
    if bool((counts == 0).any()):
        empty = int(torch.nonzero(counts == 0)[0])
        raise ForestError(f"region {empty} has no training points; use fewer trees")
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(region)) - starts[region]
    members = torch.zeros(n_regions, int(counts.max()), dtype=torch.long)
    members[region, slot] = point
    return members, counts


def make_partition(emb: torch.Tensor, n_regions: int, *, overlap: float, seed: int,
                   task: npt.NDArray[np.int64] | None = None) -> Partition:
    """Partition training embeddings emb [N, E] into `n_regions` regions.

    With `task` (task id per point) and n_regions <= number of tasks, regions are groups of
    whole tasks (k-means on the tasks' mean embeddings; one task per region when the counts
    are equal). Otherwise k-means on the points. `overlap` >= 0 sets the border (above).
    """
    if overlap < 0:
        raise ForestError(f"overlap = {overlap} must be >= 0")
    emb = emb.float()
    task_region: torch.Tensor | None = None
    if task is not None and n_regions <= int(task.max()) + 1:
        t = torch.from_numpy(np.array(task, dtype=np.int64))
        n_tasks = int(t.max()) + 1
        sums = torch.zeros(n_tasks, emb.shape[1]).index_add_(0, t, emb)
        task_mean = sums / torch.bincount(t, minlength=n_tasks).clamp_min(1)[:, None].float()
        if n_regions == n_tasks:
            task_region = torch.arange(n_tasks)
        else:
            task_region = nearest_two(task_mean, kmeans(task_mean, n_regions, seed))[1][:, 0]
        label = task_region[t]
        sums = torch.zeros(n_regions, emb.shape[1]).index_add_(0, label, emb)
        centroids = sums / torch.bincount(label, minlength=n_regions).clamp_min(1)[:, None]
        mode = "task"
    else:
        centroids = kmeans(emb, n_regions, seed)
        label = nearest_two(emb, centroids)[1][:, 0]
        mode = "cluster"
    d, idx = nearest_two(emb, centroids)
    # Distance to the point's own region, and to the nearest other region.
    own = _sq_dist_rows(emb, centroids, label)
    other = torch.where(idx[:, 0] == label, idx[:, -1], idx[:, 0])
    d_other = torch.where(idx[:, 0] == label, d[:, -1], d[:, 0])
    border = (other != label) & (d_other <= (1.0 + overlap) * own)
    points = torch.arange(len(emb))
    region = torch.cat([label, other[border]])
    point = torch.cat([points, points[border]])
    members, counts = _pad_members(region, point, n_regions)
    return Partition(mode, centroids, label, members, counts, overlap, task_region)


def _sq_dist_rows(x: torch.Tensor, c: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return (x - c[idx]).pow(2).sum(1)


def assign(partition: Partition, emb: torch.Tensor,
           task: npt.NDArray[np.int64] | None = None) -> torch.Tensor:
    """Own region [N] of new points: by task id in "task" mode, else the nearest centroid."""
    if partition.task_region is not None and task is not None:
        return partition.task_region[torch.from_numpy(np.array(task, dtype=np.int64))]
    return nearest_two(emb.float(), partition.centroids)[1][:, 0]


@dataclass(frozen=True)
class Specialization:
    """Per-tree test accuracy on its own region versus elsewhere (fractions in [0, 1]).

    Trees whose region has no test points are left out of `home` and `away` (NaN there).
    """

    home: npt.NDArray[np.float64]
    away: npt.NDArray[np.float64]

    @property
    def mean_home(self) -> float:
        return float(np.nanmean(self.home)) if np.isfinite(self.home).any() else float("nan")

    @property
    def mean_away(self) -> float:
        return float(np.nanmean(self.away)) if np.isfinite(self.away).any() else float("nan")

    @property
    def better_at_home(self) -> int:
        """Trees more accurate on their own region than elsewhere."""
        ok = np.isfinite(self.home) & np.isfinite(self.away)
        return int(np.sum(self.home[ok] > self.away[ok]))

    @property
    def measured(self) -> int:
        return int(np.sum(np.isfinite(self.home) & np.isfinite(self.away)))

    def to_dict(self) -> dict[str, float | int]:
        return {"mean_home_accuracy": self.mean_home, "mean_away_accuracy": self.mean_away,
                "trees_better_at_home": self.better_at_home, "trees_measured": self.measured}
