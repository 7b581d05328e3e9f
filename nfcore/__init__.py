"""NF-Core: a cycle-level simulator and RTL generator for a Neural Forest inference accelerator."""

__version__ = "0.1.0"
