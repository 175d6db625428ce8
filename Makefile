# hlm-report: `make report` and `make test` are all a newcomer needs; both create .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The tests run again on the highest Python the machine has (3.13 or 3.12: the system's or pyenv's),
# from the same lock; none found, they run on PYTHON alone and say so.
PYTHON_HIGH ?= $(shell for v in 3.13 3.12; do for p in $$(command -v python$$v) $$HOME/.pyenv/versions/$$v*/bin/python$$v; do "$$p" -c "" 2>/dev/null && { echo "$$p"; exit 0; }; done; done)
HIGH := .venv-high
# Every install comes from a lock in requirements/ (every package pinned with its hashes, made by
# `make lock` from pyproject.toml), so two machines on two days get the same environment.
LOCK := requirements/dev.txt
PIP_QUIET := --quiet --disable-pip-version-check
# uv installs the locks (pinned with its hashes in requirements/uv.txt, installed by pip from the
# registry) from a venv of its own, so it never enters a locked environment; `make lock` runs it too.
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
UV_QUIET := --quiet --no-progress
# the default example: 7,185 students in 160 schools (hsb2, the seed's, groups 200 students
# into 3 SES groups: too few for a random effect, as its report says)
CONFIG ?= report/configs/hsb82.yml
# The package's bytecode, written ahead: an editable install has none, and where the environment
# sets PYTHONDONTWRITEBYTECODE (as CI machines do) every process would compile the package's
# 14,000 lines again (0.1 s of each `hlm-report fit`). Stale files only cost that compile.
BYTECODE = $(BIN)/python -m compileall -q hlm_analysis

.PHONY: system-deps setup report reports test test-high check fmt bench clean email site publish profiles lock

# A venv $(1) made by Python $(2) holding exactly lock $(3), the pinned pip (`make bench` and the
# packaging test call it) and this package (editable): `uv pip sync` installs the locks'
# files with --require-hashes (a file whose hash differs is refused), removes anything else and
# compiles the bytecode as pip did; then `uv pip check` (a lock that misses a dependency fails
# here, not at run time). uv unpacks each wheel once into its cache and links it into each venv.
define install_locked
	@test -x $(1)/bin/python || $(2) -m venv --without-pip $(1)
	@$(UV) pip sync $(UV_QUIET) --python $(1)/bin/python --require-hashes --compile-bytecode requirements/pip.txt $(3)
	@$(UV) pip install $(UV_QUIET) --python $(1)/bin/python --no-deps -e .
	@$(UV) pip check $(UV_QUIET) --python $(1)/bin/python >/dev/null
	@$(1)/bin/python -m compileall -q hlm_analysis
endef

$(UV): requirements/uv.txt
	@test -n "$(PYTHON)" || { echo "make: python3.11 (or python3) is needed on PATH" >&2; exit 2; }
	@test -x $(UV_VENV)/bin/python || $(PYTHON) -m venv $(UV_VENV)
	@$(UV_VENV)/bin/python -m pip install $(PIP_QUIET) --require-hashes --no-deps -r requirements/uv.txt
	@touch $@

# Reinstall whenever pyproject.toml or the lock changes; the stamp keeps repeated runs instant.
$(STAMP): pyproject.toml $(LOCK) requirements/pip.txt $(UV)
	@echo "setup: installing hlm-report and its locked dependencies into $(VENV) (first run takes a minute or two)"
	$(call install_locked,$(VENV),$(PYTHON),$(LOCK))
	@touch $(STAMP)

$(HIGH)/.installed: pyproject.toml $(LOCK) requirements/pip.txt $(UV)
	@echo "setup: installing the same lock into $(HIGH) for $$($(PYTHON_HIGH) -V)"
	$(call install_locked,$(HIGH),$(PYTHON_HIGH),$(LOCK))
	@touch $@

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

# The suite on the lowest supported Python (3.11), then on the highest the machine has.
# The suite on the lowest supported Python (3.11) and, at the same time on the other core, on the
# highest the machine has (its output kept in a log and shown after: in full when it failed).
# Two runs one after the other took 9.5 min on the 2-core machines here; side by side, about 6.
HIGH_LOG := $(HIGH)/pytest.log
test: system-deps
	@$(MAKE) --no-print-directory -j2 $(STAMP) $(if $(PYTHON_HIGH),$(HIGH)/.installed)
	@set -u; high=""; \
	if [ -n "$(PYTHON_HIGH)" ]; then \
	  $(HIGH)/bin/python -m pytest -q -p no:cacheprovider --basetemp=/tmp/hlm-test-high-$$$$ \
	    >$(HIGH_LOG) 2>&1 & high=$$!; \
	else echo "test: no Python 3.12 or 3.13 on this machine; tested on $$($(BIN)/python -V) only"; fi; \
	echo "test: $$($(BIN)/python -V)"; \
	$(BIN)/python -m pytest -q; low=$$?; \
	if [ -n "$$high" ]; then \
	  wait $$high; status=$$?; rm -rf /tmp/hlm-test-high-$$$$; \
	  echo "test: $$($(HIGH)/bin/python -V)"; \
	  if [ $$status -eq 0 ]; then tail -n 1 $(HIGH_LOG); else cat $(HIGH_LOG); fi; \
	else status=0; fi; \
	[ $$low -eq 0 ] && [ $$status -eq 0 ]

# The suite on the highest Python alone.
test-high: $(HIGH)/.installed
	@echo "test: $$($(HIGH)/bin/python -V)"
	@$(HIGH)/bin/python -m pytest -q -p no:cacheprovider

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

# Makes the locks in requirements/ again from pyproject.toml (deliberately: the versions the
# registry serves today), with the pinned uv of .venv-uv (its version: UV in requirements/lock.py).
lock: $(UV)
	@$(UV_VENV)/bin/python requirements/lock.py $(UV)

# Times whole processes against statsmodels, the mixedlm package (installed here as the bench
# extra) and lme4 (when Rscript with lme4 is on PATH). One section: BENCH_FLAGS="--only scale"
# (ladder, scale, levels, levels-scale, binary, render or profiles); --repeat N gives medians of N
# scale runs; --small runs the three-level sections at a hundredth of their size (a check, not
# timings). A section whose fit failed says FAILED and the bench exits 1.
bench: $(STAMP)
	@$(BIN)/python -m pip install $(PIP_QUIET) --require-hashes --no-deps -r requirements/bench.txt
	@$(BYTECODE)
	@$(BIN)/python -m hlm_analysis.bench $(BENCH_FLAGS)
