# Two commands on a fresh machine with Python 3.11:
#   make report   set up .venv, execute every notebook of every paper (quick profile) -> reports/latest/, figures/
#   make test     set up .venv, run the linters, the unit tests and nbval over notebooks/
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PROFILE ?= quick
# The quick profile's report is reports/latest; another profile's goes beside it (reports/paper), so both can be compared.
OUT ?= reports/$(if $(filter quick,$(PROFILE)),latest,$(PROFILE))
# JupyterLab refuses to start as root unless told to; a container user is often root.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: setup report compare test lint format unit notebooks notebooks-refresh benchmark lab clean

setup: $(VENV)/.installed

# What the notebooks, the report and the tests import, byte-compiled once at setup (see below).
PRECOMPILE := torch numpy scipy.optimize scipy.integrate scipy.special scipy.stats pandas matplotlib.pyplot seaborn \
	sympy networkx gensim.models gensim.corpora transformers transformers.models.bert.modeling_bert \
	transformers.models.bert.tokenization_bert transformers.models.auto.modeling_auto \
	transformers.models.auto.tokenization_auto papermill nbconvert nbclient ipykernel.kernelapp dask distributed \
	pytest theory_collection.cli theory_collection.report theory_collection.sweep topic_structure.paper \
	topic_structure.lda_runs topic_structure.realtext topic_structure.attention_over_training next_token.paper

# torch==2.13.0 is pinned in pyproject.toml; pip takes the CPU wheel from local disk.
# pip --no-compile: byte-compiling all ~18,600 modules of the environment was half of setup's CPU time; the
# modules the collection imports are compiled instead, by importing them (whatever PYTHONDONTWRITEBYTECODE says),
# and any other module when first imported.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev]"
	$(BIN)/python -c "import importlib, sys; sys.dont_write_bytecode = False; [importlib.import_module(m) for m in sys.argv[1:]]" $(PRECOMPILE)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (theory-collection)"
	touch $@

report: setup
	$(BIN)/theory-collection report --profile $(PROFILE) --out $(OUT)

# The quick and the paper profile side by side (both reports must exist: make report; make report PROFILE=paper).
compare: setup
	$(BIN)/theory-collection compare reports/latest reports/paper --out reports/profiles.md

test: lint unit notebooks

lint: setup
	$(BIN)/ruff check lib tests benchmarks notebooks course
	$(BIN)/ruff format --check lib tests benchmarks notebooks course

format: setup
	$(BIN)/ruff format lib tests benchmarks notebooks course
	$(BIN)/ruff check --fix lib tests benchmarks notebooks course

unit: setup
	$(BIN)/python -m pytest tests

# Two notebooks at a time, one thread each (two multi-threaded kernels on two cores slow each other down many
# times over), unattended: the explorers show their default view and make no widgets.
notebooks: setup
	OMP_NUM_THREADS=1 THEORY_COLLECTION_HEADLESS=1 $(BIN)/python -m pytest --nbval-lax notebooks -n 2 --dist loadfile

# Re-execute the committed notebooks in place at the default profile, with clean outputs (no progress bars,
# no stderr, no build paths); PAPER=next_token or NOTEBOOK=topic_structure/04 for fewer.
notebooks-refresh: setup
	OMP_NUM_THREADS=1 $(BIN)/python -m theory_collection.refresh $(if $(PAPER),--paper $(PAPER),) $(if $(NOTEBOOK),--notebook $(NOTEBOOK),)

benchmark: setup
	for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lab: setup
	$(BIN)/jupyter lab $(LAB_ROOT) notebooks/

clean:
	rm -rf $(VENV) reports/latest/*/ .pytest_cache
