"""Partitioning: k-means and task regions, borders, and repeatability."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forest.errors import ForestError
from forest.specialize import Specialization, assign, kmeans, make_partition


def _blobs(n_per: int = 60, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    label = torch.arange(4).repeat_interleave(n_per)
    return centres[label] + torch.randn(len(label), 2, generator=gen), label


def _members(p, r: int) -> set[int]:  # type: ignore[no-untyped-def]
    return set(p.members[r, : int(p.counts[r])].tolist())


def test_kmeans_finds_separated_blobs_and_is_seeded() -> None:
    x, label = _blobs()
    c = kmeans(x, 4, seed=0)
    assert torch.equal(c, kmeans(x, 4, seed=0))
    found = assign(make_partition(x, 4, overlap=0.0, seed=0), x)
    # every blob maps to one cluster and no two blobs share one
    pairs = {(int(a), int(b)) for a, b in zip(label, found, strict=True)}
    assert len(pairs) == 4 and len({b for _, b in pairs}) == 4


def test_without_overlap_regions_are_disjoint_and_cover_every_point() -> None:
    x, _ = _blobs()
    p = make_partition(x, 4, overlap=0.0, seed=0)
    sets = [_members(p, r) for r in range(4)]
    assert sum(len(s) for s in sets) == len(x)
    assert set().union(*sets) == set(range(len(x)))
    for r in range(4):
        assert sets[r] == set(torch.nonzero(p.label == r)[:, 0].tolist())


def test_overlap_adds_border_points_of_the_neighbour_only() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.cat([torch.randn(100, 2, generator=gen) - torch.tensor([2.0, 0.0]),
                   torch.randn(100, 2, generator=gen) + torch.tensor([2.0, 0.0])])
    tight = make_partition(x, 2, overlap=0.0, seed=0)
    loose = make_partition(x, 2, overlap=0.5, seed=0)
    assert int(loose.counts.sum()) > int(tight.counts.sum()) == 200
    for r in range(2):
        extra = _members(loose, r) - _members(tight, r)
        assert extra and all(int(loose.label[i]) != r for i in extra)
        # border points are nearer the middle than the region's own points are on average
        own = torch.tensor(sorted(_members(tight, r)))
        assert x[torch.tensor(sorted(extra)), 0].abs().mean() < x[own, 0].abs().mean()


def test_task_partition_keeps_tasks_whole() -> None:
    x, label = _blobs(n_per=30)
    task = (torch.arange(len(x)) // 15).numpy()  # 8 tasks, two per blob
    p = make_partition(x, 8, overlap=0.0, seed=0, task=task)
    assert p.mode == "task" and torch.equal(p.label, torch.from_numpy(task))
    p4 = make_partition(x, 4, overlap=0.0, seed=0, task=task)
    assert p4.task_region is not None
    for t in range(8):  # every task lies in one region, and a blob's two tasks share it
        assert len(set(p4.label[torch.from_numpy(task == t)].tolist())) == 1
    assert int(p4.task_region[0]) == int(p4.task_region[1])
    np.testing.assert_array_equal(assign(p4, x, task).numpy(), p4.label.numpy())


def test_bad_partitions_are_refused() -> None:
    x, _ = _blobs(n_per=2)
    with pytest.raises(ForestError, match="cannot make 9 regions from 8"):
        make_partition(x, 9, overlap=0.0, seed=0)
    with pytest.raises(ForestError, match="overlap = -1"):
        make_partition(x, 2, overlap=-1, seed=0)


def test_specialization_summary() -> None:
    s = Specialization(np.array([0.9, 0.8, np.nan]), np.array([0.5, 0.85, 0.4]))
    assert s.measured == 2 and s.better_at_home == 1
    assert s.mean_home == pytest.approx(0.85) and s.mean_away == pytest.approx(0.5833, abs=1e-4)
