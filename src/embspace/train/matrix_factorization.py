"""MatrixFactorization: users and items in one space, learned so that user · item predicts a rating."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..data.interactions import Interactions
from ..errors import InvalidInputError, NotFittedError, UnknownKeyError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.search_result import SearchResult
from ._device import Engine, resolve_engine
from ._progress import TrainingProgress

#: The ``format`` written in a saved model's model.json.
FORMAT = "embspace.matrix_factorization/1"

__all__ = ["MatrixFactorization"]

_OBJECTIVES = ("explicit", "als", "bpr")
# defaults that depend on the objective: (epochs, regularization, learning_rate)
_DEFAULTS = {"explicit": (60, 0.1, 0.01), "als": (15, 0.01, 0.0), "bpr": (100, 0.01, 0.01)}


class MatrixFactorization:
    """Matrix factorisation: users and items in one space, ``score(u, i) = user · item``.

    - ``objective="explicit"``: the predicted rating is ``mu + b_u + b_i + p_u · q_i`` (Koren, Bell &
      Volinsky 2009), learned by SGD on the squared error with L2 regularisation, one rating at a
      time in a seeded random order.
    - ``objective="als"``: implicit feedback (Hu, Koren & Volinsky 2008): every observed pair has
      preference 1 and confidence ``1 + alpha * value`` (value: the rating, or 1 without ratings),
      every other pair preference 0 and confidence 1; alternating least squares, each row solved by
      three conjugate-gradient steps (Takács et al. 2011), rows in parallel.
    - ``objective="bpr"``: Bayesian personalised ranking (Rendle et al. 2009): SGD on
      ``ln σ(x_u · y_i + b_i − x_u · y_j − b_j)`` over (user, seen item, unseen item) triples, with
      item biases.

    Compiled CPU kernels, or PyTorch on a GPU (``device``); seeded CPU runs repeat exactly (SGD and
    BPR apply their updates in one thread in a seeded order; ALS rows are independent, so the thread
    count does not matter).

    Parameters
    ----------
    dim
        Number of latent factors.
    objective
        ``"explicit"`` (ratings), ``"als"`` or ``"bpr"`` (implicit feedback: who interacted with what).
    epochs
        Passes over the data (default 60 explicit, 15 ALS, 100 BPR).
    regularization
        L2 weight on the factors (default 0.1 explicit, 0.01 ALS and BPR).
    bias_regularization
        L2 weight on the biases.
    learning_rate
        SGD step (explicit, BPR; default 0.01).
    alpha
        ALS confidence scale: an observed pair weighs ``1 + alpha * value``.
    init_std
        Standard deviation of the normal initial factors.
    seed
        Seeds the initial factors and the order of the ratings.
    device
        ``"cpu"``: the compiled CPU kernels; ``"cuda"``, ``"cuda:N"``, ``"mps"``: PyTorch there (same
        objectives, rows/batches updated together; quality as on the CPU, not bit for bit);
        ``"auto"``: CUDA when present, else the CPU.
    progress
        Show a progress bar with the training error.

    Attributes
    ----------
    user_space_, item_space_
        EmbeddingSpaces (metric ``dot``) sharing ONE provenance: a user vector ``[p_u, 1]`` queries
        the item space ``[q_i, b_i]`` directly, and its dot product ranks items as the predicted
        rating does (``mu + b_u`` is the same for all items of a user).
    global_mean_, user_bias_, item_bias_
        ``mu`` and the learned biases (float32, in the spaces' key order).
    loss_history_
        Training RMSE of each epoch (before each update, as SGD goes).
    """

    _PARAMS = ("dim", "objective", "epochs", "regularization", "bias_regularization", "learning_rate", "alpha",
               "init_std", "seed", "device")

    def __init__(self, *, dim: int = 64, objective: str = "explicit", epochs: int | None = None,
                 regularization: float | None = None, bias_regularization: float = 0.02,
                 learning_rate: float | None = None, alpha: float = 10.0, init_std: float = 0.05,
                 seed: int = 0, device: str = "cpu", progress: bool = True) -> None:
        self.dim = dim
        self.objective = objective
        defaults = _DEFAULTS.get(objective, _DEFAULTS["explicit"])
        self.epochs = defaults[0] if epochs is None else epochs
        self.regularization = defaults[1] if regularization is None else regularization
        self.bias_regularization = bias_regularization
        self.learning_rate = (defaults[2] or 0.01) if learning_rate is None else learning_rate
        self.alpha = alpha
        self.init_std = init_std
        self.seed = seed
        self.device = device
        self.progress = progress

    def get_params(self) -> dict[str, Any]:
        """The settings, as given to ``__init__``."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def _check(self) -> None:
        for name in ("dim", "epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {v!r}")
        for name in ("regularization", "bias_regularization", "learning_rate", "alpha", "init_std"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                raise InvalidInputError(f"{name} must be a non-negative number, got {v!r}")
        if self.learning_rate == 0:
            raise InvalidInputError("learning_rate must be positive, got 0")
        if self.objective not in _OBJECTIVES:
            raise InvalidInputError(f"objective {self.objective!r} is not available; the objectives are "
                                    f"{list(_OBJECTIVES)}")
        if not isinstance(self.device, str):
            raise InvalidInputError(f"device must be a string such as 'cpu', 'cuda' or 'auto', got {self.device!r}")

    # ------------------------------------------------------------------ training
    def fit(self, interactions: Interactions | Any) -> MatrixFactorization:
        """Learn from ``interactions`` (an :class:`~embspace.data.Interactions`, or anything it accepts
        with the column names ``user``, ``item`` and ``rating``). Returns ``self``."""
        from ._mf_kernels import sgd_epoch

        self._check()
        data = interactions if isinstance(interactions, Interactions) else Interactions(interactions)
        if len(data) == 0:
            raise InvalidInputError("no interactions to learn from")
        engine = resolve_engine(self.device)
        if self.objective != "explicit":
            return self._fit_implicit(data, engine)
        if data.ratings is None:
            raise InvalidInputError("the explicit objective needs ratings, and these interactions have no 'rating' "
                                    "column; pass one (columns={'rating': ...})")
        rng = np.random.default_rng(self.seed)
        p = (rng.standard_normal((data.n_users, self.dim)) * self.init_std).astype(np.float32)
        q = (rng.standard_normal((data.n_items, self.dim)) * self.init_std).astype(np.float32)
        bu = np.zeros(data.n_users, np.float32)
        bi = np.zeros(data.n_items, np.float32)
        ratings = np.ascontiguousarray(data.ratings, dtype=np.float32)
        mu = float(ratings.mean(dtype=np.float64))
        lr, reg, reg_b = (np.float32(x) for x in (self.learning_rate, self.regularization, self.bias_regularization))
        history: list[float] = []
        tm = None
        if engine.kind == "torch":
            from ._mf_torch import TorchMF

            tm = TorchMF(p, q, engine.device, self.seed)
            tu, ti, tr = tm.tensor(data.user_codes), tm.tensor(data.item_codes), tm.tensor(ratings)
            tbu, tbi = tm.tensor(bu), tm.tensor(bi)
        with TrainingProgress(self.epochs * len(data), "matrix factorisation", unit="ratings",
                              enabled=self.progress) as bar:
            for _ in range(self.epochs):
                if tm is None:
                    order = rng.permutation(len(data))
                    sse = sgd_epoch(data.user_codes, data.item_codes, ratings, order, np.float32(mu), bu, bi, p, q,
                                    lr, reg, reg_b)
                    finite = bool(np.isfinite(sse) and np.all(np.isfinite(p)))
                else:
                    sse = tm.sgd_epoch(tu, ti, tr, mu, tbu, tbi, float(lr), float(reg), float(reg_b))
                    finite = bool(np.isfinite(sse))
                if not finite:
                    raise InvalidInputError(f"training diverged (learning_rate={self.learning_rate} is too large "
                                            "for these ratings); lower it")
                history.append(float(np.sqrt(sse / len(data))))
                bar.advance(len(data), loss=history[-1])
        if tm is not None:
            p, q, bu, bi = tm.numpy(tm.x), tm.numpy(tm.y), tm.numpy(tbu), tm.numpy(tbi)
        self._finish(data, engine, p, q, bu, bi, mu, history, (float(ratings.min()), float(ratings.max())))
        return self

    def _finish(self, data: Interactions, engine: Engine, p: npt.NDArray[np.float32], q: npt.NDArray[np.float32],
                bu: npt.NDArray[np.float32], bi: npt.NDArray[np.float32], mu: float, history: list[float],
                rating_range: tuple[float, float] | None) -> None:
        config = {**self.get_params(), "engine": engine.kind, "run_id": uuid.uuid4().hex[:12]}
        prov = Provenance(model="embspace.matrix_factorization", config=config, data_hash=data.fingerprint())
        ucount = np.bincount(data.user_codes, minlength=data.n_users)
        icount = np.bincount(data.item_codes, minlength=data.n_items)
        self._user_space = EmbeddingSpace(data.user_ids, np.hstack([p, np.ones((len(p), 1), np.float32)]),
                                          metric="dot", counts=ucount, provenance=prov, copy=False)
        self._item_space = EmbeddingSpace(data.item_ids, np.hstack([q, bi[:, None]]), metric="dot", counts=icount,
                                          provenance=prov, copy=False)
        self._mu = mu
        self._bu, self._bi = bu, bi
        self._range = rating_range
        self._train = data
        self._loss_history = history

    def _fit_implicit(self, data: Interactions, engine: Engine) -> MatrixFactorization:
        """ALS or BPR on the user-item matrix of ``data`` (duplicate pairs summed)."""
        from ._mf_implicit_kernels import als_sweep, bpr_epoch, mark_seen_negatives, observed_error

        m = data.user_item_matrix("rating")  # values: the ratings, or 1 without them
        m.sort_indices()
        rng = np.random.default_rng(self.seed)
        f = self.dim
        x = (rng.standard_normal((data.n_users, f)) * self.init_std).astype(np.float32)
        y = (rng.standard_normal((data.n_items, f)) * self.init_std).astype(np.float32)
        bi = np.zeros(data.n_items, np.float32)
        history: list[float] = []
        indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int64)
        row_of = np.repeat(np.arange(data.n_users, dtype=np.int64), np.diff(indptr))  # each pair's user
        tm = None
        if engine.kind == "torch":
            from ._mf_torch import TorchMF

            tm = TorchMF(x, y, engine.device, self.seed)
            t_rows, t_cols = tm.tensor(row_of), tm.tensor(indices)
        with TrainingProgress(self.epochs, f"matrix factorisation ({self.objective})", unit="epochs",
                              enabled=self.progress) as bar:
            if self.objective == "als":
                mt = m.T.tocsr()
                mt.sort_indices()
                conf = (1.0 + self.alpha * m.data).astype(np.float32)
                tconf = (1.0 + self.alpha * mt.data).astype(np.float32)
                tptr, tind = mt.indptr.astype(np.int64), mt.indices.astype(np.int64)
                lam = float(self.regularization)
                if tm is not None:
                    t_conf = tm.tensor(conf)
                for _ in range(self.epochs):
                    if tm is None:
                        als_sweep(indptr, indices, conf, y, x, y.T @ y, lam, 3)
                        als_sweep(tptr, tind, tconf, x, y, x.T @ x, lam, 3)
                        err = observed_error(indptr, indices, x, y)  # every row has an observed pair
                    else:
                        tm.als_sweep(t_rows, t_cols, t_conf, True, lam)
                        tm.als_sweep(t_cols, t_rows, t_conf, False, lam)
                        err = tm.observed_error(t_rows, t_cols)
                    if not np.isfinite(err):
                        raise InvalidInputError("ALS diverged; raise regularization")
                    history.append(float(np.sqrt(err / len(indices))))
                    bar.advance(1, loss=history[-1])
            else:
                lr, reg = float(self.learning_rate), float(self.regularization)
                if tm is not None:
                    t_bi = tm.tensor(bi)
                for _ in range(self.epochs):
                    t = rng.integers(0, len(indices), len(indices))
                    users, pos = row_of[t], indices[t]
                    neg = rng.integers(0, data.n_items, len(t)).astype(np.int64)
                    mark_seen_negatives(users, neg, indptr, indices)
                    if tm is None:
                        ll, _ = bpr_epoch(users, pos, neg, x, y, bi, lr, reg)
                        finite = bool(np.isfinite(ll) and np.all(np.isfinite(x)))
                    else:
                        ll, _ = tm.bpr_epoch(tm.tensor(users), tm.tensor(pos), tm.tensor(neg), t_bi, lr, reg)
                        finite = bool(np.isfinite(ll))
                    if not finite:
                        raise InvalidInputError(f"BPR diverged (learning_rate={self.learning_rate}); lower it")
                    history.append(float(-ll))
                    bar.advance(1, loss=history[-1])
                if tm is not None:
                    bi = tm.numpy(t_bi)
        if tm is not None:
            x, y = tm.numpy(tm.x), tm.numpy(tm.y)
        self._finish(data, engine, x, y, np.zeros(data.n_users, np.float32), bi, 0.0, history, None)
        return self

    # ------------------------------------------------------------------ fitted state
    def _fitted(self, name: str) -> Any:
        try:
            return self.__dict__[name]
        except KeyError:
            raise NotFittedError(f"this MatrixFactorization is not fitted yet: call fit(interactions) before using "
                                 f"{name.lstrip('_')}") from None

    @property
    def user_space_(self) -> EmbeddingSpace:
        return self._fitted("_user_space")  # type: ignore[no-any-return]

    @property
    def item_space_(self) -> EmbeddingSpace:
        return self._fitted("_item_space")  # type: ignore[no-any-return]

    @property
    def global_mean_(self) -> float:
        return float(self._fitted("_mu"))

    @property
    def user_bias_(self) -> npt.NDArray[np.float32]:
        return self._fitted("_bu")  # type: ignore[no-any-return]

    @property
    def item_bias_(self) -> npt.NDArray[np.float32]:
        return self._fitted("_bi")  # type: ignore[no-any-return]

    @property
    def loss_history_(self) -> list[float]:
        return self._fitted("_loss_history")  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ using it
    def _rows(self, keys: Any, space: EmbeddingSpace, what: str) -> tuple[npt.NDArray[np.int64], bool]:
        single = isinstance(keys, str | int | np.integer)
        seq = [keys] if single else list(keys)
        rows = np.empty(len(seq), np.int64)
        for n, key in enumerate(seq):
            text = str(key)
            if text not in space:
                raise UnknownKeyError(key, where=f"the {what} of this model (trained on {len(space):,} {what})")
            rows[n] = space.index_of(text)
        return rows, single

    def predict(self, users: Any, items: Any, *, unknown: str = "raise") -> Any:
        """Predicted ratings of (user, item) pairs, clipped to the training ratings' range (explicit), or
        ranking scores ``user · item`` (ALS, BPR): ``(n,)`` float32 (a float for one pair). A pair with an
        unknown user or item raises :class:`UnknownKeyError` (``unknown="raise"``) or is predicted as
        the global mean (``unknown="mean"``, the usual convention when scoring a held-out set)."""
        if unknown not in ("raise", "mean"):
            raise InvalidInputError(f"unknown must be 'raise' or 'mean', got {unknown!r}")
        us, ispace = self.user_space_, self.item_space_
        single = isinstance(users, str | int | np.integer)
        user_list = [users] if single else list(users)
        item_list = [items] if isinstance(items, str | int | np.integer) else list(items)
        if len(user_list) != len(item_list):
            raise InvalidInputError(f"{len(user_list)} users but {len(item_list)} items; give one item per user")
        known = np.ones(len(user_list), bool)
        if unknown == "mean":
            known = np.array([str(u) in us and str(i) in ispace for u, i in zip(user_list, item_list, strict=True)],
                             bool)
        pred = np.full(len(user_list), self._mu, np.float64)
        if known.any():
            u, _ = self._rows([x for x, ok in zip(user_list, known, strict=True) if ok], us, "users")
            i, _ = self._rows([x for x, ok in zip(item_list, known, strict=True) if ok], ispace, "items")
            pu = us.vectors[u, :-1].astype(np.float64)
            qi = ispace.vectors[i, :-1].astype(np.float64)
            pred[known] = self._mu + self._bu[u] + self._bi[i] + np.einsum("ij,ij->i", pu, qi)
        out = (pred if self._range is None else np.clip(pred, *self._range)).astype(np.float32)
        return float(out[0]) if single else out

    def _seen(self, row: int) -> list[str]:
        """The items a user interacted with in training (a per-user index, built once)."""
        seen = self.__dict__.get("_seen_index")
        if seen is None:
            seen = self._seen_index = self._train.user_item_matrix("ones")
        ids = self._train.item_ids
        return [ids[c] for c in seen.indices[seen.indptr[row] : seen.indptr[row + 1]].tolist()]

    def recommend(self, user: Any, k: int = 10, *, exclude_seen: bool = True, unknown: str = "raise") -> SearchResult:
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

    def similar_items(self, item: Any, k: int = 10) -> SearchResult:
        """The ``k`` items most similar to ``item`` by cosine of their item vectors (the item itself left out)."""
        ispace = self.item_space_
        (row,), _ = self._rows([item], ispace, "items")
        return ispace.with_metric("cosine").neighbors(ispace.keys[row], k=k)

    # ------------------------------------------------------------------ cold users
    def popular(self, k: int = 10, *, exclude: Sequence[Any] = ()) -> SearchResult:
        """The ``k`` items with the most training interactions (scores: those counts), best first: what a
        user with no history gets."""
        ispace = self.item_space_
        counts = np.asarray(ispace.counts if ispace.counts is not None else np.zeros(len(ispace)), np.float64)
        skip = {str(x) for x in exclude}
        order = [r for r in np.argsort(-counts, kind="stable").tolist() if ispace.keys[r] not in skip][:k]
        ids = np.asarray(order, np.int64)
        return SearchResult([ispace.keys[r] for r in order], counts[ids].astype(np.float32), ids)

    def fold_in(self, items: Sequence[Any], ratings: Sequence[float] | None = None) -> npt.NDArray[np.float32]:
        """The user vector (as in :attr:`user_space_`) of a new user from a few interactions, the item
        vectors held fixed: a ridge regression on the ratings' residuals (explicit), the ALS row solve
        (ALS), or gradient ascent on the BPR objective against seeded negatives (BPR)."""
        ispace = self.item_space_
        rows, _ = self._rows(list(items), ispace, "items")
        if len(rows) == 0:
            raise InvalidInputError("fold_in needs at least one item; a user with no history gets popular()")
        y = ispace.vectors[rows, :-1].astype(np.float64)
        f = y.shape[1]
        reg = float(self.regularization)
        if ratings is not None and len(ratings) != len(rows):
            raise InvalidInputError(f"{len(ratings)} ratings for {len(rows)} items")
        if self.objective == "explicit":
            rng_ = self._range or (0.0, 1.0)
            r = np.full(len(rows), rng_[1]) if ratings is None else np.asarray(ratings, np.float64)
            target = r - self._mu - self._bi[rows]
            bu = float(target.mean()) * len(rows) / (len(rows) + 1.0)  # the bias, shrunk towards 0
            x = np.linalg.solve(y.T @ y + reg * len(rows) * np.eye(f) + 1e-9 * np.eye(f), y.T @ (target - bu))
        elif self.objective == "als":
            all_y = ispace.vectors[:, :-1].astype(np.float64)
            value = np.ones(len(rows)) if ratings is None else np.asarray(ratings, np.float64)
            c = 1.0 + self.alpha * value
            a = all_y.T @ all_y + (y.T * (c - 1.0)) @ y + reg * np.eye(f)
            x = np.linalg.solve(a, y.T @ c)
        else:
            all_y = ispace.vectors[:, :-1].astype(np.float64)
            bias = ispace.vectors[:, -1].astype(np.float64)
            rng = np.random.default_rng(self.seed)
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

    def recommend_for_new_user(self, items: Sequence[Any], k: int = 10, *, ratings: Sequence[float] | None = None,
                               exclude_seen: bool = True) -> SearchResult:
        """Recommendations for a user the model has not seen, from the items they interacted with (and
        their ratings, for the explicit objective; default: the top rating). No items: :meth:`popular`."""
        if len(items) == 0:
            return self.popular(k)
        vector = self.fold_in(items, ratings)
        return self.item_space_.neighbors(vector, k=k, exclude=[str(i) for i in items] if exclude_seen else ())

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a directory: the two spaces, the biases, the settings and the
        training interactions (for ``exclude_seen`` and popularity). :meth:`load` reads it back."""
        import json

        from .._atomic import atomic_path

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.user_space_.save(out / "users")
        self.item_space_.save(out / "items")
        with atomic_path(out / "biases.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, user_bias=self._bu, item_bias=self._bi)
        import pyarrow.parquet as pq

        with atomic_path(out / "train.parquet") as tmp:
            pq.write_table(self._train.to_arrow(), str(tmp))
        meta = {"format": FORMAT, "params": self.get_params(), "global_mean": self._mu,
                "rating_range": self._range, "loss_history": self._loss_history}
        with atomic_path(out / "model.json") as tmp:
            Path(tmp).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> MatrixFactorization:
        """Read a model written by :meth:`save`."""
        import json

        from ..errors import CorruptDataError
        from ..space.io import load as load_space

        p = Path(path)
        try:
            meta = json.loads((p / "model.json").read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT:
                raise ValueError(f"unknown format {meta.get('format')!r}")
            params = dict(meta["params"])
            model = cls(**params, progress=False)
            with np.load(p / "biases.npz") as z:
                bu, bi = np.asarray(z["user_bias"], np.float32), np.asarray(z["item_bias"], np.float32)
            model._user_space = load_space(p / "users")
            model._item_space = load_space(p / "items")
            model._train = Interactions(str(p / "train.parquet"))
        except (OSError, KeyError, ValueError) as e:
            raise CorruptDataError(p, f"not an embspace matrix-factorisation model: {e}") from None
        model._mu = float(meta["global_mean"])
        model._bu, model._bi = bu, bi
        rr = meta.get("rating_range")
        model._range = None if rr is None else (float(rr[0]), float(rr[1]))
        model._loss_history = list(meta.get("loss_history", []))
        return model

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"MatrixFactorization({params})"
