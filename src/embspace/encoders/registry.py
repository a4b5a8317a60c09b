"""get_encoder: one name for every kind of encoder, and a registry for your own.

``get_encoder("minilm")`` is the default text encoder (offline). A model directory is recognised by
its files: ``modules.json`` is a sentence-transformers model, a CLIP config (or
``open_clip_config.json``) is CLIP, a vision config is an image encoder, any other Hugging Face model
is a text encoder with mean pooling. ``"static:PATH"`` averages the word vectors of the space saved at
PATH. ``"clap"``, a cached CLAP hub id, or a ClapModel directory is a CLAP audio-text encoder. A
directory saved by the ``Distiller`` learner of the train layer (``embspace.json`` says
``model_type: distilled-static``) loads as a :class:`~embspace.encoders.DistilledEncoder`. Hub ids
load as sentence-transformers models (from the local cache when offline).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, ModelNotFoundError
from .encoder import BaseEncoder

_VISION_TYPES = {"vit", "dinov2", "dinov2_with_registers", "deit", "beit", "resnet", "convnext", "convnextv2",
                 "swin", "swinv2", "regnet", "efficientnet", "mobilevit", "levit", "siglip_vision_model",
                 "clip_vision_model", "vit_mae", "vit_msn", "data2vec-vision", "hiera", "ijepa"}
_CLIP_TYPES = {"clip"}
_CLAP_TYPES = {"clap"}

_REGISTRY: dict[str, Callable[..., BaseEncoder]] = {}

__all__ = ["get_encoder", "known_model_names", "register_encoder", "suggest_model"]


def register_encoder(name: str, factory: Callable[..., BaseEncoder]) -> None:
    """Make ``get_encoder(name, **kwargs)`` call ``factory(**kwargs)`` (overrides the built-in names)."""
    if not name or not callable(factory):
        raise InvalidInputError("register_encoder needs a non-empty name and a callable factory")
    _REGISTRY[name.lower()] = factory


def model_kind(path: Path) -> str:
    """``"sentence"``, ``"clip"``, ``"clap"``, ``"image"`` or ``"text"`` for a local model directory."""
    if (path / "modules.json").is_file():
        return "sentence"
    if (path / "open_clip_config.json").is_file():
        return "clip"
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ModelNotFoundError(f"{path} is a directory but holds no model (no config.json or modules.json)")
    try:
        cfg = json.loads(cfg_file.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"{cfg_file} is not readable JSON ({e})") from e
    kind = str(cfg.get("model_type", "")).lower()
    if kind in _CLIP_TYPES:
        return "clip"
    if kind in _CLAP_TYPES:
        return "clap"
    if kind in _VISION_TYPES or ("image_size" in cfg and "vocab_size" not in cfg):
        return "image"
    return "text"


def get_encoder(name: str | Path = "minilm", **kwargs: Any) -> BaseEncoder:
    """The encoder for ``name``.

    Parameters
    ----------
    name
        ``"minilm"`` (default, all-MiniLM-L6-v2, offline); ``"clap"`` (LAION's CLAP,
        ``laion/clap-htsat-unfused``, from the local Hugging Face cache) or the hub id of any cached
        ``ClapModel``; a model directory (kind detected from its files: a CLAP directory gives a
        :class:`~embspace.encoders.ClapEncoder`; a static model saved by the ``Distiller`` learner included);
        ``"static:PATH"`` (mean of word vectors of a saved space; ``method="sif"`` for SIF);
        a name given to :func:`register_encoder`; or a hub id.
    **kwargs
        Passed to the encoder's constructor (``device``, ``precision``, ``pooling``, ``dim`` to truncate a
        text encoder's vectors, ...).
    """
    from .sentence_encoder import ALIASES, SentenceEncoder

    text = str(name)
    if text.lower() in _REGISTRY:
        return _REGISTRY[text.lower()](**kwargs)
    if text.lower() == "clap" or (not Path(text).expanduser().exists() and _cached_hub_type(text) in _CLAP_TYPES):
        from .clap_encoder import DEFAULT_CLAP, ClapEncoder

        _no_dim(kwargs, "clap")
        return ClapEncoder(DEFAULT_CLAP if text.lower() == "clap" else text, **kwargs)
    if text.lower() in ALIASES:
        return SentenceEncoder(text, **kwargs)
    if text.startswith("static:"):
        _no_dim(kwargs, "static")
        _cpu_only(kwargs, "static")
        from ..space.io import load
        from .static_encoder import StaticEncoder

        return StaticEncoder(load(text.removeprefix("static:")), **kwargs)
    path = Path(text).expanduser()
    if path.is_dir():
        from .distilled_encoder import DistilledEncoder, is_distilled_dir

        if is_distilled_dir(path):
            _no_dim(kwargs, "distilled static")
            _cpu_only(kwargs, "distilled static")
            return DistilledEncoder.load(path, **kwargs)
        kind = model_kind(path)
        if kind == "sentence":
            return SentenceEncoder(path, **kwargs)
        if kind in ("clip", "clap", "image"):
            _no_dim(kwargs, kind)
        if kind == "clap":
            from .clap_encoder import ClapEncoder

            return ClapEncoder(path, **kwargs)
        if kind == "clip":
            from .clip_encoder import ClipEncoder

            return ClipEncoder(path, **kwargs)
        if kind == "image":
            from .image_encoder import ImageEncoder

            return ImageEncoder(path, **kwargs)
        from .text_encoder import TextEncoder

        return TextEncoder(path, **kwargs)
    try:
        return SentenceEncoder(text, **kwargs)
    except ModelNotFoundError as e:
        close = suggest_model(text)
        if not close:
            raise
        raise ModelNotFoundError(f"unknown model {text!r}; did you mean {' or '.join(repr(c) for c in close)}? (it "
                                 "is neither a local model directory nor a hub id in the local Hugging Face cache)"
                                 ) from e


def _cached_hub_type(name: str) -> str | None:
    """The ``model_type`` of a hub id's config in the local Hugging Face cache (None: not cached, or no id)."""
    if name.count("/") != 1 or name.startswith((".", "/", "~")):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(name, "config.json")
        if not isinstance(found, str):
            return None
        return str(json.loads(Path(found).read_text("utf-8")).get("model_type", "")).lower() or None
    except (ImportError, OSError, ValueError, AttributeError):
        return None


def _cpu_only(kwargs: dict[str, Any], kind: str) -> None:
    """Take out of ``kwargs`` the options of transformer encoders that a static encoder (table lookups and a
    sparse product, always on the CPU, in float32) has no use for, as the CLI passes them to every model:
    ``device`` "auto"/"cpu" and ``precision`` "fp32" are accepted and dropped; anything else is refused."""
    device = kwargs.pop("device", None)
    if device not in (None, "auto", "cpu"):
        raise InvalidInputError(f"{kind} encoders run on the CPU (a table lookup per token), not on device={device!r}; "
                                "leave device out or give 'cpu'")
    precision = kwargs.pop("precision", None)
    if precision not in (None, "fp32"):
        raise InvalidInputError(f"{kind} encoders compute in float32 only, not precision={precision!r}; they are "
                                "already ~100x faster than a transformer")


def _no_dim(kwargs: dict[str, Any], kind: str) -> None:
    if kwargs.get("dim") is not None:
        raise InvalidInputError(f"dim= (truncating the vectors) is for text encoders (sentence-transformers and "
                                f"Hugging Face text models), not {kind} encoders; truncate a space of their "
                                "vectors with embspace.analysis.pca_truncate instead")


def known_model_names() -> list[str]:
    """Names :func:`get_encoder` takes without a path: the aliases, the registered names, and the hub ids
    in the local Hugging Face cache."""
    from .sentence_encoder import ALIASES, DEFAULT_MODEL

    names = ["minilm", DEFAULT_MODEL, DEFAULT_MODEL.split("/")[1], *sorted(_REGISTRY)]
    names += [a for a in ALIASES if a not in {n.lower() for n in names}]
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        hub = Path(HF_HUB_CACHE)
        if hub.is_dir():
            names += sorted(d.name.removeprefix("models--").replace("--", "/") for d in hub.iterdir()
                            if d.name.startswith("models--"))
    except (ImportError, OSError):
        pass
    return list(dict.fromkeys(names))


def suggest_model(name: str, n: int = 3) -> list[str]:
    """Up to ``n`` known model names close to ``name`` (see :func:`known_model_names`), best first."""
    import difflib

    known = known_model_names()
    by_lower = {k.lower(): k for k in reversed(known)}
    text = name.lower()
    close = difflib.get_close_matches(text, list(by_lower), n=n, cutoff=0.6)
    if not close:  # 'MiniLM-L6' for 'sentence-transformers/all-MiniLM-L6-v2': compare the part after the org
        tails = {k.rsplit("/", 1)[-1]: k for k in by_lower}
        close = [tails[t] for t in difflib.get_close_matches(text.rsplit("/", 1)[-1], list(tails), n=n, cutoff=0.6)]
    return list(dict.fromkeys(by_lower[c] for c in close))
