"""Run llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server ...`, same arguments) with the
model's weights kept in plain CPU buffers.

Why: llama.cpp repacks weights into "extra buffer types" for the CPU's matrix units; on a CPU that reports Intel AMX
it runs AMX tile instructions, which a sandbox or kernel that has not granted the process AMX state kills with a
general-protection fault (this machine: `ldtilecfg` in ggml_backend_amx_mul_mat). llama-cpp-python does not expose
llama.cpp's `use_extra_bufts` switch, so this sets it in the default model parameters before the server starts.
"""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as native

_defaults = native.llama_model_default_params


def _plain_buffers() -> native.llama_model_params:
    params = _defaults()
    params.use_extra_bufts = False
    return params


native.llama_model_default_params = _plain_buffers
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
