from embspace.data import python_help_sentences


def test_python_help_sentences_are_real_distinct_prose() -> None:
    s = python_help_sentences(300)
    assert 200 <= len(s) <= 300
    assert len(set(s)) == len(s)
    assert all(x[0].isupper() and x.endswith(".") and 40 <= len(x) <= 221 for x in s)
    assert not any("===" in x or "***" in x or "::=" in x for x in s)
    assert python_help_sentences(300) == s  # deterministic
    assert len(python_help_sentences(5)) == 5


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
