"""The Neural Forest in PyTorch: offline datasets, trees, and their training.

This package is framework-side only and never imports `nfcore`: what it hands to the
compiler is plain numpy (`MLPTree.layers()`), so the compiler stays framework-free.

Modules:
    datasets  offline scikit-learn datasets, split and standardized (`load_dataset`)
    trees     tree networks (`MLPTree`)
    train     deterministic training on CPU (`train_mlp`)
    errors    `ForestError`, the base of this package's exceptions
"""
