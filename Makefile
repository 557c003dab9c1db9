# Everything goes through .venv, created from the committed uv.lock on first use.
# Arguments after the target are Hydra overrides:  make train experiment=baseline trainer.max_epochs=3
#   make train MULTIRUN=1 optimizer=adam,sgd    -> a Hydra multirun, one run directory per job

.DEFAULT_GOAL := help
SHELL := bash
PYTHON ?= python3
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
VENV := .venv
STAMP := $(VENV)/.synced
RUN := $(VENV)/bin/python
MULTIRUN ?=
PYTEST_ARGS ?=

# Every word after the target is forwarded to Hydra. Words with "=" reach make as variable
# assignments (MAKEOVERRIDES, in reverse order); the entry point restores their order.
TARGETS := help setup train eval predict export serve sweep search report runs test test-fast lint format docs bench clean
TARGETS += update-from-template
TARGETS += new-project  # template-only
ARGS := $(filter-out $(TARGETS),$(MAKECMDGOALS))
# The first goal must be a target: a typo (`make trian ...`) stops with the list instead of doing nothing.
GOAL := $(firstword $(MAKECMDGOALS))
ifneq ($(GOAL),)
ifeq ($(filter $(GOAL),$(TARGETS)),)
$(error make $(GOAL): no such target$(shell $(PYTHON) -c 'import difflib, sys; m = difflib.get_close_matches(sys.argv[1], sys.argv[2:], 1); print(f" (did you mean {m[0]}?)" if m else "")' $(GOAL) $(TARGETS) 2>/dev/null); allowed: $(TARGETS))
endif
endif
# UPPERCASE=value words (MULTIRUN, PYTEST_ARGS, ...) are make's own settings and are not forwarded.
export LHT_MAKE_OVERRIDES := $(MAKEOVERRIDES)
HYDRA_FLAGS := $(if $(MULTIRUN),--multirun,)

.PHONY: $(TARGETS)

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

$(STAMP): pyproject.toml uv.lock | $(UV)
	@# bytecode compiled at install: imports stay fast where PYTHONDONTWRITEBYTECODE is set
	@UV=$$(command -v uv || echo $(UV)); $$UV sync --frozen --all-groups --compile-bytecode --quiet && touch $(STAMP)

setup: $(STAMP)  ## create .venv from uv.lock (done by every other target)

train: $(STAMP)  ## train: make train experiment=baseline [overrides...] [MULTIRUN=1]
	@$(RUN) -m lightning_hydra_template.train $(HYDRA_FLAGS) $(ARGS)

predict: $(STAMP)  ## predict with a checkpoint: make predict ckpt_path=<ckpt> [input=<file>] [output_format=parquet]
	@$(RUN) -m lightning_hydra_template.predict $(ARGS)

export: $(STAMP)  ## export the network: make export ckpt_path=<ckpt> format=onnx|pt2
	@$(RUN) -m lightning_hydra_template.export $(ARGS)

serve: $(STAMP)  ## HTTP service on localhost: make serve ckpt_path=<ckpt|model.onnx|model.pt2> [port=8000]
	@$(RUN) -m lightning_hydra_template.serve $(ARGS)

sweep: $(STAMP)  ## multirun sweep: make sweep data.batch_size=16,64 optimizer=adam,sgd
	@$(RUN) -m lightning_hydra_template.train --multirun $(ARGS)

search: $(STAMP)  ## Optuna search: make search hparams_search=<name> [search.n_trials=40 ...] (configs/hparams_search/)
	@$(RUN) -m lightning_hydra_template.search $(ARGS)

report: $(STAMP)  ## sweep report: make report sweep=logs/train/multiruns/<dir> (default: the newest sweep)
	@$(RUN) -m lightning_hydra_template.report $(ARGS)

runs: $(STAMP)  ## list runs under logs/: make runs [experiment=baseline status=completed] [compare=<dir1>,<dir2>]
	@$(RUN) -m lightning_hydra_template.runs_index $(ARGS)

eval: $(STAMP)  ## test a checkpoint: make eval ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt
	@$(RUN) -m lightning_hydra_template.eval $(ARGS)

test: $(STAMP) lint  ## lint, then the whole test suite
	$(RUN) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)  ## the test suite without the slow tests
	$(RUN) -m pytest -m "not slow" $(PYTEST_ARGS)

.PHONY: bench
bench: $(STAMP)  ## template vs plain PyTorch, results in benchmarks/results/: make bench [BENCH_ARGS=--quick]
	$(RUN) -m benchmarks $(BENCH_ARGS)

lint: $(STAMP)  ## ruff lint and format check, mypy type check of src/
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/mypy

format: $(STAMP)  ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix src tests benchmarks tools
	$(VENV)/bin/ruff format src tests benchmarks tools

docs: $(STAMP)  ## the documentation site from docs/ into site/ (mkdocs, strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# template-only
new-project:  ## new project: make new-project name="My Project" package=my_project dest=../my-project [examples=digits,csv]
	@$(PYTHON) template/new_project.py create --name "$$name" --package "$$package" --dest "$$dest" \
		--author "$$author" --description "$$description" --examples "$$examples" --ref "$${ref:-HEAD}"

# /template-only
update-from-template:  ## merge the template's later changes: make update-from-template [template=<path|url>] [ref=<commit>]
	@test -f .template.json || { echo "error: update-from-template: no .template.json here; allowed: a project made by make new-project" >&2; exit 2; }
	@source=$${template:-$$($(PYTHON) -c 'import json; print(json.load(open(".template.json"))["template"]["source"])')}; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	git clone --quiet "$$source" "$$tmp/template" && \
	$(PYTHON) "$$tmp/template/template/new_project.py" update --project . --ref "$${ref:-HEAD}"

clean:  ## remove logs and caches (keeps .venv)
	rm -rf logs site .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

# Words after a target that are not key=value (e.g. `make train -- --cfg job`) are goals too: they are
# the target's arguments, so this rule keeps make from building them.
%:
	@:
