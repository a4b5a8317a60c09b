"""MatrixFactorization (explicit): fits low-rank ratings, shared provenance, lookups, seeded repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from train_testing import low_rank_ratings

from embspace import EmbeddingSpace, evaluate
from embspace.data import Interactions, load_movielens_100k
from embspace.errors import IncompatibleSpaceError, InvalidInputError, NotFittedError, UnknownKeyError
from embspace.train import MatrixFactorization, Recommender

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "recsys"


def _model(**kw: object) -> MatrixFactorization:
    return MatrixFactorization(**{"dim": 8, "epochs": 80, "regularization": 0.01, "progress": False, **kw})  # type: ignore[arg-type]


def test_fits_low_rank_ratings_better_than_the_mean() -> None:
    data = low_rank_ratings()
    m = _model().fit(data)
    pred = m.recommender_.predict(data.users, data.items)
    assert pred.shape == (len(data),) and pred.dtype == np.float32
    assert data.ratings is not None
    baseline = evaluate.rmse(np.full(len(data), data.ratings.mean()), data.ratings)
    assert evaluate.rmse(pred, data.ratings) < 0.3 * baseline
    assert m.loss_history_[-1] < m.loss_history_[0]
    assert isinstance(m.recommender_.predict("u0", "i1"), float)


def test_seeded_runs_repeat_exactly_and_seeds_differ() -> None:
    data = low_rank_ratings()
    a, b, c = _model(seed=1).fit(data), _model(seed=1).fit(data), _model(seed=2).fit(data)
    assert np.array_equal(a.user_space_.vectors, b.user_space_.vectors)
    assert np.array_equal(a.item_space_.vectors, b.item_space_.vectors) and a.loss_history_ == b.loss_history_
    assert not np.array_equal(a.item_space_.vectors, c.item_space_.vectors)


def test_user_and_item_spaces_share_one_provenance_and_nothing_else_does() -> None:
    data = low_rank_ratings()
    m, other = _model().fit(data), _model().fit(data)
    assert m.user_space_.space_id == m.item_space_.space_id != other.item_space_.space_id
    # A user vector queries the item space, and ranks as the predicted rating does.
    hits = m.item_space_.neighbors(m.user_space_["u3"], k=m.item_space_.__len__())
    pred = m.recommender_.predict(["u3"] * len(hits.keys), hits.keys)
    assert np.all(np.diff(pred) <= 1e-4)  # clipping may tie, never reorder
    with pytest.raises(IncompatibleSpaceError):
        other.item_space_.neighbors(m.user_space_["u3"], k=1)
    words = EmbeddingSpace.from_dict({"a": np.ones(9), "b": np.arange(9)})
    with pytest.raises(IncompatibleSpaceError):
        m.item_space_.neighbors(words["a"], k=1)


def test_recommend_excludes_seen_items_and_similar_items() -> None:
    data = low_rank_ratings()
    m = _model().fit(data)
    seen = set(data.items_by_user()["u5"])
    recs = m.recommender_.recommend("u5", k=5)
    assert len(recs.keys) == 5 and not seen & set(recs.keys)  # type: ignore[arg-type]
    everything = m.recommender_.recommend("u5", k=data.n_items, exclude_seen=False)
    assert len(everything.keys) == data.n_items
    sim = m.recommender_.similar_items("i3", k=4)
    assert "i3" not in sim.keys and len(sim.keys) == 4


def test_unknown_users_and_items_raise_unknown_key_error() -> None:
    m = _model(epochs=2).fit(low_rank_ratings())
    for call in (lambda: m.recommender_.predict("nobody", "i1"), lambda: m.recommender_.predict("u1", "nothing"),
                 lambda: m.recommender_.recommend("nobody"), lambda: m.recommender_.similar_items("nothing")):
        with pytest.raises(UnknownKeyError):
            call()
    with pytest.raises(UnknownKeyError, match="users of this model"):
        m.recommender_.recommend("i1")  # an item id is not a user


def test_errors_and_not_fitted() -> None:
    with pytest.raises(NotFittedError, match="fit"):
        _ = MatrixFactorization().user_space_
    with pytest.raises(InvalidInputError, match="needs ratings"):
        _model().fit(Interactions({"user": [1], "item": [2]}))
    with pytest.raises(InvalidInputError, match="NAMED columns"):
        _model().fit(np.ones((3, 3)))
    for bad in ({"dim": 0}, {"epochs": -1}, {"learning_rate": 0}, {"regularization": -0.1},
                {"objective": "nope"}, {"device": "tpu"}):
        with pytest.raises(InvalidInputError):
            _model(**bad).fit(low_rank_ratings())
    with pytest.raises(InvalidInputError, match="diverged"):
        _model(learning_rate=50.0, epochs=5).fit(low_rank_ratings())
    m = _model(epochs=1).fit(low_rank_ratings())
    with pytest.raises(InvalidInputError, match="one item per user"):
        m.recommender_.predict(["u1", "u2"], ["i1"])


@pytest.mark.skipif(not (DATA / "ml-100k.zip").is_file(), reason="shared/data/recsys/ml-100k.zip is not present")
def test_movielens_100k_u1_rmse() -> None:
    train, test = load_movielens_100k(DATA / "ml-100k.zip", split="u1")
    m = MatrixFactorization(progress=False).fit(train)
    known = np.array([u in m.user_space_ and i in m.item_space_ for u, i in zip(test.users, test.items, strict=True)])
    pred = np.full(len(test), m.global_mean_, np.float32)  # 32 test pairs have an item unseen in u1.base
    pred[known] = m.recommender_.predict(test.users[known], test.items[known])
    assert evaluate.rmse(pred, test.ratings) <= 0.93


def test_the_product_is_a_recommender_and_the_old_methods_are_deprecated_delegates(tmp_path: Path) -> None:
    m = _model(epochs=3).fit(low_rank_ratings())
    rec = m.recommender_
    assert isinstance(rec, Recommender) and rec.objective == "explicit"
    assert m.user_space_ is rec.user_space_ and m.item_space_ is rec.item_space_
    assert rec.loss_history_ == m.loss_history_ and rec.params_["dim"] == m.dim
    assert "progress" not in rec.params_  # settings that change what is learned, not how it is shown
    for name, args in (("predict", ("u0", "i1")), ("recommend", ("u0",)), ("similar_items", ("i1",)),
                       ("popular", ()), ("fold_in", (["i1", "i2"],)), ("recommend_for_new_user", (["i1"],))):
        with pytest.warns(DeprecationWarning, match=f"recommender_.{name}"):
            old = getattr(m, name)(*args)
        new = getattr(rec, name)(*args)
        if hasattr(new, "keys"):
            assert list(old.keys) == list(new.keys)
        else:
            np.testing.assert_array_equal(old, new)  # the same call on the same object: identical
    with pytest.warns(DeprecationWarning):
        out = m.save(tmp_path / "old")
    with pytest.warns(DeprecationWarning, match="Recommender.load"):
        back = MatrixFactorization.load(out)
    assert back.dim == m.dim and back.recommender_.recommend("u0").keys == rec.recommend("u0").keys


def test_recommender_writes_a_header_and_reads_the_layout_before_it(tmp_path: Path) -> None:
    import json

    from embspace._artifact import artifact_kind, read_header
    from embspace.errors import CorruptDataError

    rec = _model(epochs=3).fit(low_rank_ratings()).recommender_
    out = rec.save(tmp_path / "rec")
    header = read_header(out)
    assert header is not None and header.kind == "recommender" and header.format_version == 1
    assert artifact_kind(out) == "recommender" and header.extra["params"] == rec.params_
    back = Recommender.load(out)
    np.testing.assert_array_equal(back.predict(["u1", "u2"], ["i3", "i4"]), rec.predict(["u1", "u2"], ["i3", "i4"]))
    # the layout written before the header: model.json only
    (out / "embspace.json").unlink()
    legacy = Recommender.load(out)
    assert legacy.rating_range_ == rec.rating_range_ and legacy.recommend("u1").keys == rec.recommend("u1").keys
    # a newer layout is refused by name
    rec.save(out)
    body = json.loads((out / "embspace.json").read_text("utf-8"))
    (out / "embspace.json").write_text(json.dumps({**body, "format_version": 99}), "utf-8")
    with pytest.raises(CorruptDataError, match="newer"):
        Recommender.load(out)
    with pytest.raises(CorruptDataError, match="not an embspace recommender"):
        Recommender.load(tmp_path / "nothing")
