"""Quantization: dense layers (`mlp`), whole trees (`tree`) and precision checks."""
