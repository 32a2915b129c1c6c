# The two commands a new user needs: `make run` and `make test`. Everything else is their set-up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test setup migrate demo browser lint unit bench

$(STAMP): requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

setup: $(STAMP)

migrate: setup
	$(PY) -m il2_tox migrate

demo: migrate
	$(PY) -m il2_tox demo

## run: serve the dashboard on the demo ward (SQLite at data/il2_tox.db unless IL2TOX_DATABASE_URL is set)
run: demo
	@echo ""
	@echo "  il2-tox is starting on http://127.0.0.1:8501"
	@echo "  demo accounts (password il2-demo): nurse, physician, admin"
	@echo ""
	$(PY) -m streamlit run dashboard/streamlit_app.py --server.address 127.0.0.1 --server.port 8501 \
		--server.headless true --browser.gatherUsageStats false

## browser: Debian's chromium for the browser tests (Playwright drives it; it downloads no browser),
## and the DejaVu fonts the PDF sheets print with
FONT := /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -f $(FONT) ]; then \
		echo "Installing Debian chromium and fonts-dejavu-core"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-dejavu-core; \
	fi

## test: the whole suite (unit, integration on SQLite and PostgreSQL, app, browser). PostgreSQL
## cases use IL2TOX_TEST_POSTGRES_URL, else the local server when it answers, else they skip.
TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
test: setup browser
	@if [ -z "$$IL2TOX_TEST_POSTGRES_URL" ] && command -v pg_isready >/dev/null \
		&& pg_isready -q -h 127.0.0.1 -p 5432; then \
		export IL2TOX_TEST_POSTGRES_URL="$(TEST_POSTGRES_URL)"; \
	fi; \
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check il2_tox dashboard tests benchmarks
	$(VENV)/bin/ruff format --check il2_tox dashboard tests benchmarks
	$(VENV)/bin/mypy

unit: setup
	$(PY) -m pytest tests/unit -q

bench: setup
	$(PY) benchmarks/engine.py
