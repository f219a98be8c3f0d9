# Two commands on a fresh machine with Python 3.11:
#   make report   set up .venv, execute every notebook (quick profile) -> reports/latest/, figures/
#   make test     set up .venv, run the unit tests and nbval over notebooks/
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick

.PHONY: setup report test unit notebooks benchmark clean

setup: $(VENV)/.installed

# torch==2.13.0 is pinned in pyproject.toml; pip takes the CPU wheel from local disk.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (transformer-topics)"
	touch $@

report: setup
	$(BIN)/transformer-topics report --profile $(PROFILE)

test: unit notebooks

unit: setup
	$(BIN)/python -m pytest tests

# Two notebooks at a time, one thread each: two multi-threaded kernels on two cores slow each other
# down many times over.
notebooks: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest --nbval-lax notebooks -n 2 --dist loadfile

benchmark: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) reports/latest/*/ .pytest_cache
