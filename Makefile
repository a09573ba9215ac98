# Two commands matter: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements

.PHONY: run test lint format install bench migrate clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.txt changes.
$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	cp requirements.txt $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --no-input

run: migrate
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(PY) manage.py runlocal

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Each benchmark prints its figures and the ratio to its floor; sync and gate start their own MLflow server.
bench: install
	for b in pages mirror_pages scorecard drift gate sync; do $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf var/staticfiles .pytest_cache .ruff_cache
