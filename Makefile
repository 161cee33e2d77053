# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SAMPLE_KB := chatbot/sample/knowledge_base.jsonl
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc

.PHONY: install run test test-postgres lint format browser clean bench

install: $(VENV)/.installed

# torch goes in first and alone: pip then takes the CPU build from local disk, and the constraints
# file keeps every later install from pulling a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: install
	$(BIN)/chatbot db upgrade
	$(BIN)/chatbot import-faq $(SAMPLE_KB) --if-empty
	CHATBOT_FIRST_RUN_TRAINING=$${CHATBOT_FIRST_RUN_TRAINING:-true} $(BIN)/chatbot serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the browser tests (Playwright's own download cannot reach its host), and a
# small CJK font so the Chinese console pages render in the screenshots rather than as boxes.
browser:
	@test -x $(CHROMIUM) -a -e $(CJK_FONT) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
	    apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else echo "browser tests need Debian's chromium: sudo apt-get install chromium fonts-wqy-microhei"; fi; }

test: install browser
	$(BIN)/pytest

# The same suite on the production backends (tests/backends.py): every test database a schema of
# CHATBOT_TEST_POSTGRES_URL, live events and jobs through CHATBOT_TEST_REDIS_URL. .ci/run runs both.
test-postgres: install browser
	CHATBOT_TEST_BACKEND=postgres $(BIN)/pytest

lint: install
	$(BIN)/ruff check chatbot tests bench
	$(BIN)/ruff format --check chatbot tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix chatbot tests bench
	$(BIN)/ruff format chatbot tests bench

bench: install
	$(BIN)/python bench/banking77_base.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
