# `make test` and `make demo` are the whole set-up on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-fast demo explore lint bench clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: the CPU build on this machine; an unpinned resolve pulls a CUDA build.
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,viz,train,ray,explore]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

# For iteration: every test but those marked slow (`make test`, which CI runs, runs them all).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

demo: $(STAMP)
	$(PY) -m worldmem.demo --out outputs/demo

# Walk a generated world in the browser: open http://127.0.0.1:8080 (docs/explore.md). PORT=... to change it.
PORT ?= 8080
explore: $(STAMP)
	$(PY) -m worldmem.explore --checkpoint checkpoints/worldmem-tiny --scene synthetic:0 --port $(PORT)

bench: $(STAMP)
	$(PY) -m eval bench geometry

lint: $(STAMP)
	$(PY) -m ruff check $(wildcard worldmem eval data_curation train tests)

clean-venv:
	rm -rf $(VENV)
