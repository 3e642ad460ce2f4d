# The two commands a user needs: `make demo` and `make test`. Each one sets itself up.
SHELL := /bin/bash
UV := uv

.PHONY: bootstrap sync demo test check unit integration lint format up down clean-test-stack bench bench-stream bench-growth bench-10m

# The benchmark gets a stack of its own (empty tables, its own ports), so it never touches the
# demo's data and the demo never skews its numbers. Its ports stay below Linux's ephemeral range
# (32768-60999 by default, /proc/sys/net/ipv4/ip_local_port_range): there, any outgoing
# connection of the moment may hold one as its local port, and a service failed to start
# ("Address already in use") with nothing listening on the port.
BENCH_ENV := LAKEHOUSE_HOME=$(CURDIR)/.lakehouse/bench-stack LAKEHOUSE_POSTGRES_PORT=25432 \
	LAKEHOUSE_MINIO_PORT=29000 LAKEHOUSE_MINIO_CONSOLE_PORT=29001 LAKEHOUSE_TRINO_HTTPS_PORT=28443 \
	LAKEHOUSE_TRINO_HTTP_PORT=28080 LAKEHOUSE_AIRFLOW_PORT=28280 LAKEHOUSE_GOVERNANCE_PORT=28290

bootstrap:
	@bash lakehouse/bootstrap.sh

sync: bootstrap
	@$(UV) sync --frozen --quiet

demo: sync            ## start the stack, ingest data/sample, show results through Trino
	$(UV) run lakehouse demo

test: sync lint       ## unit + integration tests against the real stack (the unit tests on a second worker)
	$(UV) run pytest tests -n 2 --dist loadgroup --max-worker-restart=0 --durations=15

check: lint           ## before a commit: lint + the fast unit tests (no Spark), under a minute
	$(UV) run pytest tests/unit -m "not slow and not integration" -q

unit: sync            ## unit tests only: local Spark, no services
	$(UV) run pytest tests/unit -m "not integration"

integration: sync
	$(UV) run pytest tests/integration -m integration

lint: sync            ## ruff, and mypy --strict on jobs/ and lakehouse/ (pyproject.toml)
	$(UV) run ruff check lakehouse jobs tests dags
	$(UV) run ruff format --check lakehouse jobs tests dags
	$(UV) run mypy

format: sync
	$(UV) run ruff format lakehouse jobs tests dags
	$(UV) run ruff check --fix lakehouse jobs tests dags

up: sync
	$(UV) run lakehouse up

down:
	$(UV) run lakehouse down

bench: sync           ## this project vs DuckDB on 2,000,000 transactions; writes docs/benchmarks.md
	$(BENCH_ENV) $(UV) run lakehouse down --purge
	$(BENCH_ENV) $(UV) run lakehouse up
	$(BENCH_ENV) $(UV) run lakehouse bench $(BENCH_ARGS); status=$$?; \
	$(BENCH_ENV) $(UV) run lakehouse down; exit $$status

bench-stream: sync    ## the stream at three rates: throughput, landing-to-Trino latency
	$(BENCH_ENV) $(UV) run lakehouse down --purge
	$(BENCH_ENV) $(UV) run lakehouse up
	$(BENCH_ENV) $(UV) run lakehouse bench stream $(BENCH_ARGS); status=$$?; \
	$(BENCH_ENV) $(UV) run lakehouse down; exit $$status

bench-growth: sync    ## the same at 1M, 2M and 5M transactions
	$(MAKE) bench BENCH_ARGS="--sizes 1000000,2000000,5000000 --doc docs/benchmarks-growth.md"

bench-10m: sync       ## the same at 10,000,000 transactions (about 30 minutes); docs/benchmarks-10m.md
	$(MAKE) bench BENCH_ARGS="--transactions 10000000 --doc docs/benchmarks-10m.md"
