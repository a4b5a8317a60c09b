"""MatrixFactorization: users and items in one space, learned so that user · item predicts a rating."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import numpy.typing as npt

from ..data.interactions import Interactions
from ..errors import InvalidInputError, NotFittedError, UnknownKeyError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.search_result import SearchResult
from ._progress import TrainingProgress

__all__ = ["MatrixFactorization"]

_OBJECTIVES = ("explicit",)


class MatrixFactorization:
    """Explicit-feedback matrix factorisation with user and item biases, trained by SGD.

    The predicted rating is ``mu + b_u + b_i + p_u · q_i`` (Koren, Bell & Volinsky 2009), learned
    by stochastic gradient descent on the squared error with L2 regularisation, one rating at a
    time in a seeded random order; a single-threaded compiled kernel makes seeded runs repeat
    exactly.

    Parameters
    ----------
    dim
        Number of latent factors.
    objective
        ``"explicit"`` (ratings). Implicit-feedback objectives (BPR, ALS) are not available yet.
    epochs
        Passes over the ratings.
    regularization
        L2 weight on the factors.
    bias_regularization
        L2 weight on the biases.
    learning_rate
        SGD step.
    init_std
        Standard deviation of the normal initial factors.
    seed
        Seeds the initial factors and the order of the ratings.
    device
        ``"cpu"`` or ``"auto"``: the compiled CPU kernel (the only engine of this objective yet).
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

    _PARAMS = ("dim", "objective", "epochs", "regularization", "bias_regularization", "learning_rate", "init_std",
               "seed", "device")

    def __init__(self, *, dim: int = 64, objective: str = "explicit", epochs: int = 60, regularization: float = 0.1,
                 bias_regularization: float = 0.02, learning_rate: float = 0.01, init_std: float = 0.05,
                 seed: int = 0, device: str = "cpu", progress: bool = True) -> None:
        self.dim = dim
        self.objective = objective
        self.epochs = epochs
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.learning_rate = learning_rate
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
        for name in ("regularization", "bias_regularization", "learning_rate", "init_std"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                raise InvalidInputError(f"{name} must be a non-negative number, got {v!r}")
        if self.learning_rate == 0:
            raise InvalidInputError("learning_rate must be positive, got 0")
        if self.objective not in _OBJECTIVES:
            raise InvalidInputError(f"objective {self.objective!r} is not available; the objectives are "
                                    f"{list(_OBJECTIVES)}")
        if self.device not in ("cpu", "auto"):
            raise InvalidInputError(f"device {self.device!r}: explicit matrix factorisation trains on the CPU "
                                    "kernel; use device='cpu' or 'auto'")

    # ------------------------------------------------------------------ training
    def fit(self, interactions: Interactions | Any) -> MatrixFactorization:
        """Learn from ``interactions`` (an :class:`~embspace.data.Interactions`, or anything it accepts
        with the column names ``user``, ``item`` and ``rating``). Returns ``self``."""
        from ._mf_kernels import sgd_epoch

        self._check()
        data = interactions if isinstance(interactions, Interactions) else Interactions(interactions)
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
        with TrainingProgress(self.epochs * len(data), "matrix factorisation", unit="ratings",
                              enabled=self.progress) as bar:
            for _ in range(self.epochs):
                order = rng.permutation(len(data))
                sse = sgd_epoch(data.user_codes, data.item_codes, ratings, order, np.float32(mu), bu, bi, p, q,
                                lr, reg, reg_b)
                if not np.isfinite(sse) or not np.all(np.isfinite(p)):
                    raise InvalidInputError(f"training diverged (learning_rate={self.learning_rate} is too large "
                                            "for these ratings); lower it")
                history.append(float(np.sqrt(sse / len(data))))
                bar.advance(len(data), loss=history[-1])
        config = {**self.get_params(), "run_id": uuid.uuid4().hex[:12]}
        prov = Provenance(model="embspace.matrix_factorization", config=config, data_hash=data.fingerprint())
        ucount = np.bincount(data.user_codes, minlength=data.n_users)
        icount = np.bincount(data.item_codes, minlength=data.n_items)
        self._user_space = EmbeddingSpace(data.user_ids, np.hstack([p, np.ones((len(p), 1), np.float32)]),
                                          metric="dot", counts=ucount, provenance=prov, copy=False)
        self._item_space = EmbeddingSpace(data.item_ids, np.hstack([q, bi[:, None]]), metric="dot", counts=icount,
                                          provenance=prov, copy=False)
        self._mu = mu
        self._bu, self._bi = bu, bi
        self._range = (float(ratings.min()), float(ratings.max()))
        self._train = data
        self._loss_history = history
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

    def predict(self, users: Any, items: Any) -> Any:
        """Predicted ratings of (user, item) pairs: ``(n,)`` float32 (a float for one pair), clipped to the
        training ratings' range. Unknown users or items raise :class:`UnknownKeyError`."""
        us, ispace = self.user_space_, self.item_space_
        u, single = self._rows(users, us, "users")
        i, _ = self._rows(items, ispace, "items")
        if len(u) != len(i):
            raise InvalidInputError(f"{len(u)} users but {len(i)} items; give one item per user")
        pu = us.vectors[u, :-1].astype(np.float64)
        qi = ispace.vectors[i, :-1].astype(np.float64)
        pred = self._mu + self._bu[u] + self._bi[i] + np.einsum("ij,ij->i", pu, qi)
        out = np.clip(pred, *self._range).astype(np.float32)
        return float(out[0]) if single else out

    def recommend(self, user: Any, k: int = 10, *, exclude_seen: bool = True) -> SearchResult:
        """The ``k`` items of highest predicted rating for ``user``, best first (scores: ``b_i + p_u · q_i``);
        with ``exclude_seen`` the items the user rated in training are left out."""
        us = self.user_space_
        (row,), _ = self._rows([user], us, "users")
        key = us.keys[row]
        exclude: list[str] = []
        if exclude_seen:
            data: Interactions = self._train
            code = data.user_index(key)
            exclude = [data.item_ids[c] for c in data.item_codes[data.user_codes == code].tolist()]
        return self.item_space_.neighbors(us[key], k=k, exclude=exclude)

    def similar_items(self, item: Any, k: int = 10) -> SearchResult:
        """The ``k`` items most similar to ``item`` by cosine of their item vectors (the item itself left out)."""
        ispace = self.item_space_
        (row,), _ = self._rows([item], ispace, "items")
        return ispace.with_metric("cosine").neighbors(ispace.keys[row], k=k)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"MatrixFactorization({params})"
