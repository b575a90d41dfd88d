# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run web-command test lint serve migrate seed bench clean security

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

# The web server `make run` starts: the ASGI app (HTTP and the live page's WebSocket,
# docs/live-push.md) under uvicorn, one process, with manage.py's settings unless
# DJANGO_SETTINGS_MODULE says otherwise (algosaas.asgi alone defaults to production's).
# No --reload: the job cluster beside it would keep running the old code. No lifespan (Django
# has no startup or shutdown hooks to run) and no access log (Django's own request lines say
# the same). Proxy headers are never trusted (NUM_PROXIES is).
# tests/test_make_run_push.py starts this same line (`make -s web-command` prints it).
WEB_SERVER = DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-algosaas.settings.base} \
  $(PY) -m uvicorn algosaas.asgi:application --host $(HOST) --port $(PORT) \
  --lifespan off --no-access-log --no-proxy-headers --timeout-graceful-shutdown 5

# Serve the web app and a django-q2 cluster together; one Ctrl-C stops both, cleanly.
# The terminal's SIGINT reaches qcluster, which stops its own workers; a second signal, or one
# sent to its whole process group (the old `kill 0`), breaks that stop. The web server started
# in the background gets the terminal's SIGINT too (uvicorn installs its own handler over the
# ignored SIGINT a background job inherits) and the shell sends it a SIGTERM as well, which
# uvicorn takes as the same graceful stop. A SIGTERM or SIGHUP to the shell, or the web server
# ending by itself, stops the cluster with one SIGINT of ours. Until qcluster has started
# (Django loading, a few seconds, while uvicorn may already serve) it ignores SIGINT, so a
# Ctrl-C then would be lost and leave it running: on Linux the shell reads in /proc whether
# the cluster catches SIGINT yet (`catches_int`) and, if it did not, sends its one SIGINT as
# soon as it does. Without /proc it assumes the cluster caught the terminal's.
run: seed
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C stops the web server and the job cluster)"
	@$(PY) manage.py qcluster & cluster=$$!; \
	  $(WEB_SERVER) & web=$$!; \
	  catches_int() { m=$$(sed -n 's/^SigCgt:[[:space:]]*//p' /proc/$$1/status 2>/dev/null); \
	                  case $$m in ""|*[2367abef]) return 0;; *) return 1;; esac; }; \
	  stop() { [ -n "$$stopping" ] && return; stopping=1; kill -TERM $$web 2>/dev/null; \
	           [ "$$1" = ctrl-c ] && catches_int $$cluster || owed=1; }; \
	  trap 'stop ctrl-c' INT; trap stop TERM HUP; \
	  wait $$web; stop; \
	  if [ -n "$$owed" ]; then n=0; \
	    while kill -0 $$cluster 2>/dev/null && ! catches_int $$cluster && [ $$n -lt 600 ]; do \
	      sleep 0.1; n=$$((n+1)); done; \
	    kill -INT $$cluster 2>/dev/null; fi; \
	  wait $$cluster; wait $$cluster; exit 0

web-command:
	@echo '$(WEB_SERVER)'

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
