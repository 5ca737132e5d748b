# Two set-up commands (README): `make benchmark` runs the main job, `make test` the tests.
# Both create .venv and install the package on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel that lies on this kind of machine; any torch>=2.3 works elsewhere:
#   make TORCH="torch>=2.3" test
TORCH ?= torch==2.13.0

# A second environment on the oldest supported Gymnasium, with CleanRL's pins (gymnasium
# 0.29.1, numpy 1.24.4): `make test-gym029` runs the env (both) and agent tests there.
COMPAT_VENV ?= .venv-gym029
COMPAT_PINS ?= gymnasium==0.29.1 numpy==1.24.4
COMPAT_TESTS ?= tests/env tests/sim_env tests/agents \
	tests/experiments/test_examples.py::TestExamplesOnTheShippedDataset::test_cleanrl_dqn

# A third environment with the extra movierec[ray] (Ray + RLlib, which pins its own
# Gymnasium 1.x): `make test-ray` runs the Ray executor and RLlib tests there.
RAY_VENV ?= .venv-ray
RAY_TESTS ?= tests/experiments/test_ray_executor.py tests/experiments/test_rllib_example.py

.PHONY: install test test-gym029 test-ray check lint typecheck benchmark clean

$(BIN)/movierec: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

install: $(BIN)/movierec

test: install
	$(BIN)/python -m pytest -q

$(COMPAT_VENV)/bin/pytest: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q "$(TORCH)"
	$(COMPAT_VENV)/bin/python -m pip install -q $(COMPAT_PINS) -e . "pytest>=8"
	@touch $@

test-gym029: $(COMPAT_VENV)/bin/pytest
	$(COMPAT_VENV)/bin/python -c "import gymnasium, numpy; print('gymnasium', gymnasium.__version__, 'numpy', numpy.__version__)"
	$(COMPAT_VENV)/bin/python -m pytest -q $(COMPAT_TESTS)

$(RAY_VENV)/bin/pytest: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(RAY_VENV)
	$(RAY_VENV)/bin/python -m pip install -q --upgrade pip
	$(RAY_VENV)/bin/python -m pip install -q "$(TORCH)"
	$(RAY_VENV)/bin/python -m pip install -q -e ".[ray]" "pytest>=8"
	@touch $@

test-ray: $(RAY_VENV)/bin/pytest
	$(RAY_VENV)/bin/python -m pytest -q $(RAY_TESTS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

# `make benchmark QUICK=1` runs the few-minute version.
benchmark: install
	$(BIN)/movierec benchmark $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(RAY_VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
