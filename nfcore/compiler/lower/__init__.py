"""Lowering: the kernel plan (`kernels`), one core's program (`program`) and a tree split
over a chain of cores (`split`)."""
