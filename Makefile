# Two commands for a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Two installs at once (two checkouts, or a system update) wait for the package lock instead of failing.
APT := $(SUDO) apt-get -o DPkg::Lock::Timeout=900
# llama-cpp-python compiles from source: use every core.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc)

.PHONY: run test test-slow lint bench install install-dev chromium redis postgresql golang clean

run: install
	$(PY) launch.py

test: install-dev chromium redis postgresql golang
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow"

test-slow: install-dev chromium redis postgresql golang
	$(PY) -m pytest -m slow

lint: install-dev
	$(PY) -m ruff check .

# Benchmarks: ratios against the bare tools, measured in one invocation (see BENCHMARKS.md).
bench: install-dev
	$(PY) -m bench

$(VENV)/bin/activate:
	@python3 -c "import ensurepip" 2>/dev/null && command -v g++ >/dev/null || \
		{ $(APT) update -qq && $(APT) install -y -qq python3-venv build-essential; }
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# llama-cpp-python has no wheel on PyPI: studio.llamacpp builds one (without AMX, see there) into
# STUDIO_CACHE once, and pip installs that one.
$(VENV)/.installed: requirements.txt requirements-nodeps.txt studio/llamacpp.py | $(VENV)/bin/activate
	wheels=$$($(PY) -m studio.llamacpp wheel "$$(grep -m1 '^llama-cpp-python==' requirements.txt)") && \
		$(PIP) install --find-links "$$wheels" -r requirements.txt
	$(PIP) install --no-deps -r requirements-nodeps.txt
	$(PY) -m studio.llamacpp  # llama.cpp's converter, from the same release's sdist
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PIP) install -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

chromium:
	@command -v chromium >/dev/null || { $(APT) update -qq && $(APT) install -y -qq chromium; }

# The multi-worker tests run a real Redis broker on 127.0.0.1.
redis:
	@command -v redis-server >/dev/null || { $(APT) update -qq && $(APT) install -y -qq redis-server; }

# The storage tests run each on SQLite and on a throwaway PostgreSQL cluster (initdb and pg_ctl by hand in a temp
# folder, no system service): Debian's server binaries.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		{ $(APT) update -qq && $(APT) install -y -qq postgresql; }

# Ollama runs chat templates with Go's text/template: the template tests render them with it too.
golang:
	@command -v go >/dev/null || { $(APT) update -qq && $(APT) install -y -qq golang-go; }

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
