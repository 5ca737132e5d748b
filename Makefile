# Two set-up commands (README): `make benchmark` runs the main job, `make test` the tests.
# Both create .venv and install the package on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel that lies on this kind of machine; any torch>=2.3 works elsewhere:
#   make TORCH="torch>=2.3" test
TORCH ?= torch==2.13.0

.PHONY: install test check lint typecheck benchmark clean

$(BIN)/movierec: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

install: $(BIN)/movierec

test: install
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
