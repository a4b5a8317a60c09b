"""``embspace collection ...`` and ``embspace search``: parse, call embspace.store, format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out
from ._encoder_options import CreateRescoreOpt, RescoreOpt
from ._rag import CollectionArg

collection_app = typer.Typer(help="Collections: keys, vectors and metadata on disk, searchable under filters.",
                             no_args_is_help=True)

PathArg = Annotated[Path, typer.Argument(help="The collection directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
WhereOpt = Annotated[str | None, typer.Option("--where", "-w", help="Metadata filter, e.g. \"lang = 'en' and "
                                                                    "year >= 2020\" (see docs/filters.md).")]


@collection_app.command("create")
def create(
    path: CollectionArg,
    dim: Annotated[int | None, typer.Option(
        "--dim", help="Vector dimension (or give --model); with --model, a smaller N keeps the first N dimensions "
                      "of the model's vectors, re-normalised (Matryoshka truncation; a warning when the model was "
                      "not trained for N; searches and adds encode the same way).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Encoder for texts: minilm, a model "
                                                                    "directory, a hub id.")] = None,
    metric: Annotated[str, typer.Option("--metric", help="cosine, dot or l2.")] = "cosine",
    index: Annotated[str, typer.Option(
        "--index", help="auto, exact, or a FAISS factory string (Flat, HNSW32, IVF1024,Flat, IVF4096,PQ32); "
                        "quantised: HNSW32,SQ8 (int8), BinaryFlat, BinaryHNSW32 (sign bits, 32x smaller), with "
                        "--rescore.")] = "auto",
    rescore: CreateRescoreOpt = None,
    on_disk: Annotated[bool, typer.Option(
        "--on-disk", help="Keep the index's inverted lists in a memory-mapped file, for collections larger than "
                          "the memory; needs an IVF --index (IVF4096,PQ32). See docs/scale.md.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an empty collection."""
    from ..store import Collection

    with Collection.create(path, dim=dim, encoder=model, metric=metric, index=index, rescore=rescore,
                           on_disk=on_disk) as col:
        _print_info(col.info(), as_json)


@collection_app.command("info")
def info(path: PathArg, as_json: JsonOpt = False) -> None:
    """Size, dimension, metric, index and encoder of a collection."""
    from ..store import Collection

    with Collection.open(path, readonly=True) as col:
        _print_info(col.info(), as_json)


WaitOpt = Annotated[float, typer.Option("--wait", min=0, help="Seconds to wait while another process writes the "
                                                              "collection (an 'embspace serve', say).")]


def _open_writable(path: Path, wait: float = 10.0) -> Any:
    """The collection opened for writing; when another process holds it, say so at once, then wait up to
    ``wait`` seconds (the error then names the commands that read meanwhile)."""
    from ..errors import CollectionLockedError
    from ..store import Collection

    try:
        return Collection.open(path, timeout=0)
    except CollectionLockedError:
        if wait <= 0:
            raise
    out.note(f"{path} is open for writing by another process; waiting up to {wait:g} s (--wait)")
    return Collection.open(path, timeout=wait)


def _print_info(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(data)
    else:
        out.print_fields(data)


@collection_app.command("add")
def add(
    path: PathArg,
    source: Annotated[Path, typer.Argument(help="A space (any format embspace reads); a .jsonl[.gz], .csv or "
                                                ".parquet file of records (vectors or texts); or texts to encode with "
                                                "the collection's encoder: a .txt file (a text a line) or a folder "
                                                "(a text a file).")],
    key_field: Annotated[str | None, typer.Option(
        "--key-field", help="Records: the field of each item's key [default: 'key' when there is one, else the row "
                            "number (texts only)].")] = None,
    vector_field: Annotated[str | None, typer.Option(
        "--vector-field", help="Records: the field of each item's vector [default: 'vector' when there is one; "
                               "without vectors the texts are encoded].")] = None,
    text_field: Annotated[str, typer.Option(
        "--text-field", help="Records: the field(s) of the text, stored with each item (and encoded when there "
                             "are no vectors); several joined: title,text.")] = "text",
    metadata_fields: Annotated[str | None, typer.Option(
        "--metadata-fields", help="Records: the fields kept as metadata, comma-separated [default: every other "
                                  "field].")] = None,
    id_field: Annotated[str | None, typer.Option("--id-field", hidden=True,
                                                 help="Deprecated: use --key-field.")] = None,
    upsert: Annotated[bool, typer.Option("--upsert", help="Replace items whose key exists.")] = False,
    chunk: Annotated[int | None, typer.Option(
        "--chunk", min=8, help="Cut texts into windows of this many tokens (keys KEY#N), as 'embspace ingest' "
                               "does [default: texts longer than the model's maximum are truncated].")] = None,
    overlap: Annotated[int, typer.Option("--overlap", min=0, help="Tokens shared by consecutive chunks.")] = 0,
    include_all: Annotated[bool, typer.Option(
        "--all", help="Folders: also add README/LICENSE files, empty files and files in hidden folders (skipped "
                      "by default; binaries and dot-named files never are).")] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Encode every text; do not read or write the "
                                                              "content-hash cache.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    wait: WaitOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Add a space's vectors, records (vectors or texts, with metadata), or texts encoded with the collection's
    encoder; each text is stored with its item. Texts seen before come from the content-hash cache."""
    import warnings

    from ..encoders.text_encoder import TruncationWarning

    if id_field is not None:
        out.warning("--id-field is deprecated and will be removed in the next release; use --key-field")
        if key_field is not None and key_field != id_field:
            raise typer.BadParameter(f"--key-field {key_field} and --id-field {id_field} disagree; give --key-field "
                                     "only", param_hint="--key-field")
        key_field = id_field
    fields = [f.strip() for f in metadata_fields.split(",")] if metadata_fields is not None else None
    with _open_writable(path, wait) as col, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)  # said below, with the option that avoids it
        report = col.add_file(source, text_field=text_field, key_field=key_field, vector_field=vector_field,
                              metadata_fields=fields, upsert=upsert, progress=not quiet and not as_json, chunk=chunk,
                              overlap=overlap, include_all=include_all, cache=not no_cache)
        count = col.count()
    n = int(report)
    if as_json:
        result: dict[str, Any] = {"added": n, "count": count}
        if report.n_encoded or report.n_cached:
            result.update(encoded=report.n_encoded, cached=report.n_cached, truncated=report.n_truncated,
                          chunked=report.n_chunked)
        if report.skipped:
            result["skipped"] = [{"path": p, "reason": why} for p, why in report.skipped]
        out.print_json(result)
        return
    line = f"{'stored' if upsert else 'added'} {n:,} items"
    if report.n_encoded or report.n_cached:
        line += (f" in {report.seconds:.1f} s ({report.items_per_second:,.1f} items/s; encoded {report.n_encoded:,}, "
                 f"from cache {report.n_cached:,})")
    typer.echo(f"{line}; the collection holds {count:,}")
    if report.skipped:
        out.note(_skipped_line(report.skipped))
    if report.n_chunked:
        out.note(f"{report.n_chunked:,} texts were split into windows of {chunk} tokens (keys KEY#N)")
    if report.n_truncated:
        out.warning(f"{report.n_truncated:,} texts were longer than the model's maximum and were truncated; "
                    "--chunk TOKENS splits them into windows instead")


def _skipped_line(skipped: list[tuple[str, str]]) -> str:
    """``skipped 1 file (not a document): README; --all adds them`` — grouped by reason, a few names each."""
    by_reason: dict[str, list[str]] = {}
    for name, why in skipped:
        by_reason.setdefault(why, []).append(name)
    parts = []
    for why, names in by_reason.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3:,} more" if len(names) > 3 else "")
        parts.append(f"{len(names):,} {why} ({shown})")
    files = "file" if len(skipped) == 1 else "files"
    addable = any(why in _ADDED_BY_ALL for why in by_reason)
    return f"skipped {len(skipped):,} {files}: {'; '.join(parts)}" + ("; --all adds them" if addable else "")


#: Reasons to skip a file of a folder that --all overrides (the others are not text at all).
_ADDED_BY_ALL = ("describes the folder, not a document", "empty", "hidden")


@collection_app.command("delete")
def delete(
    path: PathArg,
    keys: Annotated[list[str] | None, typer.Argument(help="Keys to delete.")] = None,
    where: WhereOpt = None,
    wait: WaitOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Delete items by key, or every item matching --where."""
    with _open_writable(path, wait) as col:
        n = col.delete(list(keys) if keys else None, where=where)
        left = col.count()
    if as_json:
        out.print_json({"deleted": n, "count": left})
    else:
        typer.echo(f"deleted {n:,} items; {left:,} left")


@collection_app.command("compact")
def compact(path: PathArg) -> None:
    """Rebuild the index without removed entries (it also happens automatically)."""
    with _open_writable(path) as col:
        col.compact()
        typer.echo(f"compacted: {col.count():,} items")


@collection_app.command("export")
def export(
    path: PathArg,
    output: Annotated[Path, typer.Option("--output", "-o", help=".jsonl or .parquet (with metadata), or any "
                                                                "space format.")],
    where: WhereOpt = None,
) -> None:
    """Write the items (matching --where) to JSONL, Parquet, or a space."""
    from ..store import Collection

    with Collection.open(path, readonly=True) as col:
        name = output.name.lower()
        if name.endswith(".jsonl"):
            n = col.export_jsonl(output, where)
        elif name.endswith(".parquet"):
            n = col.export_parquet(output, where)
        else:
            space = col.to_space(where)
            space.save(output)
            n = len(space)
    typer.echo(f"wrote {n:,} items to {output}")


def search(
    path: CollectionArg,
    query: Annotated[str, typer.Argument(help="A text (encoded with the collection's encoder) or an item's key.")],
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 10,
    where: WhereOpt = None,
    by_key: Annotated[bool, typer.Option("--key", help="QUERY is an item's key (its neighbours are shown).")] = False,
    rescore: RescoreOpt = None,
    nprobe: Annotated[int | None, typer.Option(
        "--nprobe", help="IVF indexes: inverted lists visited per query (more: higher recall, slower) "
                         "[default: the one saved with the index].")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Nearest items to a text or a key, optionally under a metadata filter."""
    from ..store import Collection
    from ..store.collection_result import Include

    include: tuple[Include, ...] = ("metadata", "text")
    with Collection.open(path, readonly=True) as col:  # a Milvus collection refuses rescore itself
        res = (col.search(key=query, k=k, where=where, include=include, rescore=rescore, nprobe=nprobe) if by_key
               else col.search(query, k=k, where=where, include=include, rescore=rescore, nprobe=nprobe))
    hits = res.to_records()
    if as_json:
        out.print_json({"query": query, "hits": hits})
        return
    title = f"nearest to {query!r}" + (f" where {where}" if where else "")
    if any(h.get("text") for h in hits):
        out.print_text_hits(title, [(h["key"], h["score"], h.get("text") or "") for h in hits])
    else:
        out.print_hits(title, res.to_list())
    if any(h["metadata"] for h in hits):
        typer.echo(json.dumps({h["key"]: h["metadata"] for h in hits[:3]}, ensure_ascii=False)[:500], err=True)


index_app = typer.Typer(help="Vector indexes of collections.", no_args_is_help=True)


@index_app.command("tune")
def tune(
    path: PathArg,
    recall: Annotated[float, typer.Option("--recall", help="Recall@k to reach, against exact search.")] = 0.95,
    k: Annotated[int, typer.Option("-k", help="Hits per query the recall is measured at.")] = 10,
    queries: Annotated[int, typer.Option("--queries", help="Stored vectors used as sample queries.")] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Pick the cheapest efSearch/nprobe reaching a recall on the collection's own data; saved with the index."""
    with _open_writable(path) as col:
        result = col.tune(recall, k=k, n_queries=queries)
    if as_json:
        out.print_json({"params": result.params, "recall": result.recall, "latency_ms": result.latency_ms,
                        "target_recall": result.target_recall, "reached": result.reached})
    else:
        typer.echo(result.to_markdown())
