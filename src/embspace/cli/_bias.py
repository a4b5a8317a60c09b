"""``embspace bias``: WEAT (or SEAT through an encoder) on a space; parse, call embspace.evaluate, format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out
from ._space_options import EncodingOpt, LimitOpt, UnicodeErrorsOpt, load_space


def _lists(path: Path | None) -> dict[str, Any]:
    from ..evaluate import load_weat_lists

    return load_weat_lists(path)


def _line(result: Any) -> str:
    coverage = ", ".join(f"{k} {v:.0%}" for k, v in result.coverage.items())
    return (f"{result.name}: d = {result.effect_size:.3f}, p = {result.p_value:.4g} ({result.p_method}, "
            f"{result.permutations:,} permutations, {result.alternative}); coverage: {coverage}")


def bias(space_path: Annotated[Path | None, typer.Argument(
             help="A word space (any format embspace reads); leave it out with --seat.")] = None,
         tests: Annotated[list[str] | None, typer.Option(
             "--test", "-t", help="A test: career-family, weat6, ... (see --list), or four list names X,Y,A,B; "
                                  "repeat it for several [default: all ten WEAT tests].")] = None,
         lists: Annotated[Path | None, typer.Option(
             "--lists", help="A JSON or YAML file of named word lists (and an optional 'tests' mapping) "
                             "[default: the original WEAT lists from the wefe package].")] = None,
         list_tests: Annotated[bool, typer.Option("--list", help="List the tests and the word lists, and exit.")]
         = False,
         seat_model: Annotated[str | None, typer.Option(
             "--seat", help="SEAT: encode the words in template sentences ('This is X.') with this model "
                            "(e.g. minilm) instead of reading SPACE.")] = None,
         permutations: Annotated[int, typer.Option(
             "--permutations", min=1, help="Exact p-value when the re-partitions are at most this many, else "
                                           "this many sampled ones.")] = 100_000,
         seed: Annotated[int, typer.Option("--seed", help="Seed of the sampled permutations.")] = 0,
         encoding: EncodingOpt = "utf-8", unicode_errors: UnicodeErrorsOpt = "strict", limit: LimitOpt = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of text.")] = False,
         ) -> None:
    """Bias tests: WEAT (Caliskan et al. 2017) on a word space, or SEAT (May et al. 2019) through an encoder;
    prints the effect size d, the permutation p-value (exact or sampled with --seed) and the coverage of
    each word list."""
    from ..evaluate import WEAT_TESTS, seat_test

    named = _lists(lists)
    if list_tests:
        all_tests = {**WEAT_TESTS, **named.get("tests", {})}
        if as_json:
            out.print_json({"tests": {k: list(v) for k, v in all_tests.items()},
                            "lists": {k: len(v) for k, v in named.items() if k != "tests"}})
            return
        for i, (name, sets) in enumerate(all_tests.items(), 1):
            number = f"weat{i}" if name in WEAT_TESTS else ""
            typer.echo(f"{name:26} {number:7} {' / '.join(sets[:2])} vs {' / '.join(sets[2:])}")
        return
    if (space_path is None) == (seat_model is None):
        out.error("give a SPACE, or --seat MODEL to test a sentence encoder (one of the two)")
        raise typer.Exit(2)
    chosen = tests or list(WEAT_TESTS)
    results: list[Any] = []
    if seat_model is not None:
        from ..encoders import get_encoder

        encoder = get_encoder(seat_model)
        results = [seat_test(encoder, t, lists=named, permutations=permutations, seed=seed) for t in chosen]
    elif space_path is not None:
        from ..evaluate import weat_test

        space = load_space(space_path, encoding=encoding, unicode_errors=unicode_errors, limit=limit)
        results = [weat_test(space, t, lists=named, permutations=permutations, seed=seed) for t in chosen]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2))
        return
    for r in results:
        typer.echo(_line(r))


def register(app: typer.Typer) -> None:
    app.command("bias")(bias)
