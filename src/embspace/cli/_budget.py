"""``embspace budget``: parse, call embspace.analysis.budget, format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out


def _split(value: str | None, what: str, cast: Any = str) -> list[Any] | None:
    if value is None:
        return None
    try:
        items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        out.error(f"{what} must be a comma-separated list, got {value!r}")
        raise typer.Exit(2) from None
    if not items:
        out.error(f"{what} is empty")
        raise typer.Exit(2)
    return items


def budget(
    collection: Annotated[Path, typer.Argument(help="A collection directory (or a space: any format embspace reads).")],
    queries: Annotated[Path, typer.Option(
        "--queries", "-q", help="Queries: BEIR queries.jsonl, id<TAB>text .tsv, one text per line, or .npy vectors.")],
    qrels: Annotated[Path | None, typer.Option(
        "--qrels", help="Relevance judgements (query-id corpus-id score): quality is then nDCG@k, else recall@k "
                        "against exact float search.")] = None,
    dims: Annotated[str | None, typer.Option(
        "--dims", help="Dimensions to keep, e.g. 384,256,128 (first-k truncation, re-normalised; default: the full "
                       "dimension, and a Matryoshka model's dims).")] = None,
    precisions: Annotated[str, typer.Option("--precisions", help="float32, int8, binary (comma-separated).")]
    = "float32,int8,binary",
    indexes: Annotated[list[str] | None, typer.Option(
        "--indexes", help="Search structure each precision is put on (HNSW32, Flat, exact), or a full factory "
                          "string (IVF256,PQ16); repeat the option for several. Default: HNSW32.")] = None,
    rescore: Annotated[str, typer.Option(
        "--rescore", help="Rescoring depths of quantised indexes (0: none; 4: the top 4k re-scored with the float "
                          "vectors).")] = "0,4",
    ef_search: Annotated[str | None, typer.Option("--ef-search", help="efSearch values tried on HNSW indexes.")]
    = None,
    nprobe: Annotated[str | None, typer.Option("--nprobe", help="nprobe values tried on IVF indexes.")] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Hits per query (quality at k).")] = 10,
    keep: Annotated[float, typer.Option(
        "--keep", help="Recommend the smallest index RAM keeping this share of the float quality.")] = 0.95,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed runs (their median is reported).")] = 3,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="FAISS threads.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write the figure (quality vs memory and QPS) here, "
                                                          "PNG.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Quality, memory and speed of every dimension x precision x index x rescoring on your own queries, the
    Pareto fronts and one recommendation (the smallest index RAM keeping --keep of the float quality)."""
    from .. import analysis
    from .._artifact import artifact_kind

    dim_list = _split(dims, "--dims", int)
    prec = _split(precisions, "--precisions")
    depths = _split(rescore, "--rescore", int)
    efs = _split(ef_search, "--ef-search", int)
    probes = _split(nprobe, "--nprobe", int)
    source: Any
    if artifact_kind(collection) == "collection":
        from ..store import Collection

        source = Collection.open(collection, readonly=True)
    else:
        from ._space_options import load_space

        source = load_space(collection)
    try:
        report = analysis.budget(source, queries=queries, qrels=qrels, dims=dim_list, precisions=prec or (),
                                 indexes=indexes or ("HNSW32",), rescore=depths or (0,), ef_search=efs,
                                 nprobe=probes, k=k, keep=keep, repeats=repeats, threads=threads, progress=not quiet)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    typer.echo(str(report))
    if json_path is not None:
        report.save(json_path)
        typer.echo(f"wrote {json_path}")
    if plot is not None:
        report.plot(plot)
        typer.echo(f"wrote {plot}")


def register(app: typer.Typer) -> None:
    app.command("budget")(budget)
