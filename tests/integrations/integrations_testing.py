"""A tiny, fast, meaningful text encoder for the integration tests (no model to load)."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from embspace.encoders import register_encoder
from embspace.space.provenance import Provenance

WORD = re.compile(r"\w+")


class BagOfWords:
    """A text is the sum of one seeded Gaussian vector per word (the seed is the word's CRC-32), L2-normalised.

    Texts that share words have a high cosine, texts that do not one near 0; deterministic everywhere.
    """

    modality = "text"

    def __init__(self, dim: int = 32, name: str = "integrations-test-bow") -> None:
        self.dim = dim
        self.name = name
        self.provenance = Provenance(model=name, config={"dim": dim})
        self.calls = 0

    @property
    def space_id(self) -> str:
        return self.provenance.space_id

    def encode(self, items: Sequence[str], *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(items), self.dim), np.float64)
        for i, text in enumerate(items):
            for w in WORD.findall(text.lower()):
                out[i] += np.random.default_rng(zlib.crc32(w.encode())).standard_normal(self.dim)
            if not out[i].any():  # no word (an empty text): a fixed direction, never a zero vector
                out[i, 0] = 1.0
        if normalize:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out.astype(np.float32)


#: The name get_encoder (and so EmbspaceEmbeddings and Collection.create(encoder=...)) knows it by.
NAME = "integrations-test-bow"
OTHER = "integrations-test-bow-other"  # the same kind of model, another space
register_encoder(NAME, lambda **_: BagOfWords())
register_encoder(OTHER, lambda **_: BagOfWords(name=OTHER))

DOCS = [
    ("cats", "the cat sat on the mat and purred", {"topic": "pets", "year": 2020, "lang": "en"}),
    ("dogs", "a dog barked at the postman in the garden", {"topic": "pets", "year": 2018, "lang": "en"}),
    ("bank", "the bank raised its interest rate on savings", {"topic": "money", "year": 2021, "lang": "en"}),
    ("stocks", "stock prices fell as the interest rate rose", {"topic": "money", "year": 2019, "lang": "en"}),
    ("chat", "le chat dort sur le tapis", {"topic": "pets", "year": 2022, "lang": "fr"}),
]
