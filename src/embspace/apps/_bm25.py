"""A BM25 index over the texts of a collection's items (bm25s + the Snowball English stemmer).

Derived data: built from the items' ``text`` metadata, saved next to the collection with the
identity of the table it covers (:attr:`embspace.store.Collection.identity`: the table's uid, its version and
the token of the write that made it, as the vector index records them), and rebuilt in full when the
collection has changed since — or is another table: a restored older ``collection.sqlite`` written up to
the same version, a sidecar copied from another collection.

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

FORMAT = 2  # 2: covers.json records the table's identity (uid, version, token), not the version only
K1 = 1.2
B = 0.75
METHOD = "lucene"
STOPWORDS = "en"
STEMMER = "english"
PARAMS: dict[str, Any] = {"format": FORMAT, "k1": K1, "b": B, "method": METHOD, "stopwords": STOPWORDS,
                          "stemmer": STEMMER, "title": True}

__all__ = ["Bm25Index", "Identity"]

#: What an index covers: (the table's uid, its version, the token of the write that made it); see
#: :attr:`embspace.store.Collection.identity`.
Identity = tuple[str | None, int, str | None]


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
    """BM25 over a list of keyed texts, covering one version of one collection's table.

    Parameters
    ----------
    keys
        The key of each indexed text.
    model
        The bm25s model (None when there is nothing to index).
    identity
        The table the index was built from (:attr:`embspace.store.Collection.identity`: uid, version,
        token); an int is a version alone (no uid or token).
    """

    def __init__(self, keys: Sequence[str], model: Any, identity: Identity | int) -> None:
        self.keys = list(keys)
        self.model = model
        self.identity: Identity = (None, int(identity), None) if isinstance(identity, int) else (
            identity[0], int(identity[1]), identity[2])
        self._positions: dict[str, int] | None = None

    @property
    def version(self) -> int:
        """The collection version the index covers."""
        return self.identity[1]

    @classmethod
    def build(cls, keys: Sequence[str], texts: Sequence[str], identity: Identity | int) -> Bm25Index:
        """Index ``texts`` (one per key)."""
        bm25s, _ = _bm25s()
        tokens = tokenize(texts)
        if not any(tokens):
            return cls(keys, None, identity)
        model = bm25s.BM25(k1=K1, b=B, method=METHOD)
        model.index(tokens, show_progress=False)
        return cls(keys, model, identity)

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
        uid, version, token = self.identity
        (path / "covers.json").write_text(json.dumps({"version": version, "uid": uid, "token": token,
                                                      "params": PARAMS, "n": len(self.keys),
                                                      "empty": self.model is None}), encoding="utf-8")

    @staticmethod
    def covered(path: Path) -> Identity | None:
        """The table identity (uid, version, token) the index saved at ``path`` covers, None when absent,
        unreadable or built with other parameters (an older format recorded the version only: rebuilt)."""
        try:
            covers = json.loads((path / "covers.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(covers, dict) or covers.get("params") != PARAMS:
            return None
        version, uid, token = covers.get("version"), covers.get("uid"), covers.get("token")
        if not isinstance(version, int) or isinstance(version, bool) or not all(
                x is None or isinstance(x, str) for x in (uid, token)):
            return None
        return uid, version, token

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
            return cls([str(k) for k in keys], model, (covers.get("uid"), int(covers["version"]), covers.get("token")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CorruptDataError(path, f"unreadable BM25 index ({e.__class__.__name__}: {e})") from e
