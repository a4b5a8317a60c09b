"""``embspace distill``: parse, call embspace.train.Distiller (and embspace.evaluate.compare_encoders), format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out


def _read_lines(path: Path) -> list[str]:
    from ..data.corpus import TextCorpus

    return [line.strip() for fh in TextCorpus([path])._streams() for line in fh if line.strip()]


def _evaluation(target: Path, corpus: list[Path] | None, split: str) -> tuple[Any, Any, Any]:
    """(corpus, queries, qrels) for compare_encoders: a BEIR directory, or a file of queries against --corpus."""
    if target.is_dir():
        from ..evaluate import load_beir

        ds = load_beir(target, split=split)
        docs = dict(zip(ds.corpus_ids, ds.corpus_texts, strict=True))
        queries = dict(zip(ds.query_ids, ds.query_texts, strict=True))
        return docs, queries, ds.qrels
    if not target.is_file():
        out.error(f"--evaluate {target}: no such file or directory; give a BEIR dataset directory, or a file of "
                  "queries (one a line) to compare on the --corpus texts")
        raise typer.Exit(2)
    if not corpus:
        out.error("--evaluate with a file of queries compares the models on the --corpus texts; give --corpus too, "
                  "or a BEIR dataset directory")
        raise typer.Exit(2)
    texts = [t for p in corpus for t in _read_lines(p)]
    return texts, _read_lines(target), None


def distill(
    teacher: Annotated[str, typer.Argument(help="The teacher: minilm, a sentence-transformers/Hugging Face model "
                                                "directory or a hub id in the local cache.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the distilled model to "
                                                                "(get_encoder(path) loads it).")],
    corpus: Annotated[list[Path] | None, typer.Option(
        "--corpus", help="Texts of your domain (files or directories, one text a line; .gz/.bz2/.xz/.zip read): "
                         "token frequencies are counted there (repeat for several).")] = None,
    dims: Annotated[int, typer.Option("--dims", min=1, help="Dimensions kept by PCA.")] = 256,
    frequencies: Annotated[str, typer.Option(
        "--frequencies", help="Token frequencies of the SIF weights: auto (corpus when --corpus is given, else "
                              "zipf), zipf (from the token id order) or corpus.")] = "auto",
    vocabulary: Annotated[str, typer.Option(
        "--vocabulary", help="teacher, or teacher+corpus (add the frequent corpus words the tokenizer splits, with "
                             "the teacher's vector of the whole word; needs --corpus).")] = "teacher",
    weighting: Annotated[str, typer.Option(
        "--weighting", help="Token weights: sif (smooth inverse frequency), idf (needs --corpus) or none.")] = "sif",
    tune_epochs: Annotated[int | None, typer.Option(
        "--tune-epochs", min=0, help="Epochs of tuning the token rows on the --corpus texts against the teacher's "
                                     "vectors of them (default: 10 with --corpus; 0: the plain recipe). The teacher "
                                     "encodes up to --tune-texts texts first.")] = None,
    tune_texts: Annotated[int, typer.Option(
        "--tune-texts", min=1, help="At most this many corpus texts (a seeded sample) are used for tuning.")] = 20_000,
    evaluate: Annotated[Path | None, typer.Option(
        "--evaluate", help="Compare the distilled model with its teacher afterwards: a BEIR dataset directory "
                           "(nDCG@10, recall@10 with its qrels), or a file of queries searched in the --corpus "
                           "texts (top-10 agreement with the teacher).")] = None,
    split: Annotated[str, typer.Option("--split", help="qrels split of a BEIR --evaluate dataset.")] = "test",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
) -> None:
    """Distil a transformer text encoder into a static token-vector model (100x+ faster on a CPU)."""
    import time

    from ..encoders import get_encoder
    from ..train import Distiller

    texts: list[str] | None = None
    if corpus:
        for p in corpus:
            if not p.exists():
                out.error(f"--corpus {p}: no such file or directory")
                raise typer.Exit(2)
        texts = [t for p in corpus for t in _read_lines(p)]
    eval_data = _evaluation(evaluate, corpus, split) if evaluate is not None else None
    distiller = Distiller(pca_dims=dims, frequencies=frequencies,  # type: ignore[arg-type]  # checked in fit
                          vocabulary=vocabulary, weighting=weighting,  # type: ignore[arg-type]
                          tune_epochs=tune_epochs, tune_texts=tune_texts, progress=not quiet and not as_json)
    start = time.perf_counter()
    teacher_enc = get_encoder(teacher)
    distiller.fit(teacher_enc, corpus=texts)
    path = distiller.save(output)
    seconds = time.perf_counter() - start
    student = distiller.encoder_
    report: dict[str, Any] = {"output": str(path), "teacher": teacher_enc.name, "dim": student.dim,
                              "vocab": int(student.vectors.shape[0]), "seconds": seconds, **student.info}
    comparison = None
    if eval_data is not None:
        from ..evaluate import compare_encoders

        comparison = compare_encoders(teacher_enc, student, *eval_data, progress=not quiet and not as_json)
        report["evaluation"] = comparison.to_dict()
    if as_json:
        out.print_json(report)
        return
    typer.echo(f"distilled {teacher_enc.name} into {path} ({student.dim} dims, {report['vocab']:,} tokens, "
               f"{student.info.get('weighting')} weights, frequencies {student.info.get('frequencies')}, "
               f"{seconds:.1f} s)")
    if student.info.get("tune_texts"):
        cos = student.info["tune_heldout_cosine"]
        typer.echo(f"tuned on {student.info['tune_texts']:,} corpus texts for {student.info['tune_epochs']} epochs: "
                   f"held-out cosine to the teacher {cos[0]:.3f} -> {max(cos):.3f}")
    if comparison is not None:
        typer.echo(str(comparison))


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
