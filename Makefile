# Two commands matter: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
UV_VERSION ?= 0.13.9

.PHONY: run test lint format install bench migrate clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.txt changes. uv installs the same pinned set in seconds where
# pip takes over a minute; where uv cannot be installed, pip does the work.
$(STAMP): requirements.txt | $(PY)
	if $(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION); then \
		$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.txt; \
	else \
		$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt; \
	fi
	cp requirements.txt $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --no-input

# runlocal migrates and collects static files itself, while the MLflow server boots.
run: install
	$(PY) manage.py runlocal

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Each benchmark prints its figures and the ratio to its floor; sync and gate start their own MLflow
# server, hostile_input its own portal (gunicorn + a worker) to measure memory through a hostile corpus.
bench: install
	for b in pages mirror_pages scorecard drift gate sync hostile_input; do $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf var/staticfiles .pytest_cache .ruff_cache
