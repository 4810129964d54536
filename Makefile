# edgecv: every target creates/reuses .venv itself (idempotent).
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
FONTS_STAMP := /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf

.PHONY: demo test train train-teacher bench lint fonts venv clean golden

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "python3.11 is required"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[training,cloud,dev,demo]"
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

# Debian packages: fonts used by the synthetic renderer, Mosquitto, libpython3.11 for Triton's Python stub;
# installed when missing and we are allowed to (root or sudo).
fonts:
	@bash scripts/ensure-system-packages.sh

# The whole loop on one machine (docs/demo.md); reports in .edgecv/demo-report.{json,html}
demo: venv fonts
	$(BIN)/edgecv demo

test: venv fonts
	$(BIN)/python -m pytest -q

train: venv fonts
	$(BIN)/python -m training.make_all --out models

train-teacher: venv fonts
	$(BIN)/python -m training.train_teacher

golden: venv fonts
	$(BIN)/edgecv generate --seed 9001 --frames 300 --out .edgecv/datasets/golden
	$(BIN)/edgecv generate --seed 9002 --frames 300 --shift --out .edgecv/datasets/shifted

bench: venv
	$(BIN)/edgecv bench models

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf .edgecv build *.egg-info
