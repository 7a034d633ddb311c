# Everything installs and starts itself: `make run` and `make test` need nothing else.
.DEFAULT_GOAL := help
.PHONY: help install lint format check test run interop interop-wide

VENV := .venv/bin

help:  ## list the targets
	@echo "usage: make TARGET"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

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

# Files in collection order (--no-loadscope-reorder): xdist otherwise sorts
# them by test count, mixing unit files among the e2e ones, and each return to
# tests/e2e started its package's stack again (about 15 starts where 2 do).
test: install lint interop  ## lint, the interop guideline's tempest tests, then the whole test suite
	$(VENV)/pytest -q -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder --durations=30 tests

# docs/interop.md says what these run and what tempest is told about the cloud.
interop: install  ## the OpenStack Powered Compute guideline's required tempest tests (own stack)
	$(VENV)/python -m ops.interop

interop-wide: install  ## tempest's API suites for identity, compute, image, network and volume, counted (slow)
	$(VENV)/python -m ops.interop --wide

run: install  ## start the control plane (ARGS=... passes options)
	exec $(VENV)/cloudledger run $(ARGS)
