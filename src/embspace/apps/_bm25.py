"""A BM25 index over the texts of a collection's items (bm25s + the Snowball English stemmer).

Derived data: built from the items' ``text`` metadata, saved next to the collection with the
collection version it covers, and rebuilt in full when the collection has changed since.

Scoring is Lucene's BM25 (``k1 = 1.2``, ``b = 0.75``, idf ``log(1 + (N - df + 0.5) / (df + 0.5))``)
over lower-cased word tokens (two or more word characters), without Lucene's 33 English stopwords,
stemmed by the Snowball English stemmer (Porter2): the analysis of Elasticsearch's ``english``
analyser and the BM25 parameters of its default similarity, which is what BEIR's BM25 baseline ran.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CorruptDataError, MissingDependencyError

FORMAT = 1
K1 = 1.2
B = 0.75
METHOD = "lucene"
STOPWORDS = "en"
STEMMER = "english"
PARAMS: dict[str, Any] = {"format": FORMAT, "k1": K1, "b": B, "method": METHOD, "stopwords": STOPWORDS,
                          "stemmer": STEMMER, "title": True}

__all__ = ["Bm25Index"]


def _bm25s() -> tuple[Any, Any]:
    try:
        import bm25s
        import Stemmer
    except ImportError as e:
        package = "PyStemmer" if "Stemmer" in str(e) else "bm25s"
        raise MissingDependencyError(package, "rag", "BM25 and hybrid retrieval") from None
    return bm25s, Stemmer


_STEMMER: Any = None


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stopword-free, stemmed word tokens of each text."""
    global _STEMMER
    bm25s, stemmer_module = _bm25s()
    if _STEMMER is None:
        _STEMMER = stemmer_module.Stemmer(STEMMER)
    if not texts:
        return []
    out: list[list[str]] = bm25s.tokenize(list(texts), lower=True, stopwords=STOPWORDS, stemmer=_STEMMER,
                                          return_ids=False, show_progress=False)
    return out


class Bm25Index:
    """BM25 over a list of keyed texts, covering one collection version.

    Parameters
    ----------
    keys
        The key of each indexed text.
    model
        The bm25s model (None when there is nothing to index).
    version
        The collection version (:attr:`embspace.store.Collection.version`) the index was built from.
    """

    def __init__(self, keys: Sequence[str], model: Any, version: int) -> None:
        self.keys = list(keys)
        self.model = model
        self.version = int(version)
        self._positions: dict[str, int] | None = None

    @classmethod
    def build(cls, keys: Sequence[str], texts: Sequence[str], version: int) -> Bm25Index:
        """Index ``texts`` (one per key)."""
        bm25s, _ = _bm25s()
        tokens = tokenize(texts)
        if not any(tokens):
            return cls(keys, None, version)
        model = bm25s.BM25(k1=K1, b=B, method=METHOD)
        model.index(tokens, show_progress=False)
        return cls(keys, model, version)

    def position(self, key: str) -> int | None:
        """The row of ``key`` in the index (None when not indexed)."""
        if self._positions is None:
            self._positions = {k: i for i, k in enumerate(self.keys)}
        return self._positions.get(key)

    def mask(self, keys: Sequence[str] | set[str]) -> npt.NDArray[np.bool_]:
        """A boolean row mask selecting ``keys`` (keys not indexed are ignored)."""
        out = np.zeros(len(self.keys), bool)
        rows = [p for k in keys if (p := self.position(k)) is not None]
        out[rows] = True
        return out

    def search(self, query: str, k: int, allowed: npt.NDArray[np.bool_] | None = None
               ) -> tuple[list[str], npt.NDArray[np.float32]]:
        """The ``k`` best-scoring keys for ``query`` (only rows where ``allowed`` is True when given),
        best first; texts sharing no term with the query are never returned."""
        if self.model is None or k < 1:
            return [], np.zeros(0, np.float32)
        ids = self.model.get_tokens_ids(tokenize([query])[0])
        if not ids:
            return [], np.zeros(0, np.float32)
        scores = np.asarray(self.model.get_scores_from_ids(ids), np.float32)
        if allowed is not None:
            scores = np.where(allowed, scores, np.float32(0.0))
        hit = np.flatnonzero(scores > 0)
        if len(hit) > k:
            hit = hit[np.argpartition(-scores[hit], k - 1)[:k]]
        order = hit[np.lexsort((hit, -scores[hit]))]  # best first; ties by position, for determinism
        return [self.keys[i] for i in order.tolist()], scores[order]

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the index into the (new, empty) directory ``path``: bm25s's arrays (.npy, no pickle) and
        JSON, the keys, and a sidecar with the version covered and the analysis parameters."""
        path.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.save(str(path / "bm25s"), show_progress=False)
        (path / "keys.json").write_text(json.dumps(self.keys, ensure_ascii=False), encoding="utf-8")
        (path / "covers.json").write_text(json.dumps({"version": self.version, "params": PARAMS,
                                                      "n": len(self.keys), "empty": self.model is None}),
                                          encoding="utf-8")

    @staticmethod
    def covered(path: Path) -> int | None:
        """The version the index saved at ``path`` covers, None when absent, unreadable or built with
        other parameters."""
        try:
            covers = json.loads((path / "covers.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(covers, dict) or covers.get("params") != PARAMS:
            return None
        version = covers.get("version")
        return version if isinstance(version, int) else None

    @classmethod
    def load(cls, path: Path) -> Bm25Index:
        """The index saved at ``path`` (CorruptDataError when it cannot be read)."""
        bm25s, _ = _bm25s()
        try:
            covers = json.loads((path / "covers.json").read_text(encoding="utf-8"))
            keys = json.loads((path / "keys.json").read_text(encoding="utf-8"))
            if not isinstance(keys, list) or len(keys) != covers["n"]:
                raise ValueError("keys.json does not match covers.json")
            model = None
            if not covers["empty"]:
                model = bm25s.BM25.load(str(path / "bm25s"), mmap=False, show_progress=False, verbosity=0)
                if int(model.scores["num_docs"]) != len(keys):
                    raise ValueError(f"{model.scores['num_docs']} indexed texts for {len(keys)} keys")
            return cls([str(k) for k in keys], model, int(covers["version"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CorruptDataError(path, f"unreadable BM25 index ({e.__class__.__name__}: {e})") from e
