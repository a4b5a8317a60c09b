"""Zero-shot text classification: texts go to the label whose caption they are closest to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .schemas import Classification, ClassifyRequest, ClassifyResponse

__all__ = ["ZeroShotClassifier"]

#: The default softmax scale over cosine similarities. Sentence encoders trained with in-batch
#: negatives (MiniLM: scale 20) separate labels by a few hundredths of cosine, so a CLIP-like scale
#: turns those gaps into usable probabilities without changing the ranking.
DEFAULT_SCALE = 50.0


class ZeroShotClassifier:
    """Classify texts over labels no model was trained on, with any text encoder.

    Each label becomes a caption (``template`` with the label in place of ``{}``); a text's label
    probabilities are ``softmax(scale · cos(text, caption))`` — the same rule as
    :meth:`ClipEncoder.zero_shot <embspace.encoders.ClipEncoder.zero_shot>`, with the text encoder's
    own sentence vectors on both sides.

    Parameters
    ----------
    encoder
        An encoder object (``encode(texts, normalize=..., progress=...)``) or a name for
        :func:`~embspace.encoders.get_encoder` (default ``"minilm"``).
    scale
        The softmax scale (inverse temperature).

    Examples
    --------
    >>> clf = ZeroShotClassifier()                                      # doctest: +SKIP
    >>> clf.classify(["the striker scored twice"], ["sport", "politics"]).predicted  # doctest: +SKIP
    ['sport']
    """

    def __init__(self, encoder: Any = "minilm", *, scale: float = DEFAULT_SCALE) -> None:
        if not scale > 0:
            raise InvalidInputError(f"scale must be positive, got {scale}")
        self._spec = encoder
        self._encoder: Any = None if isinstance(encoder, str) else encoder
        self.scale = float(scale)
        self._captions: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}  # caption -> unit vector

    @property
    def encoder(self) -> Any:
        """The text encoder (loaded on first use when given by name)."""
        if self._encoder is None:
            from ..encoders import get_encoder

            self._encoder = get_encoder(self._spec)
        return self._encoder

    def _caption_vectors(self, captions: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        missing = [c for c in dict.fromkeys(captions) if c not in self._captions]
        if missing:
            vecs = np.asarray(self.encoder.encode(missing, normalize=True, progress=False), np.float32)
            if len(self._captions) > 10_000:  # label sets come and go: keep the cache bounded
                self._captions.clear()
            self._captions.update(zip(missing, vecs, strict=True))
        return np.stack([self._captions[c] for c in captions])

    def classify(self, texts: Sequence[str], labels: Sequence[str], template: str = "This text is about {}."
                 ) -> Any:
        """A :class:`~embspace.encoders.ZeroShotResult`: probabilities ``(n_texts, n_labels)`` and the
        ``predicted`` label of each text."""
        from ..encoders.clip_encoder import zero_shot_captions, zero_shot_result

        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings; wrap a single text in a list")
        texts = list(texts)
        if not texts:
            raise InvalidInputError("classify needs at least one text")
        label_list, captions = zero_shot_captions(labels, template)
        txt = np.asarray(self.encoder.encode(texts, normalize=True, progress=False), np.float32)
        return zero_shot_result(label_list, txt, self._caption_vectors(captions), self.scale)

    def run(self, request: ClassifyRequest) -> ClassifyResponse:
        """:meth:`classify` of a request model (what the HTTP API calls)."""
        res = self.classify(request.texts, request.labels, request.template)
        return ClassifyResponse(results=[
            Classification(label=label, scores={lab: float(p) for lab, p in zip(res.labels, row.tolist(), strict=True)})
            for label, row in zip(res.predicted, res.probs, strict=True)])

    def __repr__(self) -> str:
        name = self._spec if isinstance(self._spec, str) else getattr(self._spec, "name", type(self._spec).__name__)
        return f"ZeroShotClassifier({name!r}, scale={self.scale})"
