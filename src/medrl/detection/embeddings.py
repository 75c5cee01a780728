"""Sentence embeddings for the semantic stage (the `semantic` extra), through one of two runtimes.

sentence-transformers (PyTorch) loads any Hugging Face sentence model by id, picks a GPU when one is present, and runs
bfloat16 on CPUs that multiply it natively (below). ONNX Runtime runs the same transformer in float32 from a graph
medrl exports once per model and machine: as fast as PyTorch's float32 on these CPUs, with the same vectors (cosine
1.0), and without importing PyTorch and transformers: 1.3 s from a new process to a first vector against PyTorch's
11.1 s on an AMD EPYC here (bench/perf/embedding_speed.py). Runtime "auto" takes ONNX Runtime where PyTorch would
run float32 on the CPU anyway (no GPU, no native bfloat16), else PyTorch. (An int8 ONNX export was slower than
PyTorch here and moved the vectors too far; it is not used.)

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

import contextlib
import functools
import hashlib
import importlib.util
import inspect
import json
import os
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medrl.errors import MedrlError

INSTALL_HINT = "pip install 'medrl[semantic]'"
PRECISIONS = ("auto", "float32", "bfloat16")
RUNTIMES = ("auto", "torch", "onnx")
# Tokens per bfloat16 batch (rows x padded length), a fixed shape per length (see `Embedder._encode_fixed_shapes`).
BFLOAT16_BATCH_TOKENS = 1024
ONNX_OPSET = 17  # the exported graph's operator set (onnxruntime >= 1.17 runs it)
ONNX_LENGTH_STEP = 16  # ONNX Runtime pads each text to its token count rounded up to this (see `OnnxEmbedder`)
# Texts the exported graph must embed as PyTorch does (cosine >= ONNX_AGREEMENT) before it is used.
ONNX_PROBES = (
    "A 45-year-old man presents with crushing chest pain radiating to the left arm for 2 hours.",
    "Which of the following vitamins is required for the absorption of calcium from the small intestine?",
    "Ångström-scale structure of haemoglobin: what does 2,3-BPG bind?",
)
ONNX_AGREEMENT = 0.9999
STATIC_DIMENSIONS = 256  # model2vec's default PCA size: the distilled model's vectors
# Files of a hub model that are never fetched: pickled or foreign-framework weights, and exports for other runtimes.
UNUSED_MODEL_FILES = ["*.bin", "*.pt", "*.pth", "*.pkl", "*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "openvino/*"]


def _missing_extra(package: str) -> MedrlError:
    return MedrlError(
        f"the semantic stage (preset medrl-semantic) needs sentence-transformers ({package} is not installed): "
        f"{INSTALL_HINT}"
    )


def check_installed(packages: Sequence[str] = ("sentence_transformers", "transformers", "torch", "model2vec")) -> None:
    """Fail on a missing extra without importing it (PyTorch takes seconds to import)."""
    for package in packages:
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


class SentenceEncoder:
    """Unit-length float32 vectors for texts, remembered per text for benchmark texts (an index built twice in one
    process, e.g. for pack subsets, embeds each question once). Subclasses embed (`_embed`)."""

    name: str
    fingerprint: str

    @property
    def dimension(self) -> int:
        raise NotImplementedError

    @property
    def device(self) -> str:
        raise NotImplementedError

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        raise NotImplementedError

    @functools.cached_property
    def _memo(self) -> dict[str, np.ndarray]:
        return {}

    def encode(self, texts: Sequence[str], batch_size: int = 64, remember: bool = False) -> np.ndarray:
        """(len(texts), dimension) unit vectors; `remember` keeps them for the next call with the same texts."""
        todo = list(dict.fromkeys(text for text in texts if text not in self._memo)) if remember else list(texts)
        vectors = self._embed(todo, batch_size) if todo else np.zeros((0, self.dimension), dtype=np.float32)
        if not remember:
            return vectors.reshape(len(todo), self.dimension)
        self._memo.update(zip(todo, vectors, strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._memo[text] for text in texts])


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), np.float32(1e-12))


@dataclass
class Embedder(SentenceEncoder):
    """A sentence-transformers model (PyTorch)."""

    model: Any
    name: str
    fingerprint: str
    bfloat16: bool = False  # run under PyTorch's bfloat16 autocast (see `native_bfloat16`)

    @property
    def dimension(self) -> int:
        # sentence-transformers >= 5 renamed the method; older releases only have the long name.
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(dimension())

    @property
    def device(self) -> str:
        return str(self.model.device)

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        if self.bfloat16:
            return self._encode_fixed_shapes(texts)
        settings = {"normalize_embeddings": True, "convert_to_numpy": True, "show_progress_bar": False}
        return self.model.encode(texts, batch_size=batch_size, **settings).astype(np.float32, copy=False)

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
        return _unit(vectors)


@functools.cache
def locate_model(name: str, revision: str | None = None) -> Path:
    """The model's checked local directory, without importing PyTorch or loading the weights: a missing extra or
    model fails at once, before a pack is indexed or worker processes start."""
    check_installed()
    directory = resolve_model(name, revision)
    check_modules(directory)
    return directory


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AMX or AVX512-BF16), where bfloat16 autocast pays:
    from the kernel's CPU flags on Linux (no PyTorch import), else PyTorch's own check."""
    try:
        flags = {flag for line in _cpu_info().splitlines() if line.startswith("flags") for flag in line.split()}
    except OSError:
        import torch

        # Private in torch.cpu (no public check exists); a PyTorch without them counts as no native bfloat16.
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(torch.cpu, check, lambda: False)()) for check in checks)
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def _cpu_info() -> str:
    return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")


def gpu_present() -> bool:
    """Whether PyTorch could find a GPU here, judged without importing it: NVIDIA's or AMD's device files, or macOS
    (Metal). A wrong "yes" only keeps the PyTorch runtime."""
    devices = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")
    return sys.platform == "darwin" or any(Path(device).exists() for device in devices)


def choose_runtime(runtime: str, device: str | None, precision: str) -> str:
    """ "torch" or "onnx" for a `runtime` setting (see `RUNTIMES`): "auto" is ONNX Runtime where PyTorch would run
    float32 on the CPU (no GPU asked for or present, no native bfloat16) and onnxruntime is installed."""
    if runtime != "auto":
        return runtime
    on_cpu = device == "cpu" or (device is None and not gpu_present())
    float32 = precision == "float32" or (precision == "auto" and not native_bfloat16())
    return "onnx" if on_cpu and float32 and importlib.util.find_spec("onnxruntime") is not None else "torch"


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


_THREADS = [0]  # intra-op threads set by `set_threads` (0: the runtime's default)


def set_threads(threads: int) -> None:
    """Intra-op threads of the embedding model (a worker process of several uses one). PyTorch is told only when it
    is loaded (the ONNX runtime never loads it); ONNX Runtime sessions are made with this count."""
    if threads > 0:
        _THREADS[0] = threads
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


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


@contextlib.contextmanager
def _made_in_place(target: Path, what: str) -> Iterator[Path]:
    """A directory written beside `target` and renamed into place: a killed run leaves nothing half-made, and of two
    processes making it at once the first rename wins and the other's copy is dropped."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        yield partial
        partial.rename(target)
    except OSError as error:
        if not target.is_dir():
            raise MedrlError(f"cannot write {what} to {target} ({error}): set MEDRL_CACHE_DIR (writable)") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _distill(directory: Path, device: str | None, target: Path) -> None:
    """Distil `directory`'s model into `target` (made in place: `_made_in_place`)."""
    try:
        from model2vec.distill import distill
    except ImportError as error:
        raise _missing_extra(error.name or str(error)) from None
    with _made_in_place(target, "the distilled static model") as partial:
        model = distill(model_name=str(directory), pca_dims=STATIC_DIMENSIONS, device=device)
        model.save_pretrained(str(partial))


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


# --- ONNX Runtime --------------------------------------------------------------------------------------------------


def _onnx_pooling(directory: Path) -> str | None:
    """ "mean" or "cls" when the model is what the ONNX runtime reproduces: a transformer in the model's own directory
    (its tokenizer.json there, no lower-casing by sentence-transformers), a mean or CLS pooling, at most a
    normalisation; else None, and the model stays on PyTorch."""
    try:
        modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
        kinds = [module["type"].rsplit(".", 1)[-1] for module in modules]
        paths = [str(module.get("path", "")) for module in modules]
        pooling = json.loads((directory / paths[1] / "config.json").read_text(encoding="utf-8"))
        settings = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError, IndexError, AttributeError):
        return None
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or paths[0] != "":
        return None
    if settings.get("do_lower_case") or not (directory / "tokenizer.json").is_file():
        return None
    modes = {mode for mode, on in pooling.items() if mode.startswith("pooling_mode") and on is True}
    if modes == {"pooling_mode_mean_tokens"}:
        return "mean"
    return "cls" if modes == {"pooling_mode_cls_token"} else None


@dataclass
class OnnxEmbedder(SentenceEncoder):
    """A sentence-transformers transformer run through ONNX Runtime in float32 (the graph from `_export_onnx`).

    Each text is padded to its token count rounded up to `ONNX_LENGTH_STEP`, so its vector never depends on the
    texts beside it or the batch size (ONNX Runtime's float32 results do not depend on the rows of a batch: a test
    checks both). Sessions are made per process on first use, so forked workers never share one (its thread pool
    does not survive a fork), with `set_threads`' count."""

    graph: Path
    tokenizer: Any  # tokenizers.Tokenizer, truncating at max_seq_length, no padding
    name: str
    fingerprint: str
    width: int
    pooling: str
    max_seq_length: int
    _sessions: dict[tuple[int, int], Any] = field(default_factory=dict, repr=False)

    @property
    def dimension(self) -> int:
        return self.width

    @property
    def device(self) -> str:
        return "cpu"

    def _session(self) -> Any:
        key = (os.getpid(), _THREADS[0])
        if key not in self._sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = _THREADS[0], 1
            options.log_severity_level = 3  # errors only: no warnings about unused initialisers on stderr
            self._sessions[key] = onnxruntime.InferenceSession(
                str(self.graph), options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[key]

    def _embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        session = self._session()
        inputs = {node.name for node in session.get_inputs()}
        encodings = self.tokenizer.encode_batch(texts)
        vectors = np.zeros((len(texts), self.width), dtype=np.float32)
        for width, rows in _length_batches([len(encoding.ids) for encoding in encodings], batch_size):
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for slot, row in enumerate(rows):
                ids[slot, : len(encodings[row].ids)] = encodings[row].ids
                mask[slot, : len(encodings[row].ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, {key: value for key, value in feed.items() if key in inputs})[0]
            if self.pooling == "cls":
                vectors[rows] = hidden[:, 0]
            else:
                weights = mask[:, :, None].astype(np.float32)
                vectors[rows] = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), np.float32(1e-9))
        return _unit(vectors)


def _length_batches(lengths: Sequence[int], batch_size: int) -> Iterator[tuple[int, list[int]]]:
    """(padded length, rows): rows grouped by their token count rounded up to `ONNX_LENGTH_STEP`, up to
    `batch_size` rows per batch."""
    groups: dict[int, list[int]] = {}
    for row, length in enumerate(lengths):
        groups.setdefault(-(-max(length, 1) // ONNX_LENGTH_STEP) * ONNX_LENGTH_STEP, []).append(row)
    for width, rows in sorted(groups.items()):
        for start in range(0, len(rows), max(1, batch_size)):
            yield width, rows[start : start + batch_size]


def _onnx_tokenizer(directory: Path, max_seq_length: int) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()  # a model's tokenizer.json may pad every text to a fixed length
    tokenizer.enable_truncation(max_seq_length)
    return tokenizer


def _export_onnx(
    directory: Path, name: str, revision: str | None, max_seq_length: int, pooling: str, target: Path
) -> None:
    """Export the model's transformer to `target`/model.onnx (float32, dynamic rows and tokens) with PyTorch, once
    per model and machine, and check that it embeds `ONNX_PROBES` as PyTorch does: a graph that does not agree is
    recorded as such (`target`/disagrees) and the model stays on PyTorch. Made in place (`_made_in_place`)."""
    check_installed(("onnx", "torch", "transformers", "sentence_transformers"))
    import torch

    reference = load_embedder(name, revision, "cpu", max_seq_length, "float32")
    transformer = reference.model[0].auto_model
    transformer.train(False)  # inference: no dropout
    names = ["input_ids", "attention_mask"]
    if "token_type_ids" in inspect.signature(transformer.forward).parameters:
        names.append("token_type_ids")

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    sample = tuple(torch.ones((2, 16), dtype=torch.long) for _ in names)
    axes = {key: {0: "rows", 1: "tokens"} for key in [*names, "hidden"]}
    with _made_in_place(target, "the ONNX export") as partial:
        partial.mkdir(parents=True)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on Python control flow: the graph is checked below
            torch.onnx.export(
                Hidden(),
                sample,
                str(partial / "model.onnx"),
                input_names=names,
                output_names=["hidden"],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        exported = OnnxEmbedder(
            partial / "model.onnx",
            _onnx_tokenizer(directory, max_seq_length),
            name,
            reference.fingerprint,
            reference.dimension,
            pooling,
            max_seq_length,
        )
        agreement = float(np.min(np.sum(exported.encode(ONNX_PROBES) * reference.encode(ONNX_PROBES), axis=1)))
        if not agreement >= ONNX_AGREEMENT:
            (partial / "model.onnx").unlink()
            (partial / "disagrees").write_text(f"lowest cosine to PyTorch's vectors: {agreement}\n", encoding="utf-8")
        (partial / "dimension").write_text(str(reference.dimension), encoding="utf-8")


def onnx_export_dir(directory: Path, max_seq_length: int) -> Path:
    return cache_home() / "onnx" / f"{model_fingerprint(directory)[:32]}-opset{ONNX_OPSET}-{max_seq_length}"


@functools.cache
def load_onnx_embedder(name: str, revision: str | None, max_seq_length: int) -> OnnxEmbedder | None:
    """The model on ONNX Runtime (exported once per model and machine into `cache_home()`), or None when this model
    cannot run there: not a plain transformer with mean or CLS pooling, or its export did not embed as PyTorch."""
    directory = locate_model(name, revision)
    pooling = _onnx_pooling(directory)
    if pooling is None:
        return None
    check_installed(("onnxruntime", "tokenizers"))
    target = onnx_export_dir(directory, max_seq_length)
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        _export_onnx(directory, name, revision, max_seq_length, pooling, target)
    if (target / "disagrees").exists():
        return None
    try:
        width = int((target / "dimension").read_text(encoding="utf-8"))
        graph = target / "model.onnx"
        if not graph.is_file():
            raise OSError("model.onnx is missing")
    except (OSError, ValueError) as error:
        raise MedrlError(
            f"the ONNX export in {target} is damaged ({error}); delete that directory and medrl exports it again"
        ) from None
    fingerprint = model_fingerprint(directory)
    return OnnxEmbedder(
        graph, _onnx_tokenizer(directory, max_seq_length), name, fingerprint, width, pooling, max_seq_length
    )


def load_sentence_encoder(
    name: str, revision: str | None, device: str | None, max_seq_length: int, precision: str, runtime: str
) -> SentenceEncoder:
    """The semantic stage's transformer on the runtime `choose_runtime` picks: ONNX Runtime where it can run the
    model (else PyTorch, or for runtime "onnx" a one-line error), PyTorch otherwise."""
    if choose_runtime(runtime, device, precision) == "onnx":
        embedder = load_onnx_embedder(name, revision, max_seq_length)
        if embedder is not None:
            return embedder
        if runtime == "onnx":
            raise MedrlError(
                f"embedding model {name!r} cannot run on ONNX Runtime (it must be a transformer with mean or CLS "
                'pooling whose export embeds as PyTorch does): set [semantic] runtime = "torch" or "auto"'
            )
    return load_embedder(name, revision, device, max_seq_length, precision)
