"""Notebook reprs (embspace._html): every result renders as a small, well-formed, escaped HTML table."""

from __future__ import annotations

import base64
import io
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace import EmbeddingSpace, _html, analysis
from embspace.analysis import Report
from embspace.analysis.fixes import FixReport
from embspace.evaluate import (
    AnalogyResult,
    AnalogySection,
    BeirDataset,
    RecommendationResult,
    RetrievalResult,
    SimilarityResult,
)
from embspace.space.provenance import Provenance
from embspace.store import Collection

EVIL = "<script>alert(1)</script>"
VOID = {"br", "img", "hr", "meta", "input", "col", "wbr", "link"}


class _Checker(HTMLParser):
    """Every opened tag is closed in order; records the tags seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack[-1:] != ["style"]:
            self.text.append(data)


def check(markup: str, table: bool = True) -> str:
    """Assert ``markup`` is well formed and has no live script; return its visible text."""
    assert isinstance(markup, str) and markup.startswith('<div class="embspace-repr">')
    p = _Checker()
    p.feed(markup)
    p.close()
    assert not p.stack, f"unclosed tags: {p.stack}"
    assert "script" not in p.tags and "<script>" not in markup
    assert ("table" in p.tags) == table
    return " ".join(p.text)


def _space(n: int = 50, dim: int = 8, seed: int = 0, **kwargs: Any) -> EmbeddingSpace:
    rng = np.random.default_rng(seed)
    keys = [EVIL, *(f"k{i}" for i in range(1, n))]
    return EmbeddingSpace(keys, rng.standard_normal((n, dim)).astype(np.float32), **kwargs)


# ------------------------------------------------------------------------------------------- helpers


def test_table_escapes_truncates_and_counts_what_is_left() -> None:
    rows = ((i, f"{EVIL} {'x' * 200}", i / 3) for i in range(10**9))  # a generator: only 3 rows are taken
    out = _html.table(rows, ["n", "text", "score"], total=10**9, limit=3)
    assert out.count("<tr>") == 1 + 3 + 1 and "&lt;script&gt;" in out and "<script>" not in out
    assert "… 999,999,997 more" in out and "…</td>" in out  # the long text is cut
    assert _html.fmt([1, 2, 3, 4, 5, 6, 7]) == "1, 2, 3, 4, 5, … 2 more"
    assert _html.fmt({"a": 1.23456, "b": None}) == "a: 1.235, b: —"
    assert _html.fmt(np.zeros((3, 2), np.float32)) == "array(3, 2) float32"
    assert _html.fmt(("king", 0.81234)) == "king (0.8123)" and _html.fmt(12345) == "12,345"
    assert _html.truncate("abcdef", 4) == "abc…"


# --------------------------------------------------------------------------------- space and search


def test_embedding_space_shows_facts_provenance_and_a_preview() -> None:
    space = _space(counts=np.arange(50), provenance=Provenance(model="word2vec", config={"window": 5}))
    text = check(space._repr_html_())
    for expected in ("EmbeddingSpace", "50 x 8", "cosine", "word2vec", "window: 5", space.space_id, EVIL, "norm",
                     "count", "… 45 more keys"):
        assert expected in text, expected
    norm = float(np.linalg.norm(space.vectors[0]))
    assert f"{norm:.4g}" in text


def test_a_100k_row_space_repr_is_small_and_does_not_touch_every_row() -> None:
    n = 100_000
    vectors = np.random.default_rng(0).standard_normal((n, 64)).astype(np.float32)
    space = EmbeddingSpace._trusted(tuple(f"k{i}" for i in range(n)), vectors, metric="cosine", normalized=False,
                                    counts=None, provenance=Provenance(model="big"))
    t = time.perf_counter()
    out = space._repr_html_()
    assert time.perf_counter() - t < 0.5
    assert len(out) < 8_000 and "… 99,995 more keys" in check(out)
    assert space._sq_norms is None  # norms of the shown rows only: the whole matrix was not read


def test_search_result_single_and_batched() -> None:
    space = _space()
    one = space.neighbors("k1", k=12)
    text = check(one._repr_html_())
    assert "rank" in text and one.keys[0] in text and f"{float(one.scores[0]):.4g}" in text
    assert "… 2 more hits" in text
    hit = space.neighbors(space[EVIL], k=1, include_self=True)
    assert EVIL in check(hit._repr_html_())
    many = space.neighbors([f"k{i}" for i in range(1, 9)], k=7)
    text = check(many._repr_html_())
    assert "8 queries x 7 hits" in text and "query 4" in text and "query 5" not in text
    assert "… 3 more queries" in text and "… 2 more hits" in text
    assert "0 queries" in check(space.neighbors(np.zeros((0, 8), np.float32))._repr_html_(), table=False)


# ------------------------------------------------------------------------------------------- collections


def test_collection_shows_facts_and_a_few_items(tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((30, 6)).astype(np.float32)
    with Collection.create(tmp_path / EVIL, dim=6, index="Flat") as col:
        col.add([EVIL, *(f"d{i}" for i in range(1, 30))], x,
                [{"lang": EVIL}, *({"lang": "en", "n": i} for i in range(1, 30))])
        text = check(col._repr_html_())
        for expected in ("Collection", "30 items", "cosine", "Flat", EVIL, "lang: en", "… 25 more items"):
            assert expected in text, expected
    assert "closed" in check(col._repr_html_(), table=False)


def test_the_milvus_collection_gets_the_same_repr(tmp_path: Path) -> None:
    pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'embspace[milvus]')")
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'embspace[milvus]')")
    try:
        col = Collection.create(f"milvus-lite:{tmp_path / 'm.db'}#docs", dim=4)
    except Exception as e:
        pytest.skip(f"Milvus Lite cannot start here: {e}")
    try:
        col.add([EVIL, "b"], np.eye(2, 4, dtype=np.float32), [{"lang": "en"}, None])
        text = check(col._repr_html_())
        for expected in ("MilvusCollection", "docs", "2 items", EVIL, "lang: en"):
            assert expected in text, expected
    finally:
        col.close()


# ------------------------------------------------------------------------------------------- analysis


def test_analysis_results_render(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    space = _space(200, 16)
    fixed = analysis.center(space)
    results: list[tuple[Any, list[str]]] = [
        (analysis.norms(space), ["Norms", "mean", "p50"]),
        (analysis.anisotropy(space), ["Anisotropy", "mean cosine", "isotropy"]),
        (analysis.intrinsic_dimension(space), ["IntrinsicDimension", "twonn", "pca95"]),
        (analysis.hubness(space, 5), ["Hubness", "skewness", "top hub"]),
        (analysis.kmeans(space, 4, seed=0), ["Clustering", "4 clusters", "nearest its centre"]),
        (analysis.stability(space, rounds=2), ["Stability", "least stable"]),
        (analysis.compare_spaces(space, fixed), ["SpaceComparison", "moved most", "cka"]),
        (analysis.procrustes(space, fixed), ["Alignment", "accuracy", "array(16, 16) float64"]),
        (fixed, ["FixedSpace", "FixReport", "center", "isotropy", "before"]),
        (fixed.transform, ["Transform", "center", "out dim"]),
        (analysis.csls(space, 5), ["RescoredSpace", "csls"]),
    ]
    for result, expected in results:
        text = check(result._repr_html_())
        for e in expected:
            assert e in text, (type(result).__name__, e)
    hub = analysis.hubness(space, 5, top=50)
    assert "… 40 more hubs" in check(hub._repr_html_())


def test_report_repr_is_a_summary_not_the_page() -> None:
    space = _space(200, 16)
    an, idim = analysis.anisotropy(space), analysis.intrinsic_dimension(space)
    hub, stab = analysis.hubness(space, 5), analysis.stability(space, rounds=2)
    fix = FixReport("center", 0.5, 0.9, 0.3, 0.01, 0.6, 0.7, "centred", 1.2, 0.8)
    rec = "Centre the vectors " + "x" * 150
    r = Report(EVIL, 200, 16, "cosine", "m", 200, analysis.norms(space), an, idim, hub, stab, [fix], None, [rec],
               evaluation_name="toy task")
    out = r._repr_html_()
    text = check(out)
    assert EVIL in text and "toy task" in text and "0.5 → 0.9" in text and rec in text
    assert "data:image" not in out and len(out) < 6_000


# ------------------------------------------------------------------------------------------- maps


def _decode(png: bytes) -> Any:
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def test_map_renders_inline_as_a_png_that_is_not_blank() -> None:
    pytest.importorskip("PIL")
    space = _space(120, 16)
    proj = analysis.project(space, "pca", 2)
    out = proj._repr_html_()
    text = check(out)
    assert "SpaceMap" in text and "pca" in text and EVIL in text and "… 115 more" in text
    data = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', out)
    assert data is not None
    img = _decode(base64.b64decode(data.group(1)))
    assert img.format == "PNG" and img.size == (480, 360)
    assert len(img.convert("RGB").getcolors(1 << 16) or []) > 1  # more than the background
    assert proj.plot().size == (640, 480)
    assert not hasattr(proj, "_repr_png_")  # one picture per display: the HTML carries it


def test_plot_colours_by_labels_and_draws_3d_maps_by_their_first_two_components() -> None:
    pytest.importorskip("PIL")
    space = _space(150, 16)
    proj = analysis.project(space, "pca", 3)
    plain = np.asarray(proj.plot(size=(320, 240)).convert("RGB"))
    coloured = np.asarray(proj.plot(labels=np.arange(150) % 3, size=(320, 240)).convert("RGB"))
    assert plain.shape == (240, 320, 3)
    colours = {tuple(c) for c in coloured.reshape(-1, 3).tolist()}
    assert {(31, 119, 180), (255, 127, 14), (44, 160, 44)} <= colours  # one colour per label
    assert "first two components" in check(proj._repr_html_())
    from embspace.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="one value per point"):
        proj.plot(labels=[1, 2])
    with pytest.raises(InvalidInputError, match="size"):
        proj.plot(size=(0, 10))


def test_a_100k_point_map_draws_in_bounded_time() -> None:
    pytest.importorskip("PIL")
    from embspace.analysis import SpaceMap

    coords = np.random.default_rng(0).standard_normal((100_000, 2)).astype(np.float32)
    proj = SpaceMap("pca", 2, 8, [f"k{i}" for i in range(100_000)], coords)
    t = time.perf_counter()
    out = proj._repr_html_()
    assert time.perf_counter() - t < 3.0 and len(out) < 400_000
    check(out)


# ------------------------------------------------------------------------------------------- evaluation


def test_evaluation_results_render() -> None:
    q = ("a", "b", "c", EVIL)
    sections = [AnalogySection(f"gram{i}-{EVIL}", [q] * i, [q]) for i in range(12)]
    ana = AnalogyResult(0.5, sections, [q], "3cosadd", 30000)
    sim = SimilarityResult(0.61, 0.55, 0.9, 90, [(EVIL, "b")] * 7)
    ret = RetrievalResult("scifact", "test", EVIL, {"ndcg@10": 0.6637, "recall@10": 0.8}, {}, 300, 5183, (1, 10),
                          1.5, 3455.0, 0.2)
    beir = BeirDataset("toy", "test", ("d1", "d2"), (EVIL, "text"), ("q1",), ("what " * 40,), {"q1": {"d1": 1}})
    rec = RecommendationResult({f"{m}@10": 0.1 for m in ("ndcg", "map", "recall", "precision", "coverage")}, {},
                               100, 3, (10,), 4.0, 500, 0.5)
    cases: list[tuple[Any, list[str]]] = [
        (ana, ["AnalogyResult", "accuracy", "3cosadd", EVIL, "… 2 more sections", "semantic accuracy"]),
        (sim, ["SimilarityResult", "0.61", "… 2 more pairs", EVIL]),
        (ret, ["RetrievalResult", "scifact", EVIL, "0.6637", "ndcg", "@10", "—"]),
        (beir, ["BeirDataset", "toy", EVIL, "what what", "judgements"]),
        (rec, ["RecommendationResult", "coverage", "rating >= 4"]),
    ]
    for result, expected in cases:
        text = check(result._repr_html_())
        for e in expected:
            assert e in text, (type(result).__name__, e)


def test_bias_and_direction_results_render() -> None:
    from embspace.analysis import Direction
    from embspace.evaluate import WeatResult

    w = WeatResult(1.234, 0.5, 0.001, "exact", 12870, "greater", 0, {EVIL: 8, "b": 8}, {EVIL: 0.75, "b": 1.0},
                   {EVIL: ["gone", EVIL]}, "career-family")
    d = Direction(np.ones(4, np.float32) / 2, "abc", "pca", (EVIL, "she"), ("he", "him"), 0.9, 0.95, 5, ("x",),
                  EVIL)
    for result, expected in ((w, ["WeatResult", "career-family", "1.234", "exact", EVIL, "gone"]),
                             (d, ["Direction", "pca", EVIL, "held-out accuracy", "0.9"])):
        text = check(result._repr_html_())
        for e in expected:
            assert e in text, (type(result).__name__, e)
