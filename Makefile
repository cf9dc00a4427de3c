# One entry point for people and CI. Every target installs what it needs first,
# so a fresh clone with only Python 3.11 and pip can run any of them.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo run sandbox bench lint clean pictures

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,browse]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m bot demo

run: $(STAMP)
	$(PY) -m bot run

sandbox: $(STAMP)
	$(PY) -m bot sandbox

# The README's pictures (docs/pictures/), drawn from the demo's Block Kit; needs Chromium
# (Debian: apt-get install chromium), so it is not part of `make test`.
pictures: $(STAMP)
	$(PY) -m bot.sandbox.pictures

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) data/demo.db* .pytest_cache .ruff_cache
