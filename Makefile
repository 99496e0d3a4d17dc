# Two commands from a fresh clone: `make run` (app on the embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501

export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export PYTHONPATH := $(CURDIR)

.PHONY: install run reindex ask test test-llm bench bench-quick chroma clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

install: $(STAMP)

# `qa reindex` exits 1 when some files could not be read (the rest is indexed): the app still starts.
reindex: install
	$(BIN)/qa reindex || [ $$? -eq 1 ]

run: reindex
	@if [ -f ui/app.py ]; then \
	  $(BIN)/streamlit run ui/app.py --server.address 127.0.0.1 --server.port $(PORT) \
	    --server.headless true --browser.gatherUsageStats false; \
	else \
	  $(BIN)/qa ask "What incentive does Hong Kong plan for tokenized ETFs?"; \
	fi

test: install
	$(BIN)/pytest -m "not llm" $(PYTEST_ARGS)

# Speed and memory against baselines (docs/performance.md): bench/results.json and bench/results.md.
bench: install
	$(BIN)/python -m bench.run

bench-quick: install
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf index .cache .pytest_cache
