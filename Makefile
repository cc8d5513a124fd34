# MedCampaign: `make run` serves the app with an embedded database and demo data; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test browser screenshots bench lint mutants clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-embedded.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: install
	$(BIN)/python -m scripts.dev

# The browser step installs Chromium when missing (apt-get, as root) and fails only with CI=true and no browser;
# pytest runs either way, so one failure does not hide the others.
test: install
	status=0; $(BIN)/python -m scripts.ensure_browser || status=$$?; \
	$(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?; exit $$status

browser: install
	$(BIN)/python -m scripts.ensure_browser

screenshots: install browser
	$(BIN)/python -m scripts.screenshots

bench: install
	$(BIN)/python -m bench

mutants: install
	$(BIN)/python -m tests.mutants

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	PYTHONPATH=. $(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
