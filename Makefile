# hlm-report: `make report` and `make test` are all a newcomer needs; both create .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= report/configs/hsb2.yml
# The package's bytecode, written ahead: an editable install has none, and where the environment
# sets PYTHONDONTWRITEBYTECODE (as CI machines do) every process would compile the package's
# 14,000 lines again (0.1 s of each `hlm-report fit`). Stale files only cost that compile.
BYTECODE = $(BIN)/python -m compileall -q hlm_analysis

.PHONY: system-deps setup report reports test check fmt bench clean email site publish profiles

# Reinstall whenever pyproject.toml changes; the stamp keeps repeated runs instant.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: python3.11 (or python3) is needed on PATH" >&2; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "setup: installing hlm-report and its dependencies into $(VENV) (first run takes a minute or two)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@$(BYTECODE)
	@touch $(STAMP)

setup: $(STAMP)

report: $(STAMP)
	@$(BIN)/hlm-report render $(CONFIG)

reports: $(STAMP)
	@set -e; for config in report/configs/*.yml; do $(BIN)/hlm-report render $$config; done

# Sends _output/NAME/report.pdf to the config's stakeholders (SMTP_* settings from the environment).
# DRY_RUN=1 writes the messages to _output/NAME/outbox/ instead (make itself swallows --dry-run);
# EMAIL_FLAGS passes any other flags (--to ADDRESS, --force).
email: $(STAMP)
	@$(BIN)/hlm-report email $(CONFIG) $(if $(filter-out 0 no false,$(DRY_RUN)),--dry-run) $(EMAIL_FLAGS)

# One HTML and one PDF page per group of a rendered report, and profiles/index.json, in
# _output/NAME/profiles/ (render first: `make report CONFIG=...`).
profiles: $(STAMP)
	@$(BIN)/hlm-report profiles $(CONFIG)

# Renders every config and builds _site/ (index + reports).
site: $(STAMP)
	@$(BIN)/hlm-report site

# Pushes _site/ to the gh-pages branch of PUBLISH_REMOTE (a URL or a path to a git repository).
publish: $(STAMP)
	@$(BIN)/hlm-report publish $(if $(PUBLISH_REMOTE),--remote $(PUBLISH_REMOTE))

# The tests drive Debian's Chromium and read PDFs with poppler; install them when missing.
system-deps:
	@bash .ci/setup-system

test: $(STAMP) system-deps
	@$(BIN)/python -m pytest -q

# Lint, format, the import contracts of the pipeline (pyproject [tool.importlinter]), then the tests.
check: $(STAMP)
	@$(BIN)/ruff check hlm_analysis tests
	@$(BIN)/ruff format --check hlm_analysis tests
	@$(BIN)/lint-imports --no-cache
	@$(MAKE) --no-print-directory test

fmt: $(STAMP)
	@$(BIN)/ruff format hlm_analysis tests
	@$(BIN)/ruff check --fix hlm_analysis tests

clean:
	rm -rf _output _site .pytest_cache build *.egg-info

# Times whole processes against statsmodels, the mixedlm package (installed here as the bench
# extra) and lme4 (when Rscript with lme4 is on PATH). One section: BENCH_FLAGS="--only scale"
# (ladder, scale, binary or render); --repeat N gives medians of N scale runs.
bench: $(STAMP)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	@$(BYTECODE)
	@$(BIN)/python -m hlm_analysis.bench $(BENCH_FLAGS)
