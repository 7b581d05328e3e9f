"""Reports: they read results of the models and flows and write markdown, JSON and plots.
No model imports them."""
