"""MatrixFactorization: users and items in one space, learned so that user · item predicts a rating."""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..data.interactions import Interactions
from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.search_result import SearchResult
from ._base import Learner
from ._device import Engine, resolve_engine
from ._progress import TrainingProgress
from .recommender import FORMAT, Recommender

__all__ = ["FORMAT", "MatrixFactorization"]

_OBJECTIVES = ("explicit", "als", "bpr")
# defaults that depend on the objective: (epochs, regularization, learning_rate)
_DEFAULTS = {"explicit": (60, 0.1, 0.01), "als": (15, 0.01, 0.0), "bpr": (100, 0.01, 0.01)}


class MatrixFactorization(Learner):
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
    recommender_
        The product: a :class:`~embspace.train.Recommender` that predicts, recommends, folds in new
        users and saves (``recommender_.save(dir)``; ``Recommender.load(dir)``).
    user_space_, item_space_
        The recommender's EmbeddingSpaces (metric ``dot``) sharing ONE provenance: a user vector
        ``[p_u, 1]`` queries the item space ``[q_i, b_i]`` directly, and its dot product ranks items
        as the predicted rating does (``mu + b_u`` is the same for all items of a user).
    global_mean_, user_bias_, item_bias_
        ``mu`` and the learned biases (float32, in the spaces' key order).
    loss_history_
        Training RMSE of each epoch (before each update, as SGD goes).
    """

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

    def _default(self, name: str) -> Any:
        """``epochs``, ``regularization`` and ``learning_rate`` default by objective (shown so by ``repr``)."""
        epochs, reg, lr = _DEFAULTS.get(self.objective, _DEFAULTS["explicit"])
        resolved = {"epochs": epochs, "regularization": reg, "learning_rate": lr or 0.01}
        return resolved[name] if name in resolved else super()._default(name)

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
        settings = self._config()
        config = {**settings, "engine": engine.kind, "run_id": uuid.uuid4().hex[:12]}
        prov = Provenance(model="embspace.matrix_factorization", config=config, data_hash=data.fingerprint())
        ucount = np.bincount(data.user_codes, minlength=data.n_users)
        icount = np.bincount(data.item_codes, minlength=data.n_items)
        users = EmbeddingSpace(data.user_ids, np.hstack([p, np.ones((len(p), 1), np.float32)]), metric="dot",
                               counts=ucount, provenance=prov, copy=False)
        items = EmbeddingSpace(data.item_ids, np.hstack([q, bi[:, None]]), metric="dot", counts=icount,
                               provenance=prov, copy=False)
        self.loss_history_ = history
        self.recommender_ = Recommender(users, items, data, user_bias=bu, item_bias=bi, global_mean=mu,
                                        rating_range=rating_range, params=settings, loss_history=history)

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
    @property
    def user_space_(self) -> EmbeddingSpace:
        """The users' space (``recommender_.user_space_``)."""
        return self._product().user_space_

    @property
    def item_space_(self) -> EmbeddingSpace:
        """The items' space (``recommender_.item_space_``)."""
        return self._product().item_space_

    @property
    def global_mean_(self) -> float:
        return self._product().global_mean_

    @property
    def user_bias_(self) -> npt.NDArray[np.float32]:
        return self._product().user_bias_

    @property
    def item_bias_(self) -> npt.NDArray[np.float32]:
        return self._product().item_bias_

    def _product(self) -> Recommender:
        self.check_is_fitted("recommender_")
        return self.recommender_

    # ------------------------------------------------------------------ deprecated: the Recommender's now
    def _moved(self, name: str) -> Recommender:
        warnings.warn(f"MatrixFactorization.{name} is deprecated and will be removed in the next release; use "
                      f"MatrixFactorization.recommender_.{name} (a Recommender)", DeprecationWarning, stacklevel=3)
        return self._product()

    def predict(self, users: Any, items: Any, *, unknown: str = "raise") -> Any:
        """Deprecated: :meth:`Recommender.predict` of :attr:`recommender_`."""
        return self._moved("predict").predict(users, items, unknown=unknown)

    def recommend(self, user: Any, k: int = 10, *, exclude_seen: bool = True, unknown: str = "raise") -> SearchResult:
        """Deprecated: :meth:`Recommender.recommend` of :attr:`recommender_`."""
        return self._moved("recommend").recommend(user, k, exclude_seen=exclude_seen, unknown=unknown)

    def similar_items(self, item: Any, k: int = 10) -> SearchResult:
        """Deprecated: :meth:`Recommender.similar_items` of :attr:`recommender_`."""
        return self._moved("similar_items").similar_items(item, k)

    def popular(self, k: int = 10, *, exclude: Sequence[Any] = ()) -> SearchResult:
        """Deprecated: :meth:`Recommender.popular` of :attr:`recommender_`."""
        return self._moved("popular").popular(k, exclude=exclude)

    def fold_in(self, items: Sequence[Any], ratings: Sequence[float] | None = None) -> npt.NDArray[np.float32]:
        """Deprecated: :meth:`Recommender.fold_in` of :attr:`recommender_`."""
        return self._moved("fold_in").fold_in(items, ratings)

    def recommend_for_new_user(self, items: Sequence[Any], k: int = 10, *, ratings: Sequence[float] | None = None,
                               exclude_seen: bool = True) -> SearchResult:
        """Deprecated: :meth:`Recommender.recommend_for_new_user` of :attr:`recommender_`."""
        return self._moved("recommend_for_new_user").recommend_for_new_user(items, k, ratings=ratings,
                                                                            exclude_seen=exclude_seen)

    def save(self, path: str | Path) -> Path:
        """Deprecated: :meth:`Recommender.save` of :attr:`recommender_`."""
        return self._moved("save").save(path)

    @classmethod
    def load(cls, path: str | Path) -> MatrixFactorization:
        """Deprecated: :meth:`Recommender.load <embspace.train.Recommender.load>` reads the product; this
        returns a fitted MatrixFactorization around it (its settings as saved), as it did before."""
        warnings.warn("MatrixFactorization.load is deprecated and will be removed in the next release; use "
                      "embspace.train.Recommender.load(path)", DeprecationWarning, stacklevel=2)
        rec = Recommender.load(path)
        names = set(cls._param_names())
        model = cls(**{k: v for k, v in rec.params_.items() if k in names and k != "progress"}, progress=False)
        model.recommender_ = rec
        model.loss_history_ = list(rec.loss_history_)
        return model
