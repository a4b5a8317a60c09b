"""``embspace train mf | recommend | evaluate-recs``: parse, call embspace.train / evaluate, format."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from . import _output as out

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
ModelArg = Annotated[Path, typer.Argument(help="A model directory written by `embspace train mf`.")]
ColumnsOpt = Annotated[list[str] | None, typer.Option(
    "--column", help="Map a column name: ROLE=NAME with ROLE user, item, rating or timestamp (e.g. user=userId); "
                     "repeat for several.")]


def _columns(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out_map: dict[str, str] = {}
    for pair in pairs:
        role, sep, name = pair.partition("=")
        if not sep or role not in ("user", "item", "rating", "timestamp") or not name:
            from ..errors import InvalidInputError

            raise InvalidInputError(f"--column {pair!r}: expected ROLE=NAME with ROLE user, item, rating or timestamp")
        out_map[role] = name
    return out_map


def train_mf(
    ratings: Annotated[Path, typer.Argument(help="Interactions: CSV, TSV or Parquet with named columns user, item "
                                                 "and optionally rating, timestamp.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write.")],
    objective: Annotated[str, typer.Option("--objective", help="explicit (ratings), als or bpr (implicit).")]
    = "explicit",
    dim: Annotated[int, typer.Option("--dim", help="Latent factors.")] = 64,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Passes [default: 60 explicit, 15 ALS, 100 BPR].")]
    = None,
    regularization: Annotated[float | None, typer.Option("--regularization", help="L2 weight.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--learning-rate", help="SGD step (explicit, BPR).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="ALS confidence scale.")] = 10.0,
    min_rating: Annotated[float | None, typer.Option(
        "--min-rating", help="Keep only interactions rated at least this (e.g. 4: positives for ALS/BPR).")] = None,
    columns: ColumnsOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Learn user and item embeddings by matrix factorisation."""
    import numpy as np

    from ..data import Interactions
    from ..errors import InvalidInputError
    from ..train import MatrixFactorization

    data = Interactions(str(ratings), columns=_columns(columns))
    if min_rating is not None:
        if data.ratings is None:
            raise InvalidInputError("--min-rating needs a rating column")
        data = data.subset(np.asarray(data.ratings) >= min_rating)
    model = MatrixFactorization(dim=dim, objective=objective, epochs=epochs, regularization=regularization,
                                learning_rate=learning_rate, alpha=alpha, seed=seed, progress=not quiet and not as_json)
    t0 = time.perf_counter()
    model.fit(data)
    seconds = time.perf_counter() - t0
    model.recommender_.save(output)
    summary = {"output": str(output), "objective": objective, "users": data.n_users, "items": data.n_items,
               "interactions": len(data), "seconds": round(seconds, 3), "final_loss": model.loss_history_[-1]}
    if as_json:
        out.print_json(summary)
    else:
        typer.echo(f"matrix factorisation ({objective}): {data.n_users:,} users x {data.n_items:,} items from "
                   f"{len(data):,} interactions in {seconds:.1f} s -> {output}")


def recommend(
    model_dir: ModelArg,
    user: Annotated[str | None, typer.Argument(help="A user id of the training data (omit with --items).")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    items: Annotated[str | None, typer.Option(
        "--items", help="A new user's items, comma-separated (fold-in); empty string: the most popular items.")]
    = None,
    include_seen: Annotated[bool, typer.Option("--include-seen", help="Also recommend items already seen.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Recommend items to a user of the model, or to a new user from a few items (--items)."""
    from ..errors import InvalidInputError
    from ..train import Recommender

    model = Recommender.load(model_dir)
    if (user is None) == (items is None):
        raise InvalidInputError("give a USER, or --items for a new user (not both)")
    if items is not None:
        chosen = [x.strip() for x in items.split(",") if x.strip()]
        hits = model.recommend_for_new_user(chosen, k, exclude_seen=not include_seen)
        title = f"for a new user with {len(chosen)} items" if chosen else "most popular (no history)"
    else:
        hits = model.recommend(str(user), k, exclude_seen=not include_seen)
        title = f"for user {user}"
    keys: list[str] = [str(key) for key in hits.keys]
    pairs = list(zip(keys, [float(s) for s in hits.scores], strict=True))
    if as_json:
        out.print_json([{"item": key, "score": score} for key, score in pairs])
    else:
        out.print_hits(f"{len(pairs)} items {title}", pairs, key_header="item")


def evaluate_recs(
    model_dir: ModelArg,
    test: Annotated[Path, typer.Option("--test", help="Held-out interactions (same columns as the training file).")],
    k: Annotated[list[int] | None, typer.Option("-k", "--k", help="Cut-offs; repeat for several [default: 10].")]
    = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Relevant = rated at least this [default: 4 with ratings; every test item without].")]
    = 4.0,
    columns: ColumnsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a model on held-out interactions: RMSE/MAE (explicit) and precision/recall/NDCG/MAP@k, coverage."""
    from .. import evaluate as ev
    from ..data import Interactions
    from ..train import Recommender

    model = Recommender.load(model_dir)
    data = Interactions(str(test), columns=_columns(columns))
    result: dict[str, Any] = {}
    if model.objective == "explicit" and data.ratings is not None:
        pred = model.predict(data.users.tolist(), data.items.tolist(), unknown="mean")
        result["rmse"] = ev.rmse(pred, data.ratings)
        result["mae"] = ev.mae(pred, data.ratings)
        us, ispace = model.user_space_, model.item_space_
        result["pairs_unknown_to_the_model"] = sum(
            u not in us or i not in ispace for u, i in zip(data.users, data.items, strict=True))

    def rec(user: str, n: int) -> list[str]:
        return [str(key) for key in model.recommend(user, n, unknown="popular").keys]

    ranking = ev.recommendation(rec, data, k_values=tuple(k or [10]),
                                threshold=threshold if data.ratings is not None else None,
                                catalogue=len(model.item_space_))
    result.update(ranking.metrics)
    if as_json:
        out.print_json(result)
    else:
        for name, value in result.items():
            typer.echo(f"{name:>28}  {value:.4f}" if isinstance(value, float) else f"{name:>28}  {value}")


def register(app: typer.Typer, train_app: typer.Typer) -> None:
    train_app.command("mf")(train_mf)
    app.command("recommend")(recommend)
    app.command("evaluate-recs")(evaluate_recs)
