"""``embspace train fasttext``: a subword space or fastText's .bin from a tiny corpus, and the commands that
read a space answering words it never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

import embspace
from embspace.space import SubwordSpace

STEMS = ["walk", "talk", "jump", "play", "work", "call", "look", "cook", "kick", "pull"]
SUFFIXES = ["", "s", "ed", "ing", "er"]
FT = ["--epochs", "2", "--min-count", "1", "--dim", "16", "--threads", "1", "--seed", "3", "--buckets", "5000"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~5,000 tokens of 50 inflected words (two topics of five stems), so that n-grams are shared."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(600):
        t = rng.integers(2)
        stems, sufs = rng.integers(5 * t, 5 * t + 5, size=8), rng.integers(len(SUFFIXES), size=8)
        lines.append(" ".join(STEMS[i] + SUFFIXES[j] for i, j in zip(stems, sufs, strict=True)))
    path = tmp_path_factory.mktemp("fasttext_cli") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def space_dir(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fasttext_space") / "space"
    from embspace.cli.app import main

    main(["train", "fasttext", str(corpus), "-o", str(out), *FT, "--quiet"])
    return out


def test_train_fasttext_writes_a_subword_space(corpus: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "space"
    code, out, err = run(["train", "fasttext", str(corpus), "-o", str(out_dir), *FT, "--quiet"], capsys)
    assert code == 0, err
    assert err == ""  # --quiet: no progress
    line, = out.strip().splitlines()
    assert line.startswith("fasttext skipgram: 50 words x 16 dims in ")
    assert "words/s" in line and "n-gram buckets used" in line and str(out_dir) in line
    space = embspace.load(out_dir)
    assert isinstance(space, SubwordSpace)
    assert len(space) == 50 and space.dim == 16 and (space.minn, space.maxn, space.bucket) == (3, 6, 5000)
    cfg = space.provenance.config
    assert space.provenance.model == "embspace.fasttext"
    assert cfg["epochs"] == 2 and cfg["workers"] == 1 and cfg["buckets"] == 5000 and cfg["architecture"] == "skipgram"


def test_train_fasttext_cbow_json_aliases_and_progress(corpus: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """gensim's and fastText's names of the options (--neg, --threads, --lr, --bucket, --min-n/--max-n) work."""
    target = tmp_path / "vectors.vec"
    code, out, err = run(["train", "fasttext", str(corpus), "-o", str(target), "--epochs", "2", "--min-count", "1",
                          "--dim", "8", "--threads", "1", "--bucket", "3000", "--neg", "3", "--lr", "0.04",
                          "--min-n", "2", "--max-n", "4", "--cbow", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "fasttext cbow" and data["architecture"] == "cbow"
    assert data["vocab_size"] == 50 and data["dim"] == 8 and len(data["loss_history"]) == 2
    assert (data["minn"], data["maxn"], data["buckets"]) == (2, 4, 3000) and 0 < data["ngram_rows"] <= 3000
    assert data["memory"]["input_bytes"] > 0 and data["words_per_second"] > 0
    assert "fasttext cbow" in err  # the progress bar names the model
    assert embspace.detect_format(target) == "fasttext"  # .vec: the vocabulary's vectors as text
    vec = embspace.load(target)
    assert len(vec) == 50 and vec.dim == 8


@pytest.mark.parametrize("how", ["suffix", "flag", "default-place"])
def test_train_fasttext_bin_loads_in_gensim(how: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An --output ending .bin, or --bin, writes fastText's .bin: gensim's load_facebook_vectors reads it with
    the same vectors for known and unknown words."""
    from gensim.models.fasttext import load_facebook_vectors

    monkeypatch.setenv("EMBSPACE_DATA", str(tmp_path / "data"))
    extra = {"suffix": ["-o", str(tmp_path / "model.bin")], "flag": ["--bin", "-o", str(tmp_path / "model.ft")],
             "default-place": ["--bin"]}[how]
    code, out, err = run(["train", "fasttext", str(corpus), *FT, *extra, "--quiet", "--json"], capsys)
    assert code == 0, err
    path = Path(json.loads(out)["output"])
    if how == "default-place":
        assert path == tmp_path / "data" / "corpus-fasttext.bin"
    assert embspace.detect_format(path) == "fasttext-bin"
    space = embspace.load(path)
    assert isinstance(space, SubwordSpace) and len(space) == 50
    wv = load_facebook_vectors(str(path))
    assert list(wv.index_to_key) == list(space.keys)
    for word in [*space.keys, "walkking", "disc0unt", "talkers"]:
        # gensim averages the same float32 rows in another order
        np.testing.assert_allclose(wv[word], space.vector(word), rtol=1e-4, atol=1e-6)


def test_train_fasttext_format_word2vec_binary_keeps_the_vocabulary_only(corpus: Path, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "w2v.bin"
    code, _, err = run(["train", "fasttext", str(corpus), *FT, "-o", str(target), "--format", "word2vec-binary",
                        "--quiet"], capsys)
    assert code == 0, err
    assert embspace.detect_format(target) == "word2vec-binary"


def test_train_fasttext_checkpoint_resumes(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--checkpoint as for word2vec: a rerun with the same settings resumes (here: from the finished state)."""
    ckpt = tmp_path / "ckpt"
    argv = ["train", "fasttext", str(corpus), *FT, "--checkpoint", str(ckpt), "--quiet", "--json"]
    code, out, err = run([*argv, "-o", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert ckpt.is_dir() and any(ckpt.iterdir())
    first = json.loads(out)
    code, out, err = run([*argv, "-o", str(tmp_path / "b")], capsys)
    assert code == 0, err
    assert json.loads(out)["loss_history"] == first["loss_history"]  # nothing left to train: the saved history
    a, b = embspace.load(tmp_path / "a"), embspace.load(tmp_path / "b")
    # the same saved state read back; a tolerance all the same (the house rule for floats)
    np.testing.assert_allclose(a.vectors, b.vectors, rtol=1e-6, atol=1e-7)
    # (each run is its own space: compare the coordinates, not the vectors, which refuse to mix)
    np.testing.assert_allclose(np.asarray(a.vector("walkking")), np.asarray(b.vector("walkking")), rtol=1e-6,
                               atol=1e-7)


def test_queries_on_unknown_words(space_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """neighbors, similarity and analogy answer words the space never saw, from their n-grams; info says so."""
    space = embspace.load(space_dir)
    assert "walkking" not in space
    code, out, err = run(["neighbors", str(space_dir), "walkking", "talk", "-k", "3", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    want = space.neighbors(np.asarray(space.vector("walkking")), k=3).to_list()
    assert [h[0] for h in data["walkking"]] == [k for k, _ in want]  # (key, score) pairs
    assert len(data["talk"]) == 3 and all(h[0] != "talk" for h in data["talk"])

    code, out, err = run(["similarity", str(space_dir), "walkking", "walking", "--json"], capsys)
    assert code == 0, err
    v, w = np.asarray(space.vector("walkking")), np.asarray(space["walking"])
    assert json.loads(out)["similarity"] == pytest.approx(
        float(v @ w / np.linalg.norm(v) / np.linalg.norm(w)), abs=1e-5)

    code, out, err = run(["analogy", str(space_dir), "walk", "walked", "talkk", "-k", "3", "--json"], capsys)
    assert code == 0, err
    answers = json.loads(out)["answers"]
    assert len(answers) == 3 and not {"walk", "walked"} & {h[0] for h in answers}

    code, out, err = run(["info", str(space_dir), "--json"], capsys)
    assert code == 0, err
    sub = json.loads(out)["subwords"]
    assert (sub["minn"], sub["maxn"], sub["bucket"]) == (3, 6, 5000) and sub["stored_ngram_rows"] > 0
    code, out, _ = run(["info", str(space_dir)], capsys)
    assert "unknown words" in out and "n-grams 3-6" in out


@pytest.mark.parametrize("command", [["neighbors", "{s}", "qqqq"], ["similarity", "{s}", "qqqq", "walk"],
                                     ["analogy", "{s}", "walk", "walked", "qqqq"]])
def test_unknown_words_without_trained_ngrams_are_refused(command: list[str], space_dir: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A word none of whose n-grams was seen has the zero vector: refused as unknown, not answered with zeros."""
    assert not embspace.load(space_dir).can_embed("qqqq")
    code, _, err = run([a.format(s=space_dir) for a in command], capsys)
    assert code == 2 and "'qqqq' is not in the space, and none of its character n-grams" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_word_spaces_still_refuse_unknown_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain"
    embspace.EmbeddingSpace.from_dict({w: np.random.default_rng(i).standard_normal(4) for i, w in
                                       enumerate(["walk", "walked", "talk", "talked"])}).save(plain)
    code, _, err = run(["analogy", str(plain), "walk", "walked", "talkk"], capsys)
    assert code == 2 and "talkk" in err and "did you mean" in err
    code, out, _ = run(["info", str(plain), "--json"], capsys)
    assert json.loads(out)["subwords"] is None


def test_convert_keeps_the_subwords_in_a_bin(space_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "model.bin"
    code, _, err = run(["convert", str(space_dir), str(target)], capsys)
    assert code == 0, err
    assert embspace.detect_format(target) == "fasttext-bin"
    back, space = embspace.load(target), embspace.load(space_dir)
    assert isinstance(back, SubwordSpace)
    # the .bin stores each word's own row and its n-grams' rows; the mean is recomputed on reading
    np.testing.assert_allclose(np.asarray(back.vector("walkking")), np.asarray(space.vector("walkking")),
                               rtol=1e-4, atol=1e-6)
    w2v = tmp_path / "w2v.bin"
    code, _, err = run(["convert", str(space_dir), str(w2v), "--format", "word2vec-binary"], capsys)
    assert code == 0 and embspace.detect_format(w2v) == "word2vec-binary", err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--bin", "--maxn", "0", "-o", "{t}/x.bin"], "--maxn is 0"),
        (["--maxn", "0", "-o", "{t}/x.bin"], "--maxn is 0"),
        (["--bin", "-o", "{t}/x.vec"], "names a text file"),
        (["--bin", "--format", "glove", "-o", "{t}/x"], "--format says glove"),
        (["--sg", "--cbow", "-o", "{t}/x"], "conflicting"),
        (["--minn", "5", "--maxn", "3", "-o", "{t}/x"], "minn <= maxn"),
        (["--format", "word2vec"], "--format word2vec needs --output"),
    ],
)
def test_user_errors_exit_2_with_one_line(corpus: Path, tmp_path: Path, argv: list[str], fragment: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "fasttext", str(corpus), "--quiet", *(a.format(t=tmp_path) for a in argv)]
    code, out, err = run(argv, capsys)
    assert code == 2, (out, err)
    assert fragment in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # refused before any training or writing
