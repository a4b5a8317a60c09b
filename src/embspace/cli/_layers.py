"""``embspace layers``: parse, call embspace.analysis.layers, format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out


def _data(path: Path, text_field: str, id_field: str | None, label_field: str | None
          ) -> tuple[dict[str, str], list[Any] | None]:
    """``{id: text}`` and the labels (one per text) of a .txt file or a file of records."""
    from ..encoders.file_encoding import read_items, read_records

    name = path.name.lower()
    if name.endswith((".txt", ".txt.gz")) or path.is_dir():
        if label_field is not None:
            out.error(f"--labels {label_field}: {path.name} holds plain texts, no fields; give a .jsonl, .csv or "
                      ".parquet file with a label field")
            raise typer.Exit(2)
        items, modality = read_items(path)
        if modality != "text":
            out.error(f"{path} holds images; embspace layers reads texts")
            raise typer.Exit(2)
        return {it.id: str(it.content) for it in items}, None
    recs = read_records(path, text_field=text_field, key_field=id_field)
    assert recs.texts is not None  # read_records refuses a file of records without the text field
    texts = {key: text or "" for key, text in zip(recs.keys, recs.texts, strict=True)}
    labels = None
    if label_field is not None:
        missing = [k for k, meta in zip(recs.keys, recs.metadata, strict=True) if label_field not in meta]
        if missing:
            out.error(f"--labels {label_field}: {len(missing):,} records have no field {label_field!r} (e.g. "
                      f"{missing[0]!r}); the fields are: {', '.join(recs.fields)}")
            raise typer.Exit(2)
        labels = [meta[label_field] for meta in recs.metadata]
    return texts, labels


def layers(
    model: Annotated[str, typer.Argument(help="A transformer text encoder: minilm, a sentence-transformers or "
                                              "Hugging Face model directory, or a hub id in the local cache.")],
    data: Annotated[Path, typer.Argument(help="The texts: a .txt file (one a line) or a .jsonl[.gz], .csv or "
                                              ".parquet file of records.")],
    labels: Annotated[str | None, typer.Option(
        "--labels", help="Field of each record's label: a cross-validated linear probe per layer.")] = None,
    text_field: Annotated[str, typer.Option("--text-field", help="Field(s) holding the text; several joined: "
                                                                 "title,text.")] = "text",
    id_field: Annotated[str | None, typer.Option("--id-field", help="Field of each record's id (as --qrels names "
                                                                    "documents) [default: key, else the row].")] = None,
    queries: Annotated[Path | None, typer.Option(
        "--queries", help="Records of queries (id in --id-field or 'key', text in --text-field): retrieval "
                          "nDCG@10 per layer; needs --qrels.")] = None,
    qrels: Annotated[Path | None, typer.Option("--qrels", help="query-id<TAB>doc-id<TAB>relevance lines (BEIR).")
                     ] = None,
    pooling: Annotated[str | None, typer.Option("--pooling", help="mean, cls or max [default: the model's "
                                                                  "own].")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=5, help="Use the first N texts.")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write an HTML page with the per-layer curves and the CKA heat map here.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
) -> None:
    """Measure every layer of a transformer on your texts: anisotropy, isotropy, intrinsic dimension, hubness,
    a linear probe (--labels), retrieval nDCG@10 (--queries, --qrels) and the linear CKA between layers; the
    best layer per task in words."""
    from .. import analysis
    from .._ranking import read_qrels
    from ..encoders import get_encoder

    if (queries is None) != (qrels is None):
        out.error("--queries and --qrels go together: give both for retrieval, or neither")
        raise typer.Exit(2)
    texts, label_values = _data(data, text_field, id_field, labels)
    if limit is not None:
        kept = list(texts)[:limit]
        texts = {k: texts[k] for k in kept}
        label_values = label_values[:limit] if label_values is not None else None
    query_texts = judged = None
    if queries is not None and qrels is not None:
        query_texts, _ = _data(queries, text_field, id_field, None)
        judged = read_qrels(qrels)[0]
    encoder = get_encoder(model, device=device)
    if not hasattr(encoder, "num_layers"):
        out.error(f"{model} is a {type(encoder).__name__}, which has no layers; give a transformer text encoder")
        raise typer.Exit(2)
    r = analysis.layers(encoder, texts, label_values, query_texts, judged, pooling=pooling,
                        progress=not quiet and not as_json)
    if report is not None:
        r.save(report)
    if as_json:
        out.print_json({**r.to_dict(), **({"report": str(report)} if report is not None else {})})
        return
    typer.echo(str(r))
    if report is not None:
        typer.echo(f"wrote {report} (figures in {report.with_name(report.stem + '_figures')})")


def register(app: typer.Typer) -> None:
    app.command("layers")(layers)
