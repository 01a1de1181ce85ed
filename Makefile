# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TORCH   := torch==2.13.0

.PHONY: setup demo test lint typecheck unit wheel-check bench calibrate clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: a plain `torch` would pull a multi-GB CUDA build here.
	$(BIN)/python -m pip install -q $(TORCH)
	# the video extra too, so that the video tests run (PyAV, OpenCV contrib)
	$(BIN)/python -m pip install -q -e '.[dev,video]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/ecm demo --out demo_out

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src/ecm

unit: $(STAMP)
	$(BIN)/python -m pytest

# Build the wheel, install it into a fresh venv outside the checkout, run demo and train from another folder.
wheel-check: $(STAMP)
	bash .ci/check_wheel.sh

test: lint typecheck unit wheel-check

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_evaluate.py
	$(BIN)/python benchmarks/bench_postprocess.py
	$(BIN)/python benchmarks/bench_localize.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_extract.py

calibrate: $(STAMP)
	$(BIN)/python benchmarks/calibrate_synthetic.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache
