# gradkit: `make demo` and `make test` each set up .venv on a fresh machine by themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
FUZZ_STAMP := $(VENV)/.installed-fuzz
FUZZ_SECONDS ?= 60
GALLERY_STAMP := $(VENV)/.installed-gallery

.PHONY: demo test bench bench-recipe gallery fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,compat]'
	touch $@ $(STAMP)

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(STAMP)

$(GALLERY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[gallery]'
	touch $@ $(STAMP)

demo: $(STAMP)
	$(BIN)/gradkit train

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

# atheris needs a compiler to build; without it, fuzz/run.py runs its Hypothesis fallback.
$(FUZZ_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,compat]'
	-$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	touch $@ $(STAMP) $(TEST_STAMP)

fuzz: $(FUZZ_STAMP)
	$(BIN)/python fuzz/run.py model_config $(FUZZ_SECONDS)
	$(BIN)/python fuzz/run.py model $(FUZZ_SECONDS)
	$(BIN)/python fuzz/run.py csv $(FUZZ_SECONDS)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/suite.py

# Issue 21's protocol (hours on 2 cores): default train, doctor, search at 100 and 300 trials,
# 3 seeds, MNIST-1D and a synthetic set; a part: $(BIN)/python bench/recipe.py --help
bench-recipe: $(BENCH_STAMP)
	$(BIN)/python bench/recipe.py

gallery: $(GALLERY_STAMP)
	$(BIN)/python examples/build_readme.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
