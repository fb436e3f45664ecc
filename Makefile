# Two commands matter: `make run` (the app with its built-in Codat sandbox) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
# pytest-xdist: a worker per CPU, each with its own test database (SQLite in memory; test_<name>_gwN
# on PostgreSQL) and, for the browser tests, its own live server on a free port. Tests are handed
# out one at a time so that the browser tests, which come first and mostly wait, spread over the
# workers instead of queueing on one. `make test PYTEST_ARGS=-n0` runs everything in one process.
PYTEST_ARGS ?= -n auto --dist load --maxschedchunk 1

# The hardening tests start Python in a few dozen subprocesses; with PYTHONDONTWRITEBYTECODE
# set (as some images do) each recompiles the whole project from source.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-postgres lint typecheck format bench cluster clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Local settings: DEBUG on, the sandbox on (no CODAT_API_KEY). Never used by the tests.
.env:
	cp .env.example .env

# codat_setup --apply sets up the Codat account (here the sandbox's) as going live does:
# redirect URL, webhook consumer, client-wide sync settings that fetch nothing. codat_logos_fetch
# keeps the platforms' logos (a failure only leaves the letter monograms, so it stops nothing).
run: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py codat_setup --apply --sandbox-only
	-$(BIN)/python manage.py codat_logos_fetch
	@echo "Consent Portal on http://127.0.0.1:8000 (sandbox console, when on: http://127.0.0.1:8000/sandbox/)"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy with django-stubs (configured in pyproject.toml). Its Django plugin loads the settings,
# hence the .env.
typecheck: $(STAMP) .env
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP) .env lint typecheck
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

# The whole suite again on PostgreSQL (CI runs this after `make test`).
test-postgres: $(STAMP)
	DATABASE_URL=$(POSTGRES_URL) $(BIN)/pytest $(PYTEST_ARGS)

# Every speed goal against its baseline, on PostgreSQL (POSTGRES_URL: its database is only used
# to connect; each script creates and drops a database of its own). Measurements, not tests
# (bench/README.md): webhook intake vs a trivial view under gunicorn on loopback; the customer
# pages vs a trivial signed-in page in one process; the admin, on a database seeded with
# ADMIN_COMPANIES companies (the issue's 10,000; `make bench ADMIN_COMPANIES=1000` for a quick
# run), vs the same trivial page. Each writes JSON to bench/results/<run>/ (ignored by git),
# and bench/summary.py ends the run with one table of every row, its ratio and its goal.
# The customer pages keep what they build in the cache, and production's cache is Redis shared
# by every node, so they are measured with Redis (PAGES_CACHE_URL; db 14, not the cluster's 13):
# an in-process cache would flatter them by a cache round trip per view.
# More options per script: BENCH_ARGS (intake), PAGES_ARGS, ADMIN_ARGS, e.g.
# make bench PAGES_ARGS="--cold"
ADMIN_COMPANIES ?= 10000
PAGES_CACHE_URL ?= redis://127.0.0.1:6379/14
BENCH_RUN := bench/results/$(shell date -u +%Y%m%dT%H%M%SZ)
bench: $(STAMP)
	@failed=0; \
	$(BIN)/python bench/webhook_intake.py --database-url $(POSTGRES_URL) \
		--json $(BENCH_RUN)/webhook_intake.json $(BENCH_ARGS) || failed=1; \
	$(BIN)/python bench/customer_pages.py --database-url $(POSTGRES_URL) \
		--cache-url $(PAGES_CACHE_URL) --json $(BENCH_RUN)/customer_pages.json $(PAGES_ARGS) \
		|| failed=1; \
	$(BIN)/python bench/admin_pages.py --database-url $(POSTGRES_URL) \
		--companies $(ADMIN_COMPANIES) --json $(BENCH_RUN)/admin_pages.json $(ADMIN_ARGS) \
		|| failed=1; \
	$(BIN)/python bench/summary.py $(BENCH_RUN) && exit $$failed

# The deployment the README describes, on this machine: two gunicorn nodes behind a round-robin
# proxy, two db_workers, PostgreSQL (a database of its own, created and dropped) and Redis (db 13),
# driven by Locust while the sandbox storms webhooks and nodes restart; it exits non-zero unless
# it proves nothing was lost. More options: make cluster CLUSTER_ARGS="--users 20 --duration 180"
cluster: $(STAMP)
	$(BIN)/python bench/cluster.py --database-url $(POSTGRES_URL) $(CLUSTER_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .mypy_cache
