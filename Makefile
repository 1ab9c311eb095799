# Each target builds what it needs in a local virtual environment, so that
# `make demo` and `make test` work on a machine with only Python and make.
# Stamp files inside the environment make a second run skip the installs.
#
#   make test TORCH=torch==2.13.0       choose the torch build, installed first
#   make test PYTEST_ARGS='-m "not slow" -x'

PYTHON ?= python3
VENV ?= .venv
# A pip requirement for torch: by default any release the package supports.
TORCH ?= torch>=2.2
RUFF ?= ruff>=0.6
DEMO ?= examples/zprime_search.py
PYTEST_ARGS ?=

VPY := $(VENV)/bin/python
TORCH_STAMP := $(VENV)/.stamp-torch

.DEFAULT_GOAL := help
.PHONY: help venv install test coverage demo docs lint clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) \
		| awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

venv: $(TORCH_STAMP)  ## create .venv and install torch (TORCH=...)

install: $(VENV)/.stamp-install  ## install skpunzi (editable) into .venv

test: $(VENV)/.stamp-install-tests  ## run the test suite and the doctests
	$(VPY) -m pytest $(PYTEST_ARGS)

coverage: $(VENV)/.stamp-install-tests  ## run the tests under coverage
	$(VPY) -m coverage run -m pytest $(PYTEST_ARGS)
	$(VPY) -m coverage report

demo: $(VENV)/.stamp-install-plots  ## run the main example (DEMO=...)
	$(VPY) $(DEMO)

docs: $(VENV)/.stamp-install-docs  ## build the HTML docs in docs/_build/html
	$(VPY) -m sphinx -W --keep-going -b html docs docs/_build/html

lint: $(VENV)/.stamp-ruff  ## check style and formatting with ruff
	$(VPY) -m ruff check .
	$(VPY) -m ruff format --check .

clean:  ## remove build, test and docs outputs (keeps .venv)
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	rm -rf .coverage htmlcov docs/_build docs/generated docs/auto_examples
	rm -rf docs/gen_modules docs/sg_execution_times.rst
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune \
		-exec rm -rf {} +

$(VPY):
	$(PYTHON) -m venv $(VENV)

# Torch comes first so that the choice in TORCH is the build that stays: the
# package's own range is then already satisfied. A different TORCH than last
# time makes the stamp out of date, and everything installed after it too.
ifneq ($(shell cat $(TORCH_STAMP) 2>/dev/null),$(strip $(TORCH)))
.PHONY: $(TORCH_STAMP)
endif
$(TORCH_STAMP): | $(VPY)
	$(VPY) -m pip install '$(TORCH)'
	printf '%s\n' '$(strip $(TORCH))' > $@

$(VENV)/.stamp-install: $(TORCH_STAMP) pyproject.toml setup.cfg
	$(VPY) -m pip install -e .
	touch $@

# One stamp per extra: tests, plots, docs.
$(VENV)/.stamp-install-%: $(TORCH_STAMP) pyproject.toml setup.cfg
	$(VPY) -m pip install -e '.[$*]'
	touch $@

$(VENV)/.stamp-ruff: | $(VPY)
	$(VPY) -m pip install '$(RUFF)'
	touch $@
