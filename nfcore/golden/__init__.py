"""Bit-exact reference models: one micro-core (`core`) and an array of cores joined by the
mesh (`array`). They read the contracts in `nfcore.arch` and the config, nothing else."""
