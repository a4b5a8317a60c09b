"""Zero-shot classification: texts (or images, or audio clips) go to the label whose caption they are closest to."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .schemas import Classification, ClassifyRequest, ClassifyResponse

__all__ = ["ZeroShotClassifier"]

#: The default softmax scale over cosine similarities. Sentence encoders trained with in-batch
#: negatives (MiniLM: scale 20) separate labels by a few hundredths of cosine, so a CLIP-like scale
#: turns those gaps into usable probabilities without changing the ranking.
DEFAULT_SCALE = 50.0


def _call(fn: Callable[..., Any], items: list[Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """``fn(items, normalize=True, progress=False)`` (``progress`` only where ``fn`` takes it) as float32."""
    try:
        takes_progress = "progress" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_progress = True
    out = fn(items, normalize=True, progress=False) if takes_progress else fn(items, normalize=True)
    return np.asarray(out, np.float32)


class ZeroShotClassifier:
    """Classify items over labels no model was trained on: texts with any text encoder, images or audio clips
    with a two-tower model (CLIP, CLAP, :class:`~embspace.train.TwoTowerClap`...).

    Each label becomes a caption (``template`` with the label in place of ``{}``); an item's label
    probabilities are ``softmax(scale · cos(item, caption))`` — the same rule as
    :meth:`ClipEncoder.zero_shot <embspace.encoders.ClipEncoder.zero_shot>`. A text encoder puts its
    own sentence vectors on both sides; an encoder with a text side (``encode_text``: CLIP, CLAP) encodes
    the items with ``encode`` and the captions with ``encode_text``.

    Parameters
    ----------
    encoder
        An encoder object (``encode(items, normalize=..., progress=...)``, and ``encode_text`` for a
        two-tower model) or a name for :func:`~embspace.encoders.get_encoder` (default ``"minilm"``;
        ``"clap"`` or a ClapModel directory for audio).
    scale
        The softmax scale (inverse temperature); default: the model's own ``logit_scale`` for a two-tower
        model, else 50.

    Examples
    --------
    >>> clf = ZeroShotClassifier()                                      # doctest: +SKIP
    >>> clf.classify(["the striker scored twice"], ["sport", "politics"]).predicted  # doctest: +SKIP
    ['sport']
    """

    def __init__(self, encoder: Any = "minilm", *, scale: float | None = None) -> None:
        if scale is not None and not scale > 0:
            raise InvalidInputError(f"scale must be positive, got {scale}")
        self._spec = encoder
        self._encoder: Any = None if isinstance(encoder, str) else encoder
        self._scale = None if scale is None else float(scale)
        self._captions: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}  # caption -> unit vector

    @property
    def encoder(self) -> Any:
        """The text encoder (loaded on first use when given by name)."""
        if self._encoder is None:
            from ..encoders import get_encoder

            self._encoder = get_encoder(self._spec)
        return self._encoder

    @property
    def scale(self) -> float:
        """The softmax scale: as given, else the two-tower model's ``logit_scale``, else 50."""
        if self._scale is not None:
            return self._scale
        if self._encoder is None and isinstance(self._spec, str) and self._spec.lower() in ("minilm",):
            return DEFAULT_SCALE  # the default text encoder: known without loading it
        own = getattr(self.encoder, "logit_scale", None) if hasattr(self.encoder, "encode_text") else None
        return float(own) if isinstance(own, int | float) and own > 0 else DEFAULT_SCALE

    def _caption_vectors(self, captions: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        missing = [c for c in dict.fromkeys(captions) if c not in self._captions]
        if missing:
            enc = self.encoder
            vecs = _call(enc.encode_text if hasattr(enc, "encode_text") else enc.encode, missing)
            if len(self._captions) > 10_000:  # label sets come and go: keep the cache bounded
                self._captions.clear()
            self._captions.update(zip(missing, vecs, strict=True))
        return np.stack([self._captions[c] for c in captions])

    def classify(self, texts: Sequence[Any], labels: Sequence[str], template: str = "This text is about {}."
                 ) -> Any:
        """A :class:`~embspace.encoders.ZeroShotResult`: probabilities ``(n_items, n_labels)`` and the
        ``predicted`` label of each item.

        ``texts``: the items, as the encoder takes them: strings for a text encoder, image or audio file
        paths (or arrays) for a two-tower model. A template fits the items: ``"the sound of {}"`` for audio.
        """
        from ..encoders.clip_encoder import zero_shot_captions, zero_shot_result

        if isinstance(texts, str):
            raise TypeError("texts must be a list of items; wrap a single text (or path) in a list")
        items = list(texts)
        if not items:
            raise InvalidInputError("classify needs at least one item")
        label_list, captions = zero_shot_captions(labels, template)
        vec = _call(self.encoder.encode, items)
        return zero_shot_result(label_list, vec, self._caption_vectors(captions), self.scale)

    def run(self, request: ClassifyRequest) -> ClassifyResponse:
        """:meth:`classify` of a request model (what the HTTP API calls): its ``texts``, or its ``audio``
        (base64 files, decoded here) for an audio-text model."""
        if (request.texts is None) == (request.audio is None):
            raise InvalidInputError("give exactly one of texts and audio")
        items: list[Any]
        if request.audio is not None:
            import base64
            import binascii

            from .._audio import decode_audio

            modality = getattr(self.encoder, "modality", None)
            if modality != "audio" and not hasattr(self.encoder, "spectrograms"):
                raise InvalidInputError(f"this classifier's encoder ({getattr(self.encoder, 'name', self.encoder)!r}) "
                                        "encodes text, not audio; serve an audio-text model (--model clap, or a "
                                        "ClapModel directory) to classify audio")
            items = []
            for i, b64 in enumerate(request.audio):
                try:
                    data = base64.b64decode(b64, validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidInputError(f"audio #{i} is not base64 text") from None
                items.append(decode_audio(data, what=f"audio #{i}"))
        else:
            items = list(request.texts or [])
        res = self.classify(items, request.labels, request.template)
        return ClassifyResponse(results=[
            Classification(label=label, scores={lab: float(p) for lab, p in zip(res.labels, row.tolist(), strict=True)})
            for label, row in zip(res.predicted, res.probs, strict=True)])

    def __repr__(self) -> str:
        name = self._spec if isinstance(self._spec, str) else getattr(self._spec, "name", type(self._spec).__name__)
        scale = "auto" if self._scale is None and self._encoder is None else self.scale
        return f"ZeroShotClassifier({name!r}, scale={scale})"
