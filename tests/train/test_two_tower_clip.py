"""TwoTowerClip on synthetic shapes with a tiny frozen text encoder (fast), zero-shot on unseen phrasings."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytest.importorskip("torch")

from embspace.data import digit_captions
from embspace.errors import InvalidInputError, NotFittedError
from embspace.train import SmallConvNet, TwoTowerClip


class BagOfWords:
    """A frozen 'text encoder': counts of a small vocabulary (so phrasings share the label word)."""

    VOCAB = ("bar", "box", "a", "the", "picture", "of", "shape", "an", "image", "this", "is", "drawn")

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return np.array([[t.split().count(w) for w in self.VOCAB] for t in texts], np.float32)


def _shapes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 16, 16), np.uint8)
    y = rng.integers(0, 2, n)
    for i in range(n):
        r, c = rng.integers(2, 8, 2)
        if y[i] == 0:
            x[i, r : r + 7, c + 2 : c + 4] = 255
        else:
            x[i, r : r + 6, c : c + 6] = 255
            x[i, r + 2 : r + 4, c + 2 : c + 4] = 0
    return x, y


def test_zero_shot_with_unseen_phrasings() -> None:
    x, y = _shapes(300)
    names = np.array(["bar", "box"])
    captions = [("a {} shape", "the {}", "a picture of a {}")[i % 3].format(names[c]) for i, c in enumerate(y)]
    m = TwoTowerClip(dim=16, image_encoder=SmallConvNet(width=8, dim=16, seed=0), text_encoder=BagOfWords(),
                     epochs=8, batch_size=50, learning_rate=3e-3, device="cpu", progress=False)
    with pytest.raises(NotFittedError):
        m.encode(x)
    m.fit(x[:240], captions[:240])
    r = m.zero_shot(x[240:], ["bar", "box"], template="this is an image of a {}")  # never seen verbatim
    assert r.probs.shape == (60, 2) and np.allclose(r.probs.sum(1), 1.0, atol=1e-5)
    assert np.mean(np.array(r.predicted) == names[y[240:]]) >= 0.9
    assert m.logit_scale > 0 and m.encode(x[:3]).shape == (3, 16)
    assert np.allclose(np.linalg.norm(m.encode_text(["a bar"]), axis=1), 1.0, atol=1e-5)
    with pytest.raises(InvalidInputError):
        m.zero_shot(x[:2], ["bar", "bar"])
    with pytest.raises(InvalidInputError):
        m.fit(x[:10], captions[:9])


def _fitted_on_shapes(n: int, *, seed: int, epochs: int, batch_size: int
                      ) -> tuple[np.ndarray, list[str], TwoTowerClip]:
    """A small two-tower model fitted on ``n`` seeded shapes with two caption templates (bag-of-words texts)."""
    from embspace.encoders import register_encoder

    register_encoder("bag-of-words-test", lambda **_: BagOfWords())  # type: ignore[arg-type, return-value]
    x, y = _shapes(n, seed=seed)
    captions = [("a {} shape", "the {}")[i % 2].format(("bar", "box")[c]) for i, c in enumerate(y)]
    m = TwoTowerClip(dim=8, image_encoder=SmallConvNet(width=4, dim=8, seed=0), text_encoder="bag-of-words-test",
                     epochs=epochs, batch_size=batch_size, device="cpu", progress=False).fit(x, captions)
    return x, captions, m


def test_save_and_load_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, captions, m = _fitted_on_shapes(120, seed=1, epochs=2, batch_size=40)
    m.save(tmp_path / "clip")
    back = TwoTowerClip.load(tmp_path / "clip")
    np.testing.assert_allclose(back.encode(x[:5]), m.encode(x[:5]), atol=1e-6)
    np.testing.assert_allclose(back.encode_text(["a bar"]), m.encode_text(["a bar"]), atol=1e-6)
    assert back.logit_scale == pytest.approx(m.logit_scale)
    np.testing.assert_allclose(back.zero_shot(x[:4], ["bar", "box"]).probs, m.zero_shot(x[:4], ["bar", "box"]).probs,
                               atol=1e-5)
    custom = TwoTowerClip(dim=8, image_encoder=SmallConvNet(width=4, dim=8), text_encoder=BagOfWords(), epochs=1,
                          device="cpu", progress=False).fit(x[:20], captions[:20])
    with pytest.raises(InvalidInputError, match="name"):
        custom.save(tmp_path / "nope")


def test_digit_captions() -> None:
    caps = digit_captions([7, 7, 7, 7, 7, 7, 7, 7], seed=1)
    assert all("seven" in c or "7" in c for c in caps) and len(set(caps)) > 1
    labels = np.random.default_rng(0).integers(0, 10, 600)  # the same seed as the captions': no correlation
    balanced = digit_captions(labels, seed=0)
    for d in range(10):
        used = Counter(c for c, lab in zip(balanced, labels, strict=True) if lab == d)
        assert len(used) == 6 and max(used.values()) - min(used.values()) <= 1  # every phrasing, equal shares
    assert caps == digit_captions([7] * 8, seed=1)
    with pytest.raises(InvalidInputError):
        digit_captions([10])
    with pytest.raises(InvalidInputError):
        digit_captions([1], ["no placeholder"])


def test_zero_shot_result_accuracy() -> None:
    from embspace.encoders import ZeroShotResult

    r = ZeroShotResult(("a", "b"), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], np.float32))
    assert r.accuracy(["a", "b", "b"]) == pytest.approx(2 / 3)
    with pytest.raises(InvalidInputError):
        r.accuracy(["a"])


def test_vectors_are_tagged_one_input_gives_one_vector_and_saves_carry_a_header(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from embspace._artifact import artifact_kind, read_header

    x, _, m = _fitted_on_shapes(60, seed=2, epochs=1, batch_size=30)
    img, txt = m.encode(x[:3]), m.encode_text(["a bar", "the box"])
    assert img.space_id == txt.space_id == m.provenance_.space_id
    one = m.encode_text("a bar")
    assert one.shape == (8,) and one.space_id == txt.space_id
    np.testing.assert_allclose(one, txt[0], atol=1e-6)  # a batch of one vs two rows of a batch
    np.testing.assert_allclose(m.encode(x[0]), img[0], atol=1e-6)  # one (h, w) image -> (dim,)
    out = m.save(tmp_path / "clip")
    header = read_header(out)
    assert header is not None and header.kind == "model" and header.extra["model"] == "TwoTowerClip"
    assert artifact_kind(out) == "model" and (out / "two_tower_clip.json").is_file()
    back = TwoTowerClip.load(out)
    assert back.encode(x[:2]).space_id == img.space_id  # the saved model is the same space
    (out / "embspace.json").unlink()  # the layout before the header still loads
    assert TwoTowerClip.load(out).logit_scale == pytest.approx(m.logit_scale)


def test_old_locations_still_import_with_a_deprecation_warning() -> None:
    import importlib

    import embspace.encoders as enc
    import embspace.train as train

    with pytest.warns(DeprecationWarning, match="embspace.train.TwoTowerClip"):
        assert enc.TwoTowerClip is TwoTowerClip
    with pytest.warns(DeprecationWarning, match="embspace.train.finetune"):
        assert enc.finetune is train.finetune
    old = importlib.import_module("embspace.encoders.two_tower_clip")
    with pytest.warns(DeprecationWarning, match="embspace.train.two_tower_clip"):
        assert old.TwoTowerClip is TwoTowerClip
    assert "TwoTowerClip" not in enc.__all__ and "finetune" not in enc.__all__
