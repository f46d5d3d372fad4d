# The two commands: `make run` (set up on first use, then run the whole stack) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint format workspace-image docker-engine clean

run: setup
	$(BIN)/python -m lib.stack

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(STAMP) node_modules/.bin/configurable-http-proxy

# Re-install when a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.bin/configurable-http-proxy: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format:
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# Docker mode: the workspace image, and an engine for Debian hosts that have none.
workspace-image:
	bash deploy/scripts/build-workspace-image.sh

docker-engine:
	bash deploy/scripts/docker-engine.sh

clean:
	rm -rf $(VENV) node_modules
