# Two commands on a fresh Linux machine (Python 3.11, Node 20):
#   make run    set everything up, start the server with demo data (embedded Redis)
#   make test   set up what the tests need (incl. Debian's chromium), run every test
# Both are idempotent: steps re-run only when their inputs changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
HOST   ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: run test setup frontend browsers lint bench clean

run: setup frontend
	$(BIN)/live-server serve --demo --host $(HOST) --port $(PORT)

test: setup frontend browsers
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	# again on a local 3-master Redis Cluster (docs/SCALING.md)
	$(BIN)/python -m pytest -q --redis-cluster -m "not browser and not slow" tests/live_server tests/geo tests/coupons

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,load,dev]'
	touch $@

frontend: widgets/node_modules/.installed static/.built

widgets/node_modules/.installed: widgets/package.json widgets/package-lock.json
	cd widgets && npm ci --no-audit --no-fund
	touch $@

static/.built: widgets/node_modules/.installed widgets/build.mjs $(shell find widgets/src -type f 2>/dev/null)
	cd widgets && npm run --silent build
	touch $@

# Browser tests drive Debian's chromium (playwright never downloads a browser here).
browsers:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup frontend
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) widgets/node_modules static/*.js static/.built var
