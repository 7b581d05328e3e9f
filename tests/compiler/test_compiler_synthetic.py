"""Synthetic workloads: seeded, clustered like a router, and fast at 10,000 trees."""

import numpy as np

from nfcore.compiler.layout.synthetic import synthetic_layout_input


def test_synthetic_workload_is_seeded_and_clustered() -> None:
    a = synthetic_layout_input(400, seed=5)
    b = synthetic_layout_input(400, seed=5)
    c = synthetic_layout_input(400, seed=6)
    assert a.trees == b.trees
    assert np.array_equal(a.stats.pairs, b.stats.pairs)
    assert np.array_equal(a.stats.co_freq, b.stats.co_freq)
    assert not np.array_equal(a.stats.freq, c.stats.freq)
    assert np.isclose(a.stats.freq.sum(), a.stats.k)
    # A clustered router concentrates co-selection on few partners: a uniform top-4 router
    # with 3,200 requests would co-select almost 6 * 3,200 distinct pairs.
    assert a.stats.pairs.shape[0] < 0.5 * 6 * a.stats.requests
    assert any(len(t.layers) >= 2 for t in a.trees)


def test_ten_thousand_trees_with_top_k_requests() -> None:
    w = synthetic_layout_input(10_000, seed=0)
    assert len(w.trees) == 10_000 and w.stats.requests == 80_000
    assert np.isclose(w.stats.freq.sum(), w.stats.k)
    sizes = w.weight_bytes
    assert sizes.min() > 0 and (sizes > 65536).sum() > 0  # some trees need splitting
