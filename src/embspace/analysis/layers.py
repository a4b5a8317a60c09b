"""Representations through depth: the geometry and the task quality of every layer of an encoder.

``analysis.layers(encoder, texts)`` encodes ``texts`` at every layer (``encoder.encode(texts, layers="all")``:
the Hugging Face text encoders, ``ImageEncoder``, a trained ``SmallConvNet``), or takes the layer spaces made
already (a ``dict[layer, EmbeddingSpace]``), and measures per layer what :mod:`embspace.analysis.diagnostics`
measures of any space (anisotropy, isotropy I(W), intrinsic dimension, hubness), a cross-validated linear probe
when labels are given, retrieval nDCG@10 when queries and qrels are given, and the linear CKA between every pair
of layers (:func:`embspace.analysis.linear_cka`, Kornblith et al. 2019). The :class:`LayerReport`
names the best layer per task in words, prints as a table, converts to JSON (:meth:`LayerReport.to_dict`) and
writes an HTML page with the per-layer curves and the CKA heat map (:meth:`LayerReport.save`).
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _html
from .._progress import TrainingProgress
from .._ranking import ranking_metrics
from ..errors import InvalidInputError
from ..space import _linalg, _topk
from ..space.embedding_space import EmbeddingSpace
from .compare import linear_cka
from .diagnostics import _rows, anisotropy, hubness, intrinsic_dimension

__all__ = ["LayerMetrics", "LayerReport", "layers"]

Layer = int | str
#: The columns of :meth:`LayerReport.table` and the curves of the report: (attribute, heading, higher is better).
_COLUMNS: tuple[tuple[str, str, bool | None], ...] = (
    ("mean_cosine", "mean cos", False), ("isotropy", "isotropy", True), ("twonn", "ID TwoNN", None),
    ("pca95", "PCA 95%", None), ("hubness", "hubness", False), ("probe_accuracy", "probe acc", True),
    ("ndcg_at_10", "nDCG@10", True))


@dataclass(frozen=True)
class LayerMetrics:
    """What was measured on one layer's space (``None``: not measured; see :class:`LayerReport`)."""

    layer: Layer
    dim: int
    mean_cosine: float  # anisotropy: mean cosine of random pairs (unit vectors)
    isotropy: float  # I(W), 1 = isotropic
    twonn: float | None  # intrinsic dimension (TwoNN); None when too few distinct distances
    mle: float | None
    pca95: int | None  # principal components holding 95% of the variance
    hubness: float  # skewness of the k-occurrence
    probe_accuracy: float | None = None  # cross-validated logistic regression (with labels)
    ndcg_at_10: float | None = None  # retrieval (with queries and qrels)


@dataclass
class LayerReport:
    """Per-layer figures, the CKA matrix between layers and the best layer per task (:func:`layers`)."""

    model: str
    n: int
    layers: list[Layer]
    metrics: list[LayerMetrics]
    cka: npt.NDArray[np.float64] = field(repr=False)  # (L, L), rows and columns in the order of ``layers``
    best: dict[str, Layer]  # task -> layer: "probe", "retrieval", "isotropy", "hubness"
    findings: list[str]  # the best layers and the CKA structure, in words
    probe_folds: int | None = None
    hubness_k: int = 10
    seconds: float = 0.0

    def metric(self, name: str) -> list[float | None]:
        """One figure per layer (``"isotropy"``, ``"probe_accuracy"``, ...), in the order of :attr:`layers`."""
        if name not in LayerMetrics.__dataclass_fields__:
            raise InvalidInputError(f"unknown metric {name!r}; expected one of "
                                    f"{', '.join(LayerMetrics.__dataclass_fields__)}")
        return [getattr(m, name) for m in self.metrics]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``model``, ``n``, ``layers``, ``metrics`` (one dict per layer), ``cka`` (a list of lists),
        ``best``, ``findings``, ``probe_folds``, ``hubness_k``, ``seconds``."""
        from dataclasses import asdict

        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {"model": self.model, "n": self.n, "layers": list(self.layers),
                "metrics": [{k: clean(v) for k, v in asdict(m).items()} for m in self.metrics],
                "cka": [[round(float(v), 6) for v in row] for row in self.cka], "best": dict(self.best),
                "findings": list(self.findings), "probe_folds": self.probe_folds, "hubness_k": self.hubness_k,
                "seconds": self.seconds}

    def _columns(self) -> list[tuple[str, str, bool | None]]:
        return [c for c in _COLUMNS if any(getattr(m, c[0]) is not None for m in self.metrics)]

    def table(self) -> str:
        """The per-layer figures as a plain-text table (one row per layer)."""
        cols = self._columns()
        head = ["layer", "dim", *(h for _, h, _ in cols)]
        rows = [[str(m.layer), str(m.dim), *(_fmt(getattr(m, a)) for a, _, _ in cols)] for m in self.metrics]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
        return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])

    def __str__(self) -> str:
        return (f"{self.model}: {len(self.layers)} layers on {self.n:,} items\n{self.table()}\n"
                + "\n".join(f"- {f}" for f in self.findings))

    def _repr_html_(self) -> str:
        cols = self._columns()
        body = _html.table(([m.layer, m.dim, *(getattr(m, a) for a, _, _ in cols)] for m in self.metrics),
                           ["layer", "dim", *(h for _, h, _ in cols)], total=len(self.metrics))
        notes = _html.table(((_html.text(f),) for f in self.findings), ["findings"], total=len(self.findings))
        return _html.frame("Layers", body, notes, subtitle=f"{self.model}: {self.n:,} items")

    def figures(self) -> dict[str, bytes]:
        """PNG figures: ``"curves"`` (every figure per layer) and ``"cka"`` (the heat map)."""
        from .report import _png

        cols = self._columns()
        xs = np.arange(len(self.layers))
        labels = [str(layer) for layer in self.layers]

        def curves(ax: Any) -> None:
            for attr, head, _ in cols:
                vals = np.array([np.nan if v is None else float(v) for v in self.metric(attr)])
                top = np.nanmax(np.abs(vals)) if np.isfinite(vals).any() else 0.0
                ax.plot(xs, vals / top if top > 0 else vals, marker="o", label=head)
            ax.set_xticks(xs, labels)
            ax.set_xlabel("layer")
            ax.set_ylabel("value / its largest |value|")
            ax.set_title("Per-layer figures (each scaled by its maximum)")
            ax.legend(fontsize=7, ncols=2)

        def heat(ax: Any) -> None:
            im = ax.imshow(self.cka, vmin=0.0, vmax=1.0, cmap="viridis")
            ax.set_xticks(xs, labels)
            ax.set_yticks(xs, labels)
            ax.set_title("Linear CKA between layers")
            if len(xs) <= 16:
                for i in range(len(xs)):
                    for j in range(len(xs)):
                        ax.text(j, i, f"{self.cka[i, j]:.2f}", ha="center", va="center", fontsize=7,
                                color="black" if self.cka[i, j] > 0.6 else "white")
            ax.figure.colorbar(im, ax=ax)

        return {"curves": _png(curves, (7.0, 4.0)), "cka": _png(heat, (5.5, 4.6))}

    def html(self, figures: dict[str, bytes] | None = None) -> str:
        """One self-contained page: the findings, the table, the curves and the CKA heat map."""
        from .report import _CSS

        e = _html.esc
        figs = self.figures() if figures is None else figures
        cols = self._columns()
        title = f"Layers of {self.model}"
        h = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>",
             f"<p class=meta>{len(self.layers)} layers measured on {self.n:,} items in {self.seconds:.0f} s; "
             f"anisotropy on the unit vectors, intrinsic dimension and hubness (k={self.hubness_k}) on the vectors "
             "the metric compares" + (f", a {self.probe_folds}-fold cross-validated logistic-regression probe"
                           if self.probe_folds else "") + ".</p>",
             "<h2>Best layers</h2><ul class=rec>", *(f"<li>{e(f)}</li>" for f in self.findings), "</ul>",
             "<h2>Per layer</h2><table><tr><th>layer</th><th>dim</th>"
             + "".join(f"<th>{e(hd)}</th>" for _, hd, _ in cols) + "</tr>"]
        for m in self.metrics:
            h.append(f"<tr><td>{e(m.layer)}</td><td>{m.dim}</td>"
                     + "".join(f"<td>{e(_fmt(getattr(m, a)))}</td>" for a, _, _ in cols) + "</tr>")
        h.append("</table>")
        h.append(f"<h2>Curves</h2><p>{_html.image(figs['curves'], 'per-layer curves')}</p>")
        h.append("<h2>Linear CKA between layers</h2><p class=reading>Linear CKA (Kornblith et al., 2019) of the "
                 "layers' vectors of the same items: 1 for representations equal up to a rotation and a scale, "
                 f"near 0 for unrelated ones.</p><p>{_html.image(figs['cka'], 'CKA heat map')}</p></body></html>")
        return "\n".join(h)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`html` to ``path`` and its figures as PNG files to ``<path stem>_figures/``."""
        from .._atomic import atomic_path

        p = Path(path)
        figs = self.figures()
        figdir = p.with_name(p.stem + "_figures")
        figdir.mkdir(parents=True, exist_ok=True)
        for name, png in figs.items():
            with atomic_path(figdir / f"{name}.png") as tmp:
                Path(tmp).write_bytes(png)
        with atomic_path(p) as tmp:
            Path(tmp).write_text(self.html(figs), encoding="utf-8")
        return p


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{float(v):.3f}" if math.isfinite(float(v)) else "-"


def _encode(encoder: Any, items: Any, keys: Sequence[str] | None, layers: Sequence[Layer] | str,
            pooling: str | None, progress: bool) -> dict[Layer, EmbeddingSpace]:
    """``encoder.encode(items, layers=...)`` with the options its signature takes (raw vectors: no normalisation)."""
    encode = getattr(encoder, "encode", None)
    params = inspect.signature(encode).parameters if callable(encode) else {}
    if "layers" not in params:
        raise InvalidInputError(f"{type(encoder).__name__}.encode takes no layers=; give an encoder with layer "
                                "outputs (a Hugging Face text encoder, ImageEncoder, SmallConvNet) or a "
                                "dict {layer: EmbeddingSpace}")
    kwargs: dict[str, Any] = {"layers": layers if isinstance(layers, str) else list(layers)}
    for name, value in (("pooling", pooling), ("keys", keys), ("normalize", False), ("progress", progress)):
        if name in params and (value is not None or name in ("normalize", "progress")):
            kwargs[name] = value
    out = encoder.encode(items, **kwargs)
    if not isinstance(out, Mapping):
        raise InvalidInputError(f"{type(encoder).__name__}.encode(layers=...) returned {type(out).__name__}, "
                                "expected {layer: EmbeddingSpace}")
    return dict(out)


def _probe(x: npt.NDArray[np.float32], y: npt.NDArray[Any], folds: int, seed: int) -> float:
    """Mean accuracy of a logistic regression (standardised features) over stratified folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(model, x, y, cv=cv)))


def _ndcg10(docs: EmbeddingSpace, queries: EmbeddingSpace, qrels: Mapping[str, Mapping[str, int]]) -> float:
    """nDCG@10 of exact cosine search of ``queries`` among ``docs`` (embspace's ranking metrics)."""
    d = np.ascontiguousarray(_linalg.unit_rows(np.asarray(docs.vectors, np.float32)), np.float32)
    q = np.ascontiguousarray(_linalg.unit_rows(np.asarray(queries.vectors, np.float32)), np.float32)
    _, rows = _topk.search(q, d, min(10, len(d)), "dot")
    keys = list(docs.keys)
    run = {qid: [keys[int(r)] for r in row if r >= 0] for qid, row in zip(queries.keys, rows, strict=True)}
    judged = {qid: dict(rel) for qid, rel in qrels.items() if qid in run}
    if not judged:
        raise InvalidInputError("none of the qrels' query ids is among the queries' keys")
    return ranking_metrics(judged, run, (10,))[0]["ndcg@10"]


def _label(layer: Layer) -> str:
    return f"layer {layer}" if isinstance(layer, int | np.integer) else f"stage {layer!r}"


def _findings(metrics: list[LayerMetrics], cka: npt.NDArray[np.float64]) -> tuple[dict[str, Layer], list[str]]:
    best: dict[str, Layer] = {}
    out: list[str] = []
    last = metrics[-1]

    def pick(attr: str, higher: bool) -> LayerMetrics | None:
        have = [m for m in metrics if getattr(m, attr) is not None and math.isfinite(float(getattr(m, attr)))]
        if not have:
            return None
        return (max if higher else min)(have, key=lambda m: float(getattr(m, attr)))

    for task, attr, what in (("probe", "probe_accuracy", "the linear probe (accuracy {v:.3f}"),
                             ("retrieval", "ndcg_at_10", "retrieval (nDCG@10 {v:.3f}")):
        m = pick(attr, True)
        if m is None:
            continue
        best[task] = m.layer
        v, vl = float(getattr(m, attr)), float(getattr(last, attr))
        text = f"{_label(m.layer).capitalize()} is best for {what.format(v=v)}"
        text += ")." if m is last else f"; the last {_label(last.layer)}: {vl:.3f})."
        out.append(text)
    iso = pick("isotropy", True)
    if iso is not None:
        best["isotropy"] = iso.layer
        out.append(f"{_label(iso.layer).capitalize()} is the most isotropic (I(W) {iso.isotropy:.3f}, mean cosine "
                   f"{iso.mean_cosine:.3f}).")
    hub = pick("hubness", False)
    if hub is not None:
        best["hubness"] = hub.layer
        out.append(f"{_label(hub.layer).capitalize()} has the least hubness (skewness {hub.hubness:.2f}).")
    if len(metrics) > 1:
        adjacent = [float(cka[i, i + 1]) for i in range(len(metrics) - 1)]
        i = int(np.argmin(adjacent))
        out.append(f"Linear CKA of the first and last layers is {cka[0, -1]:.2f}; consecutive layers change most "
                   f"between {_label(metrics[i].layer)} and {_label(metrics[i + 1].layer)} (CKA {adjacent[i]:.2f}).")
    return best, out


def layers(encoder: Any, texts: Any = None, labels: Sequence[Any] | npt.ArrayLike | None = None,
           queries: Mapping[str, str] | Mapping[Layer, EmbeddingSpace] | None = None,
           qrels: Mapping[str, Mapping[str, int]] | None = None, *, which: Sequence[Layer] | str = "all",
           pooling: str | None = None, sample: int | None = 10_000, k: int = 10, folds: int = 5,
           cka_sample: int | None = 2_000, seed: int = 0, progress: bool = True) -> LayerReport:
    """Measure every layer of ``encoder`` on ``texts``.

    Parameters
    ----------
    encoder
        An encoder with layer outputs (``encoder.encode(items, layers=...)`` returning ``{layer:
        EmbeddingSpace}``), or those spaces already made: a ``dict[layer, EmbeddingSpace]`` over the same keys
        (then ``texts`` is not used).
    texts
        The items to encode: a list, or ``{id: text}`` (the ids become the keys, as qrels name them).
    labels
        One label per item: a ``folds``-fold cross-validated logistic-regression probe (scikit-learn, standardised
        features) per layer.
    queries, qrels
        ``{query_id: text}`` (or, with spaces given, ``{layer: EmbeddingSpace}`` of the query vectors) and
        ``{query_id: {doc_id: relevance}}``: nDCG@10 of exact cosine search per layer.
    which
        The layers (``"all"`` or a list, as ``encode(layers=...)`` takes them).
    pooling
        Pooling of every layer (default: the model's own).
    sample, k
        Rows (seeded sample) and neighbours of the geometry: :func:`~embspace.analysis.anisotropy`,
        :func:`~embspace.analysis.intrinsic_dimension` (``2k`` neighbours) and :func:`~embspace.analysis.hubness`.
    cka_sample
        Rows the CKA matrix is computed on (the same seeded rows for every layer).
    """
    start = time.perf_counter()
    if (queries is None) != (qrels is None):
        raise InvalidInputError("retrieval needs both queries and qrels; give both or neither")
    keys: list[str] | None = None
    query_spaces: dict[Layer, EmbeddingSpace] | None = None
    if isinstance(encoder, Mapping):
        spaces: dict[Layer, EmbeddingSpace] = dict(encoder)
        if not spaces or not all(isinstance(s, EmbeddingSpace) for s in spaces.values()):
            raise InvalidInputError("expected an encoder or a non-empty dict {layer: EmbeddingSpace}")
        model = next(iter(spaces.values())).provenance.model
        if queries is not None:
            if not all(isinstance(q, EmbeddingSpace) for q in queries.values()) or set(queries) != set(spaces):
                raise InvalidInputError("with layer spaces given, queries must be {layer: EmbeddingSpace} of the "
                                        "query vectors for the same layers")
            query_spaces = dict(queries)  # type: ignore[assignment]  # checked just above
    else:
        if texts is None:
            raise InvalidInputError("give the texts (or images) to encode at every layer")
        items = texts
        if isinstance(texts, Mapping):
            keys, items = [str(t) for t in texts], list(texts.values())
        model = str(getattr(encoder, "name", type(encoder).__name__))
        spaces = _encode(encoder, items, keys, which, pooling, progress)
        if queries is not None:
            qkeys = [str(q) for q in queries]
            query_spaces = _encode(encoder, list(queries.values()), qkeys, which, pooling, progress)
    order = list(spaces)
    first = spaces[order[0]]
    n = len(first)
    for layer, s in spaces.items():
        if list(s.keys) != list(first.keys):
            raise InvalidInputError(f"the spaces of {_label(order[0])} and {_label(layer)} have other keys; every "
                                    "layer must hold the same items in the same order")
    if n < 5:
        raise InvalidInputError(f"the layer analysis needs at least 5 items, got {n}")
    y = None
    if labels is not None:
        y = np.asarray(labels)
        if len(y) != n:
            raise InvalidInputError(f"{len(y)} labels for {n} items")
        counts = np.unique(y, return_counts=True)[1]
        if len(counts) < 2 or counts.min() < 2:
            raise InvalidInputError("the probe needs at least two classes with at least two items each")
        folds = max(2, min(folds, int(counts.min())))
    hub_k = max(1, min(k, n - 2))
    id_k = max(3, min(2 * k, n - 2))
    metrics: list[LayerMetrics] = []
    cka_rows = _rows(first, cka_sample, seed)[2]
    xs: list[npt.NDArray[np.float32]] = []
    with TrainingProgress(len(order), "measuring layers", unit="layers", enabled=progress) as bar:
        for layer in order:
            s = spaces[layer]
            an = anisotropy(s, sample=sample, seed=seed)
            try:
                idim = intrinsic_dimension(s, sample=sample, k=id_k, seed=seed)
                tn, ml, p95 = idim.twonn, idim.mle, idim.pca95  # type: tuple[float | None, float | None, int | None]
            except InvalidInputError:  # too few distinct distances (duplicate vectors): no local estimate
                tn = ml = p95 = None
            hb = hubness(s, hub_k, sample=sample, seed=seed)
            x = np.asarray(s.vectors, np.float32)
            probe = _probe(x, y, folds, seed) if y is not None else None
            ndcg = None
            if query_spaces is not None and qrels is not None:
                ndcg = _ndcg10(s, query_spaces[layer], qrels)
            metrics.append(LayerMetrics(layer, s.dim, an.mean_cosine, an.isotropy, tn, ml, p95, hb.skewness,
                                        probe, ndcg))
            xs.append(x[cka_rows])
            bar.advance(1, description=f"measured {_label(layer)}")
    m = len(order)
    cka = np.zeros((m, m))
    for i in range(m):
        for j in range(i, m):  # the diagonal too: 1 up to rounding, computed, not assumed
            cka[i, j] = cka[j, i] = linear_cka(xs[i], xs[j])
    best, findings = _findings(metrics, cka)
    return LayerReport(model, n, order, metrics, cka, best, findings, folds if y is not None else None, hub_k,
                       round(time.perf_counter() - start, 2))
