# Two commands: `make demo` (set up + ingest the sample guide + ask) and `make test`.
# `make bench`: ours beside LangChain, LlamaIndex and the bare model (bench/, its own venv).
# `make bench-scale`: ingest and query figures at 10k / 100k / 500k chunks, Chroma, Milvus, pgvector.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := .rag-demo
QUESTION ?= How do I remove a document from the index?

BENCH_VENV := .venv-bench
BENCH_ARGS ?=

OPEN_WEBUI_VENV := .venv-open-webui
OPEN_WEBUI_VERSION := 0.12.4

.PHONY: demo test setup lint clean bench bench-scale open-webui test-open-webui

setup: $(VENV)/.installed

# llama-cpp-python (dev extra: the generation tests' real server) builds from source; without
# the multimodal library, tools and tests it builds in ~4.5 min on 2 cores instead of ~20.
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF

# The project alone (what `make demo` needs; nothing is compiled). torch 2.13.0 first: it is
# the CPU build; an unpinned torch would pull GBs of CUDA wheels. unstructured-inference goes
# in without its requirements (they pull torchvision and a CUDA torch, needed only for hi_res
# layout models); `unstructured` imports it even for text PDFs.
$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps unstructured-inference==1.6.14
	touch $@

# Then the dev extra for the tests (llama.cpp's server among them).
$(VENV)/.installed: $(VENV)/.base
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.base
	$(BIN)/rag models prepare
	RAG_DATA_DIR=$(DEMO_DIR) $(BIN)/rag ingest examples/guide
	RAG_DATA_DIR=$(DEMO_DIR) $(BIN)/rag ask "$(QUESTION)"

# The benchmark's own venv: LangChain and LlamaIndex move transformers' version, so they do
# not go into the test venv.
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet torch==2.13.0
	$(BENCH_VENV)/bin/pip install --quiet -e '.[bench]'
	$(BENCH_VENV)/bin/pip install --quiet --no-deps unstructured-inference==1.6.14
	touch $@

bench: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/rag models prepare
	$(BENCH_VENV)/bin/python -m bench $(BENCH_ARGS)

# Milvus Lite is in the dev extra, so the scaling table runs in the test venv.
SCALE_ARGS ?=
bench-scale: $(VENV)/.installed
	$(BIN)/rag models prepare
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

test: lint
	$(BIN)/pytest

# Open WebUI, the front end the README points to, in a venv of its own (it pins its own
# libraries), torch 2.13.0 first and held there by a constraints file (else a CUDA torch).
$(OPEN_WEBUI_VENV)/.installed:
	$(PYTHON) -m venv $(OPEN_WEBUI_VENV)
	$(OPEN_WEBUI_VENV)/bin/pip install --quiet --upgrade pip
	$(OPEN_WEBUI_VENV)/bin/pip install --quiet torch==2.13.0
	echo "torch==2.13.0" > $(OPEN_WEBUI_VENV)/constraints.txt
	$(OPEN_WEBUI_VENV)/bin/pip install --quiet -c $(OPEN_WEBUI_VENV)/constraints.txt \
		open-webui==$(OPEN_WEBUI_VERSION)
	touch $@

open-webui: $(OPEN_WEBUI_VENV)/.installed

# The slow test that types a question into Open WebUI's own page (tests/api/test_open_webui.py).
test-open-webui: setup open-webui
	RAG_OPEN_WEBUI=$(OPEN_WEBUI_VENV)/bin/open-webui $(BIN)/pytest -m slow tests/api/test_open_webui.py

lint: setup
	$(BIN)/ruff format --check rag ingest api eval tests bench
	$(BIN)/ruff check rag ingest api eval tests bench
	$(BIN)/mypy rag ingest api eval bench

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(DEMO_DIR) .rag bench-results
