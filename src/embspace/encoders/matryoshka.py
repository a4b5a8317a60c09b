"""matryoshka_dims: the sizes a model was trained to be truncated to (Matryoshka representation learning).

A model trained with a Matryoshka loss (Kusupati et al. 2022; :class:`embspace.losses.MatryoshkaLoss`)
keeps most of its quality in its first 256, 128, 64... dimensions, re-normalised; any other model may
lose much of it. Encoders truncate with ``dim=`` (``get_encoder("minilm", dim=128)``) and warn with a
:class:`DimensionTruncationWarning` when the model was not trained for that size; the server's OpenAI
``dimensions`` says the same in its warning header. Both ask :func:`matryoshka_dims`, which reads:

- what embspace's ``finetune`` writes (``embspace_finetune.json``: ``matryoshka_dims``);
- a model card (``README.md``) that names a Matryoshka training loss (sentence-transformers writes the
  loss's parameters there, ``"matryoshka_dims": [768, 512, ...]``; a card that only mentions the word,
  as every card sentence-transformers writes links its Matryoshka blog post, does not count);
- the published Matryoshka models, by name (:data:`KNOWN_MATRYOSHKA_DIMS`), and a hub id naming itself so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["FINETUNE_FILE", "KNOWN_MATRYOSHKA_DIMS", "DimensionTruncationWarning", "matryoshka_dims",
           "truncation_warning"]

#: What embspace's ``finetune`` writes into a model directory beside the model.
FINETUNE_FILE = "embspace_finetune.json"

#: Published models trained for truncation, by lower-case hub id: the sizes their cards list, or ``()`` where
#: the card allows any size (Qwen3: 32 up to the full dimension) or does not list them.
KNOWN_MATRYOSHKA_DIMS: dict[str, tuple[int, ...]] = {
    "nomic-ai/nomic-embed-text-v1.5": (768, 512, 256, 128, 64),
    "nomic-ai/modernbert-embed-base": (768, 256),
    "mixedbread-ai/mxbai-embed-large-v1": (),
    "mixedbread-ai/mxbai-embed-2d-large-v1": (),
    "snowflake/snowflake-arctic-embed-m-v1.5": (768, 256),
    "snowflake/snowflake-arctic-embed-m-v2.0": (768, 256),
    "snowflake/snowflake-arctic-embed-l-v2.0": (1024, 256),
    "alibaba-nlp/gte-multilingual-base": (),
    "alibaba-nlp/gte-modernbert-base": (),
    "jinaai/jina-embeddings-v3": (1024, 768, 512, 256, 128, 64, 32),
    "google/embeddinggemma-300m": (768, 512, 256, 128),
    "qwen/qwen3-embedding-0.6b": (),
    "qwen/qwen3-embedding-4b": (),
    "qwen/qwen3-embedding-8b": (),
    "tomaarsen/mpnet-base-nli-matryoshka": (768, 512, 256, 128, 64),
}

_CARD_DIMS = re.compile(r'"?matryoshka_dims"?\s*[:=]\s*[\[(]([\d,\s]+)[\])]', re.IGNORECASE)
_CARD_LOSSES = ("matryoshkaloss", "matryoshka2dloss")


class DimensionTruncationWarning(UserWarning):
    """Vectors were truncated to a size the model was not trained for (not a Matryoshka model, or not one of
    the sizes it was trained for): their quality may drop much more than a Matryoshka model's would."""


def matryoshka_dims(model: Any) -> tuple[int, ...] | None:
    """The sizes ``model`` was trained to be truncated to, largest first; ``()`` when it was trained for
    truncation but the sizes are not recorded (any size is fair); None when nothing says it was.

    Parameters
    ----------
    model
        An encoder (what it was loaded from is read), a model directory, or a model name (a hub id, read
        from the local Hugging Face cache when the card is there; nothing is downloaded).
    """
    own = getattr(model, "matryoshka_dims", None)
    if own is not None and not callable(own):  # an encoder that read it when it loaded
        return tuple(int(d) for d in own)
    name = getattr(model, "name", None) if not isinstance(model, str | Path) else model
    if name is None:
        return None
    path = Path(str(name)).expanduser()
    if path.is_dir():
        found = _from_dir(path)
        return found if found is not None else _from_name(path.name)
    return _from_name(str(name))


def dims_of_model(source: str | Path | None, name: str) -> tuple[int, ...] | None:
    """:func:`matryoshka_dims` of a model loaded from the directory ``source`` (a hub snapshot's directory is
    named by its commit), known by ``name`` (its hub id, or its directory's name)."""
    path = None if source is None else Path(source)
    found = _from_dir(path) if path is not None and path.is_dir() else None
    return found if found is not None else _from_name(name)


def _from_name(name: str) -> tuple[int, ...] | None:
    from .sentence_encoder import ALIASES

    key = ALIASES.get(name.lower(), name).lower()
    if key in KNOWN_MATRYOSHKA_DIMS:
        return KNOWN_MATRYOSHKA_DIMS[key]
    tails = {k.rsplit("/", 1)[-1]: v for k, v in KNOWN_MATRYOSHKA_DIMS.items()}
    if "/" not in key and key in tails:  # the id without its organisation
        return tails[key]
    card = _cached_card(name) if name.count("/") == 1 else None  # the cache keeps the id's own case
    found = _from_card(card) if card is not None else None
    if found is not None:
        return found
    return () if "matryoshka" in key else None


def _cached_card(repo: str) -> Path | None:
    """The model card of a hub model in the local Hugging Face cache (never downloaded), or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        hit = try_to_load_from_cache(repo, "README.md")
    except Exception:  # an id the hub library refuses: no card here
        return None
    return Path(hit) if isinstance(hit, str) else None


def _from_dir(path: Path) -> tuple[int, ...] | None:
    meta = path / FINETUNE_FILE
    if meta.is_file():
        try:
            body = json.loads(meta.read_text("utf-8"))
        except (OSError, ValueError):
            body = {}
        dims = body.get("matryoshka_dims") if isinstance(body, dict) else None
        if isinstance(dims, list) and dims and all(isinstance(d, int) and d > 0 for d in dims):
            return tuple(sorted(dims, reverse=True))
    return _from_card(path / "README.md")


def _from_card(card: Path) -> tuple[int, ...] | None:
    try:
        text = card.read_text("utf-8", errors="replace")[:1_000_000] if card.is_file() else ""
    except OSError:
        return None
    lower = text.lower()
    if not any(loss in lower for loss in _CARD_LOSSES):
        return None
    m = _CARD_DIMS.search(text)
    if m is None:
        return ()
    dims = sorted({int(d) for d in re.findall(r"\d+", m.group(1)) if int(d) > 0}, reverse=True)
    return tuple(dims)


def truncation_warning(name: str, trained: tuple[int, ...] | None, dim: int, full: int) -> str | None:
    """What to tell a user who truncates ``name``'s ``full``-dimensional vectors to ``dim`` (None: nothing),
    given the sizes it was trained for (:func:`matryoshka_dims`)."""
    if dim >= full or (trained is not None and (not trained or dim in trained)):
        return None
    if trained is None:
        return (f"{name} was not trained for truncation (Matryoshka): its first {dim} of {full} dimensions may "
                f"lose much of its quality; use a Matryoshka model (embspace finetune --matryoshka "
                f"{','.join(str(d) for d in _halvings(full))}), pca_truncate, or all {full}")
    sizes = ", ".join(str(d) for d in trained)
    return (f"{name} was trained for truncation (Matryoshka) to {sizes} dimensions, not to {dim}: its first "
            f"{dim} of {full} dimensions may lose more quality than at a trained size; use one of {sizes}")


def _halvings(full: int) -> list[int]:
    """Sizes to train for: the full one and up to four usual smaller ones."""
    return [full, *[d for d in (1024, 768, 512, 256, 128, 64, 32) if d < full][:4]]
