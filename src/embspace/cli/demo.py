"""``embspace demo``: the system working on real data, offline."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from . import _output as out

QUERIES = [
    "how do I catch an error raised by my code",
    "repeat a block of code for every item in a list",
    "make a new class that inherits from another",
    "load a module from a package",
    "a function that remembers variables from the enclosing scope",
]


WORDS = ["king", "paris", "guitar", "physics", "river"]
ANALOGIES = [("man", "king", "woman"), ("france", "paris", "germany"), ("walk", "walked", "swim"),
             ("big", "bigger", "small")]
PAIRS = [("car", "automobile"), ("coast", "shore"), ("king", "queen"), ("cup", "coffee"), ("noon", "string")]


def show_word_vectors(console: Console) -> None:
    """Part 1: word vectors that embspace learned itself, shipped in the package."""
    import json

    from ..data.builtin import DEMO_WORDS, demo_words

    words = demo_words()
    build = json.loads((DEMO_WORDS / "BUILD.json").read_text()) if (DEMO_WORDS / "BUILD.json").exists() else {}
    corpus = build.get("corpus", "Wikipedia")
    console.print(f"[bold]Word vectors learned by embspace[/] (skip-gram word2vec on {corpus}): {words!r}")
    results = words.neighbors(WORDS, k=5)
    for word, res in zip(WORDS, results, strict=True):
        out.print_hits(f"nearest to {word!r}", res.to_list())
    for a, b, c in ANALOGIES:
        hits = [key for key, _ in words.analogy(a, b, c, k=3).to_list()]
        console.print(f"{a} : {b} :: {c} : [bold]{hits[0]}[/]   (then {', '.join(hits[1:])})")
    console.print("Similarity (cosine): " + ";  ".join(f"{a}/{b} {words.similarity(a, b):.2f}" for a, b in PAIRS))


def run_demo(*, out_dir: Path | None = None, n_sentences: int = 400, progress: bool = True) -> None:
    from ..data import python_help_sentences
    from ..encoders import get_encoder
    from ..errors import ModelNotFoundError

    console: Console = out.console
    console.rule("[bold]embspace demo[/]: meaning becomes geometry")
    try:
        show_word_vectors(console)
    except ModelNotFoundError as e:
        console.print(f"(word vectors skipped: {e})")
    console.rule("pretrained sentence encoder")
    t0 = time.perf_counter()
    encoder = get_encoder("minilm", device="cpu")
    console.print(f"Loaded [bold]{encoder.name}[/] ({encoder.dim}-d, {encoder.revision}) offline in "
                  f"{time.perf_counter() - t0:.1f} s.")
    sentences = python_help_sentences(n_sentences)
    t0 = time.perf_counter()
    space = encoder.encode_space(sentences, progress=progress)
    dt = time.perf_counter() - t0
    console.print(f"Encoded {len(space)} sentences from Python's own documentation (pydoc_data) in {dt:.1f} s "
                  f"({len(space) / dt:.0f} sentences/s) -> {space!r}")
    console.print("\n[bold]Semantic search[/]: queries in plain words, answers by meaning (exact cosine search).")
    queries = encoder.encode(QUERIES, progress=False)
    results = space.neighbors(queries, k=3)
    for q, res in zip(QUERIES, results, strict=True):
        out.print_hits(f"query: {q!r}", res.to_list(), key_header="nearest sentences")
    first = next((k for k in space.keys if "exception" in k.lower()), space.keys[0])
    out.print_hits(f"neighbours of the sentence {first!r}", space.neighbors(first, k=3).to_list(),
                   key_header="nearest sentences")
    pairs = [(QUERIES[0], QUERIES[1]), (QUERIES[2], QUERIES[3])]
    for a, b in pairs:
        va, vb = encoder.encode([a, b], progress=False)
        console.print(f"cos({a!r}, {b!r}) = {space.similarity(va, vb):.3f}")
    console.print("\n[bold]Contextual token vectors[/]: the same word, a different vector in a different sentence.")
    contexts = ["we sat on the river bank", "she opened a bank account", "the bank raised interest rates"]
    banks = [encoder.encode_tokens(c).vector("bank") for c in contexts]
    for i in range(len(contexts)):
        for j in range(i + 1, len(contexts)):
            a, b = banks[i], banks[j]
            cos = float(a @ b / (float(a @ a) ** 0.5 * float(b @ b) ** 0.5))
            console.print(f"cos(bank in {contexts[i]!r}, bank in {contexts[j]!r}) = {cos:.3f}")
    if out_dir is None:  # the demo's data directory: what `embspace serve` serves when given no path
        from .._dirs import default_data_dir

        out_dir = default_data_dir() / "demo-sentences"
    written = space.save(out_dir)
    console.print(f"\nSaved the space to {written}; try: [bold]embspace info {written}[/], "
                  f"[bold]embspace neighbors {written} {first!r}[/], or [bold]embspace serve[/] (the HTTP API over "
                  f"{written.parent})")
    console.rule("done")
