"""The `make sim` pipelines: `sim` (the walking skeleton through golden, model and RTL, then the
forest) and `forest_system` (a trained forest through compile, layout and the system model)."""
