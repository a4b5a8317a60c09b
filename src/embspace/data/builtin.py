"""Small real datasets that ship with Python itself, so demos and tests work offline."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ModelNotFoundError
from ..space.embedding_space import EmbeddingSpace

DEMO_WORDS = Path(__file__).resolve().parent / "wiki_words"

_MARKUP = ("::=", "===", "---", "***")  # grammar rules and section underlines
_SENTENCE_END = re.compile(r"(?<=[a-z0-9\)])\.\s+(?=[A-Z])")


def python_help_sentences(limit: int = 400, *, min_chars: int = 40, max_chars: int = 220) -> list[str]:
    """Distinct English sentences from Python's own help topics (``pydoc_data.topics``).

    The text is the Python Language Reference shipped with every CPython, so it is real prose
    available offline. Sentences are the first sentence of each prose paragraph, whitespace
    collapsed, filtered to ``min_chars``-``max_chars`` characters, in a deterministic order.

    Parameters
    ----------
    limit
        At most this many sentences.
    """
    from pydoc_data.topics import topics

    out: list[str] = []
    seen: set[str] = set()
    for name in sorted(topics):
        for para in re.split(r"\n\s*\n", topics[name]):
            lines = para.strip().splitlines()
            if not lines or para.startswith((" ", "\t")) or any(ln.startswith((">>>", "   ")) for ln in lines):
                continue  # code blocks and indented grammar
            text = " ".join(ln.strip() for ln in lines)
            if "*" in text[:3] or any(m in text for m in _MARKUP) or text.count('"') > 4:
                continue
            first = _SENTENCE_END.split(text, maxsplit=1)[0].strip()
            if first.endswith(":") or first.endswith(":."):
                continue  # introduces an example that was cut away
            if not first.endswith("."):
                first += "."
            if min_chars <= len(first) <= max_chars and first[0].isupper() and first not in seen:
                seen.add(first)
                out.append(first)
                if len(out) >= limit:
                    return out
    return out


def demo_words() -> EmbeddingSpace:
    """Word vectors learned by embspace itself, shipped in the package (about 3 MB).

    Skip-gram word2vec (100-d, window 5, 5 epochs) trained with embspace on an English Wikipedia
    slice (62.9M words, CC BY-SA 3.0); the 30,000 most frequent words, stored as int8 with a per-row
    scale. ``BUILD.json`` beside the vectors records the command that rebuilt them, the training
    time and the evaluation figures (``tools/build_demo_space.py``).
    """
    if not (DEMO_WORDS / "meta.json").is_file():
        raise ModelNotFoundError(f"the shipped word vectors are missing from {DEMO_WORDS}; rebuild them with "
                                 "python tools/build_demo_space.py (needs ../shared/data/corpus/wiki)")
    from ..space.io import load

    return load(DEMO_WORDS)
