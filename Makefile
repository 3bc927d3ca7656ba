# Copyright 2026 The disdepth_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Two commands do everything on a fresh machine:  make demo  and  make test.
# Both create the virtual environment first when it is missing or out of date.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.disdepth-installed
# onnxruntime-gpu where an NVIDIA GPU answers, the CPU build elsewhere (they cannot coexist).
ORT_EXTRA := $(shell nvidia-smi -L >/dev/null 2>&1 && echo ort-gpu || echo ort)
PYTEST_ARGS ?=

.PHONY: setup test test-fast demo lint bench bench-node clean-venv

setup: $(STAMP)

$(STAMP): setup.py setup.cfg package.xml
	@command -v $(PYTHON) >/dev/null || { echo "make setup: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "make setup: installing .[ros,node,$(ORT_EXTRA),train,dev] into $(VENV)"
	@if [ "$(ORT_EXTRA)" = ort ]; then echo "make setup: no NVIDIA GPU found: using the CPU build of onnxruntime"; fi
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[ros,node,$(ORT_EXTRA),train,dev]"
	@touch $(STAMP)

test: $(STAMP)
	ROS_LOG_DIR=$${ROS_LOG_DIR:-$$(mktemp -d)} $(PY) -m pytest test $(PYTEST_ARGS)

# The inner loop: everything but the ROS graph tests, the slow ones and the linters (CI runs
# the full suite with `make test`).
test-fast: $(STAMP)
	ROS_LOG_DIR=$${ROS_LOG_DIR:-$$(mktemp -d)} $(PY) -m pytest test -m "not ros and not slow and not linter" $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/disdepth demo --out out/demo

lint: $(STAMP)
	$(PY) -m pytest test -m linter

# The committed benchmark: three students, the default and the ViT-L-sized teacher, torch / ONNX
# Runtime / INT8 (calibrated on the real frames when ../shared/data/real is there).
BENCH_ARGS ?= --teacher vit-s,vit-l --warmup 3 --iters 10
BENCH_CALIB := $(wildcard ../shared/data/real)
bench: $(STAMP)
	$(VENV)/bin/disdepth bench $(BENCH_ARGS) $(if $(BENCH_CALIB),--calib $(BENCH_CALIB)) \
		--markdown docs/benchmarks.md --json docs/benchmarks.json
	$(MAKE) bench-node

# The node beside its engine: 240x320 / 480x640 / 720x1280 at 15 / 30 / 60 Hz (about 5 minutes;
# NODE_BENCH_ARGS=--quick for a 20 s subset).
NODE_BENCH_ARGS ?=
bench-node: $(STAMP)
	$(VENV)/bin/disdepth node-bench $(NODE_BENCH_ARGS) --markdown docs/benchmarks.md \
		--json docs/node_bench.json

clean-venv:
	rm -rf $(VENV)
