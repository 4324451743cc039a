# Two commands do all the set-up:  `make demo` (main job)  and  `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test setup lab report bench clean

$(BIN)/pkgflow: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all]'
	touch $@

setup: $(BIN)/pkgflow  ## create .venv and install pkgflow with every extra

demo: setup  ## simulate a month into data/ and show what pkgflow finds
	$(BIN)/pkgflow demo

test: setup  ## the whole test suite (what CI runs)
	$(BIN)/pytest

lab: setup  ## open the notebooks in JupyterLab (root, as on CI machines, needs --allow-root)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

bench: setup  ## print the benchmarks' figures
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) data/events data/queue_depth data/_* data/bench
