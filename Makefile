# Everything installs and starts itself: `make run` and `make test` need nothing else.
.DEFAULT_GOAL := help
.PHONY: help install lint format check test run

VENV := .venv/bin

help:  ## list the targets
	@echo "usage: make TARGET"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

install:  ## install Debian packages and the venv (.venv) when missing or stale
	@bash ops/install.sh

lint: install  ## ruff check, ruff format --check, mypy --strict
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

format: install  ## reformat, then apply ruff's safe fixes
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

check: install lint  ## the fast loop: lint and the unit tests (under a minute)
	$(VENV)/pytest -q -p no:cacheprovider tests/unit

test: install lint  ## lint, then the whole test suite (it starts its own servers)
	$(VENV)/pytest -q -p no:cacheprovider tests

run: install  ## start the control plane (ARGS=... passes options)
	exec $(VENV)/cloudledger run $(ARGS)
