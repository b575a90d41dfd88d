# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint serve migrate seed bench clean security

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

.env:
	@$(PYTHON) scripts/make_env.py .env.example .env

migrate: $(VENV)/.installed .env
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# Serve the web app and a django-q2 cluster together; one Ctrl-C stops both, cleanly.
# The terminal's SIGINT reaches qcluster, which stops its own workers; a second signal, or one
# sent to its whole process group (the old `kill 0`), breaks that stop. runserver, started in
# the background, ignores SIGINT (POSIX), so the shell ends it with SIGTERM. A SIGTERM or SIGHUP
# to the shell, or the web server ending by itself, stops the cluster with one SIGINT of ours.
run: seed
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C stops the web server and the job cluster)"
	@$(PY) manage.py qcluster & cluster=$$!; \
	  $(PY) manage.py runserver --noreload $(HOST):$(PORT) & web=$$!; \
	  stop() { [ -n "$$stopping" ] && return; stopping=1; kill -TERM $$web 2>/dev/null; \
	           [ "$$1" = ctrl-c ] || kill -INT $$cluster 2>/dev/null; }; \
	  trap 'stop ctrl-c' INT; trap stop TERM HUP; \
	  wait $$web; stop; wait $$cluster; wait $$cluster; exit 0

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	@command -v chromium >/dev/null || echo "make test: no chromium on PATH, so the browser tests" \
	  "(tests/browser) will be skipped. Install it with: sudo apt-get install chromium"
	$(VENV)/bin/pytest

# Known vulnerabilities in the pinned dependencies (fails on a finding, never on the network:
# the gate says plainly when they could not be audited), then bandit over the code.
security: $(VENV)/.installed-dev
	$(PY) -m tests.security.pip_audit_gate requirements.txt
	$(VENV)/bin/bandit -r algosaas accounts strategies execution brokers optimisation notifications -x '*/tests/*,*/migrations/*' -q

bench: $(VENV)/.installed-dev
	$(PY) bench/backtest.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
