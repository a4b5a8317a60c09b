"""The ``embspace`` command line: parse, call the library, format. Nothing else."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from .._version import __version__
from ..errors import CollectionLockedError, EmbspaceError, InvalidInputError
from . import _output as out
from ._advice import cli_message
from ._encoder_options import TruncateDimOpt
from ._space_options import EncodingOpt, LimitOpt, UnicodeErrorsOpt, load_space

app = typer.Typer(
    name="embspace",
    help="embspace: learn, encode, store, search, analyse and evaluate embedding spaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SpaceArg = Annotated[Path, typer.Argument(help="A space: directory or vector file (format detected).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
FormatOpt = Annotated[str | None, typer.Option("--format", "-f", help="Input format (detected if omitted).")]


class UserError(EmbspaceError):
    """A user mistake reported as one line and exit status 2."""


def _load(path: Path, fmt: str | None = None, encoding: str = "utf-8", unicode_errors: str = "strict",
          limit: int | None = None) -> Any:
    return load_space(path, fmt, encoding=encoding, unicode_errors=unicode_errors, limit=limit)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"embspace {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """embspace: learn, encode, store, search, analyse and evaluate embedding spaces."""
    import warnings

    warnings.showwarning = _show_warning


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A warning on the command line: one line, in CLI terms (not Python's file:line and source line)."""
    out.warning(cli_message(str(message)))


@app.command()
def info(space: SpaceArg, fmt: FormatOpt = None, encoding: EncodingOpt = "utf-8",
         unicode_errors: UnicodeErrorsOpt = "strict", limit: LimitOpt = None, as_json: JsonOpt = False) -> None:
    """Size, metric, normalisation and provenance of a space."""
    from ..space import detect_format

    s = _load(space, fmt, encoding, unicode_errors, limit)
    data = {
        "path": str(space),
        "format": fmt or detect_format(space, encoding=encoding, unicode_errors=unicode_errors),
        "n": len(s),
        "dim": s.dim,
        "metric": s.metric,
        "normalized": s.is_normalized,
        "has_counts": s.counts is not None,
        "space_id": s.space_id,
        "provenance": s.provenance.to_dict(),
        "first_keys": list(s.keys[:10]),
        "subwords": _subwords_info(s),
    }
    if as_json:
        out.print_json(data)
    else:
        out.print_info(data)


def _subwords_info(space: Any) -> dict[str, Any] | None:
    """What a space that embeds unknown words from character n-grams (a SubwordSpace) uses for it; None for others."""
    from ..space import SubwordSpace

    if not isinstance(space, SubwordSpace):
        return None
    return {"minn": space.minn, "maxn": space.maxn, "bucket": space.bucket,
            "stored_ngram_rows": len(space.ngram_vectors), "ngram_bytes": space.ngram_nbytes}


def _check_embeddable(space: Any, keys: list[str]) -> None:
    """On a space with subwords, refuse an unknown word none of whose n-grams was trained (its vector would be
    zero: neighbours undefined, similarities 0) as an unknown key, with the near matches."""
    from ..errors import UnknownKeyError
    from ..space import SubwordSpace

    if not isinstance(space, SubwordSpace):
        return  # a plain space raises UnknownKeyError itself
    for key in keys:
        if key in space or space.can_embed(key):
            continue
        try:
            space.index_of(key)
        except UnknownKeyError as e:
            raise UnknownKeyError(key, e.suggestions, where="the space, and none of its character n-grams was "
                                  "seen in training (its vector would be zero)") from None


@app.command()
def neighbors(
    space: SpaceArg,
    keys: Annotated[list[str], typer.Argument(help="One or more keys to query.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Neighbours per key.")] = 10,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = "utf-8",
    unicode_errors: UnicodeErrorsOpt = "strict",
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Exact nearest neighbours of each KEY (the key itself excluded); a space with subwords (fastText) also
    answers keys it never saw, from their character n-grams."""
    s = _load(space, fmt, encoding, unicode_errors, limit)
    _check_embeddable(s, list(keys))
    result = s.neighbors(list(keys), k=k)
    if as_json:
        out.print_json({key: result[i].to_list() for i, key in enumerate(keys)})
        return
    for i, key in enumerate(keys):
        out.print_hits(f"neighbours of {key!r}", result[i].to_list())


@app.command()
def analogy(
    space: SpaceArg,
    a: Annotated[str, typer.Argument(help="a, in 'a is to b as c is to ?'")],
    b: Annotated[str, typer.Argument(help="b")],
    c: Annotated[str, typer.Argument(help="c")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Number of answers.")] = 5,
    method: Annotated[str, typer.Option("--method", "-m", help="3cosadd or 3cosmul.")] = "3cosadd",
    fmt: FormatOpt = None,
    encoding: EncodingOpt = "utf-8",
    unicode_errors: UnicodeErrorsOpt = "strict",
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer 'A is to B as C is to ?' (e.g. man king woman -> queen); with subwords, unknown words too."""
    if method not in ("3cosadd", "3cosmul"):
        raise UserError(f"unknown method {method!r}; use 3cosadd or 3cosmul")
    s = _load(space, fmt, encoding, unicode_errors, limit)
    _check_embeddable(s, [a, b, c])
    hits = s.analogy(a, b, c, k=k, method=method).to_list()
    if as_json:
        out.print_json({"a": a, "b": b, "c": c, "method": method, "answers": hits})
    else:
        out.print_hits(f"{a} : {b} :: {c} : ?  ({method})", hits)


@app.command()
def similarity(
    space: SpaceArg,
    a: Annotated[str, typer.Argument(help="First key.")],
    b: Annotated[str, typer.Argument(help="Second key.")],
    fmt: FormatOpt = None,
    encoding: EncodingOpt = "utf-8",
    unicode_errors: UnicodeErrorsOpt = "strict",
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Similarity of two keys under the space's metric (with subwords, unknown words too)."""
    s = _load(space, fmt, encoding, unicode_errors, limit)
    _check_embeddable(s, [a, b])
    value = s.similarity(a, b)
    if as_json:
        out.print_json({"a": a, "b": b, "metric": s.metric, "similarity": value})
    else:
        typer.echo(f"{s.metric} similarity({a}, {b}) = {value:.6f}")


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="Input space (format detected).")],
    target: Annotated[Path, typer.Argument(help="Output path; the format follows its suffix.")],
    to: Annotated[str | None, typer.Option("--format", "-t", help="Output format.")] = None,
    from_format: Annotated[str | None, typer.Option("--from", help="Input format.")] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="Set the metric: cosine, dot or l2.")] = None,
    encoding: EncodingOpt = "utf-8",
    unicode_errors: UnicodeErrorsOpt = "strict",
    limit: LimitOpt = None,
) -> None:
    """Convert a space between formats (embspace dir, word2vec text/binary, GloVe, .vec, fastText .bin, .npy,
    Parquet, Arrow); a space with subwords written to .bin becomes fastText's .bin model."""
    from ..space import save

    s = _load(source, from_format, encoding, unicode_errors, limit)
    if metric is not None:
        s = s.with_metric(metric)
    if to is None and target.suffix.lower() == ".bin" and _subwords_info(s) is not None:
        to = "fasttext-bin"  # a space with subwords keeps them in fastText's .bin (--format word2vec-binary: not)
    written = save(s, target, format=to)
    typer.echo(f"wrote {len(s)} x {s.dim} to {written}")


@app.command()
def demo(
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", help="Where the demo writes (and the server serves) "
                           "[default: $EMBSPACE_DATA or ~/.local/share/embspace].")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Save the sentence space here instead of DATA_DIR/demo-sentences.")] = None,
    sentences: Annotated[int, typer.Option("--sentences", min=10, help="How many sentences to encode.")] = 350,
    docs: Annotated[int | None, typer.Option(
        "--docs", min=30, help="How many documentation passages go into the collection [default: all, ~900].")]
    = None,
    map_method: Annotated[str, typer.Option("--map", help="The collection's map: umap, tsne or pca.")] = "umap",
    serve: Annotated[bool, typer.Option(
        "--serve/--no-serve", help="Serve the HTTP API and the web projector at the end (until Ctrl-C).")] = True,
    port: Annotated[int, typer.Option(
        "--port", "-p", min=0, max=65535, help="Port of the server (a free one when it is taken).")] = 8000,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Make the collection and its map again from scratch.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Show embspace working end to end on real data, offline: word vectors, a sentence encoder, a collection
    of Python's documentation with searches, its map and analysis report, then the HTTP API and the web
    projector."""
    from .demo import run_demo

    run_demo(data_dir=data_dir, out_dir=out_dir, n_sentences=sentences, n_docs=docs, map_method=map_method,
             serve=serve, port=port, rebuild=rebuild, progress=not quiet)


# --------------------------------------------------------------------------- train
train_app = typer.Typer(
    name="train",
    help="Learn a space: word vectors from raw text (word2vec, fastText, GloVe), user and item vectors (mf), metric "
         "learning on a labelled space (contrastive), a CLIP-style digits model (clip-digits), a CLAP-style "
         "spoken-digits model (clap-words).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(train_app, name="train")

from ._collection import collection_app, index_app  # noqa: E402  (the groups' commands live in their own module)
from ._collection import search as _search_command  # noqa: E402

app.add_typer(collection_app, name="collection")
app.add_typer(index_app, name="index")
app.command("search")(_search_command)

from ._analysis import register as _register_analysis  # noqa: E402

_register_analysis(app)

from ._bias import register as _register_bias  # noqa: E402

_register_bias(app)

from ._budget import register as _register_budget  # noqa: E402

_register_budget(app)

from ._recommend import register as _register_recommend  # noqa: E402

_register_recommend(app, train_app)

from ._contrastive import register as _register_contrastive  # noqa: E402

_register_contrastive(app, train_app)

from ._serve import lock_advice  # noqa: E402
from ._serve import register as _register_serve  # noqa: E402

_register_serve(app)

from ._rag import register as _register_rag  # noqa: E402

_register_rag(app)

from ._distill import register as _register_distill  # noqa: E402

_register_distill(app)

from ._layers import register as _register_layers  # noqa: E402

_register_layers(app)

CorpusArg = Annotated[list[Path], typer.Argument(
    help="Text: files, directories (read recursively) or archives (.gz, .bz2, .xz, .zip); one sentence a line.")]
OutOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Where to write the space; the format follows the suffix (no suffix: an embspace "
                           "directory) [default: an embspace directory CORPUS-MODEL in the data directory, "
                           "$EMBSPACE_DATA, where embspace serve finds it; -2, -3... when that name is taken].")]
SaveFormatOpt = Annotated[str | None, typer.Option("--format", "-f", help="Output format (default: from the suffix).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]
LowercaseOpt = Annotated[bool, typer.Option("--lowercase/--no-lowercase", help="Lower-case the text first.")]
TokenizerOpt = Annotated[str, typer.Option(
    "--tokenizer", help="How lines become words: 'words' (letters and digits; punctuation dropped, so 'war,' is "
                        "'war'), 'whitespace' (split on spaces, punctuation kept: word2vec.c's way), or a regular "
                        "expression matching one token, e.g. '\\S+'.")]
WorkersOpt = Annotated[int | None, typer.Option("--workers", "--threads", help="Threads (default: all cores).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
MaxVocabOpt = Annotated[int | None, typer.Option("--max-vocab-size", help="Keep at most this many words.")]

# the options of the word2vec family (train word2vec, train fasttext), defined once
DimOpt = Annotated[int, typer.Option("--dim", help="Vector dimension.")]
WindowOpt = Annotated[int, typer.Option("--window", help="Maximum context distance.")]
MinCountOpt = Annotated[int, typer.Option("--min-count", help="Drop words rarer than this.")]
ArchitectureOpt = Annotated[str | None, typer.Option(
    "--architecture", "-a", help="skipgram or cbow [default: skipgram].")]
SgOpt = Annotated[bool, typer.Option("--sg", help="Shortcut for --architecture skipgram.")]
CbowOpt = Annotated[bool, typer.Option("--cbow", help="Shortcut for --architecture cbow.")]
NegativeOpt = Annotated[int, typer.Option("--negative", "--neg", help="Negative samples per prediction.")]
NsExponentOpt = Annotated[float, typer.Option("--ns-exponent", help="Exponent of the noise distribution.")]
SampleOpt = Annotated[float, typer.Option("--sample", help="Frequent-word subsampling threshold (0: off).")]
EpochsOpt = Annotated[int, typer.Option("--epochs", help="Passes over the corpus.")]
AlphaOpt = Annotated[float | None, typer.Option(
    "--alpha", "--lr", help="Initial learning rate [default: 0.025 skip-gram, 0.05 CBOW].")]
MinAlphaOpt = Annotated[float, typer.Option("--min-alpha", help="Final learning rate.")]
CheckpointOpt = Annotated[Path | None, typer.Option(
    "--checkpoint", help="Directory to save the training state in; a rerun with it resumes.")]
CheckpointEveryOpt = Annotated[float, typer.Option(
    "--checkpoint-every", help="Seconds between checkpoints (also saved after every epoch).")]


def _architecture(architecture: str | None, sg: bool, cbow: bool) -> str:
    """The one architecture that --architecture, --sg and --cbow name (skipgram when none does)."""
    chosen = {a for a, on in (("skipgram", sg), ("cbow", cbow)) if on}
    if architecture is not None:
        chosen.add(architecture)
    if len(chosen) > 1:
        raise UserError(f"conflicting architectures {', '.join(sorted(chosen))}; give one of --architecture, "
                        "--sg, --cbow")
    return chosen.pop() if chosen else "skipgram"


@app.command()
def encode(
    input: Annotated[Path, typer.Argument(help="A .txt (one item per line), .jsonl[.gz], .csv or .parquet file, "
                                               "a directory of text files, or a directory of images.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the space (format from suffix; "
                                                                "a directory is embspace's own format).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Encoder: minilm, a model directory, a hub id, or "
                                                             "static:SPACE.")] = "minilm",
    text_field: Annotated[str, typer.Option("--text-field", help="Field(s) holding the text; "
                                                                 "several joined: title,text.")] = "text",
    id_field: Annotated[str | None, typer.Option("--id-field", help="Field holding each item's id "
                                                                    "[default: row number].")] = None,
    chunk: Annotated[int | None, typer.Option("--chunk", help="Split texts into windows of this many tokens "
                                                              "(default: truncate at the model's maximum).")] = None,
    overlap: Annotated[int, typer.Option("--overlap", help="Tokens shared by consecutive chunks.")] = 0,
    precision: Annotated[str, typer.Option("--precision", help="fp32, bf16 or int8 (CPU with the "
                                                               "instructions; faster, cosine ~0.99+ to fp32).")
                         ] = "fp32",
    dim: TruncateDimOpt = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Items per batch [default: batches by "
                                                                        "a token budget].")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Encode everything; do not read or write the "
                                                              "content-hash cache.")] = False,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="Output format (from the suffix if "
                                                                   "omitted).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    as_json: JsonOpt = False,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="[ADDRESS]",
        help="Encode on a Ray cluster (the ray extra of embspace): --ray alone (or --ray local) starts a local "
             "one; --ray auto joins the one `ray start --head` started; --ray ray://HOST:10001 a remote one. "
             "Texts only, no --chunk.")] = None,
) -> None:
    """Encode texts or images with a pretrained model into a space (unchanged items come from the cache)."""
    from ..encoders.file_encoding import encode_file

    options: dict[str, Any] = {"device": device}
    if precision != "fp32":
        options["precision"] = precision
    if dim is not None:
        options["dim"] = dim
    report = encode_file(input, output, model=model, text_field=text_field, id_field=id_field, chunk=chunk,
                         overlap=overlap, batch_size=batch_size, cache=not no_cache, format=fmt,
                         progress=not quiet and not as_json, encoder_options=options,
                         engine="local" if ray is None else "ray",
                         address=None if ray in (None, "", RAY_LOCAL) else ray)
    if as_json:
        out.print_json({"output": str(report.output), "model": report.model, "modality": report.modality,
                        "items": report.n_items, "vectors": report.n_vectors, "encoded": report.n_encoded,
                        "cached": report.n_cached, "truncated": report.n_truncated, "chunked": report.n_chunked,
                        "seconds": report.seconds, "items_per_second": report.items_per_second})
        return
    typer.echo(str(report))
    if report.n_truncated:
        typer.echo(f"note: {report.n_truncated:,} texts were longer than the model's maximum and were truncated; "
                   "--chunk N splits them into windows instead", err=True)


def _corpus(paths: list[Path], lowercase: bool, tokenizer: str) -> Any:
    from ..data.corpus import TextCorpus

    # a missing path raises FileNotFoundError here, a bad regular expression InvalidInputError
    return TextCorpus(list(paths), lowercase=lowercase, tokenizer=tokenizer)


def _check_output(output: Path | None, fmt: str | None) -> None:
    """Refuse --format without --output before any training (the default place is an embspace directory)."""
    if output is None and fmt is not None and fmt != "embspace":
        raise UserError(f"--format {fmt} needs --output PATH: without it the space is written as an embspace "
                        "directory in the data directory")


def _default_output(corpus: list[Path], model: str, suffix: str = "") -> Path:
    """Where a space learned from ``corpus`` goes without --output: ``<first corpus name without suffixes>-<model>``
    (then ``suffix``, e.g. ``.bin``) in the data directory (``$EMBSPACE_DATA``), so that ``embspace serve``
    serves it; ``-2``, ``-3``... when that name is taken (nothing is overwritten)."""
    import re

    from .._dirs import default_data_dir

    first = corpus[0].expanduser()
    name = first.name or first.resolve().name
    stem = name.split(".")[0] or name.lstrip(".").split(".")[0] or "corpus"
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "corpus"  # a name the server can serve it under
    data_dir = default_data_dir().expanduser()
    target = data_dir / f"{stem}-{model}{suffix}"
    n = 2
    while target.exists():
        target = data_dir / f"{stem}-{model}-{n}{suffix}"
        n += 1
    return target


def _example_word(space: Any) -> str:
    """A word for the next-step hint: a frequent one that is a plain word (the very first are often 'the')."""
    keys: list[str] = [str(k) for k in space.keys[:200]]
    words = [k for k in keys if k.isalpha() and len(k) > 3]
    return words[min(10, len(words) - 1)] if words else keys[0]


def _finish_training(kind: str, model: Any, seconds: float, output: Path | None, fmt: str | None, as_json: bool,
                     extra: dict[str, Any], corpus: list[Path], suffix: str = "") -> None:
    space = model.space_
    chosen = output is None
    if output is None:
        output = _default_output(corpus, kind.split()[0], suffix)
        output.parent.mkdir(parents=True, exist_ok=True)
    written = space.save(output, format=fmt)
    losses = list(model.loss_history_)
    data: dict[str, Any] = {
        "model": kind, **extra, "output": str(written), "vocab_size": len(space), "dim": space.dim,
        "seconds": seconds, "final_loss": losses[-1] if losses else None, "loss_history": losses,
    }
    if as_json:
        out.print_json(data)
        return
    parts = [f"{kind}: {len(space):,} words x {space.dim} dims in {seconds:.1f} s"]
    if "words_per_second" in extra:
        parts.append(f"{extra['words_per_second']:,.0f} words/s")
    if "peak_memory" in extra:
        parts.append(f"peak memory {extra['peak_memory'] / 2**20:,.0f} MiB")
    if "ngram_rows" in extra:
        parts.append(f"{extra['ngram_rows']:,} of {extra['buckets']:,} n-gram buckets used")
    if losses:
        parts.append(f"final loss {losses[-1]:.4f}")
    typer.echo(", ".join(parts) + f"; wrote {written}")
    if chosen:
        word = _example_word(space)
        typer.echo(f"in the data directory, where embspace serve serves it; next: embspace neighbors {written} {word}")


@train_app.command("word2vec")
def train_word2vec(
    corpus: CorpusArg,
    output: OutOpt = None,
    dim: DimOpt = 100,
    window: WindowOpt = 5,
    min_count: MinCountOpt = 5,
    architecture: ArchitectureOpt = None,
    sg: SgOpt = False,
    cbow: CbowOpt = False,
    negative: NegativeOpt = 5,
    ns_exponent: NsExponentOpt = 0.75,
    sample: SampleOpt = 1e-3,
    epochs: EpochsOpt = 5,
    alpha: AlphaOpt = None,
    min_alpha: MinAlphaOpt = 1e-4,
    workers: WorkersOpt = None,
    seed: SeedOpt = 1,
    device: DeviceOpt = "auto",
    max_vocab_size: MaxVocabOpt = None,
    checkpoint: CheckpointOpt = None,
    checkpoint_every: CheckpointEveryOpt = 300.0,
    tokenizer: TokenizerOpt = "words",
    lowercase: LowercaseOpt = True,
    quiet: QuietOpt = False,
    fmt: SaveFormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Learn word vectors with word2vec (skip-gram or CBOW, negative sampling); without --output, into the data
    directory."""
    import time

    _check_output(output, fmt)
    arch = _architecture(architecture, sg, cbow)
    from ..train import Word2Vec

    model = Word2Vec(dim=dim, window=window, min_count=min_count, architecture=arch,  # type: ignore[arg-type]
                     negative=negative, ns_exponent=ns_exponent, sample=sample, epochs=epochs, alpha=alpha,
                     min_alpha=min_alpha, workers=workers, seed=seed, device=device, progress=not quiet,
                     max_vocab_size=max_vocab_size)
    text = _corpus(corpus, lowercase, tokenizer)
    t0 = time.perf_counter()
    model.fit(text, checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    seconds = time.perf_counter() - t0
    _finish_training(f"word2vec {arch}", model, seconds, output, fmt, as_json,
                     {"architecture": arch, "words_per_second": model.words_per_second_}, corpus)


@train_app.command("fasttext")
def train_fasttext(
    corpus: CorpusArg,
    output: OutOpt = None,
    dim: DimOpt = 100,
    window: WindowOpt = 5,
    min_count: MinCountOpt = 5,
    architecture: ArchitectureOpt = None,
    sg: SgOpt = False,
    cbow: CbowOpt = False,
    minn: Annotated[int, typer.Option(
        "--minn", "--min-n", min=0, help="Shortest character n-gram, in characters of <word>.")] = 3,
    maxn: Annotated[int, typer.Option(
        "--maxn", "--max-n", min=0, help="Longest character n-gram (0: no n-grams, plain word2vec).")] = 6,
    buckets: Annotated[int, typer.Option(
        "--buckets", "--bucket", min=1, help="Hash buckets for the n-grams (rows are allocated only for the "
                                             "buckets the vocabulary's n-grams use).")] = 2_000_000,
    negative: NegativeOpt = 5,
    ns_exponent: NsExponentOpt = 0.75,
    sample: SampleOpt = 1e-3,
    epochs: EpochsOpt = 5,
    alpha: AlphaOpt = None,
    min_alpha: MinAlphaOpt = 1e-4,
    workers: WorkersOpt = None,
    seed: SeedOpt = 1,
    device: DeviceOpt = "auto",
    max_vocab_size: MaxVocabOpt = None,
    checkpoint: CheckpointOpt = None,
    checkpoint_every: CheckpointEveryOpt = 300.0,
    tokenizer: TokenizerOpt = "words",
    lowercase: LowercaseOpt = True,
    quiet: QuietOpt = False,
    fasttext_bin: Annotated[bool, typer.Option(
        "--bin", help="Write fastText's native .bin model (vocabulary and n-gram buckets), which fastText and "
                      "gensim's load_facebook_vectors read; also what an --output ending .bin gets.")] = False,
    fmt: SaveFormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Learn word vectors with fastText (word2vec over words and their character n-grams), so that words never
    seen get vectors; writes a subword space (without --output, into the data directory)."""
    import time

    fmt, suffix = _fasttext_format(output, fmt, fasttext_bin, maxn)
    _check_output(output, None if fmt in ("fasttext", "fasttext-bin") else fmt)
    arch = _architecture(architecture, sg, cbow)
    from ..train import FastText

    model = FastText(dim=dim, window=window, min_count=min_count, architecture=arch,  # type: ignore[arg-type]
                     negative=negative, ns_exponent=ns_exponent, sample=sample, epochs=epochs, alpha=alpha,
                     min_alpha=min_alpha, minn=minn, maxn=maxn, buckets=buckets, workers=workers, seed=seed,
                     device=device, progress=not quiet, max_vocab_size=max_vocab_size)
    text = _corpus(corpus, lowercase, tokenizer)
    t0 = time.perf_counter()
    model.fit(text, checkpoint=checkpoint, checkpoint_every=checkpoint_every)
    seconds = time.perf_counter() - t0
    memory = model.memory_
    _finish_training(f"fasttext {arch}", model, seconds, output, fmt, as_json,
                     {"architecture": arch, "words_per_second": model.words_per_second_, "minn": minn,
                      "maxn": maxn, "buckets": memory["buckets"], "ngram_rows": memory["ngram_rows"],
                      "memory": memory}, corpus, suffix)


def _fasttext_format(output: Path | None, fmt: str | None, as_bin: bool, maxn: int) -> tuple[str | None, str]:
    """The output format of ``train fasttext`` (--bin or an --output ending .bin: fastText's .bin model) and
    the suffix of the default output; refused before any training when the options disagree."""
    suffix = "" if output is None else output.suffix.lower()
    if as_bin:
        if fmt is not None and fmt not in ("fasttext", "fasttext-bin"):
            raise UserError(f"--bin writes fastText's .bin model, but --format says {fmt}; give one of them")
        if suffix in (".vec", ".txt"):
            raise UserError(f"--bin writes fastText's .bin model, but --output {output} names a text file; "
                            "use a .bin name, or drop --bin to write .vec text")
        fmt = "fasttext-bin"
    elif (fmt is None and suffix == ".bin") or (fmt == "fasttext" and maxn and suffix not in (".vec", ".txt")):
        fmt = "fasttext-bin"  # a .bin from fastText training is fastText's model (--format word2vec-binary: not)
    if fmt == "fasttext-bin" and maxn == 0:
        raise UserError("fastText's .bin model needs n-grams, but --maxn is 0; give --maxn > 0, or write another "
                        "format (e.g. an embspace directory or .vec)")
    return fmt, ".bin" if fmt == "fasttext-bin" and output is None else ""


@train_app.command("glove")
def train_glove(
    corpus: CorpusArg,
    output: OutOpt = None,
    dim: Annotated[int, typer.Option("--dim", help="Vector dimension.")] = 100,
    window: Annotated[int, typer.Option("--window", help="Co-occurrence window (each side).")] = 10,
    min_count: Annotated[int, typer.Option("--min-count", help="Drop words rarer than this.")] = 5,
    x_max: Annotated[float, typer.Option("--x-max", help="Cut-off of the weighting function.")] = 10.0,
    alpha: Annotated[float, typer.Option("--alpha", help="Exponent of the weighting function.")] = 0.75,
    epochs: Annotated[int, typer.Option("--epochs", help="AdaGrad passes over the co-occurrences.")] = 15,
    learning_rate: Annotated[float, typer.Option("--learning-rate", help="Initial AdaGrad step size.")] = 0.05,
    workers: WorkersOpt = None,
    seed: SeedOpt = 1,
    device: DeviceOpt = "auto",
    max_memory: Annotated[str | None, typer.Option(
        "--max-memory", help="Memory bound for counting and training, e.g. 1GB or 512MB [default: half the "
        "machine's memory, at most 4 GiB].")] = None,
    max_vocab_size: MaxVocabOpt = None,
    tokenizer: TokenizerOpt = "words",
    lowercase: LowercaseOpt = True,
    quiet: QuietOpt = False,
    fmt: SaveFormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Learn word vectors with GloVe (weighted least squares on log co-occurrence counts); without --output,
    into the data directory."""
    import time

    _check_output(output, fmt)

    from .. import train

    glove_cls = getattr(train, "GloVe", None)
    if glove_cls is None:
        raise UserError("this version of embspace has no GloVe learner (embspace.train.GloVe)")
    model = glove_cls(dim=dim, window=window, min_count=min_count, x_max=x_max, alpha=alpha, epochs=epochs,
                      learning_rate=learning_rate, workers=workers, seed=seed, device=device, progress=not quiet,
                      max_memory=max_memory, max_vocab_size=max_vocab_size)
    text = _corpus(corpus, lowercase, tokenizer)
    t0 = time.perf_counter()
    model.fit(text)
    seconds = time.perf_counter() - t0
    extra: dict[str, Any] = {}
    peak = getattr(model, "peak_memory_", None)
    if peak is not None:
        extra["peak_memory"] = peak
    _finish_training("glove", model, seconds, output, fmt, as_json, extra, corpus)


# --------------------------------------------------------------------------- evaluate
def _nan_to_none(data: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: an undefined correlation (fewer than two covered pairs) becomes null."""
    return {k: None if isinstance(v, float) and v != v else v for k, v in data.items()}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _corr(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


@app.command()
def evaluate(
    space: SpaceArg,
    analogy_file: Annotated[Path | None, typer.Option(
        "--analogy", help="Analogy questions: the questions-words format (': section' lines, then 'a b c d'), or a "
        "CSV/TSV table with one question per row and a category column.")]
        = None,
    similarity_files: Annotated[list[Path] | None, typer.Option(
        "--similarity", help="Word pairs with human scores ('word1 word2 score': tab, space or comma separated, "
        "an optional header; POS-tagged words such as cat-n are read as cat); repeat for several sets.")] = None,
    restrict_vocab: Annotated[int | None, typer.Option(
        "--restrict-vocab", help="Use only the N most frequent words [default: 30000 for analogies (gensim's "
        "evaluate_word_analogies: 300000), 300000 for similarity (as gensim)].")] = None,
    method: Annotated[str, typer.Option("--method", "-m", help="Analogy method: 3cosadd or 3cosmul.")] = "3cosadd",
    case_sensitive: Annotated[bool, typer.Option(
        "--case-sensitive", help="Compare words as written (default: ignore case, the most frequent variant "
        "standing for a word).")] = False,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = "utf-8",
    unicode_errors: UnicodeErrorsOpt = "strict",
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Word analogy accuracy and word similarity correlation of a space."""
    from .. import evaluate as ev

    sims = list(similarity_files or [])
    if analogy_file is None and not sims:
        raise UserError("nothing to evaluate: give --analogy FILE and/or --similarity FILE")
    if method not in ("3cosadd", "3cosmul"):
        raise UserError(f"unknown method {method!r}; use 3cosadd or 3cosmul")
    for f in ([analogy_file] if analogy_file is not None else []) + sims:
        if not f.is_file():
            raise UserError(f"no such evaluation file: {f}")
    s = _load(space, fmt, encoding, unicode_errors, limit)
    common: dict[str, Any] = {"case_insensitive": not case_sensitive}
    if restrict_vocab is not None:
        common["restrict_vocab"] = restrict_vocab
    data: dict[str, Any] = {"space": str(space), "analogy": None, "similarity": []}
    try:
        if analogy_file is not None:
            res = ev.analogy(s, analogy_file, method=method, **common)  # type: ignore[arg-type]
            data["analogy"] = {"file": str(analogy_file), **res.to_dict(), "total": res.evaluated + len(res.skipped)}
        for f in sims:
            data["similarity"].append({"file": str(f), **_nan_to_none(ev.word_similarity(s, f, **common).to_dict())})
    except InvalidInputError as e:  # nothing of a file in the vocabulary: the advice in flags, not keywords
        msg = str(e)
        for python, flag in _EVALUATE_ADVICE:
            msg = msg.replace(python, flag)
        raise UserError(msg) from None
    if as_json:
        out.print_json(data)
        return
    _print_evaluation(data)


_EVALUATE_ADVICE = (("raise restrict_vocab (or pass None)", "raise --restrict-vocab"),
                    ("pass case_insensitive=True", "drop --case-sensitive"), ("restrict_vocab=", "--restrict-vocab "))


def _print_evaluation(data: dict[str, Any]) -> None:
    from rich.table import Table

    a = data["analogy"]
    if a is not None:
        vocab = "all words" if a["restrict_vocab"] is None else f"the {a['restrict_vocab']:,} most frequent words"
        typer.echo(f"analogy: {a['file']} ({a['method']}, {vocab})")
        table = Table(show_edge=False)
        table.add_column("section", overflow="fold")
        table.add_column("accuracy", justify="right")
        table.add_column("correct", justify="right")
        table.add_column("asked", justify="right")
        for name, sec in a["sections"].items():
            table.add_row(name, _pct(sec["accuracy"]) if sec["evaluated"] else "n/a", str(sec["correct"]),
                          str(sec["evaluated"]))
        out.console.print(table)
        typer.echo(f"accuracy {_pct(a['accuracy'])} ({a['correct']}/{a['evaluated']}), "
                   f"semantic {_pct(a['semantic_accuracy'])}, syntactic {_pct(a['syntactic_accuracy'])}, "
                   f"coverage {_pct(a['coverage'])} ({a['evaluated']}/{a['total']} questions asked)")
    if data["similarity"]:
        if a is not None:
            typer.echo("")
        typer.echo("word similarity (cosine vs human scores):")
        table = Table(show_edge=False)
        table.add_column("file", overflow="fold")
        table.add_column("spearman", justify="right")
        table.add_column("pearson", justify="right")
        table.add_column("pairs", justify="right")
        table.add_column("coverage", justify="right")
        for r in data["similarity"]:
            table.add_row(r["file"], _corr(r["spearman"]), _corr(r["pearson"]), str(r["pairs"]), _pct(r["coverage"]))
        out.console.print(table)


@app.command("evaluate-retrieval")
def evaluate_retrieval(
    dataset: Annotated[Path, typer.Argument(
        help="A dataset in the BEIR layout: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv.")],
    models: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="Encoder: minilm (all-MiniLM-L6-v2, offline), a model directory or a hub id; "
        "repeat to compare several side by side (default: minilm).")] = None,
    split: Annotated[str, typer.Option("--split", help="Which qrels to evaluate.")] = "test",
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Encoding batch size.")] = None,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Write the results (with per-query values) as JSON to this file; '-' prints them instead "
        "of the table.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """nDCG@k, recall@k, MRR@k and MAP@k of dense retrieval on a BEIR dataset (exact search)."""
    import json

    from ..evaluate import compare_models, load_beir, retrieval

    ds = load_beir(dataset, split=split)
    names = list(models or ["minilm"])
    to_stdout = json_path is not None and str(json_path) == "-"
    if len(names) == 1:
        results = [retrieval(ds, model=names[0], batch_size=batch_size, progress=not quiet)]
        if not to_stdout:
            out.console.print(str(results[0]), markup=False)
    else:
        from rich.console import Console

        console = Console(stderr=True, highlight=False) if to_stdout else out.console
        results = compare_models(ds, names, batch_size=batch_size, progress=not quiet, console=console)
    if json_path is None:
        return
    data = {"dataset": str(dataset), "split": split, "results": [r.to_dict(per_query=True) for r in results]}
    if to_stdout:
        out.print_json(data)
    else:
        json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if not quiet:
            typer.echo(f"wrote {json_path}", err=True)


#: The value ``--ray`` given alone stands for: a new local Ray cluster.
RAY_LOCAL = "local"


def _ray_address_optional(args: list[str]) -> list[str]:
    """``--ray`` takes an optional address (click's optional values are not Typer's): a ``--ray`` not followed by
    an address (``auto``, ``local``, ``ray://...``, ``HOST:PORT``) gets ``local``, so ``encode --ray IN -o OUT``
    reads IN as the input, not as an address."""
    out: list[str] = []
    for i, a in enumerate(args):
        out.append(a)
        if a == "--ray":
            nxt = args[i + 1] if i + 1 < len(args) else ""
            if not (nxt in ("auto", RAY_LOCAL) or "://" in nxt or re.fullmatch(r"[\w.-]+:\d+", nxt)):
                out.append(RAY_LOCAL)
    return out


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors exit with status 2 and one clear line, no traceback."""
    try:
        args = _ray_address_optional(list(sys.argv[1:] if argv is None else argv))
        rc = app(args=args, standalone_mode=False)  # click returns (not raises) the code of a typer.Exit
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        out.error("aborted")
        sys.exit(1)
    except (EmbspaceError, FileNotFoundError, PermissionError, IsADirectoryError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and not isinstance(e, EmbspaceError) and e.args else e
        if isinstance(e, OSError) and e.filename:
            msg = f"{e.strerror}: {e.filename}"
        if isinstance(e, CollectionLockedError) and e.path is not None:  # the store's (Python) words: CLI terms
            msg = lock_advice(e)
        out.error(escape(cli_message(str(msg))))
        sys.exit(2)
    except Exception as e:  # click's usage errors (click itself, or the copy typer vendors)
        if not _is_click_error(e):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: show its help
            e.show()  # type: ignore[attr-defined]
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        msg = e.format_message()  # type: ignore[attr-defined]
        ctx = getattr(e, "ctx", None)
        if ctx is not None:
            msg += f" (see '{ctx.command_path} --help')"
        out.error(escape(msg))
        sys.exit(e.exit_code)  # type: ignore[attr-defined]
    if isinstance(rc, int) and rc:
        sys.exit(rc)


def _is_click_error(e: BaseException) -> bool:
    return any(c.__name__ == "ClickException" for c in type(e).__mro__)


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["app", "main"]
