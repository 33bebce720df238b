# tickforge: every target sets up the virtual environment it needs, then calls the Python CLI.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
BOARD   ?= ulx3s

.PHONY: setup demo test bench formal bitstream flash clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable .
	@touch $(STAMP)

demo: setup
	$(BIN)/tickforge demo

# worksteal: the worker building the ULX3S bitstream (most of the suite's time) hands every
# test queued behind it to the other worker
test: setup
	$(BIN)/python -m pytest -n 2 --dist worksteal

bench: setup
	$(BIN)/tickforge bench --output bench.json

formal: setup
	$(BIN)/python -m tickforge.sim.formal

bitstream: setup
	$(BIN)/tickforge bitstream $(BOARD)

flash: setup
	$(BIN)/tickforge flash $(BOARD)

clean:
	rm -rf build .pytest_cache .hypothesis
