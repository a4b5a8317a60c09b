"""``embspace demo``: the system working end to end on real data, offline.

1. word vectors embspace learned itself (shipped): neighbours, analogies, similarities;
2. a pretrained sentence encoder (all-MiniLM-L6-v2, offline) on sentences of Python's documentation,
   saved as a space (``DATA/demo-sentences``);
3. passages of Python's documentation encoded into a collection, each with its text and metadata
   (``DATA/demo-docs``);
4. searches of the collection, one under a metadata filter;
5. a 2-D map of the collection, saved where the web projector reads it (``demo-docs/maps/default``);
6. the analysis report of the collection's space (``DATA/reports/demo-docs.html``);
7. the HTTP API and the web projector over the data directory (unless ``--no-serve``).

Re-running brings the collection up to date (unchanged passages are not encoded again) and reuses
its map when nothing changed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import _output as out

COLLECTION = "demo-docs"
SENTENCES = "demo-sentences"
#: In a folder of its own: `embspace serve` takes every file right in the data directory for a resource.
REPORT = "reports/demo-docs.html"
MAP_NAME = "default"
DEFAULT_PORT = 8000
MAP_METHODS = ("umap", "tsne", "pca")

WORDS = ["king", "paris", "guitar", "physics", "river"]
ANALOGIES = [("man", "king", "woman"), ("france", "paris", "germany"), ("walk", "walked", "swim"),
             ("big", "bigger", "small")]
PAIRS = [("car", "automobile"), ("coast", "shore"), ("king", "queen"), ("cup", "coffee"), ("noon", "string")]

#: Searches of the collection: (query, metadata filter or None).
SEARCHES: list[tuple[str, str | None]] = [
    ("how do I catch an error raised by my code", None),
    ("split a string into words", None),
    ("check whether a key is in a dictionary", None),
    ("loop over the items of a list", 'chapter = "compound statements"'),
]
SIMILAR = [("make a new class that inherits from another", "define a subclass of a base class"),
           ("make a new class that inherits from another", "load a module from a package")]
BANK = ["we sat on the river bank", "she opened a bank account", "the bank raised interest rates"]


def projector_url(port: int, host: str = "127.0.0.1") -> str:
    """Where the web projector shows the demo's collection."""
    from ._serve import base_url

    return f"{base_url(host, port)}/projector/?collection={COLLECTION}"


@dataclass
class _Steps:
    """Numbered steps with their timings, shown as they run and summed up at the end."""

    console: Console
    total: int
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        n = len(self.seconds) + 1
        self.console.rule(f"[bold]{n}/{self.total}[/] {title}", align="left")
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[title] = time.perf_counter() - t0
        self.console.print(f"[green]✓[/] {title} [dim]({self.seconds[title]:.1f} s)[/]")

    def summary(self) -> None:
        table = Table(title="Timings", title_justify="left", show_edge=False)
        table.add_column("step")
        table.add_column("seconds", justify="right")
        table.add_column("")
        for title, sec in self.seconds.items():
            table.add_row(title, f"{sec:.1f}", self.notes.get(title, ""))
        table.add_row("[bold]total[/]", f"[bold]{sum(self.seconds.values()):.1f}[/]", "")
        self.console.print(table)


# --------------------------------------------------------------------------------------------- 1
def show_word_vectors(console: Console) -> None:
    """Word vectors that embspace learned itself, shipped in the package."""
    import json

    from ..data.builtin import DEMO_WORDS, demo_words

    words = demo_words()
    build = json.loads((DEMO_WORDS / "BUILD.json").read_text()) if (DEMO_WORDS / "BUILD.json").exists() else {}
    corpus = build.get("corpus", "Wikipedia")
    console.print(f"[bold]Word vectors learned by embspace[/] (skip-gram word2vec on {corpus}): {words!r}")
    results = words.neighbors(WORDS, k=5)
    for word, res in zip(WORDS, results, strict=True):
        out.print_hits(f"nearest to {word!r}", res.to_list(), to=console)
    for a, b, c in ANALOGIES:
        hits = [key for key, _ in words.analogy(a, b, c, k=3).to_list()]
        console.print(f"{a} : {b} :: {c} : [bold]{hits[0]}[/]   (then {', '.join(hits[1:])})")
    console.print("Similarity (cosine): " + ";  ".join(f"{a}/{b} {words.similarity(a, b):.2f}" for a, b in PAIRS))


# --------------------------------------------------------------------------------------------- 2
def show_sentences(console: Console, encoder: Any, n_sentences: int, out_dir: Path, progress: bool) -> Path:
    """Sentence vectors of Python's documentation, saved as a space; sentence similarity and contextual
    token vectors."""
    from ..data import python_help_sentences

    sentences = python_help_sentences(n_sentences)
    t0 = time.perf_counter()
    space = encoder.encode_space(sentences, progress=progress)
    dt = time.perf_counter() - t0
    console.print(f"Encoded {len(space)} sentences of Python's own documentation (pydoc_data) in {dt:.1f} s "
                  f"({len(space) / max(dt, 1e-9):.0f} sentences/s) -> {space!r}")
    first = next((k for k in space.keys if "exception" in k.lower()), space.keys[0])
    out.print_hits(f"neighbours of the sentence {first!r}", space.neighbors(first, k=3).to_list(),
                   key_header="nearest sentences", to=console)
    for a, b in SIMILAR:
        va, vb = encoder.encode([a, b], progress=False)
        console.print(f"cos({a!r}, {b!r}) = {space.similarity(va, vb):.3f}")
    console.print("[bold]Contextual token vectors[/]: the same word, another vector in another sentence.")
    banks = [encoder.encode_tokens(c).vector("bank") for c in BANK]
    for i in range(len(BANK)):
        for j in range(i + 1, len(BANK)):
            a, b = banks[i], banks[j]
            cos = float(a @ b / (float(a @ a) ** 0.5 * float(b @ b) ** 0.5))
            console.print(f"cos(bank in {BANK[i]!r}, bank in {BANK[j]!r}) = {cos:.3f}")
    written: Path = space.save(out_dir)
    console.print(f"Saved the sentence space to {written}", soft_wrap=True)
    return written


# --------------------------------------------------------------------------------------------- 3
def _open_for_demo(path: Path, encoder: Any, console: Console) -> Any:
    """The demo's collection at ``path`` opened for writing: the existing one when it was made with
    ``encoder``, else a new one (replacing an older demo collection)."""
    from ..errors import CollectionLockedError, EmbspaceError, InvalidInputError
    from ..store import Collection
    from ..store.collection import DB_NAME

    if (path / DB_NAME).is_file():
        try:
            col = Collection.open(path, timeout=2.0)
        except CollectionLockedError:
            raise CollectionLockedError(f"{path} is in use by another process (a running `embspace serve` or "
                                        "`embspace demo`?); stop it, or give the demo another --data-dir") from None
        try:
            col.encoder = encoder  # refused when the collection holds another model's vectors
            return col
        except EmbspaceError as e:
            col.close()
            console.print(f"[yellow]Replacing[/] {path} ({e}).")
            shutil.rmtree(path)
    elif path.exists() and any(path.iterdir()):
        raise InvalidInputError(f"{path} exists and is not a collection; move it away or give the demo another "
                                "--data-dir")
    return Collection.create(path, encoder=encoder)


def build_collection(console: Console, path: Path, encoder: Any, n_docs: int | None, progress: bool
                     ) -> tuple[Any, bool, dict[str, dict[str, Any]]]:
    """The collection of documentation passages at ``path``, brought up to date: only new or changed
    passages are encoded, passages no longer wanted are deleted. Each passage's text is kept in the
    collection's text column, its topic, title, section and chapter in its metadata (a demo collection of an
    older embspace, with the text in the metadata, is moved over without encoding anything again). Returns
    (collection, vectors changed?, each key's metadata)."""
    import numpy as np

    from ..data import python_help_passages

    passages = python_help_passages(n_docs)
    texts = {p["key"]: p["text"] for p in passages}
    wanted = {p["key"]: {k: v for k, v in p.items() if k not in ("key", "text")} for p in passages}
    col = _open_for_demo(path, encoder, console)
    stored_keys = list(col.keys())
    have = {item["key"]: item for item in col.get(stored_keys, vectors=True)} if stored_keys else {}
    stale = [key for key in have if key not in wanted]
    todo = [key for key in wanted if key not in have or have[key]["text"] != texts[key]]
    encoding = set(todo)
    # the same text, other metadata (or the text still in the metadata): stored again with its vector
    restore = [key for key in wanted if key in have and key not in encoding and have[key]["metadata"] != wanted[key]]
    if stale:
        col.delete(stale)
    if todo:
        t0 = time.perf_counter()
        vectors = encoder.encode([texts[k] for k in todo], progress=progress)
        dt = time.perf_counter() - t0
        col.upsert(todo, vectors, [wanted[k] for k in todo], texts=[texts[k] for k in todo])
        console.print(f"Encoded {len(todo):,} passages in {dt:.1f} s ({len(todo) / max(dt, 1e-9):.0f} passages/s)")
    if restore:
        col.upsert(restore, np.stack([have[k]["vector"] for k in restore]), [wanted[k] for k in restore],
                   texts=[texts[k] for k in restore])
    chapters = sorted({m["chapter"] for m in wanted.values()})
    state = ("created" if len(todo) == len(wanted) and not have else
             "unchanged, reused" if not todo and not stale and not restore else
             f"updated: {len(todo):,} encoded, {len(stale):,} removed"
             + (f", {len(restore):,} with new metadata" if restore else ""))
    console.print(f"Collection [bold]{COLLECTION}[/] at {col.path}: {col.count():,} passages of Python's "
                  f"documentation ({state}), each with its text; metadata fields topic, title, section, chapter "
                  f"({len(chapters)} chapters: {', '.join(chapters)})")
    return col, bool(todo or stale), wanted


# --------------------------------------------------------------------------------------------- 4
def run_searches(console: Console, col: Any) -> None:
    """Text queries against the collection, one under a metadata filter."""
    console.print("Queries in plain words, answered by meaning through the collection's index "
                  "([bold]embspace search[/] does the same):")
    for query, where in SEARCHES:
        res = col.search(query, k=3, where=where, include=("metadata", "text"))
        hits = res.to_list()
        cells = {}
        for (key, _score), meta, stored in zip(hits, res.metadata or [], res.texts or [], strict=True):
            meta = meta or {}
            text = str(stored if stored is not None else key)
            text = text if len(text) <= 160 else text[:157] + "..."
            cells[key] = f"{escape(text)}\n[dim]{escape(key)} · {escape(str(meta.get('chapter', '')))}[/]"
        out.print_hits(f"search {query!r}" + (f" where {where}" if where else ""), hits, "passage (key · chapter)",
                       cells=cells, to=console)


# --------------------------------------------------------------------------------------------- 5
def make_map(console: Console, col: Any, space: Any, method: str, changed: bool, progress: bool
             ) -> tuple[Any, Path, bool]:
    """The 2-D map of the collection saved where the projector reads it (reused when the collection
    did not change and the saved map has the same method and points). Returns (map, path, reused?)."""
    from .._artifact import artifact_kind
    from ..analysis import SpaceMap, project
    from ..analysis.maps import map_path
    from ..errors import CorruptDataError

    target = map_path(col.path, MAP_NAME)
    if not changed:
        try:  # the saved map, by its artifact header (or a map's legacy files)
            old = SpaceMap.load(target) if artifact_kind(target) == "map" else None
        except CorruptDataError:
            old = None
        if old is not None and old.method == method and old.keys == list(space.keys):
            console.print(f"Reused the {method.upper()} map at {target} (the collection did not change)",
                          soft_wrap=True)
            return old, target, True
    note = " (its first use in a process compiles numba code: up to a minute)" if method == "umap" else ""
    t0 = time.perf_counter()
    with console.status(f"{method.upper()} map of {len(space):,} points{note}...") if progress else nullcontext():
        proj = project(space, method, 2, seed=0)
    proj.save(target)
    console.print(f"{method.upper()} map of {len(proj.keys):,} points in {time.perf_counter() - t0:.1f} s, saved to "
                  f"{target} (what the web projector shows)", soft_wrap=True)
    return proj, target, False


# --------------------------------------------------------------------------------------------- 6
def write_report(console: Console, space: Any, chapters: list[str], proj: Any, path: Path, progress: bool) -> Path:
    """The analysis report of the collection's space, its k-means clusters scored against the chapters."""
    from ..analysis import report

    r = report(space, labels=chapters, projection=proj, progress=progress,
               title=f"{COLLECTION}: {len(space):,} passages of Python's documentation x {space.dim} "
                     f"({space.provenance.model})")
    r.save(path)
    for line in r.recommendations[:3]:
        console.print(f"  - {escape(line)}")
    console.print(f"Analysis report ({r.seconds:.1f} s): [bold]{path}[/] (figures in "
                  f"{path.with_name(path.stem + '_figures')})", soft_wrap=True)
    return path


# ----------------------------------------------------------------------------------------------- run
def run_demo(*, data_dir: Path | None = None, out_dir: Path | None = None, n_sentences: int = 350,
             n_docs: int | None = None, map_method: str = "umap", serve: bool = True, port: int = DEFAULT_PORT,
             rebuild: bool = False, progress: bool = True) -> None:
    """Run the demo (see the module docs); with ``serve``, serve the API until Ctrl-C."""
    from .._dirs import default_data_dir
    from ..encoders import get_encoder
    from ..errors import InvalidInputError, ModelNotFoundError
    from ._serve import base_url

    if map_method not in MAP_METHODS:
        raise InvalidInputError(f"the map method must be one of {', '.join(MAP_METHODS)}, got {map_method!r}")
    console: Console = out.console
    custom_dir = data_dir is not None
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sentences_dir = out_dir if out_dir is not None else data_dir / SENTENCES
    col_path = data_dir / COLLECTION
    if rebuild and col_path.exists():
        shutil.rmtree(col_path)
    steps = _Steps(console, 6)
    start = time.perf_counter()
    console.rule("[bold]embspace demo[/]: meaning becomes geometry")
    console.print(f"Everything it makes goes to {data_dir}", soft_wrap=True)

    with steps.step("word vectors"):
        try:
            show_word_vectors(console)
        except ModelNotFoundError as e:
            console.print(f"(word vectors skipped: {e})")
    with steps.step("sentence encoder"):
        t0 = time.perf_counter()
        encoder = get_encoder("minilm", device="cpu")
        console.print(f"Loaded [bold]{encoder.name}[/] ({encoder.dim}-d, {encoder.revision}) offline in "
                      f"{time.perf_counter() - t0:.1f} s.")
        sentences_path = show_sentences(console, encoder, n_sentences, sentences_dir, progress)
    with steps.step("collection"):
        col, changed, metas = build_collection(console, col_path, encoder, n_docs, progress)
    try:
        with steps.step("searches"):
            run_searches(console, col)
        space = col.to_space()
        with steps.step(f"map ({map_method})"):
            proj, map_dir, reused = make_map(console, col, space, map_method, changed, progress)
            if reused:
                steps.notes[f"map ({map_method})"] = "reused"
    finally:
        col.close()  # the server opens it next
    with steps.step("analysis report"):
        report_path = write_report(console, space, [str(metas[k].get("chapter", "")) for k in space.keys], proj,
                                   data_dir / REPORT, progress)
    steps.summary()
    console.print(f"[bold]Done in {time.perf_counter() - start:.1f} s.[/] Made: the collection {col_path}, its map "
                  f"{map_dir}, the report {report_path}, the sentence space {sentences_path}.", soft_wrap=True)
    console.print(f"Try: [bold]embspace search {col_path} \"how do I open a file\"[/], "
                  f"[bold]embspace info {sentences_path}[/], [bold]embspace analyze {sentences_path}[/]",
                  soft_wrap=True)
    extra = [] if sentences_path.parent == data_dir else [sentences_path]
    if not serve:
        command = "embspace serve" + "".join(f" {p}" for p in extra) + (f" --data-dir {data_dir}" if custom_dir
                                                                             else "")
        console.print(f"\nStart the HTTP API and the web projector later with: [bold]{command}[/]", soft_wrap=True)
        console.print(f"Web projector: [bold]{projector_url(DEFAULT_PORT)}[/]", soft_wrap=True)
        console.print(f"API docs:      [bold]{base_url('127.0.0.1', DEFAULT_PORT)}/docs[/]", soft_wrap=True)
        return
    serve_data_dir(data_dir, port=port, extra=extra)


def serve_data_dir(data_dir: Path, *, port: int = DEFAULT_PORT, extra: list[Path] | None = None,
                   host: str = "127.0.0.1") -> None:
    """Serve the API over ``data_dir`` on ``host``: ``port``, or a free port when that one is taken,
    until Ctrl-C."""
    from ..serve.app import ServeConfig
    from ._serve import banner, base_url, build_app, listen, run_app

    console = out.console
    sock = listen(host, port, fallback=True)
    try:
        actual = int(sock.getsockname()[1])
        console.rule("[bold]serving[/]")
        if actual != port:
            console.print(f"(port {port} is taken: using {actual})")
        app = build_app(ServeConfig(data_dir=str(data_dir), paths=[str(p) for p in extra or []], host=host,
                                    port=actual))
        console.print(banner(app.state.resources, host, actual), soft_wrap=True)
        console.print(f"Web projector: [bold]{projector_url(actual, host)}[/]", soft_wrap=True)
        console.print(f"API docs:      [bold]{base_url(host, actual)}/docs[/]", soft_wrap=True)
        console.print("Press Ctrl-C to stop.")
        run_app(app, host=host, port=actual, log_level="warning", sock=sock)
    finally:
        sock.close()
    console.print("Stopped.")
