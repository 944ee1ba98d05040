# Two commands on a fresh Linux machine (Python 3.11, Node 20+):
#   make run    set everything up, start the server with demo data (embedded Redis)
#   make test   set up what the tests need (incl. Debian's chromium), run every test
# Both are idempotent: steps re-run only when their inputs changed.
#
# Python packages come from uv.lock only (`uv sync --locked`): what runs here is what
# the suite passed with. `make lock` refreshes the lock (see README, "Dependencies").

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
PORT   ?= 8080
HOST   ?= 127.0.0.1
PYTEST_ARGS ?=

# uv uses this interpreter, never downloads one, and builds the venv at $(VENV).
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test setup frontend browsers lint lock bench clean

# The demo room is bound to a simulated Douyin room: a few minutes of its recorded comments,
# likes, gifts and product cards are replayed in the background (the host console shows the
# live comments merging into question cards).
run: setup frontend
	$(BIN)/live-server platform replay --demo --fresh-ids --url http://$(HOST):$(PORT) >/dev/null & \
	$(BIN)/live-server serve --demo --host $(HOST) --port $(PORT)

test: setup frontend browsers
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	# again on a local 3-master Redis Cluster (docs/SCALING.md)
	$(BIN)/python -m pytest -q --redis-cluster -m "not browser and not slow" tests/live_server tests/geo tests/coupons

setup: $(VENV)/.installed

# uv itself: pinned with hashes in requirements-uv.txt, in a venv of its own.
$(UV): requirements-uv.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-uv.txt
	touch $@

# Exactly the locked set (runtime, test, load, dev; anything else in the venv is removed),
# the project itself editable.
$(VENV)/.installed: pyproject.toml uv.lock $(UV)
	$(UV) sync --locked --all-extras
	touch $@

# Refresh the lock to the newest releases the bounds in pyproject.toml allow.
lock: $(UV)
	$(UV) lock --upgrade
	@echo "uv.lock refreshed. Next: git diff uv.lock (what moved), read those changelogs, make lint test"

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

# ruff (lint + format), mypy --strict over live_server, geo, coupons, loadtest, and the
# import-linter contracts of the dependency rule (pyproject.toml, docs/ARCHITECTURE.md).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Every benchmark under bench/, one after the other (about 40 minutes on 2 cores; the
# fan-out bench also installs Node's socket.io in bench/fanout). Each writes its figures
# and prints the lines for bench/RESULTS.md; run one alone with the commands in README.
bench: setup frontend
	$(BIN)/python -m bench.nearest
	$(BIN)/python -m bench.booking
	$(BIN)/python -m bench.claims --runs 5 --workers 1,2
	$(BIN)/python -m bench.fanout.run --sizes 1000,5000,10000 --repeats 3
	$(BIN)/python -m bench.questions.eval_dedup
	$(BIN)/python -m bench.questions.bench_match
	$(BIN)/python -m bench.questions.bench_intake --rate 200 --seconds 20
	$(BIN)/python -m bench.store_streams.bench_feed --replay 5000 --live 500
	$(BIN)/python -m bench.cluster.redis_cost

clean:
	rm -rf $(VENV) $(TOOLS) widgets/node_modules static/*.js static/*.css static/.built var dist
