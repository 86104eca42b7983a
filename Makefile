# Two commands a fresh machine needs: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs; torch is pinned
# and installed first so pip takes the CPU build on disk, not a CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
TORCH  := torch==2.13.0

.PHONY: test demo lint venv clean smoke

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/lasco experiment --preset smoke --json reports/smoke.json

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache *.egg-info
