from __future__ import annotations

import bz2
import gzip
import itertools
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pytest

from embspace.data import corpus as corpus_mod
from embspace.data.corpus import TextCorpus
from embspace.data.encoded_corpus import EncodedCorpus
from embspace.data.vocab import Vocab
from embspace.errors import InvalidInputError, UnknownKeyError

TEXT = "The cat sat on the mat\nthe dog sat on the log\n\nA cat and a dog\n"
SENTS = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dog", "sat", "on", "the", "log"],
         ["a", "cat", "and", "a", "dog"]]


def test_plain_and_compressed_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(TEXT)
    with gzip.open(tmp_path / "b.txt.gz", "wt") as f:
        f.write(TEXT)
    with bz2.open(tmp_path / "c.txt.bz2", "wt") as f:
        f.write(TEXT)
    with lzma.open(tmp_path / "d.txt.xz", "wt") as f:
        f.write(TEXT)
    with zipfile.ZipFile(tmp_path / "e.zip", "w") as z:
        z.writestr("dir/one.txt", TEXT)
        z.writestr("two.txt", "Zebra\n")
    for name in ["a.txt", "b.txt.gz", "c.txt.bz2", "d.txt.xz"]:
        assert list(TextCorpus(tmp_path / name)) == SENTS
    assert list(TextCorpus(tmp_path / "e.zip")) == [*SENTS, ["zebra"]]
    everything = list(TextCorpus(tmp_path))  # a directory: its files in sorted order
    assert everything == SENTS * 4 + [*SENTS, ["zebra"]]
    assert list(TextCorpus([tmp_path / "a.txt", tmp_path / "b.txt.gz"])) == SENTS * 2


def test_options_and_iterables(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(TEXT)
    assert next(iter(TextCorpus(tmp_path / "a.txt", lowercase=False)))[0] == "The"
    assert next(iter(TextCorpus(tmp_path / "a.txt", tokenizer=lambda s: s.split("a"))))[0] == "the c"
    assert list(TextCorpus(tmp_path / "a.txt", max_sentence_length=4))[:2] == [
        ["the", "cat", "sat", "on"], ["the", "mat"]]
    assert list(TextCorpus([["A", "b"], ["c"]])) == [["a", "b"], ["c"]]
    with pytest.raises(InvalidInputError):
        list(TextCorpus(iter(["just a string sentence"])))  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        TextCorpus(tmp_path / "missing.txt")


def test_non_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "bad.txt").write_bytes(b"caf\xe9 ok\nfine\n")
    assert list(TextCorpus(tmp_path / "bad.txt")) == [["caf\ufffd", "ok"], ["fine"]]


def test_one_enormous_line_streams_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus_mod, "_BLOCK", 64)  # force many blocks on a small file
    words = [f"w{i % 37}" for i in range(1000)]
    (tmp_path / "text8").write_text(" ".join(words))
    sents = list(TextCorpus(tmp_path / "text8", max_sentence_length=100))
    assert [t for s in sents for t in s] == words
    assert all(len(s) <= 100 for s in sents)


def test_vocab() -> None:
    v = Vocab.build(SENTS, min_count=2)
    assert v.words[:2] == ("the", "cat") and v["the"] == 0 and "mat" not in v
    assert v.counts[0] == 4 and v.total == int(v.counts.sum()) and v.raw_token_count == 17
    with pytest.raises(UnknownKeyError, match="the vocabulary"):
        v["caat"]
    keep = v.keep_probabilities(0.1)
    t = 0.1 * v.total
    assert keep[0] == pytest.approx(min(1.0, (np.sqrt(4 / t) + 1) * t / 4))
    assert v.keep_probabilities(0).tolist() == [1.0] * len(v)
    assert Vocab.build(SENTS, min_count=1, max_size=3).words == ("the", "cat", "sat")
    with pytest.raises(InvalidInputError, match="empty"):
        Vocab.build([], min_count=1)
    with pytest.raises(InvalidInputError, match="min_count=9"):
        Vocab.build(SENTS, min_count=9)
    ext = v.extended({"the": 1, "zebra": 5, "yak": 1}, min_count=2)
    assert ext.words[: len(v)] == v.words and ext.words[len(v):] == ("zebra",) and ext.counts[0] == 5


def test_encoded_corpus_drops_rare_words_and_empty_sentences() -> None:
    sents = [*SENTS, ["mat", "log"]]
    ec = EncodedCorpus.encode(sents, min_count=2)
    v = ec.vocab
    expected = [[v[w] for w in s if w in v] for s in sents]
    expected = [s for s in expected if s]
    assert ec.tokens.tolist() == [i for s in expected for i in s]
    assert ec.sentence_lengths.tolist() == [len(s) for s in expected]
    assert ec.raw_token_count == 19
    jobs = ec.jobs(words_per_job=4)
    assert jobs[0][0] == 0 and jobs[-1][1] == len(ec)
    assert all(a[1] == b[0] and a[3] == b[2] for a, b in itertools.pairwise(jobs))
    workdir = ec.workdir
    assert workdir is not None and workdir.exists()
    ec.close()
    assert not workdir.exists()


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 19])
def test_encoded_corpus_is_the_same_whatever_the_rewrite_block(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    """The ids are rewritten a block of tokens at a time: blocks smaller than a sentence, sentences
    empty from the start or emptied by min_count, and block edges inside runs of them change nothing."""
    import embspace.data.encoded_corpus as ec_mod

    monkeypatch.setattr(ec_mod, "_REMAP_BLOCK", block)
    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(40)]
    sents = [[words[int(i)] for i in rng.zipf(1.5, size=int(n)) % 40] for n in rng.integers(0, 12, size=300)]
    sents[10:14] = [[], [], ["rare1"], []]
    ec = EncodedCorpus.encode(sents, min_count=3)
    v = ec.vocab
    expected = [s for s in ([v[w] for w in s if w in v] for s in sents) if s]
    assert ec.tokens.tolist() == [i for s in expected for i in s]
    assert ec.sentence_lengths.tolist() == [len(s) for s in expected]
    assert ec.sentence_lengths.dtype == np.int64 and ec.raw_token_count == sum(map(len, sents))
    ec.close()


def test_encoded_corpus_keeps_base_vocab_ids() -> None:
    base = Vocab.build(SENTS, min_count=2)
    ec = EncodedCorpus.encode([["zebra", "zebra", "the", "cat"]], min_count=2, base_vocab=base)
    assert ec.vocab.words[: len(base)] == base.words and ec.vocab.words[-1] == "zebra"
    assert ec.tokens.tolist() == [len(base), len(base), base["the"], base["cat"]]


def test_empty_corpus_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        EncodedCorpus.encode([], min_count=1)


def test_tokenizers_by_name_drop_punctuation_keep_inner_apostrophes_and_hyphens(tmp_path: Path) -> None:
    """Issue 22: split on whitespace, 'war,' and 'war.' were words of their own (the neighbours of 'war' were
    'war,' and 'war.'); the 'words' tokenizer keeps letters and digits only."""
    import pickle

    from embspace.data.corpus import RegexTokenizer, make_tokenizer

    words = make_tokenizer("words")
    assert words is not None
    assert words("War, war. WAR! (the cold-war) don't 1945 \u2014 U.S.") == \
        ["War", "war", "WAR", "the", "cold-war", "don't", "1945", "U", "S"]
    assert make_tokenizer("whitespace") is None  # TextCorpus's default: str.split
    assert make_tokenizer(r"\S+")("a, b.") == ["a,", "b."]  # type: ignore[misc]
    assert make_tokenizer(str.split) is str.split
    assert pickle.loads(pickle.dumps(words))("a b") == ["a", "b"]  # worker processes can take it
    for bad, fragment in (("(", "not a valid regular expression"), ("x*", "matches the empty string")):
        with pytest.raises(InvalidInputError, match=fragment):
            RegexTokenizer(bad)
    (tmp_path / "c.txt").write_text("War, war.\nPeace!\n", encoding="utf-8")
    assert list(TextCorpus(tmp_path / "c.txt", tokenizer="words")) == [["war", "war"], ["peace"]]
    assert list(TextCorpus(tmp_path / "c.txt", tokenizer="words", lowercase=False)) == [["War", "war"], ["Peace"]]
    assert list(TextCorpus(tmp_path / "c.txt")) == [["war,", "war."], ["peace!"]]  # the default is unchanged
