"""evaluate.retrieval: BEIR loading, exact search, pytrec_eval/BEIR metrics, and agreement with
sentence-transformers' InformationRetrievalEvaluator on the same model and data."""

from __future__ import annotations

import gzip
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from retrieval_testing import (
    Collection,
    HashingEncoder,
    STEncoder,
    STHashingModel,
    build_tiny_sentence_transformer,
    make_collection,
    st_evaluator_inputs,
    write_beir,
)

from embspace import EmbeddingSpace, Provenance
from embspace.errors import CorruptDataError, IncompatibleSpaceError, InvalidInputError, UnknownKeyError
from embspace.evaluate import compare_models, comparison_table
from embspace.evaluate._retrieval import BeirDataset, RetrievalResult, load_beir, ranking_metrics, retrieval

LOG2 = math.log2


@pytest.fixture(scope="module")
def col() -> Collection:
    return make_collection()


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory: pytest.TempPathFactory, col: Collection) -> Path:
    return write_beir(tmp_path_factory.mktemp("beir") / "toy", col, extra_splits=("dev",))


@pytest.fixture(scope="module")
def ds(beir_dir: Path) -> BeirDataset:
    return load_beir(beir_dir)


# --------------------------------------------------------------------------- metrics by hand
GRADED_QRELS = {"q1": {"a": 2, "b": 1, "c": 0, "x": 3, "n": -1}, "q2": {"a": 0}, "q3": {"b": 1}}
GRADED_RUN = {"q1": ["a", "n", "b", "c", "d"], "q2": ["a", "b"], "q3": ["c", "b", "a"]}


def test_graded_metrics_by_hand() -> None:
    means, per_query = ranking_metrics(GRADED_QRELS, GRADED_RUN, k_values=(1, 3, 5))
    q1 = per_query["q1"]
    # q1: relevant x (3, never retrieved: not in the corpus), a (2), b (1); c (0) and n (-1) are not
    ideal = [3 / LOG2(2), 2 / LOG2(3), 1 / LOG2(4)]
    assert q1["ndcg@1"] == pytest.approx(2 / 3)
    assert q1["ndcg@3"] == pytest.approx((2 / LOG2(2) + 1 / LOG2(4)) / sum(ideal))
    assert q1["ndcg@3"] == pytest.approx(0.5250049893849101)  # pytrec_eval's ndcg_cut_3 for this run
    assert q1["ndcg@5"] == q1["ndcg@3"]
    assert (q1["recall@1"], q1["recall@3"], q1["recall@5"]) == pytest.approx((1 / 3, 2 / 3, 2 / 3))
    assert (q1["precision@1"], q1["precision@3"], q1["precision@5"]) == pytest.approx((1, 2 / 3, 2 / 5))
    assert q1["map@1"] == pytest.approx(1 / 3)  # precision 1 at rank 1, divided by all 3 relevant
    assert q1["map@3"] == pytest.approx((1 + 2 / 3) / 3)
    assert q1["mrr@1"] == q1["mrr@5"] == 1.0
    # q2 is judged, but nothing is relevant: 0 everywhere, and it counts in the means
    assert set(per_query["q2"].values()) == {0.0}
    q3 = per_query["q3"]
    assert (q3["mrr@1"], q3["mrr@3"]) == (0.0, 0.5)
    assert q3["ndcg@3"] == pytest.approx(1 / LOG2(3))
    assert q3["map@5"] == pytest.approx(0.5) and q3["precision@5"] == pytest.approx(1 / 5)
    for name, value in means.items():
        assert value == pytest.approx(sum(per_query[q][name] for q in per_query) / 3)
    assert list(means)[:3] == ["ndcg@1", "ndcg@3", "ndcg@5"]
    assert {n.split("@")[0] for n in means} == {"ndcg", "map", "recall", "precision", "mrr"}


def test_metrics_cut_and_short_runs() -> None:
    qrels = {"q": {"a": 1, "b": 1, "c": 1, "d": 1}, "absent": {"a": 1}}
    _, per_query = ranking_metrics(qrels, {"q": ["z", "a", "y", "b", "c"]}, k_values=(2, 10))
    q = per_query["q"]
    assert q["recall@2"] == 0.25 and q["recall@10"] == 0.75
    assert q["precision@10"] == pytest.approx(3 / 10)  # divided by k although only 5 were retrieved
    assert q["ndcg@2"] == pytest.approx((1 / LOG2(3)) / (1 + 1 / LOG2(3)))
    ideal10 = sum(1 / LOG2(i + 1) for i in range(1, 5))
    assert q["ndcg@10"] == pytest.approx((1 / LOG2(3) + 1 / LOG2(5) + 1 / LOG2(6)) / ideal10)
    assert q["map@10"] == pytest.approx((1 / 2 + 2 / 4 + 3 / 5) / 4)
    assert q["mrr@2"] == 0.5
    assert set(per_query["absent"].values()) == {0.0}  # a judged query without a ranking scores 0
    with pytest.raises(InvalidInputError, match="positive"):
        ranking_metrics(qrels, {}, k_values=(0, 10))
    with pytest.raises(InvalidInputError, match="empty"):
        ranking_metrics(qrels, {}, k_values=())


def test_metrics_match_pytrec_eval(col: Collection) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = np.random.default_rng(3)
    qrels = col.qrels_dict()
    ids = [d for d, _, _ in col.corpus] + ["d999"]
    run = {q: [str(d) for d in rng.permutation(ids)[:20]] for q in qrels}
    ks = (1, 3, 5, 10, 20)
    _, ours = ranking_metrics(qrels, run, ks)
    measures = {f"{m}.{','.join(map(str, ks))}" for m in ("ndcg_cut", "map_cut", "recall", "P")}
    # distinct decreasing scores, so trec_eval ranks exactly as given
    theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(
        {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in run.items()})
    names = {"ndcg": "ndcg_cut", "map": "map_cut", "recall": "recall", "precision": "P"}
    for q in qrels:
        for fam, trec in names.items():
            for k in ks:
                assert ours[q][f"{fam}@{k}"] == pytest.approx(theirs[q][f"{trec}_{k}"], abs=1e-12), (q, fam, k)


# --------------------------------------------------------------------------- loading
def test_load_beir(ds: BeirDataset, col: Collection, beir_dir: Path) -> None:
    assert ds.name == "toy" and ds.split == "test"
    assert ds.corpus_ids == tuple(d for d, _, _ in col.corpus)
    assert ds.corpus_texts[0] == col.corpus[0][2]  # untitled: the text alone, no leading space
    assert ds.corpus_texts[1] == col.corpus[1][1] + " " + col.corpus[1][2]
    judged = list(dict.fromkeys(q for q, _, _ in col.qrels))
    assert ds.query_ids == tuple(judged) and "q_unjudged" not in ds.query_ids
    assert ds.query_texts[ds.query_ids.index("d007")] == col.doc_text("d007")
    assert ds.qrels == col.qrels_dict() and ds.qrels["q_none"] == {"d001": 0}
    assert ds.n_docs == len(col.corpus) and "docs=42" in repr(ds)
    assert load_beir(beir_dir, split="dev").split == "dev"


def test_gzip_crlf_no_header_and_trec_qrels_read_the_same(tmp_path: Path, col: Collection,
                                                            ds: BeirDataset) -> None:
    other = load_beir(write_beir(tmp_path / "a", col, gzip_corpus=True, header=False, crlf=True))
    for field in ("corpus_ids", "corpus_texts", "query_ids", "query_texts", "qrels"):
        assert getattr(other, field) == getattr(ds, field), field
    trec = write_beir(tmp_path / "b", col)
    lines = [f"{q} 0 {d} {r}" for q, d, r in col.qrels]
    (trec / "qrels" / "test.tsv").write_text("\ufeff" + "\n".join(lines) + "\n\n", encoding="utf-8")
    assert load_beir(trec).qrels == ds.qrels


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    return write_beir(tmp_path / "toy", make_collection(n_docs=12, n_queries=4, special=False), extra_splits=("dev",))


def test_missing_split_lists_the_splits(toy: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"split 'train'.*dev, test"):
        load_beir(toy, split="train")


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl"])
def test_not_a_beir_dir(toy: Path, missing: str) -> None:
    (toy / missing).unlink()
    with pytest.raises(InvalidInputError, match=missing):
        load_beir(toy)
    with pytest.raises(InvalidInputError, match="not a directory"):
        load_beir(toy / "nowhere")


def _append(path: Path, text: str | bytes) -> None:
    with path.open("ab") as f:
        f.write(text.encode() if isinstance(text, str) else text)


@pytest.mark.parametrize(("file", "line", "match"), [
    ("corpus.jsonl", '{"_id": "x", "text": "unterminated\n', "not a JSON object"),
    ("corpus.jsonl", '["a list"]\n', "expected a JSON object"),
    ("corpus.jsonl", '{"title": "t", "text": "no id"}\n', "no '_id'"),
    ("corpus.jsonl", '{"_id": "d000", "text": "again"}\n', "duplicate document id 'd000'"),
    ("corpus.jsonl", '{"_id": "x", "text": 3}\n', "'text' must be a string"),
    ("corpus.jsonl", b'{"_id": "x", "text": "caf\xe9"}\n', "not valid UTF-8"),
    ("queries.jsonl", '{"_id": "q00", "text": "again"}\n', "duplicate query id"),
    ("qrels/test.tsv", "q00\td001\n", "found 2 fields"),
    ("qrels/test.tsv", "q00\td001\tvery\n", "'very' is not an integer"),
    ("qrels/test.tsv", "q_ghost\td001\t1\n", "'q_ghost' is not in queries.jsonl"),
])
def test_bad_lines_name_file_and_line(toy: Path, file: str, line: str | bytes, match: str) -> None:
    path = toy / file
    n_lines = len(path.read_bytes().splitlines())
    _append(path, line)
    with pytest.raises(CorruptDataError, match=match) as e:
        load_beir(toy)
    assert e.value.path == str(path) and e.value.line == n_lines + 1
    assert f"{path}, line {n_lines + 1}: " in str(e.value)


def test_bad_gzip_and_empty_files(toy: Path) -> None:
    (toy / "corpus.jsonl").unlink()
    (toy / "corpus.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CorruptDataError, match="cannot read the file as gzip"):
        load_beir(toy)
    with gzip.open(toy / "corpus.jsonl.gz", "wb") as f:
        f.write(b"\n\n")
    with pytest.raises(CorruptDataError, match="no documents"):
        load_beir(toy)
    (toy / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(CorruptDataError, match="no relevance judgements"):
        load_beir(toy)


# --------------------------------------------------------------------------- retrieval
def _reference_run(ds: BeirDataset, enc: HashingEncoder, k: int, skip: bool = True) -> dict[str, list[str]]:
    """Brute force in float64: every score, sorted by (-score, corpus order)."""
    docs = enc.vectors(ds.corpus_texts).astype(np.float64)
    queries = enc.vectors(ds.query_texts).astype(np.float64)
    run = {}
    for qid, scores in zip(ds.query_ids, queries @ docs.T, strict=True):
        order = np.lexsort((np.arange(len(scores)), -scores))
        ranked = [ds.corpus_ids[i] for i in order]
        run[qid] = [d for d in ranked if not (skip and d == qid)][:k]
    return run


def test_retrieval_with_an_encoder(ds: BeirDataset) -> None:
    enc = HashingEncoder()
    res = retrieval(ds, enc, k_values=(10, 1, 3, 100, 5), batch_size=7, progress=False)
    assert isinstance(res, RetrievalResult)
    assert res.k_values == (1, 3, 5, 10, 100) and res.model == "hashing-bow"
    assert (res.n_queries, res.n_docs, res.dataset, res.split) == (len(ds.query_ids), 42, "toy", "test")
    assert [c["n"] for c in enc.calls] == [ds.n_docs, ds.n_queries]
    assert all(c["batch_size"] == 7 and c["normalize"] and not c["progress"] for c in enc.calls)
    means, per_query = ranking_metrics(ds.qrels, _reference_run(ds, enc, 100), res.k_values)
    assert res.metrics == pytest.approx(means, abs=1e-12)
    assert res.per_query.keys() == per_query.keys()
    assert 0.3 < res.metrics["ndcg@10"] < 1.0  # the topics make the task learnable, not trivial
    assert res.encode_seconds is not None and res.encode_seconds > 0 and res.docs_per_second
    assert res.search_seconds >= 0


def test_identical_ids_are_skipped(ds: BeirDataset) -> None:
    enc = HashingEncoder()
    on = retrieval(ds, enc, progress=False)
    off = retrieval(ds, enc, ignore_identical_ids=False, progress=False)
    # query "d007" is the text of document d007: without skipping, it finds itself first
    assert off.per_query["d007"]["mrr@10"] < 1.0 and off.per_query["d007"]["precision@1"] == 0.0
    assert on.per_query["d007"]["precision@1"] == 1.0  # then d008, its relevant document, comes first
    assert on.per_query["d007"]["ndcg@10"] > off.per_query["d007"]["ndcg@10"]
    ref_off = ranking_metrics(ds.qrels, _reference_run(ds, enc, 100, skip=False))[0]
    assert off.metrics == pytest.approx(ref_off, abs=1e-12)


def test_retrieval_from_a_path(beir_dir: Path, ds: BeirDataset) -> None:
    enc = HashingEncoder()
    assert retrieval(beir_dir, enc, progress=False).metrics == retrieval(ds, enc, progress=False).metrics
    dev = retrieval(beir_dir, enc, split="dev", progress=False)
    assert dev.split == "dev"


def _spaces(ds: BeirDataset, enc: HashingEncoder, extra: bool = False) -> tuple[EmbeddingSpace, EmbeddingSpace]:
    doc_keys, doc_texts = list(ds.corpus_ids), list(ds.corpus_texts)
    q_keys, q_texts = list(ds.query_ids), list(ds.query_texts)
    if extra:  # spaces may hold more than the split needs, in any order
        doc_keys, doc_texts = [*doc_keys[::-1], "zz-extra"], [*doc_texts[::-1], "astro1 astro2 astro3"]
        q_keys, q_texts = ["q-other", *q_keys], ["botany1", *q_texts]
    prov = enc.provenance
    corpus = EmbeddingSpace(doc_keys, enc.vectors(doc_texts, normalize=False), provenance=prov)
    queries = EmbeddingSpace(q_keys, enc.vectors(q_texts, normalize=False), provenance=prov)
    return corpus, queries


def test_precomputed_spaces_give_the_encoder_result(ds: BeirDataset) -> None:
    enc = HashingEncoder()
    by_encoder = retrieval(ds, enc, progress=False)
    corpus, queries = _spaces(ds, enc)
    res = retrieval(ds, corpus_space=corpus, query_space=queries)
    assert res.metrics == pytest.approx(by_encoder.metrics, abs=1e-12)
    assert res.encode_seconds is None and res.docs_per_second is None and res.model == "hashing-bow"
    corpus, queries = _spaces(ds, enc, extra=True)
    assert retrieval(ds, corpus_space=corpus, query_space=queries).metrics == pytest.approx(by_encoder.metrics,
                                                                                          abs=1e-12)
    assert "precomputed vectors" in str(res)


def test_precomputed_space_errors(ds: BeirDataset) -> None:
    enc = HashingEncoder()
    corpus, queries = _spaces(ds, enc)
    other = EmbeddingSpace(queries.keys, queries.vectors, provenance=Provenance(model="another-model"))
    with pytest.raises(IncompatibleSpaceError, match="another-model"):
        retrieval(ds, corpus_space=corpus, query_space=other)
    partial = corpus.subset(corpus.keys[1:])
    with pytest.raises(UnknownKeyError, match=r"'d000' is not in the corpus space.*1 of 42 are missing"):
        retrieval(ds, corpus_space=partial, query_space=queries)
    with pytest.raises(UnknownKeyError, match="query space"):
        retrieval(ds, corpus_space=corpus, query_space=queries.subset(queries.keys[:3]))
    with pytest.raises(InvalidInputError, match="both"):
        retrieval(ds, corpus_space=corpus)
    with pytest.raises(InvalidInputError, match="exactly one"):
        retrieval(ds, enc, corpus_space=corpus, query_space=queries)
    with pytest.raises(InvalidInputError, match="exactly one"):
        retrieval(ds)
    with pytest.raises(InvalidInputError, match="once"):
        retrieval(ds, "minilm", model="minilm")


def test_ties_follow_corpus_order_and_zero_queries_do_not_fail() -> None:
    qrels = {"q1": {"c": 1}, "q0": {"b": 1}}
    ds = BeirDataset("ties", "test", ("a", "b", "c", "d"), ("", "", "", ""), ("q1", "q0"), ("", ""), qrels)
    corpus = EmbeddingSpace(["d", "c", "b", "a"], [[1, 0], [1, 0], [0, 1], [1, 0]])  # a, c, d tie for q1
    queries = EmbeddingSpace(["q1", "q0"], [[2, 0], [0, 0]], provenance=corpus.provenance)
    res = retrieval(ds, corpus_space=corpus, query_space=queries, k_values=(1, 2, 4))
    assert res.per_query["q1"]["mrr@4"] == 0.5  # a, then c: the dataset's corpus order, not the space's
    assert res.per_query["q0"]["mrr@4"] == 0.5  # a zero query scores 0 everywhere: corpus order again
    dot = EmbeddingSpace(["a", "b", "c", "d"], [[1, 0], [0, 3], [2, 0], [1, 0]], metric="dot")
    qdot = EmbeddingSpace(["q1", "q0"], [[1, 0], [0, 1]], metric="dot", provenance=dot.provenance)
    res = retrieval(ds, corpus_space=dot, query_space=qdot, k_values=(1,))
    assert res.per_query["q1"]["mrr@1"] == 1.0  # ranked by the space's own metric: c has the larger dot


def test_bad_encoder_output(ds: BeirDataset) -> None:
    class Broken(HashingEncoder):
        def encode(self, items: Any, **kwargs: Any) -> Any:
            return np.zeros((len(items) + 1, 4), np.float32)

    with pytest.raises(InvalidInputError, match="shape"):
        retrieval(ds, Broken(), progress=False)
    with pytest.raises(InvalidInputError, match="positive"):
        retrieval(ds, HashingEncoder(), k_values=(10, -1))


def test_result_str_and_to_dict(ds: BeirDataset) -> None:
    res = retrieval(ds, HashingEncoder(), k_values=(1, 10), progress=False)
    text = str(res)
    assert "retrieval on toy (test)" in text and "hashing-bow" in text and "docs/s" in text
    assert f"{res.metrics['ndcg@10']:.4f}" in text and "@10" in text
    assert "ndcg@10=" in repr(res)
    d = res.to_dict()
    assert json.loads(json.dumps(d)) == d and "per_query" not in d
    assert d["metrics"]["mrr@10"] == res.metrics["mrr@10"] and d["k_values"] == [1, 10]
    full = res.to_dict(per_query=True)
    assert full["per_query"]["q00"] == res.per_query["q00"]


def test_progress_messages(ds: BeirDataset, capsys: pytest.CaptureFixture[str]) -> None:
    retrieval(ds, HashingEncoder(), progress=True)
    assert "encoding 42 documents of toy with hashing-bow" in capsys.readouterr().err


# --------------------------------------------------------------------- compare_models
def _console() -> Any:
    from rich.console import Console

    return Console(file=io.StringIO(), width=150, force_terminal=True, color_system="standard")


def test_compare_prints_a_side_by_side_table(ds: BeirDataset) -> None:
    small, large = HashingEncoder(dim=4, name="bow-4"), HashingEncoder(dim=64, name="bow-64")
    spaces = _spaces(ds, HashingEncoder(dim=64, name="bow-64"))
    console = _console()
    results = compare_models(ds, [small, large, spaces], metrics=("ndcg@10", "recall@20", "mrr@10"), console=console,
                      progress=False)
    assert [r.model for r in results] == ["bow-4", "bow-64", "bow-64"]
    assert "recall@20" in results[0].metrics and "map@100" in results[0].metrics
    out = console.file.getvalue()
    assert "toy (test): 16 queries, 42 documents" in out
    assert "bow-64 (2)" in out and "precomputed" in out and "docs/s" in out
    best = max(r.metrics["ndcg@10"] for r in results)
    assert f"\x1b[1m{best:.4f}" in out  # the best of the column in bold
    worst = min(r.metrics["ndcg@10"] for r in results)
    assert worst < best and f"\x1b[1m{worst:.4f}" not in out


def test_compare_labels_and_errors(ds: BeirDataset) -> None:
    console = _console()
    compare_models(ds, {"tiny": HashingEncoder(dim=8)}, console=console, progress=False)
    assert "tiny" in console.file.getvalue()
    with pytest.raises(InvalidInputError, match="unknown metric 'ndcg10'"):
        compare_models(ds, [HashingEncoder()], metrics=("ndcg10",), console=console)
    with pytest.raises(InvalidInputError, match="k_values lacks"):
        compare_models(ds, [HashingEncoder()], metrics=("ndcg@7",), k_values=(10,), console=console)
    with pytest.raises(InvalidInputError, match="no models"):
        compare_models(ds, [], console=console)
    with pytest.raises(InvalidInputError, match="pair"):
        compare_models(ds, [(1, 2, 3)], console=console)  # type: ignore[list-item]


def test_comparison_table_is_generic() -> None:
    console = _console()
    table = comparison_table([("a", {"x": 0.5, "y": None}), ("b", {"x": 0.50004, "y": 2.0})], ["x", "y"],
                             label_header="system", extra=[("note", ["n1", "n2"])])
    console.print(table)
    out = console.file.getvalue()
    assert out.count("\x1b[1m0.5000") == 2  # equal as shown: both bold
    assert "n/a" in out and "system" in out and "n2" in out
    with pytest.raises(InvalidInputError, match="cells"):
        comparison_table([("a", {})], ["x"], extra=[("note", [])])


# --------------------------------------------------------------------------- sentence-transformers
def _st_evaluator(col: Collection, **kwargs: Any) -> Any:
    pytest.importorskip("sentence_transformers")
    try:
        from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.evaluation import InformationRetrievalEvaluator
    queries, corpus, relevant = st_evaluator_inputs(col)
    return InformationRetrievalEvaluator(queries, corpus, relevant, accuracy_at_k=[1],
                                         precision_recall_at_k=[1, 3, 5, 10], ndcg_at_k=[1, 3, 5, 10],
                                         mrr_at_k=[1, 10], map_at_k=[10, 100], write_csv=False, **kwargs)


def _st_collection() -> Collection:
    """Binary relevance, every judged query with a relevant document, no identical ids: the cases where
    sentence-transformers' definitions are BEIR's. A relevant document missing from the corpus is kept."""
    col = make_collection(seed=5, n_docs=40, n_queries=16, graded=False, special=False)
    col.qrels.append(("q03", "d999", 1))
    return col


def _assert_same_as_st(ours: RetrievalResult, theirs: dict[str, float]) -> None:
    compared = 0
    for key, value in theirs.items():
        name = key.split("_", 1)[1]  # "cosine_ndcg@10" -> "ndcg@10"
        if name.startswith("accuracy"):
            continue
        assert ours.metrics[name] == pytest.approx(value, abs=1e-9), name
        compared += 1
    assert compared == 4 + 4 + 4 + 2 + 2


def test_agrees_with_sentence_transformers_evaluator(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from sentence_transformers.util import cos_sim

    col = _st_collection()
    enc = HashingEncoder()
    ours = retrieval(load_beir(write_beir(tmp_path / "st", col)), enc, progress=False)
    theirs = _st_evaluator(col, score_functions={"cosine": cos_sim})(STHashingModel(enc))
    _assert_same_as_st(ours, theirs)
    assert 0.2 < ours.metrics["ndcg@10"] < 0.99


def test_agrees_with_sentence_transformers_on_a_real_model(tmp_path: Path) -> None:
    """A tiny BERT saved as a sentence-transformers model: its own vectors give sentence-transformers'
    numbers exactly; loaded by name through get_encoder (embspace's own encoding loop), the same model."""
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    col = _st_collection()
    words = {w for _, t, x in col.corpus for w in (t + " " + x).split()} | {w for _, x in col.queries
                                                                              for w in x.split()}
    model_dir = build_tiny_sentence_transformer(tmp_path / "model", sorted(words))
    st_model = SentenceTransformer(str(model_dir), device="cpu")
    assert "[UNK]" not in st_model.tokenizer.tokenize("astro1 common3")  # the vocabulary was really loaded
    ds = load_beir(write_beir(tmp_path / "st", col))
    direct = retrieval(ds, STEncoder(st_model), progress=False)
    _assert_same_as_st(direct, _st_evaluator(col)(st_model))
    assert direct.metrics["ndcg@10"] > 0.3  # a near bag-of-words model: well above chance
    by_name = retrieval(ds, model=str(model_dir), progress=False)
    assert by_name.model == "st" and by_name.n_queries == direct.n_queries
    # embspace's encoder reproduces the model's vectors to float precision, not bit for bit
    assert by_name.metrics == pytest.approx(direct.metrics, abs=0.05)
