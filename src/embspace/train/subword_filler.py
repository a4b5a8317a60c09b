"""SubwordFiller: learn character n-gram vectors that reproduce an existing space, to embed unknown words."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from .._types import FloatArray
from ..errors import InvalidInputError
from ..space._subwords import subword_buckets
from ..space.embedding_space import EmbeddingSpace
from ..space.subword_space import FASTTEXT_ARGS, SubwordSpace, _Subwords
from ._base import Learner

__all__ = ["SubwordFiller"]


class SubwordFiller(Learner):
    """Give any static word space (GloVe, word2vec, a distilled model) vectors for words it never saw.

    The "mimick" idea (Pinter et al. 2017), with fastText's n-grams as the model: find n-gram vectors
    ``G`` such that the mean of a word's n-gram vectors reproduces its vector, for every word of the
    space, by ridge regression::

        minimise  sum_w || mean_{g in ngrams(w)} G_g - v_w ||^2  +  l2 * ||G||^2

    solved by conjugate gradients on the normal equations, all dimensions at once (sparse, in float64).
    The product is a :class:`~embspace.space.subword_space.SubwordSpace` whose vocabulary vectors are the
    space's own, unchanged, and whose unknown words are the mean of their n-gram vectors; it can be
    written as a fastText ``.bin`` (``space_.save(path, format="fasttext")``).

    Parameters
    ----------
    minn, maxn, buckets
        fastText's n-grams: ``minn``..``maxn`` characters of ``<word>``, hashed into ``buckets``.
    l2
        Ridge penalty (per n-gram vector): keeps rare n-grams small.
    normalize
        Fit the unit-length vectors, so that every word counts the same whatever its norm (``None``: when the
        space's metric is cosine).
    max_iter, tol
        Conjugate-gradient iterations, and the relative residual at which they stop.
    holdout
        Share of the words (at most 5,000) left out of a first fit to measure how well unknown words are
        filled in (:attr:`holdout_cosine_`); the final fit uses every word. ``0`` skips it.
    seed
        Which words are held out.

    Attributes
    ----------
    space_ : SubwordSpace
        The space, with n-gram vectors.
    holdout_cosine_ : float
        Mean cosine between the held-out words' vectors and those rebuilt from their n-grams by the fit
        without them (NaN when ``holdout=0``).
    holdout_words_ : list[str]
        The held-out words.
    iterations_ : int
        Conjugate-gradient iterations of the final fit.
    """

    def __init__(self, *, minn: int = 3, maxn: int = 6, buckets: int = 2_000_000, l2: float = 0.1,
                 normalize: bool | None = None, max_iter: int = 100, tol: float = 1e-4, holdout: float = 0.05,
                 seed: int = 0) -> None:
        self.minn = minn
        self.maxn = maxn
        self.buckets = buckets
        self.l2 = l2
        self.normalize = normalize
        self.max_iter = max_iter
        self.tol = tol
        self.holdout = holdout
        self.seed = seed

    @property
    def space_(self) -> SubwordSpace:
        return self._fitted("_space")  # type: ignore[no-any-return]

    @property
    def holdout_cosine_(self) -> float:
        return self._fitted("_holdout_cosine")  # type: ignore[no-any-return]

    @property
    def holdout_words_(self) -> list[str]:
        return self._fitted("_holdout_words")  # type: ignore[no-any-return]

    @property
    def iterations_(self) -> int:
        return self._fitted("_iterations")  # type: ignore[no-any-return]

    def _check(self, space: object) -> None:
        if not isinstance(space, EmbeddingSpace):
            raise InvalidInputError(f"SubwordFiller.fit takes an EmbeddingSpace, got {type(space).__name__}")
        if not (isinstance(self.minn, int) and isinstance(self.maxn, int) and 1 <= self.minn <= self.maxn):
            raise InvalidInputError(f"need 1 <= minn <= maxn, got minn={self.minn!r}, maxn={self.maxn!r}")
        if not isinstance(self.buckets, int) or self.buckets < 1:
            raise InvalidInputError(f"buckets must be a positive integer, got {self.buckets!r}")
        if self.l2 < 0 or not 0 <= self.holdout < 1 or self.max_iter < 1 or self.tol <= 0:
            raise InvalidInputError(f"need l2 >= 0, 0 <= holdout < 1, max_iter >= 1 and tol > 0; got l2={self.l2}, "
                                    f"holdout={self.holdout}, max_iter={self.max_iter}, tol={self.tol}")

    def fit(self, space: EmbeddingSpace) -> SubwordFiller:
        """Learn n-gram vectors that reproduce ``space``; returns ``self`` (the product in :attr:`space_`)."""
        self._check(space)
        try:
            words = [k.encode("utf-8") for k in space.keys]
        except UnicodeEncodeError as e:
            raise InvalidInputError(f"key {e.object!r} is not encodable as UTF-8, in which n-grams are hashed; "
                                    "drop or rename that key") from None
        ptr, buckets = subword_buckets(words, self.minn, self.maxn, self.buckets)
        used, dense = np.unique(buckets, return_inverse=True)
        per_word = np.diff(ptr)
        n, r = len(space), len(used)
        if r == 0:
            raise InvalidInputError(f"the keys of this space have no n-grams of {self.minn}-{self.maxn} characters")
        rows = np.repeat(np.arange(n), per_word)
        weights = 1.0 / np.maximum(per_word, 1)[rows]
        a = sp.csr_matrix((weights, (rows, dense.reshape(-1))), shape=(n, r))
        a.sum_duplicates()  # an n-gram twice in a word counts twice, as fastText counts it
        target = np.asarray(space.vectors, np.float64)
        normalize = space.metric == "cosine" if self.normalize is None else bool(self.normalize)
        if normalize:
            norms = np.linalg.norm(target, axis=1, keepdims=True)
            target = np.divide(target, norms, out=np.zeros_like(target), where=norms > 0)
        self._holdout_words: list[str] = []
        self._holdout_cosine = float("nan")
        g0 = None
        n_out = min(round(self.holdout * n), 5000)
        if n_out > 0 and n - n_out > 0:
            rng = np.random.default_rng(self.seed)
            out = np.sort(rng.choice(n, n_out, replace=False))
            keep = np.setdiff1d(np.arange(n), out)
            g0, _ = _ridge_cg(a[keep], target[keep], self.l2, None, self.max_iter, self.tol)
            rebuilt = np.asarray(a[out] @ g0)
            self._holdout_cosine = _mean_cosine(rebuilt, target[out])
            self._holdout_words = [space.keys[i] for i in out.tolist()]
        g, self._iterations = _ridge_cg(a, target, self.l2, g0, self.max_iter, self.tol)
        grams = g.astype(np.float32)
        grams.flags.writeable = False
        # The vocabulary keeps its vectors, and the space its identity: the same coordinates as before.
        base = EmbeddingSpace._trusted(space.keys, space.vectors, metric=space.metric,
                                       normalized=space.is_normalized, counts=space.counts,
                                       provenance=space.provenance)
        sub = _Subwords(self.minn, self.maxn, self.buckets, grams, used.astype(np.int64), None, None, "utf-8",
                        dict(FASTTEXT_ARGS))
        self._space = SubwordSpace._from_parts(base, sub, filled_by={"learner": "embspace.subword-filler",
                                                                     "l2": self.l2, "normalize": normalize})
        return self


def _ridge_cg(a: sp.csr_matrix, y: npt.NDArray[np.float64], l2: float, x0: npt.NDArray[np.float64] | None,
              max_iter: int, tol: float) -> tuple[npt.NDArray[np.float64], int]:
    """Solve ``(A^T A + l2 I) X = A^T Y`` column by column at once (conjugate gradients, per-column steps)."""
    at = a.T.tocsr()
    b = np.asarray(at @ y)
    x = np.zeros((a.shape[1], y.shape[1])) if x0 is None else x0.copy()

    def op(v: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(at @ (a @ v)) + l2 * v

    res = b - op(x)
    p = res.copy()
    rs = np.einsum("ij,ij->j", res, res)
    b_norm = np.sqrt(np.einsum("ij,ij->j", b, b)) + 1e-30
    it = 0
    for it in range(1, max_iter + 1):
        if np.all(np.sqrt(rs) <= tol * b_norm):
            it -= 1
            break
        ap = op(p)
        denom = np.einsum("ij,ij->j", p, ap)
        alpha = np.divide(rs, denom, out=np.zeros_like(rs), where=denom > 0)
        x += p * alpha
        res -= ap * alpha
        rs_new = np.einsum("ij,ij->j", res, res)
        beta = np.divide(rs_new, rs, out=np.zeros_like(rs), where=rs > 0)
        p = res + p * beta
        rs = rs_new
    return x, it


def _mean_cosine(a: FloatArray | npt.NDArray[np.float64], b: FloatArray | npt.NDArray[np.float64]) -> float:
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    cos = np.einsum("ij,ij->i", a, b) / np.maximum(na * nb, 1e-30)
    return float(np.mean(cos))
