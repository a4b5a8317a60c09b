"""Several models on one retrieval dataset, side by side in one table."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ._beir import BeirDataset, load_beir
from ._retrieval import DEFAULT_K, METRIC_FAMILIES, RetrievalResult, retrieval

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..encoders.encoder import Encoder

__all__ = ["DEFAULT_METRICS", "ModelSpec", "compare_models", "comparison_table"]

ModelSpec: TypeAlias = "str | Encoder | tuple[EmbeddingSpace, EmbeddingSpace]"
"""A model name for :func:`~embspace.encoders.get_encoder`, an encoder, or precomputed
``(corpus_space, query_space)``."""

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10", "map@100")


def _parse_metric(name: str) -> tuple[str, int]:
    fam, sep, k = name.partition("@")
    if not sep or fam not in METRIC_FAMILIES or not k.isdigit() or int(k) < 1:
        raise InvalidInputError(f"unknown metric {name!r}; metrics are <family>@<k> with a family among "
                                f"{', '.join(METRIC_FAMILIES)}, e.g. 'ndcg@10'")
    return fam, int(k)


def comparison_table(rows: Sequence[tuple[str, Mapping[str, float | None]]], columns: Sequence[str], *,
                     title: str | None = None, label_header: str = "model", digits: int = 4,
                     extra: Sequence[tuple[str, Sequence[str]]] = ()) -> Table:
    """A rich table of labelled rows of scores, the best (highest) of each column in bold.

    Parameters
    ----------
    rows
        ``(label, {column: value})`` per row; a missing or ``None``/NaN value shows as ``n/a``.
    columns
        The score columns, in order. Values are compared as shown (rounded to ``digits``), so
        equal-looking values are all bold.
    title
        Shown above the table.
    label_header
        Header of the label column.
    digits
        Decimals shown.
    extra
        Further ``(header, cells)`` columns of preformatted text (timings, sizes), never bold.
    """
    from rich.table import Table

    def shown(v: float | None) -> str | None:
        return None if v is None or math.isnan(v) else f"{v:.{digits}f}"

    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column(label_header, overflow="fold")
    for col in columns:
        table.add_column(col, justify="right")
    for header, texts in extra:
        if len(texts) != len(rows):
            raise InvalidInputError(f"extra column {header!r} has {len(texts)} cells for {len(rows)} rows")
        table.add_column(header, justify="right")
    best: dict[str, float] = {}
    for col in columns:
        vals = [float(s) for _, r in rows if (s := shown(r.get(col))) is not None]
        if vals:
            best[col] = max(vals)
    for i, (label, r) in enumerate(rows):
        cells: list[str] = [label]
        for col in columns:
            s = shown(r.get(col))
            cells.append("n/a" if s is None else f"[bold]{s}[/bold]" if float(s) == best[col] else s)
        cells += [texts[i] for _, texts in extra]
        table.add_row(*cells)
    return table


def _items(models: Sequence[Any] | Mapping[str, Any]) -> list[tuple[str | None, Any]]:
    if isinstance(models, Mapping):
        return [(str(k), v) for k, v in models.items()]
    if isinstance(models, str | tuple):
        models = [models]  # one model name, or one (corpus_space, query_space) pair
    return [(None, m) for m in models]


def _rate(r: RetrievalResult) -> str:
    return "precomputed" if r.docs_per_second is None else f"{r.docs_per_second:,.0f}"


def compare_models(
    dataset: BeirDataset | str | Path,
    models: Sequence[ModelSpec] | Mapping[str, ModelSpec],
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    split: str = "test",
    k_values: Iterable[int] | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> list[RetrievalResult]:
    """Evaluate several models on one dataset and print their metrics side by side.

    Parameters
    ----------
    dataset
        A :class:`BeirDataset`, or the directory to read with :func:`load_beir` (read once).
    models
        Model names (``"minilm"``, a model directory), encoders, or precomputed
        ``(corpus_space, query_space)`` pairs; or a mapping ``{label: model}`` to name the rows.
    metrics
        Columns of the table, ``"<family>@<k>"`` with a family among ``ndcg``, ``map``, ``recall``,
        ``precision``, ``mrr``. Every result holds all metrics at every k, whatever is shown.
    split
        The qrels split, when ``dataset`` is a path.
    k_values
        Cut-offs computed; default: 1, 3, 5, 10, 100 and the k of each metric.
    batch_size, progress
        As for :func:`~embspace.evaluate.retrieval`.
    console
        Where the table is printed (a ``rich.console.Console``; default: standard output).

    Returns
    -------
    list of RetrievalResult
        One per model, in the order given.
    """
    columns = list(metrics)
    wanted = [_parse_metric(m) for m in columns]
    if not columns:
        raise InvalidInputError("no metrics to show; give e.g. metrics=('ndcg@10',)")
    ks = sorted(set(DEFAULT_K) | {k for _, k in wanted}) if k_values is None else list(k_values)
    missing = sorted({k for _, k in wanted} - set(ks))
    if missing:
        raise InvalidInputError(f"the metrics ask for k = {', '.join(map(str, missing))}, which k_values lacks")
    items = _items(models)
    if not items:
        raise InvalidInputError("no models to compare")
    ds = dataset if isinstance(dataset, BeirDataset) else load_beir(dataset, split=split)
    results: list[RetrievalResult] = []
    labels: list[str] = []
    seen: dict[str, int] = {}
    for label, spec in items:
        common: dict[str, Any] = {"k_values": ks, "batch_size": batch_size, "progress": progress}
        if isinstance(spec, tuple):
            if len(spec) != 2 or not all(isinstance(s, EmbeddingSpace) for s in spec):
                raise InvalidInputError("precomputed vectors are given as a (corpus_space, query_space) pair")
            res = retrieval(ds, corpus_space=spec[0], query_space=spec[1], **common)
        else:
            res = retrieval(ds, spec, **common)
        results.append(res)
        name = label or res.model
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    rows = [(lab, {c: r.metrics.get(c) for c in columns}) for lab, r in zip(labels, results, strict=True)]
    title = f"{ds.name} ({ds.split}): {ds.n_queries:,} queries, {ds.n_docs:,} documents"
    table = comparison_table(rows, columns, title=title, extra=[("docs/s", [_rate(r) for r in results])])
    if console is None:
        from rich.console import Console

        console = Console(highlight=False)
    console.print(table)
    return results
