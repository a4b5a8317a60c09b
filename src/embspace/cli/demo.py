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


def run_demo(*, out_dir: Path | None = None, n_sentences: int = 400, progress: bool = True) -> None:
    from ..data import python_help_sentences
    from ..encoders import get_encoder

    console: Console = out.console
    console.rule("[bold]embspace demo[/]: meaning becomes geometry")
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
    if out_dir is not None:
        written = space.save(out_dir)
        console.print(f"\nSaved the space to {written}; try: [bold]embspace info {written}[/] or "
                      f"[bold]embspace neighbors {written} {first!r}[/]")
    console.rule("done")
