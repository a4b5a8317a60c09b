"""The ``embspace`` command line: parse, call the library, format. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import __version__
from ..errors import EmbspaceError
from . import _output as out

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


def _load(path: Path, fmt: str | None = None) -> Any:
    from ..space import load

    return load(path, format=fmt)


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


@app.command()
def info(space: SpaceArg, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Size, metric, normalisation and provenance of a space."""
    from ..space import detect_format

    s = _load(space, fmt)
    data = {
        "path": str(space),
        "format": fmt or detect_format(space),
        "n": len(s),
        "dim": s.dim,
        "metric": s.metric,
        "normalized": s.is_normalized,
        "has_counts": s.counts is not None,
        "space_id": s.space_id,
        "provenance": s.provenance.to_dict(),
        "first_keys": list(s.keys[:10]),
    }
    if as_json:
        out.print_json(data)
    else:
        out.print_info(data)


@app.command()
def neighbors(
    space: SpaceArg,
    keys: Annotated[list[str], typer.Argument(help="One or more keys to query.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Neighbours per key.")] = 10,
    fmt: FormatOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Exact nearest neighbours of each KEY (the key itself excluded)."""
    s = _load(space, fmt)
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
    as_json: JsonOpt = False,
) -> None:
    """Answer 'A is to B as C is to ?' (e.g. man king woman -> queen)."""
    if method not in ("3cosadd", "3cosmul"):
        raise UserError(f"unknown method {method!r}; use 3cosadd or 3cosmul")
    s = _load(space, fmt)
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
    as_json: JsonOpt = False,
) -> None:
    """Similarity of two keys under the space's metric."""
    s = _load(space, fmt)
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
) -> None:
    """Convert a space between formats (embspace dir, word2vec text/binary, GloVe, .vec, .npy, Parquet, Arrow)."""
    from ..space import save

    s = _load(source, from_format)
    if metric is not None:
        s = s.with_metric(metric)
    written = save(s, target, format=to)
    typer.echo(f"wrote {len(s)} x {s.dim} to {written}")


@app.command()
def demo(
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Also save the demo space here.")] = None,
    sentences: Annotated[int, typer.Option("--sentences", min=10, help="How many sentences to encode.")] = 350,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Show embspace working on real data, offline."""
    from .demo import run_demo

    run_demo(out_dir=out_dir, n_sentences=sentences, progress=not quiet)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors exit with status 2 and one clear line, no traceback."""
    try:
        app(args=argv, standalone_mode=False)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        out.error("aborted")
        sys.exit(1)
    except (EmbspaceError, FileNotFoundError, PermissionError, IsADirectoryError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and not isinstance(e, EmbspaceError) and e.args else e
        if isinstance(e, OSError) and e.filename:
            msg = f"{e.strerror}: {e.filename}"
        out.error(str(msg))
        sys.exit(2)
    except Exception as e:  # click's usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["app", "main"]
