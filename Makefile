# Pharmos: `make demo` and `make test` are the two commands a fresh clone needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck contracts pytest i18n bench clean

# Re-install whenever the project metadata changes (stale .venv).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pharmos demo

lint: $(STAMP)
	$(BIN)/ruff check pharmos tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy pharmos

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadgroup

test: lint typecheck contracts pytest

# Refresh the message catalogues after changing user-visible texts, then translate the new
# zh_CN entries (a test refuses empty ones) and run `make i18n` again to compile.
i18n: $(STAMP)
	mkdir -p var
	$(BIN)/pybabel extract -F pharmos/web/babel.cfg --no-location --no-wrap -o var/messages.pot .
	$(BIN)/pybabel update --no-wrap --no-fuzzy-matching --ignore-obsolete -i var/messages.pot -d pharmos/web/translations -D messages
	$(BIN)/pybabel compile -d pharmos/web/translations -D messages

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
