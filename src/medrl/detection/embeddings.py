"""Sentence embeddings for the semantic stage, through sentence-transformers (the `semantic` extra).

Why sentence-transformers: it loads any Hugging Face sentence model by id (transformer models, and static or ONNX
ones through its backends), picks a GPU when one is present, and on these CPUs its PyTorch path embedded MedQA
vignettes 1.2-2.5x faster than an int8 ONNX export of the same model through onnxruntime
(bench/perf/embedding_speed.py).

A model is named by a Hugging Face id (fetched once into the Hugging Face cache, without pickled weights or other
runtimes' exports; offline, `HF_HUB_OFFLINE=1` uses that cache) or a local directory. Only safetensors weights are
loaded, no code from the model's files is run, and its module list may name sentence-transformers' modules only.
A model's identity for caches is a sha256 over its files, so embeddings cached in a pack can never outlive the model
that made them.

On a CPU that multiplies bfloat16 matrices natively (Intel AMX or AVX512-BF16: Sapphire Rapids, Zen 4 and later) the
transformer runs under PyTorch's bfloat16 autocast (precision "auto"), each text in a batch of a fixed shape for its
length (see `Embedder._encode_fixed_shapes`): on this machine's Xeon 1.5x faster than float32 on workload stems, with
vectors at cosine >= 0.9999 to the float32 ones (bench/perf/embedding_speed.py). Elsewhere, and on a GPU (not
measured), it runs in float32.

A static embedding distilled from the same model (model2vec: each vocabulary token embedded once by the model, PCA to
256 dimensions; a text is the mean of its tokens' vectors) lets the semantic stage set aside clearly different
candidates without the transformer: on these CPUs it embeds ~20x more stems per second and needs no PyTorch. It is
made once per model and machine (about a minute on 2 cores) into medrl's cache directory (`cache_home`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medrl.errors import MedrlError

INSTALL_HINT = "pip install 'medrl[semantic]'"
PRECISIONS = ("auto", "float32", "bfloat16")
# Tokens per bfloat16 batch (rows x padded length), a fixed shape per length (see `Embedder._encode_fixed_shapes`).
BFLOAT16_BATCH_TOKENS = 1024
STATIC_DIMENSIONS = 256  # model2vec's default PCA size: the distilled model's vectors
# Files of a hub model that are never fetched: pickled or foreign-framework weights, and exports for other runtimes.
UNUSED_MODEL_FILES = ["*.bin", "*.pt", "*.pth", "*.pkl", "*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "openvino/*"]


def _missing_extra(package: str) -> MedrlError:
    return MedrlError(
        f"the semantic stage (preset medrl-semantic) needs sentence-transformers ({package} is not installed): "
        f"{INSTALL_HINT}"
    )


def check_installed() -> None:
    """Fail on a missing extra without importing it (PyTorch takes seconds to import)."""
    for package in ("sentence_transformers", "transformers", "torch", "model2vec"):
        if importlib.util.find_spec(package) is None:
            raise _missing_extra(package)


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as error:
        raise _missing_extra(error.name or str(error)) from None
    return sentence_transformers


def resolve_model(name: str, revision: str | None = None) -> Path:
    """A model's local directory: `name` itself when it is a directory, else its Hugging Face snapshot (downloaded
    once into the Hugging Face cache; with HF_HUB_OFFLINE=1 only that cache is used)."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists() or name.startswith(("/", "./", "../", "~")):  # a path, never a Hugging Face id
        raise MedrlError(f"embedding model {name!r}: no model directory there; give a directory holding the model")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        hint = f"loading model {name!r} by its Hugging Face id needs huggingface_hub: {INSTALL_HINT}"
        raise MedrlError(hint) from None
    try:
        return Path(snapshot_download(name, revision=revision, ignore_patterns=UNUSED_MODEL_FILES))
    except Exception as error:  # offline, unknown id, gated: huggingface_hub raises many kinds
        raise MedrlError(
            f"cannot load embedding model {name!r} ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
            "without network, pass --embedding-model DIR (or [semantic] model) for a local directory holding the "
            "model, or fill the Hugging Face cache first (HF_HUB_OFFLINE=1 then uses it)"
        ) from None


def check_modules(directory: Path) -> None:
    """A sentence-transformers model lists its modules by import path (modules.json); only sentence-transformers'
    own modules are accepted, so a model's files can never name other code to run."""
    listing = directory / "modules.json"
    if not listing.is_file():
        return
    try:
        modules = json.loads(listing.read_text(encoding="utf-8"))
        kinds = [module["type"] for module in modules]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError) as error:
        raise MedrlError(f"{listing}: not a sentence-transformers module list ({error})") from None
    foreign = [kind for kind in kinds if not (isinstance(kind, str) and kind.startswith("sentence_transformers."))]
    if foreign:
        raise MedrlError(f"{listing}: modules {foreign} are not sentence-transformers' own; refusing to load them")


@functools.cache
def model_fingerprint(directory: Path) -> str:
    """sha256 over the names and bytes of a model directory's files (hidden files aside)."""
    digest = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass
class Embedder:
    """A loaded sentence model: unit-length float32 vectors for texts, remembered per text for benchmark texts (an
    index built twice in one process, e.g. for pack subsets, embeds each question once)."""

    model: Any
    name: str
    fingerprint: str
    bfloat16: bool = False  # run under PyTorch's bfloat16 autocast (see `native_bfloat16`)
    _memo: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def dimension(self) -> int:
        # sentence-transformers >= 5 renamed the method; older releases only have the long name.
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dimension())

    @property
    def device(self) -> str:
        return str(self.model.device)

    def encode(self, texts: Sequence[str], batch_size: int = 64, remember: bool = False) -> np.ndarray:
        """(len(texts), dimension) unit vectors; `remember` keeps them for the next call with the same texts."""
        todo = list(dict.fromkeys(text for text in texts if text not in self._memo)) if remember else list(texts)
        vectors = np.zeros((0, self.dimension), dtype=np.float32)
        if todo and self.bfloat16:
            vectors = self._encode_fixed_shapes(todo)
        elif todo:
            settings = {"normalize_embeddings": True, "convert_to_numpy": True, "show_progress_bar": False}
            vectors = self.model.encode(todo, batch_size=batch_size, **settings).astype(np.float32, copy=False)
        if not remember:
            return vectors.reshape(len(todo), self.dimension)
        self._memo.update(zip(todo, vectors, strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._memo[text] for text in texts])

    def _encode_fixed_shapes(self, texts: list[str]) -> np.ndarray:
        """Unit vectors under bfloat16 autocast. bfloat16 products round differently with a batch's shape, so each
        text is embedded in a batch of one fixed shape for its length (its token count rounded up to a power of two
        from 16, at most the model's limit; `BFLOAT16_BATCH_TOKENS` tokens, unused rows empty): its vector never
        depends on the texts beside it, the batch size or the number of processes, as float32's do not."""
        import torch

        model = self.model
        preprocess = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers < 5: tokenize
        features = preprocess(texts)
        lengths = features["attention_mask"].sum(dim=1).tolist()
        limit = int(getattr(model, "max_seq_length", 0) or max(lengths, default=1))  # never the batch's: fixed shapes
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        buckets: dict[int, list[int]] = {}
        for row, length in enumerate(lengths):
            buckets.setdefault(min(max(16, 1 << (int(length) - 1).bit_length()), limit), []).append(row)
        for bucket, rows in sorted(buckets.items()):
            size = max(1, BFLOAT16_BATCH_TOKENS // bucket)
            for start in range(0, len(rows), size):
                chosen = rows[start : start + size]
                batch = {}
                for key, value in features.items():
                    if isinstance(value, torch.Tensor) and value.dim() == 2:
                        padded = torch.zeros((size, bucket), dtype=value.dtype)
                        width = min(bucket, value.shape[1])
                        padded[: len(chosen), :width] = value[chosen, :width]
                        value = padded.to(model.device)
                    batch[key] = value
                with torch.inference_mode(), torch.autocast(device_type=model.device.type, dtype=torch.bfloat16):
                    embedded = model.forward(batch)["sentence_embedding"]
                vectors[chosen] = embedded[: len(chosen)].float().cpu().numpy()
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-12))


@functools.cache
def locate_model(name: str, revision: str | None = None) -> Path:
    """The model's checked local directory, without importing PyTorch or loading the weights: a missing extra or
    model fails at once, before a pack is indexed or worker processes start."""
    check_installed()
    directory = resolve_model(name, revision)
    check_modules(directory)
    return directory


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AMX or AVX512-BF16), where bfloat16 autocast pays."""
    import torch

    # Private in torch.cpu (no public check exists); a PyTorch without them counts as no native bfloat16.
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, check, lambda: False)()) for check in checks)


@functools.cache
def load_embedder(name: str, revision: str | None, device: str | None, max_seq_length: int, precision: str) -> Embedder:
    """The model, loaded once per process. `device` None: a GPU when one is present, else the CPU. `precision`
    "auto": bfloat16 autocast on a CPU with native bfloat16, else float32; "float32" or "bfloat16" force one."""
    directory = locate_model(name, revision)
    fingerprint = model_fingerprint(directory)
    sentence_transformers = _import_sentence_transformers()
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # medrl reports its own progress; no bars from model loading
    try:
        model = sentence_transformers.SentenceTransformer(
            str(directory),
            device=device,
            local_files_only=True,
            trust_remote_code=False,
            model_kwargs={"use_safetensors": True},
        )
    except Exception as error:  # a damaged or incomplete model directory: one line, not a traceback
        raise MedrlError(
            f"cannot load embedding model {name!r} from {directory} ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:200] if str(error) else ''}); it must be a sentence-transformers model "
            "with safetensors weights"
        ) from None
    try:
        model.max_seq_length = max_seq_length
        transformer = True
    except AttributeError:  # a static model (sentence-transformers' StaticEmbedding): no limit, nothing to speed up
        transformer = False
    on_cpu = model.device.type == "cpu"
    wanted = precision == "bfloat16" or (precision == "auto" and on_cpu and native_bfloat16())
    return Embedder(model, name, fingerprint, transformer and wanted)


def set_threads(threads: int) -> None:
    """Intra-op threads of the embedding model (a worker process of several uses one)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def cache_home() -> Path:
    """Where medrl keeps what it derives once per machine (distilled static models): $MEDRL_CACHE_DIR, else
    $XDG_CACHE_HOME/medrl, else ~/.cache/medrl."""
    if os.environ.get("MEDRL_CACHE_DIR"):
        return Path(os.environ["MEDRL_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "medrl"


@dataclass
class StaticEmbedder:
    """A static embedding distilled from a sentence model: unit-length float32 vectors from a token-vector lookup and
    a mean, no PyTorch. `fingerprint` names the distilled files (a pack's cached static vectors must come from them)."""

    model: Any
    fingerprint: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, STATIC_DIMENSIONS), dtype=np.float32)
        # float32 rows: the model may store float16, whose matrix products numpy runs without BLAS.
        vectors = self.model.encode(list(texts), normalize=True, use_multiprocessing=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _distill(directory: Path, device: str | None, target: Path) -> None:
    """Distil `directory`'s model into `target`, written beside it and renamed into place: a killed run leaves no
    half model, and of two processes distilling at once the first rename wins and the other's copy is dropped."""
    try:
        from model2vec.distill import distill
    except ImportError as error:
        raise _missing_extra(error.name or str(error)) from None
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        model = distill(model_name=str(directory), pca_dims=STATIC_DIMENSIONS, device=device)
        model.save_pretrained(str(partial))
        partial.rename(target)
    except OSError as error:
        if not target.is_dir():
            hint = f"cannot write the distilled static model to {target} ({error}): set MEDRL_CACHE_DIR (writable)"
            raise MedrlError(hint) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


@functools.cache
def load_static_embedder(name: str, revision: str | None, device: str | None) -> StaticEmbedder:
    """The static embedding distilled from model `name`, made once per model and machine into `cache_home()`."""
    directory = locate_model(name, revision)
    target = cache_home() / "static" / f"{model_fingerprint(directory)[:32]}-{STATIC_DIMENSIONS}"
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        _distill(directory, device, target)
    from model2vec import StaticModel

    try:
        model = StaticModel.from_pretrained(target, normalize=True, force_download=False)
    except Exception as error:  # a damaged cache entry: one line naming it, not a traceback
        raise MedrlError(
            f"cannot load the distilled static model in {target} ({type(error).__name__}); delete that directory "
            "and medrl distils it again"
        ) from None
    return StaticEmbedder(model, model_fingerprint(target))
