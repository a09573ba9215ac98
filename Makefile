# Two commands matter: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-requirements
UV_VERSION ?= 0.13.9

.PHONY: run test lint format install bench migrate clean plotly-bundle

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
	$(VENV)/bin/lint-imports  # the import contracts in pyproject.toml

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Each benchmark prints its figures and the ratio to its floor; sync and gate start their own MLflow
# server, hostile_input its own portal (gunicorn + a worker) to measure memory through a hostile corpus.
bench: install
	for b in pages mirror_pages scorecard drift gate sync shadow hostile_input; do $(PY) bench/$$b.py || exit 1; done

# The portal's Plotly: plotly.js's official "cartesian" partial bundle (bar, box, contour, heatmap,
# histogram, image, pie, scatter, violin: 1.5 MB, not the 4.8 MB full bundle plotly.py ships), from the
# npm registry at the plotly.js version plotly.py (requirements.txt) is built for, so the figures
# it writes are read by the same plotly.js. After bumping plotly in requirements.txt, set the version
# plotly.py reports (python -c "import plotly.offline as o; print(o.get_plotlyjs_version())") and run
# `make plotly-bundle`; commit static/vendor/plotly/. The file name stays plotly.min.js so no
# template changes; its first comment line says which bundle and version it is.
PLOTLY_JS_VERSION ?= 4.1.1
PLOTLY_BUNDLE := static/vendor/plotly/plotly.min.js
plotly-bundle:
	rm -rf var/plotly-bundle && mkdir -p var/plotly-bundle static/vendor/plotly
	cd var/plotly-bundle && npm pack --silent plotly.js-cartesian-dist-min@$(PLOTLY_JS_VERSION) >/dev/null && tar xzf plotly.js-cartesian-dist-min-$(PLOTLY_JS_VERSION).tgz
	cp var/plotly-bundle/package/plotly-cartesian.min.js $(PLOTLY_BUNDLE)
	cp var/plotly-bundle/package/LICENSE static/vendor/plotly/LICENSE
	rm -rf var/plotly-bundle
	head -c 80 $(PLOTLY_BUNDLE) | grep -q "cartesian - minified) v$(PLOTLY_JS_VERSION)"

clean:
	rm -rf var/staticfiles .pytest_cache .ruff_cache
