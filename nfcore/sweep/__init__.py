"""Design-space sweeps: a sweep file (`spec`), points run on an executor (`executors`,
`evaluate`), stored as they finish (`store`), and a report with Pareto fronts (`report`)."""
