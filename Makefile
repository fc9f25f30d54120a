# One command runs the lab, one runs the tests; both create .venv when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-under-load install system-packages bench clean

# two test processes (pytest-xdist), a file each at a time: most tests wait on subprocesses, so two
# share 2 cores well; a module's fixtures (a Ray head, a lab) stay in one process
TEST_ARGS ?= -n 2 --dist loadfile

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	# compat: a plain path entry, no import hook, so every lab and run process starts ~17 ms sooner
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

# tmux, Chromium, TeX Live...: apt-get where missing (scripts/system_packages.sh says which and why)
system-packages:
	scripts/system_packages.sh

run: $(STAMP) system-packages
	$(BIN)/lab

test: $(STAMP) system-packages
	$(BIN)/python -m pytest -q $(TEST_ARGS)

# the suite three times in a row while a CPU hog keeps every core busy (timeouts scaled by 3)
test-under-load: $(STAMP) system-packages
	PY=$(BIN)/python scripts/test_under_load.sh $(TEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) lab .pytest_cache
