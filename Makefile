# pgrender: `make demo` renders the bundled example, `make test` runs every check.
# Both create their own virtualenv in .venv; `make test` also installs the Debian packages the
# real-process tests run (PostgreSQL, pgBouncer, Patroni, etcd, pgBackRest, the AWS CLI, the
# clients' runtimes: a JRE with pgJDBC, Node.js with npm, and Prometheus' promtool and
# postgres_exporter for monitoring), node-postgres and pgAdmin 4 in a virtualenv of its own
# (`make clients`).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KEY := tests/golden.key
# pgrender refuses the published test key unless this is set: demos and golden files use it on purpose.
ALLOW_TEST_KEY := PGRENDER_ALLOW_TEST_KEY=1

CLIENTS := tests/runtime/clients
CLIENTS_STAMP := $(CLIENTS)/node_modules/.installed
PGADMIN := tests/runtime/pgadmin
PGADMIN_STAMP := $(PGADMIN)/venv/.installed
PGADMIN_PYTHON ?= /usr/bin/python3

.PHONY: demo test lint unit golden schema bench fuzz clean system clients

$(STAMP): pyproject.toml
	./scripts/setup-system.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

system:
	./scripts/setup-system.sh --runtime

# node-postgres for tests/runtime/test_clients.py, exactly as package-lock.json pins it (git-ignored).
$(CLIENTS_STAMP): $(CLIENTS)/package.json $(CLIENTS)/package-lock.json
	npm ci --prefix $(CLIENTS) --no-audit --no-fund
	touch $@

# pgAdmin 4 and gunicorn for tests/runtime/test_pgadmin.py, exactly as requirements.txt pins them, in
# a virtualenv of their own (git-ignored; about 600 MB, 40 s), made anew when the pins change: the
# harness mounts it where the pgAdmin image has its files (tests/runtime/harness.py, localize 14.).
# Its Python is the system's, not $(PYTHON): pgAdmin runs as the local postgres user, as every
# container does here, and starts that Python again (setup.py, gunicorn), which it cannot where the
# interpreter lives in a directory only root may enter (a pyenv under /root).
$(PGADMIN_STAMP): $(PGADMIN)/requirements.txt
	$(PGADMIN_PYTHON) -m venv --clear $(PGADMIN)/venv
	$(PGADMIN)/venv/bin/pip install --quiet --upgrade pip
	$(PGADMIN)/venv/bin/pip install --quiet -r $(PGADMIN)/requirements.txt
	touch $@

clients: $(CLIENTS_STAMP) $(PGADMIN_STAMP)

# Renders examples/hippo.yaml with the published test key into out/ (git-ignored).
demo: $(STAMP)
	$(BIN)/pgrender validate examples/hippo.yaml
	$(ALLOW_TEST_KEY) $(BIN)/pgrender render examples/hippo.yaml -o out/hippo --key-file $(KEY)
	@ls -1 out/hippo
	@if command -v kubectl >/dev/null 2>&1; then \
		kubectl kustomize out/hippo >/dev/null && echo "kubectl kustomize out/hippo: builds"; fi

# The unit tests in two processes (pytest-xdist; a file's tests stay together, so a module's fixture is
# made once), then the runtime tests, not beside the unit tests, which keep both CPUs busy. The runtime
# tests mostly wait (for Patroni's loop, PostgreSQL's restarts, a copy behind a slow link), so they run
# in four processes on two CPUs: a long file takes about as long as it does alone, and the runtime part
# about 6.5 minutes instead of 10.5 in two. The longest files go first (tests/runtime/conftest.py,
# LONGEST_FIRST; hence --no-loadscope-reorder). Each worker starts its own example clusters.
# Each run lists its slowest tests: the suite is held well under 15 minutes on CI's machine.
test: system $(STAMP) clients lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --ignore=tests/runtime --durations=15
	$(BIN)/python -m pytest -q -n 4 --dist loadfile --no-loadscope-reorder tests/runtime --durations=30

lint: $(STAMP)
	$(BIN)/ruff check pgrender tests benchmarks
	$(BIN)/ruff format --check pgrender tests benchmarks
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --ignore=tests/runtime

# Rewrites golden/*/expected from the examples and golden/*/spec.yaml, and golden/convert-*/expected.*
# from their input.yaml; review the diff.
golden: $(STAMP)
	$(ALLOW_TEST_KEY) $(BIN)/python -m tests.golden_cases --update

schema: $(STAMP)
	$(BIN)/pgrender schema -o schemas
	$(BIN)/python -m pgrender.spec.compile
	$(BIN)/python -m pgrender.frozen_compile
	$(BIN)/python -m pgrender.cli_compile

# The seeded mutation fuzzer with thousands of seeds (make test runs a few hundred):
# PGRENDER_FUZZ_CASES and PGRENDER_FUZZ_FIRST choose how many and from which seed.
fuzz: $(STAMP)
	PGRENDER_FUZZ_CASES=$${PGRENDER_FUZZ_CASES:-5000} $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py

# Each figure beside a baseline timed in the same run, and the ratio (issue 17's targets);
# `make bench BENCH=--quick` for fewer runs, `BENCH=cold` for one section.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH)

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache $(CLIENTS)/node_modules $(PGADMIN)/venv
