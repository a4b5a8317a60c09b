"""Recommender: what :class:`~embspace.train.MatrixFactorization` learns — user and item spaces that
recommend, fold in new users, and save.

The learner (settings, ``fit``) and its product are separate, as everywhere in embspace:
``MatrixFactorization(...).fit(interactions).recommender_`` is a :class:`Recommender`, and
``Recommender.load(dir)`` reads one back without the learner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .._artifact import check_format_version, write_header
from .._atomic import atomic_path
from ..data.interactions import Interactions
from ..errors import CorruptDataError, InvalidInputError, UnknownKeyError
from ..space.embedding_space import EmbeddingSpace
from ..space.io import load as load_space
from ..space.search_result import SearchResult

__all__ = ["FORMAT", "FORMAT_VERSION", "Recommender"]

#: The ``format`` of the ``model.json`` that layouts before the ``embspace.json`` header carried
#: (still written for one release, so readers that predate the header keep finding it).
FORMAT: Final = "embspace.matrix_factorization/1"
#: The layout version in the ``embspace.json`` header (kind ``"recommender"``).
FORMAT_VERSION: Final = 1

Key = str | int | np.integer[Any]


class Recommender:
    """User and item vectors in one space, ``score(u, i) = user · item``, ready to recommend.

    Built by :meth:`MatrixFactorization.fit <embspace.train.MatrixFactorization.fit>` (its
    ``recommender_``) or :meth:`load`; not constructed by hand.

    Parameters
    ----------
    user_space, item_space
        EmbeddingSpaces (metric ``dot``) sharing ONE provenance: a user vector ``[p_u, 1]`` queries
        the item space ``[q_i, b_i]`` directly.
    train
        The training interactions (for ``exclude_seen`` and popularity).
    user_bias, item_bias, global_mean
        ``b_u``, ``b_i`` (float32, in the spaces' key order) and ``mu`` (zeros for ALS and BPR).
    rating_range
        ``(min, max)`` of the training ratings (explicit objective: predictions are clipped to it), or None.
    params
        The learner's settings (``objective``, ``regularization``, ``alpha``, ``seed``, ...): fold-in
        solves the same objective.
    loss_history
        Training loss of each epoch.

    Attributes
    ----------
    user_space_, item_space_
        The two spaces.
    global_mean_, user_bias_, item_bias_
        ``mu`` and the biases.
    params_
        The learner's settings.
    loss_history_
        Training loss of each epoch.
    """

    def __init__(self, user_space: EmbeddingSpace, item_space: EmbeddingSpace, train: Interactions, *,
                 user_bias: npt.NDArray[np.float32], item_bias: npt.NDArray[np.float32], global_mean: float,
                 rating_range: tuple[float, float] | None, params: Mapping[str, Any],
                 loss_history: Sequence[float] = ()) -> None:
        self.user_space_ = user_space
        self.item_space_ = item_space
        self.user_bias_ = user_bias
        self.item_bias_ = item_bias
        self.global_mean_ = float(global_mean)
        self.rating_range_ = rating_range
        self.params_ = dict(params)
        self.loss_history_ = list(loss_history)
        self._train = train
        self._seen_index: Any = None

    @property
    def objective(self) -> str:
        """``"explicit"``, ``"als"`` or ``"bpr"``: what the vectors were trained for."""
        return str(self.params_.get("objective", "explicit"))

    @property
    def dim(self) -> int:
        """The number of latent factors (the spaces carry one more column: the item bias, for scoring)."""
        return int(self.params_.get("dim", self.item_space_.dim - 1))

    # ------------------------------------------------------------------ using it
    @staticmethod
    def _rows(keys: Any, space: EmbeddingSpace, what: str) -> tuple[npt.NDArray[np.int64], bool]:
        single = isinstance(keys, str | int | np.integer)
        seq = [keys] if single else list(keys)
        rows = np.empty(len(seq), np.int64)
        for n, key in enumerate(seq):
            text = str(key)
            if text not in space:
                raise UnknownKeyError(key, where=f"the {what} of this model (trained on {len(space):,} {what})")
            rows[n] = space.index_of(text)
        return rows, single

    def predict(self, users: Key | Sequence[Key] | npt.NDArray[Any], items: Key | Sequence[Key] | npt.NDArray[Any],
                *, unknown: str = "raise") -> float | npt.NDArray[np.float32]:
        """Predicted ratings of (user, item) pairs, clipped to the training ratings' range (explicit), or
        ranking scores ``user · item`` (ALS, BPR): ``(n,)`` float32 (a float for one pair). A pair with an
        unknown user or item raises :class:`UnknownKeyError` (``unknown="raise"``) or is predicted as
        the global mean (``unknown="mean"``, the usual convention when scoring a held-out set)."""
        if unknown not in ("raise", "mean"):
            raise InvalidInputError(f"unknown must be 'raise' or 'mean', got {unknown!r}")
        us, ispace = self.user_space_, self.item_space_
        single = isinstance(users, str | int | np.integer)
        user_list = [users] if single else list(users)  # type: ignore[arg-type]
        item_list = [items] if isinstance(items, str | int | np.integer) else list(items)
        if len(user_list) != len(item_list):
            raise InvalidInputError(f"{len(user_list)} users but {len(item_list)} items; give one item per user")
        known = np.ones(len(user_list), bool)
        if unknown == "mean":
            known = np.array([str(u) in us and str(i) in ispace for u, i in zip(user_list, item_list, strict=True)],
                             bool)
        mu = self.global_mean_
        pred = np.full(len(user_list), mu, np.float64)
        if known.any():
            u, _ = self._rows([x for x, ok in zip(user_list, known, strict=True) if ok], us, "users")
            i, _ = self._rows([x for x, ok in zip(item_list, known, strict=True) if ok], ispace, "items")
            pu = us.vectors[u, :-1].astype(np.float64)
            qi = ispace.vectors[i, :-1].astype(np.float64)
            pred[known] = mu + self.user_bias_[u] + self.item_bias_[i] + np.einsum("ij,ij->i", pu, qi)
        rr = self.rating_range_
        out = (pred if rr is None else np.clip(pred, *rr)).astype(np.float32)
        return float(out[0]) if single else out

    def _seen(self, row: int) -> list[str]:
        """The items a user interacted with in training (a per-user index, built once)."""
        if self._seen_index is None:
            self._seen_index = self._train.user_item_matrix("ones")
        seen = self._seen_index
        ids = self._train.item_ids
        return [ids[c] for c in seen.indices[seen.indptr[row] : seen.indptr[row + 1]].tolist()]

    def recommend(self, user: Key, k: int = 10, *, exclude_seen: bool = True, unknown: str = "raise") -> SearchResult:
        """The ``k`` items of highest predicted rating for ``user``, best first (scores: ``b_i + p_u · q_i``);
        with ``exclude_seen`` the items the user rated in training are left out. A user the model does not
        know raises :class:`UnknownKeyError` (``unknown="raise"``) or gets :meth:`popular` items
        (``unknown="popular"``)."""
        if unknown not in ("raise", "popular"):
            raise InvalidInputError(f"unknown must be 'raise' or 'popular', got {unknown!r}")
        us = self.user_space_
        if unknown == "popular" and str(user) not in us:
            return self.popular(k)
        (row,), _ = self._rows([user], us, "users")
        exclude = self._seen(int(row)) if exclude_seen else []
        return self.item_space_.neighbors(us.vectors[row], k=k, exclude=exclude)

    def similar_items(self, item: Key, k: int = 10) -> SearchResult:
        """The ``k`` items most similar to ``item`` by cosine of their item vectors (the item itself left out)."""
        ispace = self.item_space_
        (row,), _ = self._rows([item], ispace, "items")
        return ispace.with_metric("cosine").neighbors(ispace.keys[row], k=k)

    # ------------------------------------------------------------------ cold users
    def popular(self, k: int = 10, *, exclude: Sequence[Key] = ()) -> SearchResult:
        """The ``k`` items with the most training interactions (scores: those counts), best first: what a
        user with no history gets."""
        ispace = self.item_space_
        counts = np.asarray(ispace.counts if ispace.counts is not None else np.zeros(len(ispace)), np.float64)
        skip = {str(x) for x in exclude}
        order = [r for r in np.argsort(-counts, kind="stable").tolist() if ispace.keys[r] not in skip][:k]
        ids = np.asarray(order, np.int64)
        return SearchResult([ispace.keys[r] for r in order], counts[ids].astype(np.float32), ids)

    def fold_in(self, items: Sequence[Key], ratings: Sequence[float] | None = None) -> npt.NDArray[np.float32]:
        """The user vector (as in :attr:`user_space_`) of a new user from a few interactions, the item
        vectors held fixed: a ridge regression on the ratings' residuals (explicit), the ALS row solve
        (ALS), or gradient ascent on the BPR objective against seeded negatives (BPR)."""
        ispace = self.item_space_
        rows, _ = self._rows(list(items), ispace, "items")
        if len(rows) == 0:
            raise InvalidInputError("fold_in needs at least one item; a user with no history gets popular()")
        y = ispace.vectors[rows, :-1].astype(np.float64)
        f = y.shape[1]
        reg = float(self.params_.get("regularization", 0.01))
        if ratings is not None and len(ratings) != len(rows):
            raise InvalidInputError(f"{len(ratings)} ratings for {len(rows)} items")
        if self.objective == "explicit":
            rng_ = self.rating_range_ or (0.0, 1.0)
            r = np.full(len(rows), rng_[1]) if ratings is None else np.asarray(ratings, np.float64)
            target = r - self.global_mean_ - self.item_bias_[rows]
            bu = float(target.mean()) * len(rows) / (len(rows) + 1.0)  # the bias, shrunk towards 0
            x = np.linalg.solve(y.T @ y + reg * len(rows) * np.eye(f) + 1e-9 * np.eye(f), y.T @ (target - bu))
        elif self.objective == "als":
            all_y = ispace.vectors[:, :-1].astype(np.float64)
            value = np.ones(len(rows)) if ratings is None else np.asarray(ratings, np.float64)
            c = 1.0 + float(self.params_.get("alpha", 10.0)) * value
            a = all_y.T @ all_y + (y.T * (c - 1.0)) @ y + reg * np.eye(f)
            x = np.linalg.solve(a, y.T @ c)
        else:
            all_y = ispace.vectors[:, :-1].astype(np.float64)
            bias = ispace.vectors[:, -1].astype(np.float64)
            rng = np.random.default_rng(int(self.params_.get("seed", 0)))
            seen = set(rows.tolist())
            neg = np.array([j for j in rng.permutation(len(ispace))[: 200 + len(rows)].tolist() if j not in seen][:200])
            x = np.zeros(f)
            diff = y[:, None, :] - all_y[neg][None, :, :]  # (pos, neg, f)
            bdiff = bias[rows][:, None] - bias[neg][None, :]
            for _ in range(200):
                z = 1.0 / (1.0 + np.exp(np.clip(diff @ x + bdiff, -30, 30)))  # σ(-margin)
                grad = np.einsum("pn,pnf->f", z, diff) / z.size - reg * x
                x += 0.5 * grad
        return np.concatenate([x, [1.0]]).astype(np.float32)

    def recommend_for_new_user(self, items: Sequence[Key], k: int = 10, *, ratings: Sequence[float] | None = None,
                               exclude_seen: bool = True) -> SearchResult:
        """Recommendations for a user the model has not seen, from the items they interacted with (and
        their ratings, for the explicit objective; default: the top rating). No items: :meth:`popular`."""
        if len(items) == 0:
            return self.popular(k)
        vector = self.fold_in(items, ratings)
        return self.item_space_.neighbors(vector, k=k, exclude=[str(i) for i in items] if exclude_seen else ())

    # ------------------------------------------------------------------ persistence
    def _meta(self) -> dict[str, Any]:
        return {"params": self.params_, "global_mean": self.global_mean_,
                "rating_range": None if self.rating_range_ is None else list(self.rating_range_),
                "loss_history": self.loss_history_}

    def save(self, path: str | Path) -> Path:
        """Write the recommender to a directory: the two spaces, the biases, the settings and the
        training interactions (for ``exclude_seen`` and popularity), with an ``embspace.json`` header
        (kind ``"recommender"``) written last. :meth:`load` reads it back."""
        import pyarrow.parquet as pq

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.user_space_.save(out / "users")
        self.item_space_.save(out / "items")
        with atomic_path(out / "biases.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, user_bias=self.user_bias_, item_bias=self.item_bias_)
        with atomic_path(out / "train.parquet") as tmp:
            pq.write_table(self._train.to_arrow(), str(tmp))
        meta = self._meta()
        # model.json: the layout before the header; kept one release for readers that predate it
        with atomic_path(out / "model.json") as tmp:
            Path(tmp).write_text(json.dumps({"format": FORMAT, **meta}, indent=2) + "\n", encoding="utf-8")
        write_header(out, "recommender", FORMAT_VERSION, model="embspace.matrix_factorization", **meta)
        return out

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Read a recommender written by :meth:`save` (or by ``MatrixFactorization.save`` before the
        ``embspace.json`` header existed: a ``model.json`` layout)."""
        p = Path(path)
        header = check_format_version(p, "recommender", FORMAT_VERSION)
        try:
            meta: dict[str, Any]
            if header is not None and "params" in header.extra:
                meta = dict(header.extra)
            else:
                meta = json.loads((p / "model.json").read_text(encoding="utf-8"))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"unknown format {meta.get('format')!r}")
            params = dict(meta["params"])
            with np.load(p / "biases.npz") as z:
                bu, bi = np.asarray(z["user_bias"], np.float32), np.asarray(z["item_bias"], np.float32)
            users, items = load_space(p / "users"), load_space(p / "items")
            train = Interactions(str(p / "train.parquet"))
            mu = float(meta["global_mean"])
        except (OSError, KeyError, TypeError, ValueError) as e:
            raise CorruptDataError(p, f"not an embspace recommender (matrix factorisation) directory: {e}") from None
        rr = meta.get("rating_range")
        return cls(users, items, train, user_bias=bu, item_bias=bi, global_mean=mu,
                   rating_range=None if rr is None else (float(rr[0]), float(rr[1])), params=params,
                   loss_history=[float(x) for x in meta.get("loss_history", [])])

    def __repr__(self) -> str:
        return (f"Recommender(objective={self.objective!r}, users={len(self.user_space_):,}, "
                f"items={len(self.item_space_):,}, dim={self.dim})")
