# Two commands do all set-up on a fresh machine:
#   make run   - create .venv if missing, install TransferLab into it, open the app
#   make test  - the same set-up, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.transferlab-installed

.PHONY: setup run test test-precision bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/transferlab

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# The precision-sensitive subset alone, each test under the fp32 and the bf16 plan (bf16 forced where
# the CPU lacks it; part of make test too)
test-precision: $(STAMP)
	QT_QPA_PLATFORM=offscreen TRANSFERLAB_CPU_BF16=1 $(PY) -m pytest -q -m precision

clean:
	rm -rf $(VENV) build dist *.egg-info
