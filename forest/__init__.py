"""The Neural Forest in PyTorch: many small trees, a router, and a monolith to compare with.

This package is framework-side only and never imports `nfcore`: what it hands to the
compiler is plain numpy (`MLPTree.layers()`, and `export()` on every tree kind; see
`forest.export` for the layers a tree may contain so that it maps onto the micro-core).

Modules:
    datasets   offline datasets, split and standardized (`load_dataset`)
    synthetic  seeded sequence task and multi-task generator (up to 10,000+ tasks)
    export     the numpy export contract (dense, Conv1d, Elman) and a reference forward
    trees      `TreeSpec`, `MLPTree`/`CNNTree`/`RNNTree`, `batched_forward` over many trees
    fit        batched training of same-shape trees, each on its own rows
    stem       the shared per-request features (computed once, read by router and trees)
    specialize partition into regions (k-means or task ids) with borders; specialization
    router     top-k routing and confidence-weighted averaging
    forest     `NeuralForest`: stem + router + tree groups, grouped inference
    build      `train_forest`: the whole build and its measurements
    monolith   the dense baseline, sized to the forest's accuracy
    io         save/load (manifest.json + weights.safetensors), checked on load
    command    what `nfcore train` runs, and its summary table
    train      single-tree training (`train_mlp`), used by `nfcore sim`
    errors     `ForestError`, `ForestFormatError`
"""
