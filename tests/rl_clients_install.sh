#!/usr/bin/env bash
# Install the real RL clients (verl and TRL) next to medrl, CPU only, for tests/test_rl_clients.py.
#
# Usage: bash tests/rl_clients_install.sh VENV_PYTHON
#   VENV_PYTHON is the python of a virtualenv kept apart from the main one, e.g. .venv-rl/bin/python; when it does
#   not exist yet and its path ends in bin/python, the virtualenv is created with python3 -m venv first.
# Then: HF_HUB_OFFLINE=1 VENV_PYTHON -m pytest -m rl_clients tests/test_rl_clients.py
#
# Every version is pinned and re-running the script is safe (pip leaves satisfied pins alone).
# torch is pinned in every pip call through a constraints file: this machine holds a CPU build of torch 2.13.0 on
# local disk, and any other torch version would pull a multi-GB CUDA build from the registry.
# verl goes in with --no-deps because its requirements pull a CUDA stack (and wandb, tensorboard, peft, ...);
# only the modules that its dataset, config and reward code import are installed beside it. `pip check` therefore
# reports verl's unmet optional requirements: that is expected.
set -euo pipefail

PY=${1:?usage: $0 VENV_PYTHON (e.g. .venv-rl/bin/python)}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

TORCH_VERSION=2.13.0
if [[ ! -x "$PY" ]]; then
    if [[ "$PY" != */bin/python ]]; then
        echo "error: $PY is not an executable python (expected VENV/bin/python)" >&2
        exit 2
    fi
    python3 -m venv "${PY%/bin/python}"
fi

CONSTRAINTS=$(mktemp)
trap 'rm -f "$CONSTRAINTS"' EXIT
echo "torch==$TORCH_VERSION" >"$CONSTRAINTS"
pip_install() {
    "$PY" -m pip install --disable-pip-version-check --quiet --constraint "$CONSTRAINTS" "$@"
}

# 1. torch first, on its own: the CPU build from local disk.
pip_install "torch==$TORCH_VERSION"

# 2. TRL and the Hugging Face stack it trains with (verl 0.9.1 needs transformers >=5.5.3,<5.11).
pip_install "torch==$TORCH_VERSION" \
    "transformers==5.10.4" \
    "trl==1.16.0" \
    "accelerate==1.15.0" \
    "datasets==5.2.0" \
    "tokenizers==0.22.2"

# 3. verl without its dependencies, then what verl.utils.dataset.rl_dataset, the Hydra trainer config and the
#    reward loop (verl.trainer.ppo.reward, verl.experimental.reward_loop) import.
pip_install --no-deps "verl==0.9.1"
pip_install "torch==$TORCH_VERSION" \
    "ray==2.60.0" \
    "tensordict==0.10.0" \
    "hydra-core==1.3.8" \
    "omegaconf==2.3.1" \
    "codetiming==1.4.0" \
    "pylatexenc==2.11" \
    "pillow==13.0.0" \
    "aiohttp==3.14.5"

# 4. medrl itself (editable) with its test tools.
pip_install -e "$REPO[test]"

# 5. Check: the modules the tests use import, and torch is still the CPU build.
"$PY" - <<'EOF'
import importlib

import torch

for name in (
    "verl",
    "verl.utils.dataset.rl_dataset",
    "verl.trainer.ppo.reward",
    "verl.trainer.ppo.utils",
    "verl.experimental.reward_loop.reward_loop",
    "trl",
    "transformers",
    "medrl.reward",
):
    importlib.import_module(name)
assert torch.__version__.startswith("2.13.0"), torch.__version__
print(f"rl clients ready: torch {torch.__version__}, verl {importlib.import_module('verl').__version__}, "
      f"trl {importlib.import_module('trl').__version__}, transformers {importlib.import_module('transformers').__version__}")
EOF
