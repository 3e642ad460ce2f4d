# The two commands a user needs: `make demo` and `make test`. Each one sets itself up.
SHELL := /bin/bash
UV := uv

.PHONY: bootstrap sync demo test unit integration lint format up down clean-test-stack

bootstrap:
	@bash lakehouse/bootstrap.sh

sync: bootstrap
	@$(UV) sync --frozen --quiet

demo: sync            ## start the stack, ingest data/sample, show results through Trino
	$(UV) run lakehouse demo

test: sync lint       ## unit + integration tests against the real stack
	$(UV) run pytest tests

unit: sync            ## unit tests only: local Spark, no services
	$(UV) run pytest tests/unit -m "not integration"

integration: sync
	$(UV) run pytest tests/integration -m integration

lint: sync
	$(UV) run ruff check lakehouse jobs tests
	$(UV) run ruff format --check lakehouse jobs tests

format: sync
	$(UV) run ruff format lakehouse jobs tests
	$(UV) run ruff check --fix lakehouse jobs tests

up: sync
	$(UV) run lakehouse up

down:
	$(UV) run lakehouse down
