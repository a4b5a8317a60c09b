from embspace.data import python_help_passages, python_help_sentences
from embspace.data.builtin import HELP_CHAPTERS


def test_python_help_sentences_are_real_distinct_prose() -> None:
    s = python_help_sentences(300)
    assert 200 <= len(s) <= 300
    assert len(set(s)) == len(s)
    assert all(x[0].isupper() and x.endswith(".") and 40 <= len(x) <= 221 for x in s)
    assert not any("===" in x or "***" in x or "::=" in x for x in s)
    assert python_help_sentences(300) == s  # deterministic
    assert len(python_help_sentences(5)) == 5


def test_python_help_passages_are_prose_with_metadata() -> None:
    ps = python_help_passages()
    assert 500 <= len(ps) <= 3000  # about 900 on Python 3.11
    assert all(set(p) == {"key", "text", "topic", "title", "section", "chapter"} for p in ps)
    assert len({p["key"] for p in ps}) == len(ps) and len({p["text"] for p in ps}) == len(ps)
    assert all(p["key"].startswith(p["topic"] + ".") for p in ps)
    assert all(8 <= len(p["text"].split()) <= 80 + 12 for p in ps)  # 80 words, maybe after an entry's name
    assert not any("::=" in p["text"] or ">>>" in p["text"] or "+---" in p["text"] for p in ps)
    chapters = {p["chapter"] for p in ps}
    assert chapters <= {*HELP_CHAPTERS, "other"} and len(chapters) >= 6
    # a method's description starts with the method, under its section
    strip = next(p for p in ps if p["text"].startswith("str.strip("))
    assert strip["topic"] == "string-methods" and strip["chapter"] == "built-in types" and "removed" in strip["text"]
    assert python_help_passages(50) == ps[:50] and python_help_passages() == ps  # deterministic


def test_shipped_word_vectors_were_learned_by_embspace() -> None:
    import json

    from embspace.data import demo_words
    from embspace.data.builtin import DEMO_WORDS

    words = demo_words()
    assert (len(words), words.dim) == (30000, 100)
    assert words.provenance.model == "embspace.word2vec"
    assert words.counts is not None and words.keys[0] == "the"
    assert words.analogy("man", "king", "woman").top == "queen"
    assert words.similarity("car", "automobile") > words.similarity("noon", "string")
    build = json.loads((DEMO_WORDS / "BUILD.json").read_text())
    assert build["command"].startswith("python tools/build_demo_space.py")
    assert sum(f.stat().st_size for f in DEMO_WORDS.iterdir()) < 5 * 2**20
