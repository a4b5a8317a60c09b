from embspace.data import python_help_sentences


def test_python_help_sentences_are_real_distinct_prose() -> None:
    s = python_help_sentences(300)
    assert 200 <= len(s) <= 300
    assert len(set(s)) == len(s)
    assert all(x[0].isupper() and x.endswith(".") and 40 <= len(x) <= 221 for x in s)
    assert not any("===" in x or "***" in x or "::=" in x for x in s)
    assert python_help_sentences(300) == s  # deterministic
    assert len(python_help_sentences(5)) == 5
