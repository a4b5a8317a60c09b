"""``embspace ingest`` and ``embspace retrieve``: parse, call embspace.apps, format."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import _output as out

if TYPE_CHECKING:
    from ..apps.schemas import Passage

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
CollectionArg = Annotated[str, typer.Argument(help="The collection: a directory (or a Milvus address).")]


def ingest(
    docs_dir: Annotated[Path, typer.Argument(help="Folder of documents (.txt, .md, .html, .pdf), read recursively.")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection to write: created (with "
                                                                      "--encoder) when absent.")],
    encoder: Annotated[str | None, typer.Option(
        "--encoder", "-m", help="Encoder of a new collection: minilm (all-MiniLM-L6-v2, offline), a model directory or "
        "a hub id [default: the collection's own; minilm for a new one].")] = None,
    chunk_tokens: Annotated[int | None, typer.Option(
        "--chunk-tokens", min=2, help="Tokens per chunk [default: 200, or the encoder's limit if lower].")] = None,
    overlap: Annotated[int | None, typer.Option(
        "--overlap", min=0, help="Tokens shared by consecutive chunks [default: 20% of the chunk].")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Encoding batch size.")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Delete the chunks of documents no longer in the folder.")]
    = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Cut documents into token chunks, encode and store them (with source, offsets and title) for retrieval."""
    from ..apps import ingest as run_ingest

    report = run_ingest(docs_dir, collection, encoder=encoder, chunk_tokens=chunk_tokens, overlap=overlap,
                        batch_size=batch_size, prune=prune, progress=not quiet and not as_json)
    if as_json:
        out.print_json(report.model_dump())
        return
    line = (f"ingested {report.documents:,} documents ({report.chunks:,} chunks) into {report.collection} in "
            f"{report.seconds:.1f} s")
    extras = [f"{report.unchanged:,} unchanged"] if report.unchanged else []
    if report.removed:
        extras.append(f"{report.removed:,} removed")
    if report.skipped:
        extras.append(f"{len(report.skipped):,} skipped")
    typer.echo(line + (f"; {', '.join(extras)}" if extras else ""))
    if not quiet:
        for reason in report.skipped:
            typer.echo(f"  skipped {reason}", err=True)


def retrieve(
    collection: CollectionArg,
    query: Annotated[str, typer.Argument(help="The question or search text.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Passages to return.")] = 5,
    mode: Annotated[str, typer.Option("--mode", help="hybrid (BM25 + vector, fused by reciprocal rank), vector or "
                                                     "bm25.")] = "hybrid",
    where: Annotated[str | None, typer.Option("--where", "-w", help="Metadata filter, e.g. \"source = 'guide.md'\" or "
                                                                    "\"kind = 'pdf'\" (see docs/filters.md).")] = None,
    candidates: Annotated[int | None, typer.Option(
        "--candidates", help="Chunks taken from each ranking before fusion [default: max(k, 100)].")] = None,
    rerank: Annotated[str | None, typer.Option(
        "--rerank", help="Re-rank the best candidates with this cross-encoder (a model directory or a cached hub id, "
                         "e.g. cross-encoder/ms-marco-MiniLM-L6-v2).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Passages for a query from an ingested collection, with their source and character offsets."""
    from ..apps import CrossEncoderReranker, Retriever

    reranker = CrossEncoderReranker(rerank) if rerank else None
    with Retriever(collection, reranker=reranker) as retriever:
        passages = retriever.retrieve(query, k, mode=mode, where=where, candidates=candidates)
    if as_json:
        out.print_json({"query": query, "mode": mode, "passages": [p.model_dump() for p in passages]})
        return
    _print_passages(f"{mode} passages for {query!r}" + (f" where {where}" if where else ""), passages)


def _snippet(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def _print_passages(title: str, passages: list[Passage]) -> None:
    from rich.table import Table
    from rich.text import Text

    if not passages:
        out.console.print(f"{title}: no passage found", markup=False)
        return
    table = Table(title=Text(title), title_justify="left", show_edge=False, show_lines=True)
    table.add_column("#", justify="right", style="dim")
    table.add_column("score", justify="right")
    table.add_column("source", overflow="fold")
    table.add_column("title", overflow="fold")
    table.add_column("passage", overflow="fold", ratio=1)
    for i, p in enumerate(passages, 1):  # Text: brackets in documents are not rich markup
        table.add_row(str(i), f"{p.score:.4f}", Text(f"{p.source}:{p.start}-{p.end}"), Text(p.title or ""),
                      Text(_snippet(p.text)))
    out.console.print(table)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("retrieve")(retrieve)
