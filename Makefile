# Two commands from a fresh clone: `make run` (app on the embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501

export HF_HUB_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export PYTHONPATH := $(CURDIR)

.PHONY: install lint run reindex ask test test-llm bench bench-quick chroma clean fit-reader fit-linear-reader

$(STAMP): requirements.txt requirements-nlp.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements-nlp.txt
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

# The contracts first (seconds): ruff's rules and the layers of docs/architecture.md (pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -m "not llm" $(PYTEST_ARGS)

# Speed and memory against baselines (docs/performance.md): bench/results.json and bench/results.md.
bench: install
	$(BIN)/python -m bench.run

bench-quick: install
	$(BIN)/python -m bench.run --quick

clean:
	rm -rf index .cache .pytest_cache

# Answer quality on the development questions (reports/eval-latest.*), and retrieval on SciFact's test split.
.PHONY: eval eval-retrieval
eval: reindex
	$(BIN)/qa eval qa --dataset tests/eval/seed_questions.jsonl

# Fine-tunes the span reader (qa/answer/span_model/) on SQuAD 2.0 dev questions outside the held-out sample,
# read with the passages an index of the SQuAD corpus (.cache/squad-index) returns: about 80 minutes on 2 cores.
fit-reader: install
	$(BIN)/python -m qa.evaluate.fit_span_reader

# Refits the linear reader's weights (qa/answer/reader_weights.json, QA_READER=fitted) the same way: 5 minutes.
fit-linear-reader: install
	$(BIN)/python -m qa.evaluate.fit_reader

eval-retrieval: install
	$(BIN)/qa eval retrieval --beir ../shared/datasets/scifact --split test

# A local Chroma server for server mode: run it, then set QA_CHROMA_HOST=127.0.0.1 (and QA_CHROMA_PORT).
CHROMA_PORT ?= 8000
chroma: install
	$(BIN)/chroma run --path index/chroma-server --host 127.0.0.1 --port $(CHROMA_PORT)

# The `llm` tests: a real llama.cpp server and in-process llama.cpp with SmolLM2-135M. llama-cpp-python
# builds from source the first time (about 10 minutes on 2 cores), so they are not part of `make test`.
LLM_STAMP := $(VENV)/.installed-llm
$(LLM_STAMP): $(STAMP) requirements-llm.txt requirements-llm-nodeps.txt
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-llm.txt -c requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -r requirements-llm-nodeps.txt
	touch $@

test-llm: $(LLM_STAMP)
	$(BIN)/pytest -m llm $(PYTEST_ARGS)
