"""``embspace collection ...`` and ``embspace search``: parse, call embspace.store, format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out

collection_app = typer.Typer(help="Collections: keys, vectors and metadata on disk, searchable under filters.",
                             no_args_is_help=True)

PathArg = Annotated[Path, typer.Argument(help="The collection directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
WhereOpt = Annotated[str | None, typer.Option("--where", "-w", help="Metadata filter, e.g. \"lang = 'en' and "
                                                                    "year >= 2020\" (see docs/filters.md).")]


@collection_app.command("create")
def create(
    path: PathArg,
    dim: Annotated[int | None, typer.Option("--dim", help="Vector dimension (or give --model).")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Encoder for texts: minilm, a model "
                                                                    "directory, a hub id.")] = None,
    metric: Annotated[str, typer.Option("--metric", help="cosine, dot or l2.")] = "cosine",
    index: Annotated[str, typer.Option("--index", help="auto, exact, or a FAISS factory string "
                                                       "(Flat, HNSW32, IVF1024,Flat, IVF4096,PQ32).")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Create an empty collection."""
    from ..store import Collection

    with Collection.create(path, dim=dim, encoder=model, metric=metric, index=index) as col:
        _print_info(col.info(), as_json)


@collection_app.command("info")
def info(path: PathArg, as_json: JsonOpt = False) -> None:
    """Size, dimension, metric, index and encoder of a collection."""
    from ..store import Collection

    with Collection.open(path, readonly=True) as col:
        _print_info(col.info(), as_json)


def _print_info(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(data)
    else:
        out.print_fields(data)


@collection_app.command("add")
def add(
    path: PathArg,
    source: Annotated[Path, typer.Argument(help="A space (any format embspace reads), or texts to encode with the "
                                                "collection's encoder: .txt, .jsonl[.gz], .csv, .parquet, a folder.")],
    text_field: Annotated[str, typer.Option("--text-field", help="Field(s) holding the text (texts only).")] = "text",
    id_field: Annotated[str | None, typer.Option("--id-field", help="Field holding each item's id.")] = None,
    upsert: Annotated[bool, typer.Option("--upsert", help="Replace items whose key exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a space's vectors, or texts (encoded with the collection's encoder, metadata kept)."""
    from ..store import Collection

    with Collection.open(path) as col:
        n = col.add_file(source, text_field=text_field, id_field=id_field, upsert=upsert)
        result = {"added": n, "count": col.count()}
    if as_json:
        out.print_json(result)
    else:
        typer.echo(f"added {n:,} items; the collection holds {result['count']:,}")


@collection_app.command("delete")
def delete(
    path: PathArg,
    keys: Annotated[list[str] | None, typer.Argument(help="Keys to delete.")] = None,
    where: WhereOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete items by key, or every item matching --where."""
    from ..store import Collection

    with Collection.open(path) as col:
        n = col.delete(list(keys) if keys else None, where=where)
        left = col.count()
    if as_json:
        out.print_json({"deleted": n, "count": left})
    else:
        typer.echo(f"deleted {n:,} items; {left:,} left")


@collection_app.command("compact")
def compact(path: PathArg) -> None:
    """Rebuild the index without removed entries (it also happens automatically)."""
    from ..store import Collection

    with Collection.open(path) as col:
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
    path: PathArg,
    query: Annotated[str, typer.Argument(help="A text (encoded with the collection's encoder) or an item's key.")],
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 10,
    where: WhereOpt = None,
    by_key: Annotated[bool, typer.Option("--key", help="QUERY is an item's key (its neighbours are shown).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Nearest items to a text or a key, optionally under a metadata filter."""
    from ..store import Collection

    with Collection.open(path, readonly=True) as col:
        res = (col.search(key=query, k=k, where=where, include="metadata") if by_key
               else col.search(query, k=k, where=where, include="metadata"))
    hits = res.to_records()
    if as_json:
        out.print_json({"query": query, "hits": hits})
    else:
        out.print_hits(f"nearest to {query!r}" + (f" where {where}" if where else ""), res.to_list())
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
    from ..store import Collection

    with Collection.open(path) as col:
        result = col.tune(recall, k=k, n_queries=queries)
    if as_json:
        out.print_json({"params": result.params, "recall": result.recall, "latency_ms": result.latency_ms,
                        "target_recall": result.target_recall, "reached": result.reached})
    else:
        typer.echo(result.to_markdown())
