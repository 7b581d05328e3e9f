"""FPGA builds with the PyPI toolchain: the targets (`targets`), the build (`build`) and the
parsing of the place-and-route reports (`report`)."""
