"""Small real datasets that ship with Python itself, so demos and tests work offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
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


#: The chapter of the Python documentation each help topic comes from (``Doc/reference``, ``Doc/library``);
#: topics of newer Pythons not listed here are in ``"other"``.
HELP_CHAPTERS: dict[str, tuple[str, ...]] = {
    "simple statements": ("assert", "assignment", "augassign", "break", "continue", "del", "global", "import",
                          "nonlocal", "pass", "raise", "return", "type", "yield"),
    "compound statements": ("async", "class", "compound", "else", "for", "function", "if", "match", "try",
                            "while", "with"),
    "expressions": ("atom-identifiers", "atom-literals", "attribute-references", "await", "binary", "bitwise",
                    "booleans", "calls", "comparisons", "conversions", "dict", "exprlists", "in", "lambda", "lists",
                    "operator-summary", "power", "shifting", "slicings", "subscriptions", "unary"),
    "lexical analysis": ("floating", "id-classes", "identifiers", "imaginary", "integers", "numbers", "strings"),
    "data model": ("attribute-access", "callable-types", "context-managers", "customization", "numeric-types",
                   "objects", "sequence-types", "specialnames", "types"),
    "execution model": ("dynamic-features", "exceptions", "execmodel", "naming"),
    "built-in types": ("bltin-code-objects", "bltin-ellipsis-object", "bltin-null-object", "bltin-type-objects",
                       "specialattrs", "string-methods", "truth", "typesfunctions", "typesmapping", "typesmethods",
                       "typesmodules", "typesseq", "typesseq-mutable"),
    "library": ("debugger", "formatstrings"),
}
_CHAPTER_OF = {topic: chapter for chapter, names in HELP_CHAPTERS.items() for topic in names}
_UNDERLINE = re.compile(r"^(\*{3,}|={3,}|-{3,}|~{3,}|\^{3,})$")
_VERSION_NOTE = ("Changed in version", "New in version", "Added in version", "Deprecated since version")


def _prose(lines: list[str]) -> str | None:
    """The paragraph ``lines`` as one line of prose, or None for code, grammar, tables and fragments."""
    if any(ln.lstrip().startswith((">>>", "...", "+-", "+=", "|")) for ln in lines):
        return None
    text = " ".join(" ".join(lines).split())  # one line, single spaces
    if text.startswith("* "):
        text = text[2:]  # a bullet item is a sentence like any other
    if "::=" in text or text.startswith(_VERSION_NOTE) or len(text.split()) < 5:
        return None
    if sum(c.isalpha() or c.isspace() for c in text) < 0.8 * len(text):
        return None  # mostly symbols: an example, not prose
    return text if (text[0].isupper() or text[0] == "\"" or (text[0] == "*" and text[1] != "*")) else None


def _cap(text: str, max_words: int) -> list[str]:
    """``text`` cut between sentences into pieces of at most ``max_words`` words."""
    if len(text.split()) <= max_words:
        return [text]
    parts = _SENTENCE_END.split(text)
    sentences = [p + "." for p in parts[:-1]] + parts[-1:]  # the split ate the full stops
    out: list[str] = []
    cur: list[str] = []
    for sentence in sentences:
        if cur and len(" ".join([*cur, sentence]).split()) > max_words:
            out.append(" ".join(cur))
            cur = []
        cur.append(sentence)
    if cur:
        out.append(" ".join(cur))
    cut: list[str] = []
    for piece in out:  # a sentence longer than max_words on its own: cut between words
        words = piece.split()
        cut.extend(" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words))
    return cut


def _help_topic(text: str, min_words: int) -> Iterator[tuple[str, str, str]]:
    """``(section, entry, text)`` for the prose of one help topic, short paragraphs of a section run
    together (a run that ends with ``:`` waits for what follows)."""
    paras = [lines for p in re.split(r"\n\s*\n", text) if (lines := [ln for ln in p.splitlines() if ln.strip()])]
    section, entry = paras[0][0].strip() if paras else "", ""
    buf: list[str] = []
    for i, lines in enumerate(paras):
        first = lines[0]
        indent = min(len(ln) - len(ln.lstrip()) for ln in lines)
        heading = len(lines) >= 2 and _UNDERLINE.match(lines[-1].strip()) is not None
        footnotes = first.strip().startswith("-[") and "Footnotes" in first
        following = paras[i + 1] if i + 1 < len(paras) else None
        definition = (len(lines) == 1 and indent == 0 and not first.startswith(("*", "-")) and following is not None
                      and following[0].startswith("   ") and not first.rstrip().endswith((".", ":")))
        if buf and (heading or footnotes or definition or (indent == 0 and entry)):
            yield section, entry, " ".join(buf)
            buf = []
        if footnotes:
            return
        if heading:
            if not lines[-1].strip().startswith("*"):  # '***' underlines the topic's own title
                section = " ".join(ln.strip() for ln in lines[:-1])
            entry = ""
            continue
        if definition:  # the indented paragraphs below describe it
            entry = first.strip()
            continue
        if indent == 0:
            entry = ""
        if indent > 3 or (prose := _prose(lines)) is None:
            continue
        buf.append(prose)
        joined = " ".join(buf)
        if len(joined.split()) >= min_words and not joined.endswith(":"):
            yield section, entry, joined
            buf = []
    if buf:
        yield section, entry, " ".join(buf)


def python_help_passages(limit: int | None = None, *, min_words: int = 12, max_words: int = 80
                         ) -> list[dict[str, str]]:
    """Passages of Python's own documentation (``pydoc_data.topics``) with metadata, for collections.

    The help topics are the Python Language Reference and the built-in types chapter of the Library
    Reference, shipped with every CPython (about 1,000 passages on Python 3.11). A passage is one prose
    paragraph, or several short ones of the same section run together (at least ``min_words`` words,
    cut between sentences at ``max_words`` words, so 256-token models see all of it);
    the description of an entry (``str.endswith(suffix[, start[, end]])``, a pdb command) starts with the
    entry. Code, grammar rules, tables, version notes and footnotes are left out; each text appears once.

    Parameters
    ----------
    limit
        At most this many passages (in a deterministic order: topics sorted by name); all when None.

    Returns
    -------
    list of dict
        ``{"key", "text", "topic", "title", "section", "chapter"}``: ``key`` is ``"<topic>.<n>"``;
        ``topic`` the help topic (``help("typesseq")``), ``title`` its heading, ``section`` the heading
        the passage sits under, ``chapter`` one of :data:`HELP_CHAPTERS` (or ``"other"``).
    """
    from pydoc_data.topics import topics

    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for name in sorted(topics):
        title = next((ln.strip() for ln in topics[name].splitlines() if ln.strip()), name)
        n = 0
        for section, entry, text in _help_topic(topics[name], min_words):
            if text.endswith(":"):  # it introduced an example or a grammar rule that was left out
                text = text[:-1].rstrip() + "."
            for piece in _cap(text, max_words):
                body = f"{entry}: {piece}" if entry else piece
                if body in seen or len(body.split()) < 8:
                    continue
                seen.add(body)
                out.append({"key": f"{name}.{n}", "text": body, "topic": name, "title": title, "section": section,
                            "chapter": _CHAPTER_OF.get(name, "other")})
                n += 1
        if limit is not None and len(out) >= limit:
            return out[:limit]
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
