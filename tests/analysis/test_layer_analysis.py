"""``analysis.layers``: geometry, a linear probe, retrieval and linear CKA per layer, on a tiny BERT built from a
config (no download) and on precomputed layer spaces; ``linear_cka`` itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import LayerReport, layers, linear_cka
from embspace.errors import InvalidInputError

ANIMALS = ["the cat sat on the mat", "the dog sat on the mat", "a cat and a dog", "the long cat sat",
           "we sat with the dog", "she and the cat", "the dog is long", "a cat on a mat", "the cat is a cat",
           "dog and dog and cat", "the mat of the cat", "a dog sat"]
MONEY = ["money in the bank account", "she opened a bank account", "the bank of money", "an account of money",
         "money money bank", "we opened an account", "the account is long", "money in a bank",
         "a bank account", "bank and money", "the money of the bank", "she is in the bank"]


def _cka_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA as HSIC with linear kernels (Kornblith et al. 2019, eq. 2/4): the n x n Gram form."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float((k * l_).sum() / np.sqrt((k * k).sum() * (l_ * l_).sum()))


def test_linear_cka_is_one_with_itself_symmetric_and_invariant() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 8))
    y = rng.standard_normal((50, 5))
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    # float64 sums in another order: equal to rounding, not bit for bit
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, 3.0 * x @ q + 1.0) == pytest.approx(1.0, abs=1e-9)  # rotation, scale, shift
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x), abs=1e-12)
    assert linear_cka(x, y) == pytest.approx(_cka_reference(x, y), abs=1e-9)  # the feature and Gram forms agree
    assert 0.0 <= linear_cka(x, y) < 0.5
    with pytest.raises(InvalidInputError):
        linear_cka(x, y[:10])


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> object:
    pytest.importorskip("transformers")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_hf_bert

    from embspace.encoders import TextEncoder

    return TextEncoder(build_hf_bert(tmp_path_factory.mktemp("layer-analysis")), device="cpu", threads=1)


def test_layers_of_a_tiny_bert_with_a_probe_and_retrieval(encoder: object) -> None:
    texts = {f"d{i}": t for i, t in enumerate(ANIMALS + MONEY)}
    labels = ["animal"] * len(ANIMALS) + ["money"] * len(MONEY)
    queries = {"q1": "the cat on a mat", "q2": "money in the bank"}
    qrels = {"q1": {"d0": 1, "d7": 1}, "q2": {"d12": 1, "d19": 1}}
    r = layers(encoder, texts, labels, queries, qrels, progress=False)
    assert isinstance(r, LayerReport)
    assert r.layers == [0, 1, 2] and r.n == 24
    for m in r.metrics:
        assert m.dim == 16 and -1.0 <= m.mean_cosine <= 1.0 and 0.0 < m.isotropy <= 1.0
        assert m.probe_accuracy is not None and 0.0 <= m.probe_accuracy <= 1.0
        assert m.ndcg_at_10 is not None and 0.0 <= m.ndcg_at_10 <= 1.0
    # the two topics use disjoint words: every layer (even the token embeddings, mean-pooled) separates them
    assert max(r.metric("probe_accuracy")) >= 0.9  # type: ignore[type-var]
    assert r.cka.shape == (3, 3)
    np.testing.assert_allclose(np.diag(r.cka), 1.0, atol=1e-9)  # computed, float64: 1 up to rounding
    np.testing.assert_allclose(r.cka, r.cka.T, atol=0)
    assert set(r.best) == {"probe", "retrieval", "isotropy", "hubness"}
    assert r.best["probe"] in r.layers
    assert any(f.startswith(f"Layer {r.best['probe']} is best for the linear probe") for f in r.findings)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["layers"] == [0, 1, 2] and len(d["metrics"]) == 3 and d["best"]["retrieval"] in (0, 1, 2)
    table = r.table()
    assert "probe acc" in table and "nDCG@10" in table and len(table.splitlines()) == 5
    assert "best for the linear probe" in str(r)


def test_precomputed_spaces_and_separable_labels_probe_high() -> None:
    """Layer spaces given as a dict: layer "a" is noise, layer "b" separates the labels linearly."""
    rng = np.random.default_rng(0)
    n = 60
    y = np.array([0, 1] * (n // 2))
    keys = [f"k{i}" for i in range(n)]
    noise = rng.standard_normal((n, 12)).astype(np.float32)
    sep = rng.standard_normal((n, 12)).astype(np.float32)
    sep[:, 0] += np.where(y == 1, 6.0, -6.0)
    spaces = {"a": EmbeddingSpace(keys, noise), "b": EmbeddingSpace(keys, sep)}
    r = layers(spaces, labels=y, progress=False)
    assert r.layers == ["a", "b"]
    acc = dict(zip(r.layers, r.metric("probe_accuracy"), strict=True))
    assert acc["b"] >= 0.95 and acc["a"] < 0.8  # type: ignore[operator]
    assert r.best["probe"] == "b"
    assert r.findings[0].startswith("Stage 'b' is best for the linear probe")
    assert r.cka[0, 1] == pytest.approx(r.cka[1, 0]) and r.cka[0, 1] < 0.5


def test_errors() -> None:
    keys = [f"k{i}" for i in range(8)]
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    with pytest.raises(InvalidInputError, match="same items"):
        layers({0: EmbeddingSpace(keys, x), 1: EmbeddingSpace(keys[::-1], x)}, progress=False)
    with pytest.raises(InvalidInputError, match="labels for"):
        layers({0: EmbeddingSpace(keys, x)}, labels=[0, 1], progress=False)
    with pytest.raises(InvalidInputError, match="both queries and qrels"):
        layers({0: EmbeddingSpace(keys, x)}, queries={}, progress=False)
    with pytest.raises(InvalidInputError, match="takes no layers"):
        layers(object(), ["a"] * 8, progress=False)


def test_report_page(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(1)
    keys = [f"k{i}" for i in range(30)]
    spaces = {i: EmbeddingSpace(keys, rng.standard_normal((30, 6)).astype(np.float32)) for i in range(3)}
    r = layers(spaces, labels=[0, 1, 2] * 10, progress=False)
    out = r.save(tmp_path / "layers.html")
    page = out.read_text("utf-8")
    assert page.startswith("<!doctype html>") and "Linear CKA between layers" in page and "data:image/png" in page
    assert sorted(p.name for p in (tmp_path / "layers_figures").iterdir()) == ["cka.png", "curves.png"]


def test_stages_of_a_small_conv_net() -> None:
    """A SmallConvNet's named stages (``encode(x, layers="all")``) go through the same analysis."""
    torch = pytest.importorskip("torch")
    from embspace.train import SmallConvNet

    net = SmallConvNet(width=4, dim=8, seed=0)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(24, 1, 16, 16, generator=gen)
    y = [0, 1] * 12
    x[1::2, :, :, :8] += 2.0  # class 1: a bright left half, linearly visible at every stage
    r = layers(net, x, y, progress=False)
    assert r.layers == list(net.stages) and r.model == "SmallConvNet"
    assert max(r.metric("probe_accuracy")) >= 0.9  # type: ignore[type-var]
    np.testing.assert_allclose(np.diag(r.cka), 1.0, atol=1e-9)
    assert r.findings[0].startswith("Stage '")
