"""``embspace train word2vec|glove`` and ``embspace evaluate``: end to end on a tiny corpus, and user errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

import embspace
import embspace.train
from embspace import evaluate

TOPICS, WORDS = 4, 15


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A corpus of ~4,000 tokens (sentences drawn from one of four topics), an analogy file and two
    word-pair files (tab- and space-separated) over its words."""
    d = tmp_path_factory.mktemp("train_cli")
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(500):
        t = rng.integers(TOPICS)
        lines.append(" ".join(f"T{t}w{w}" for w in rng.integers(WORDS, size=8)))  # lower-cased on reading
    corpus = d / "corpus.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    q = [": topic-pairs"] + [f"t0w{i} t0w{i + 1} t1w{i} t1w{i + 1}" for i in range(6)] + ["t0w1 t0w2 nope t1w1"]
    q += [": gram-pairs"] + [f"t2w{i} t2w{i + 1} t3w{i} t3w{i + 1}" for i in range(6)]
    analogy = d / "questions.txt"
    analogy.write_text("\n".join(q) + "\n", encoding="utf-8")
    pairs = [(f"t{a}w{i}", f"t{b}w{j}", 9.0 if a == b else 1.0 + 0.1 * i)
             for a, b, i, j in rng.integers([TOPICS, TOPICS, WORDS, WORDS], size=(30, 4)).tolist()]
    tsv = d / "pairs.tsv"
    tsv.write_text("# word1\tword2\tscore\n" + "".join(f"{a}\t{b}\t{s}\n" for a, b, s in pairs) + "xx\tt0w1\t5\n",
                   encoding="utf-8")
    txt = d / "pairs.txt"
    txt.write_text("".join(f"{a} {b} {s}\n" for a, b, s in pairs[:12]), encoding="utf-8")
    bad = d / "bad_questions.txt"
    bad.write_text(": s\nt0w1 t0w2 t1w1 t1w2\nt0w1 t0w2 t1w1\n", encoding="utf-8")
    return {"corpus": corpus, "analogy": analogy, "tsv": tsv, "txt": txt, "bad": bad, "dir": d}


W2V = ["--epochs", "2", "--min-count", "1", "--dim", "16", "--workers", "1", "--seed", "3"]


def test_train_word2vec_then_evaluate(files: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "space"
    code, out, err = run(["train", "word2vec", str(files["corpus"]), "-o", str(out_dir), *W2V, "--quiet"], capsys)
    assert code == 0, err
    assert err == ""  # --quiet: no progress
    summary = out.strip().splitlines()
    assert len(summary) == 1
    line = summary[0]
    assert line.startswith("word2vec skipgram: 60 words x 16 dims in ")
    assert "words/s" in line and "final loss " in line and str(out_dir) in line

    space = embspace.load(out_dir)
    assert len(space) == TOPICS * WORDS and space.dim == 16 and space.counts is not None
    assert space.provenance.model == "embspace.word2vec"
    assert space.provenance.config["epochs"] == 2 and space.provenance.config["architecture"] == "skipgram"

    argv = ["evaluate", str(out_dir), "--analogy", str(files["analogy"]), "--similarity", str(files["tsv"]),
            "--similarity", str(files["txt"])]
    code, out, err = run([*argv, "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    a = data["analogy"]
    ref = evaluate.analogy(space, files["analogy"])
    assert a["accuracy"] == ref.accuracy and a["evaluated"] == ref.evaluated == 12
    assert a["total"] == 13 and a["skipped"] == 1 and a["coverage"] == pytest.approx(12 / 13)
    assert a["method"] == "3cosadd" and a["restrict_vocab"] == 30000
    assert list(a["sections"]) == ["topic-pairs", "gram-pairs"]
    assert a["sections"]["gram-pairs"]["evaluated"] == 6
    assert a["syntactic_accuracy"] == ref.syntactic_accuracy and a["semantic_accuracy"] == ref.semantic_accuracy
    sims = data["similarity"]
    assert [s["file"] for s in sims] == [str(files["tsv"]), str(files["txt"])]
    for s, path in zip(sims, (files["tsv"], files["txt"]), strict=True):
        r = evaluate.word_similarity(space, path)
        assert s["spearman"] == pytest.approx(r.spearman) and s["pearson"] == pytest.approx(r.pearson)
        assert s["coverage"] == r.coverage and s["pairs"] == r.pairs
    assert sims[0]["oov"] == 1 and sims[1]["oov"] == 0

    code, out, _ = run([*argv, "--method", "3cosmul", "--restrict-vocab", "40"], capsys)
    assert code == 0
    for fragment in ("topic-pairs", "gram-pairs", "3cosmul", "40 most frequent", "accuracy", "semantic",
                     "syntactic", "coverage", "spearman", "pearson", "pairs.tsv", "pairs.txt"):
        assert fragment in out, fragment
    code, out, _ = run([*argv[:2], "--similarity", str(files["txt"]), "--json"], capsys)
    assert code == 0 and json.loads(out)["analogy"] is None


def test_train_word2vec_cbow_json_and_progress(files: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Progress goes to stderr, so stdout stays machine-readable; the format follows the suffix."""
    target = tmp_path / "vectors.txt"
    code, out, err = run(["train", "word2vec", str(files["dir"] / "corpus.txt"), "-o", str(target), *W2V,
                          "--cbow", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "word2vec cbow" and data["architecture"] == "cbow"
    assert data["vocab_size"] == 60 and data["dim"] == 16 and len(data["loss_history"]) == 2
    assert data["final_loss"] == data["loss_history"][-1] and data["words_per_second"] > 0
    assert data["output"] == str(target)
    assert "word2vec cbow" in err  # the progress bar
    assert embspace.detect_format(target) == "word2vec"
    assert len(embspace.load(target)) == 60


def test_train_glove(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not hasattr(embspace.train, "GloVe"):
        pytest.skip("embspace.train.GloVe is not there yet")
    target = tmp_path / "glove_space"
    code, out, err = run(["train", "glove", str(files["corpus"]), "-o", str(target), "--epochs", "3",
                          "--min-count", "1", "--dim", "16", "--window", "5", "--workers", "1",
                          "--max-memory", "256MB", "--quiet", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "glove" and data["vocab_size"] == 60 and data["dim"] == 16
    assert len(data["loss_history"]) == 3 and data["peak_memory"] > 0
    space = embspace.load(target)
    assert space.provenance.model == "embspace.glove" and space.dim == 16
    code, out, _ = run(["train", "glove", str(files["corpus"]), "-o", str(tmp_path / "g2"), "--epochs", "1",
                        "--min-count", "1", "--dim", "8", "--quiet"], capsys)
    assert code == 0 and out.startswith("glove: 60 words x 8 dims") and len(out.strip().splitlines()) == 1


def test_train_without_output_writes_into_the_data_directory(files: dict[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22's `embspace train word2vec state_union.zip` has no -o: the space goes into the data directory as
    CORPUS-MODEL (never over an existing one), where `embspace serve` serves it, and the CLI says what next."""
    from embspace.serve import Resources

    data = tmp_path / "data"  # made on the first write
    monkeypatch.setenv("EMBSPACE_DATA", str(data))
    corpus = files["dir"] / "corpus.txt"
    code, out, err = run(["train", "word2vec", str(corpus), *W2V, "--quiet"], capsys)
    assert code == 0, err
    first = data / "corpus-word2vec"
    assert len(embspace.load(first)) == TOPICS * WORDS
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith(f"; wrote {first}")
    assert f"next: embspace neighbors {first} t" in lines[1] and "embspace serve" in lines[1]
    word = lines[1].split()[-1]
    code, out, err = run(["neighbors", str(first), word, "-k", "3"], capsys)  # the hint runs as printed
    assert code == 0 and word in out, err
    code, out, err = run(["train", "word2vec", str(corpus), *W2V, "--quiet", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["output"] == str(data / "corpus-word2vec-2")  # the first one is kept
    zipped = tmp_path / "state union.txt.gz"  # suffixes dropped, a name the server can serve
    zipped.write_bytes(gzip.compress(corpus.read_bytes()))
    code, out, err = run(["train", "word2vec", str(zipped), *W2V, "--quiet", "--json"], capsys)
    assert code == 0 and json.loads(out)["output"] == str(data / "state-union-word2vec"), err
    if hasattr(embspace.train, "GloVe"):
        code, out, err = run(["train", "glove", str(corpus), "--epochs", "1", "--min-count", "1", "--dim", "8",
                              "--window", "3", "--workers", "1", "--max-memory", "256MB", "--quiet", "--json"],
                             capsys)
        assert code == 0 and json.loads(out)["output"] == str(data / "corpus-glove"), err
    res = Resources(data)
    try:
        assert {"corpus-word2vec", "corpus-word2vec-2", "state-union-word2vec"} <= set(res.names("space"))
    finally:
        res.close()


def test_train_tokenizer_drops_punctuation_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: the neighbours of 'war' in the State of the Union were 'war,' and 'war.'; the CLI now reads
    words (punctuation dropped, lower-cased) unless told --tokenizer whitespace or a regular expression."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("War, war. The war! Peace, peace.\n" * 20, encoding="utf-8")
    vocab = {}
    for name, extra in (("words", []), ("ws", ["--tokenizer", "whitespace"]), ("case", ["--no-lowercase"]),
                        ("re", ["--tokenizer", r"[a-z]+"])):
        code, _out, err = run(["train", "word2vec", str(corpus), "-o", str(tmp_path / name), *W2V, "--quiet",
                               *extra], capsys)
        assert code == 0, err
        vocab[name] = set(embspace.load(tmp_path / name).keys)
    assert vocab["words"] == {"war", "the", "peace"}
    assert {"war,", "war.", "war!", "peace,", "peace."} <= vocab["ws"]
    assert vocab["case"] == {"War", "war", "The", "Peace", "peace"}
    assert vocab["re"] == vocab["words"]
    code, _out, err = run(["train", "glove", str(corpus), "-o", str(tmp_path / "g"), "--tokenizer", "(", "--quiet"],
                          capsys)
    assert code == 2 and "not a valid regular expression" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "word2vec", "{d}/missing.txt", "-o", "{t}/x", "--quiet"], "missing.txt"),
        (["train", "word2vec", "{d}/corpus.txt", "{d}/nope", "-o", "{t}/x", "--quiet"], "nope"),
        (["train", "word2vec", "{d}/corpus.txt", "-o", "{t}/x", "--architecture", "bogus", "--quiet"],
         "architecture must be 'skipgram' or 'cbow'"),
        (["train", "word2vec", "{d}/corpus.txt", "-o", "{t}/x", "--sg", "--cbow", "--quiet"], "conflicting"),
        (["train", "word2vec", "{d}/corpus.txt", "-o", "{t}/x", "--dim", "0", "--quiet"], "dim must be"),
        (["train", "word2vec", "{d}/corpus.txt", "-o", "{t}/x", "--dim", "abc"], "--dim"),
        (["train", "word2vec", "{d}/corpus.txt", "--format", "word2vec"], "--format word2vec needs --output"),
        (["train", "word2vec", "{d}/corpus.txt", "-o", "{t}/x", "--bogus"], "--bogus"),
        (["train", "glove", "{d}/missing.txt", "-o", "{t}/x", "--quiet"], "missing.txt"),
        (["evaluate", "{d}/space"], "--analogy"),
        (["evaluate", "{d}/space", "--analogy", "{d}/nope.txt"], "nope.txt"),
        (["evaluate", "{d}/space", "--analogy", "{d}/questions.txt", "--method", "bogus"], "unknown method"),
        (["evaluate", "{d}/space", "--analogy", "{d}/bad_questions.txt"], "line 3"),
        (["evaluate", "{d}/space", "--similarity", "{d}/questions.txt"], "questions.txt"),
        (["evaluate", "{d}/space", "--similarity", "{d}/pairs.tsv", "--restrict-vocab", "0"], "restrict_vocab"),
        (["evaluate", "{d}/no_space", "--similarity", "{d}/pairs.tsv"], "no_space"),
    ],
)
def test_user_errors_exit_2_with_one_line(files: dict[str, Path], tmp_path: Path, argv: list[str], fragment: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    space_dir = files["dir"] / "space"
    if not space_dir.exists():
        embspace.EmbeddingSpace.from_dict({f"t{t}w{w}": np.random.default_rng(t * WORDS + w).standard_normal(4)
                                           for t in range(TOPICS) for w in range(WORDS)}).save(space_dir)
    argv = [a.format(d=files["dir"], t=tmp_path) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 2, (out, err)
    assert fragment in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv", [["train"], []])
def test_bare_groups_show_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert "word2vec" in out + err or "train" in out + err
    assert "Traceback" not in err and code in (0, 2)
