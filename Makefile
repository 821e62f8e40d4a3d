# `make run` and `make test` set up everything they need on a fresh machine
# with Python 3.11+: the virtualenv, pinned packages, the embedded PostgreSQL.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint fmt migrate clean-db autobahn audit bench bench-full bench-floor fuzz api-fuzz settings-table

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstalled whenever a requirements file changes, or the Python client's
# package description (requirements-dev.txt installs it, editable).
$(VENV)/.installed: requirements.txt requirements-dev.txt clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# axe-core for the browser tests' accessibility scans (tests/browser/axe.py), from npm,
# pinned in package-lock.json; reinstalled whenever either file changes.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# gunicorn and the bots (flask --app app stock-bot) on one database; Ctrl-C stops all.
run: $(VENV)/.installed
	$(BIN)/python -m chat.run

test: $(VENV)/.installed node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/bandit --quiet --recursive chat --severity-level high
	$(BIN)/pytest $(PYTEST_ARGS)

# The property-based input tests with many more examples than `make test` tries
# (a fresh random seed each run; a failure prints the input that found it).
fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=long $(BIN)/pytest -q -p no:cacheprovider \
		tests/web/test_inputs_fuzz.py tests/e2e/test_inputs_fuzz_e2e.py

# The JSON API fuzzed by schemathesis against a real gunicorn, with many more
# examples per operation than `make test` tries (a fresh random seed each run;
# a failure prints the request that found it as a curl command).
api-fuzz: $(VENV)/.installed
	HYPOTHESIS_PROFILE=long $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_api_fuzz_e2e.py

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

migrate: $(VENV)/.installed
	$(BIN)/flask --app app migrate

# The README's configuration table and the example environment file, regenerated
# from SETTINGS in chat/config.py (tests/test_config.py and tests/test_deploy.py
# fail while they differ).
settings-table: $(VENV)/.installed
	$(BIN)/python -m chat.config --write README.md --env-example deploy/chat.env.example

# Benchmarks (docs/benchmarks.md): ours, the naive one-transaction-per-message
# mode and the peers under the same load generator, in one run. Their own
# virtualenv: the peers' frameworks stay out of the product's.
BENCH_VENV := .venv-bench
BENCH_TARGETS ?= ours,naive,channels,socketio
$(BENCH_VENV)/.installed: bench/requirements.txt bench/peers/requirements.txt requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements.txt
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.load --profile quick --targets $(BENCH_TARGETS)

bench-full: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.load --profile full --targets $(BENCH_TARGETS)

# The floor (bench/floor.py): socket writes and PostgreSQL's cost per message with
# no chat server at all, in the product's virtualenv (it needs gcc for its C part).
bench-floor: $(VENV)/.installed
	$(BIN)/python -m bench.floor

# Known vulnerabilities in the pinned requirements (and what they pull in).
# --strict: a package that could not be checked is a failure, not a pass, so
# a mirror without vulnerability data cannot read as a clean bill of health.
AUDIT := instance/audit-venv
$(AUDIT)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT)
	$(AUDIT)/bin/pip install --quiet -r requirements-audit.txt
	touch $@

# The Python client (clients/python) is this repository's own code, not on PyPI
# (--strict would fail on it): its line is left out; its dependencies are pinned
# in the same files, so nothing it brings goes unaudited.
audit: $(AUDIT)/.installed
	grep -v -e '^-e ./clients/' -e '^-r ' requirements-dev.txt > $(AUDIT)/requirements-dev.txt
	$(AUDIT)/bin/pip-audit --strict --progress-spinner off -r requirements.txt -r $(AUDIT)/requirements-dev.txt

# WebSocket conformance with Autobahn's fuzzing client (Python 2.7 code, from
# pyenv; its dependencies pinned in bench/autobahn/constraints.txt).
PYTHON2 ?= $(HOME)/.pyenv/versions/2.7.18/bin/python
AUTOBAHN_SITE := instance/autobahn/site

$(AUTOBAHN_SITE)/.installed: bench/autobahn/constraints.txt
	$(PYTHON2) -m pip install --quiet --target $(AUTOBAHN_SITE) \
		-c bench/autobahn/constraints.txt autobahntestsuite==0.8.2
	touch $(AUTOBAHN_SITE)/zope/__init__.py $@

autobahn: $(VENV)/.installed $(AUTOBAHN_SITE)/.installed
	PYTHON2=$(PYTHON2) $(BIN)/python bench/autobahn/run.py
