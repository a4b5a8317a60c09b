"""The analysis report: every diagnostic, the effect of every fix, clusters and a map, on one HTML page.

``analysis.report(space)`` runs the diagnostics (norms, anisotropy, intrinsic dimension, hubness,
neighbourhood stability), tries each fix and re-scoring (with an evaluation before/after when one is
given), clusters the space and draws a map, then reads the figures out in plain language and
recommends fixes. :meth:`Report.save` writes one self-contained HTML page (figures inlined) and the
same figures as PNG files beside it.

Cost: the diagnostics run on at most ``sample`` rows (one exact k-NN pass shared by intrinsic
dimension and hubness); the fixes are learnt on those rows (on the whole space when an evaluation is
given, since it scores the whole space); re-scoring fixes on ``min(sample, 10,000)``.

The diagnostics (norms, anisotropy, intrinsic dimension, hubness) are those of
:func:`~embspace.analysis.summary` (``embspace analyze``): the same seeded rows for the same ``sample``,
the same vectors (norms raw, anisotropy unit, intrinsic dimension and hubness on what the metric
compares: unit vectors for cosine, raw for l2 and dot; each result's ``vectors`` says which), so the
two agree to float rounding when asked the same thing.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _html
from .._progress import TrainingProgress
from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from . import fixes as _fixes
from .budget import BudgetReport
from .clustering import Clustering, kmeans
from .diagnostics import (
    Anisotropy,
    Hubness,
    IntrinsicDimension,
    Norms,
    _distances,
    _metric_view,
    _neighbors,
    _rows,
    anisotropy,
    hubness_of,
    intrinsic_dimension_of,
    measured_vectors,
    norms,
)
from .fixes import FixReport
from .maps import SpaceMap
from .rescoring import csls, mutual_proximity
from .stability import Stability, stability

__all__ = ["Report", "report"]

ID_K = 20  # neighbours of the intrinsic-dimension estimates
RESCORE_ROWS = 10_000  # rows the re-scoring fixes are tried on (without an evaluation)
MAP_POINTS = 4_000  # below 4,096 UMAP finds neighbours exactly, without compiling pynndescent


@dataclass
class Report:
    """What :func:`report` found; :meth:`html` renders it, :meth:`save` writes it."""

    title: str
    n: int
    dim: int
    metric: str
    model: str
    sample: int  # rows the neighbour-based measures used
    norms: Norms
    anisotropy: Anisotropy
    intrinsic_dimension: IntrinsicDimension
    hubness: Hubness
    stability: Stability
    fixes: list[FixReport]
    clustering: Clustering | None
    recommendations: list[str]
    evaluation_name: str | None = None
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    figures: dict[str, bytes] = field(default_factory=dict, repr=False)  # name -> PNG
    budget: BudgetReport | None = None  # the memory and speed budget, when one was measured (analysis.budget)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (no arrays, no images)."""
        from .diagnostics import _as_dict

        out: dict[str, Any] = {k: getattr(self, k) for k in ("title", "n", "dim", "metric", "model", "sample",
                                                              "recommendations", "evaluation_name", "seconds",
                                                              "steps")}
        for name in ("norms", "anisotropy", "intrinsic_dimension", "hubness", "stability", "clustering"):
            value = getattr(self, name)
            out[name] = None if value is None else _as_dict(value)
        out["fixes"] = [_as_dict(f) for f in self.fixes]
        out["budget"] = None if self.budget is None else self.budget.to_dict()
        return out

    def html(self) -> str:
        """One self-contained page (the figures inlined as PNG data)."""
        return _render(self)

    def _repr_html_(self) -> str:
        """The headline figures and recommendations in a notebook (:meth:`html` is the whole page)."""
        a, d, hb, st, c = self.anisotropy, self.intrinsic_dimension, self.hubness, self.stability, self.clustering
        facts = [("vectors", self.n), ("dim", self.dim), ("metric", self.metric), ("model", self.model),
                 ("sample", self.sample), ("mean cosine", a.mean_cosine), ("isotropy", a.isotropy),
                 ("intrinsic dimension (TwoNN)", d.twonn), ("PCA, 95% of the variance", d.pca95),
                 (f"hubness (skewness, k={hb.k})", hb.skewness), (f"stability ({st.k} nearest kept)", st.mean_overlap),
                 *([("clusters", c.n_clusters)] if c is not None else []), ("seconds", self.seconds)]
        def change(before: float | None, after: float | None) -> str:
            return f"{_html.fmt(before)} → {_html.fmt(after)}"

        ev = self.evaluation_name
        fixes = _html.table(((f.fix, change(f.isotropy_before, f.isotropy_after),
                              change(f.mean_cosine_before, f.mean_cosine_after),
                              change(f.hubness_before, f.hubness_after),
                              *([change(f.evaluation_before, f.evaluation_after)] if ev else [])) for f in self.fixes),
                            ["fix", "isotropy", "mean cosine", "hubness", *([ev] if ev else [])],
                            total=len(self.fixes), more="more fixes")
        recs = _html.table(((_html.text(r),) for r in self.recommendations), ["recommendations"],
                           total=len(self.recommendations))
        return _html.frame("Report", _html.kv_table(facts), recs, fixes,
                           _html.note("report.html() is the whole page; report.save(path) writes it."),
                           subtitle=self.title)

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` and its figures as PNG files to ``<path stem>_figures/``."""
        from .._atomic import atomic_path

        p = Path(path)
        figdir = p.with_name(p.stem + "_figures")
        figdir.mkdir(parents=True, exist_ok=True)
        for name, png in self.figures.items():
            with atomic_path(figdir / f"{name}.png") as tmp:
                Path(tmp).write_bytes(png)
        with atomic_path(p) as tmp:
            Path(tmp).write_text(self.html(), encoding="utf-8")
        return p


# ------------------------------------------------------------------------------------------- figures


def _png(draw: Callable[[Any], None], size: tuple[float, float] = (6.0, 3.4)) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    draw(fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _fig_norms(lengths: npt.NDArray[np.float64]) -> bytes:
    def draw(ax: Any) -> None:
        ax.hist(lengths, bins=60, color="#4a78b5")
        ax.set_xlabel("L2 norm")
        ax.set_ylabel("vectors")
        ax.set_title("Distribution of vector norms")

    return _png(draw)


def _fig_spectrum(shares: npt.NDArray[np.float64], pca90: int, pca95: int) -> bytes:
    def draw(ax: Any) -> None:
        top = shares[: min(len(shares), 100)]
        ax.bar(np.arange(1, len(top) + 1), top, color="#4a78b5", label="share of variance")
        ax.set_xlabel("principal component")
        ax.set_ylabel("share of variance")
        ax2 = ax.twinx()
        ax2.plot(np.arange(1, len(shares) + 1), np.cumsum(shares), color="#c0504d", label="cumulative")
        for v, style in ((pca90, ":"), (pca95, "--")):
            ax2.axvline(v, color="#777777", linestyle=style)
        ax2.set_ylim(0, 1.02)
        ax2.set_ylabel("cumulative")
        ax.set_title(f"PCA spectrum (90% at {pca90}, 95% at {pca95} components)")

    return _png(draw)


def _fig_cosine_shares(shares: npt.NDArray[np.float64]) -> bytes:
    def draw(ax: Any) -> None:
        ax.bar(np.arange(len(shares)), shares, color="#4a78b5", width=1.0)
        ax.set_xlabel("coordinate")
        ax.set_ylabel("share of the mean cosine")
        ax.set_title("What each coordinate contributes to cosine similarity")

    return _png(draw)


def _fig_occurrence(occ: npt.NDArray[np.int64], k: int) -> bytes:
    def draw(ax: Any) -> None:
        ax.hist(occ, bins=min(80, int(occ.max()) + 1), color="#4a78b5", log=True)
        ax.axvline(k, color="#c0504d", linestyle="--")
        ax.set_xlabel(f"k-occurrence (times among others' {k} nearest; dashed: the even share, {k})")
        ax.set_ylabel("points (log)")
        ax.set_title("Hubness: how often each point is a neighbour")

    return _png(draw)


def _fig_map(coords: npt.NDArray[np.float32], labels: npt.NDArray[np.int64] | None, method: str) -> bytes:
    def draw(ax: Any) -> None:
        ax.scatter(coords[:, 0], coords[:, 1], s=3, c=labels if labels is not None else "#4a78b5",
                   cmap="tab20", alpha=0.7, linewidths=0)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{method.upper()} map of {len(coords):,} points" + (", coloured by k-means cluster"
                                                                            if labels is not None else ""))

    return _png(draw, (6.0, 5.0))


# ----------------------------------------------------------------------------------------- the run


def _fix_runs(dim: int, pca95: int) -> list[tuple[str, Callable[..., EmbeddingSpace]]]:
    runs: list[tuple[str, Callable[..., EmbeddingSpace]]] = [
        ("center", _fixes.center),
        ("all-but-the-top", _fixes.all_but_the_top),
        ("whiten-pca", _fixes.whiten),
    ]
    if pca95 < dim:
        runs.append((f"whiten-pca-{pca95}", lambda s, **kw: _fixes.whiten(s, pca95, **kw)))
    runs += [("whiten-zca", lambda s, **kw: _fixes.whiten(s, kind="zca", **kw)),
             ("standardize", _fixes.standardize)]
    return runs


def _recommend(an: Anisotropy, idim: IntrinsicDimension, hub: Hubness, fixes: list[FixReport],
               evaluation: str | None) -> list[str]:
    out: list[str] = []
    by = {f.fix: f for f in fixes}
    if evaluation is not None:
        base = next((f.evaluation_before for f in fixes if f.evaluation_before is not None), None)
        scored = [f for f in fixes if f.evaluation_after is not None]
        if base is not None and scored:
            best = max(scored, key=lambda f: f.evaluation_after or -math.inf)
            assert best.evaluation_after is not None
            if best.evaluation_after > base + 0.005:
                out.append(f"Apply {best.fix}: it raises {evaluation} from {base:.4f} to {best.evaluation_after:.4f}, "
                           "the most of the fixes tried.")
            else:
                out.append(f"No fix improves {evaluation} ({base:.4f}) by more than 0.005; keep the space as it is "
                           "for that task.")
    def task(f: FixReport | None) -> str:
        """The evaluation's verdict on a fix, when there is one."""
        if f is None or evaluation is None or f.evaluation_before is None or f.evaluation_after is None:
            return ""
        b, a = f.evaluation_before, f.evaluation_after
        if a < b - 0.005:
            return (f"; but it lowers {evaluation} from {b:.4f} to {a:.4f} here, so keep it for tasks that need "
                    "an isotropic space (clustering, whitening-based retrieval)")
        return f"; {evaluation} {b:.4f} -> {a:.4f}"

    if an.mean_cosine >= 0.1:
        c = by.get("center")
        more = (f" (isotropy {c.isotropy_before:.2f} -> {c.isotropy_after:.2f}, mean cosine "
                f"{c.mean_cosine_before:.2f} -> {c.mean_cosine_after:.2f}{task(c)})") if c else ""
        out.append(f"The space is anisotropic (mean cosine of random pairs {an.mean_cosine:.2f}): centring removes "
                   f"the common direction{more}; all-but-the-top does the same and drops the top components.")
    if an.rogue_dimensions:
        dims = ", ".join(str(d) for d, _ in an.rogue_dimensions[:5])
        out.append(f"Rogue dimensions ({dims}) dominate cosine similarity: standardise the coordinates"
                   f"{task(by.get('standardize'))}.")
    if hub.skewness > 1:
        measured = [f for f in fixes if f.hubness_after is not None and f.hubness_before is not None]
        if measured:
            best = min(measured, key=lambda f: f.hubness_after or math.inf)
            how = f"search with {best.fix} re-scoring" if best.fix in ("csls", "mutual-proximity") else \
                f"apply {best.fix}"
            out.append(f"Hubness is high (k-occurrence skewness {hub.skewness:.2f}): {how}, which lowers it from "
                       f"{best.hubness_before:.2f} to {best.hubness_after:.2f} on a sample{task(best)}.")
    if idim.pca95 < idim.nominal / 2:
        out.append(f"95% of the variance lies in {idim.pca95} of {idim.nominal} dimensions: PCA whitening to "
                   f"{idim.pca95} dimensions (`embspace fix --whiten --dim {idim.pca95}`) shrinks the index "
                   "with little loss.")
    if not out:
        out.append("The space is in good shape: no fix is needed.")
    return out


def report(space: EmbeddingSpace, *, sample: int | None = 100_000, k: int = 10,
           evaluate: Callable[[EmbeddingSpace], float] | None = None, evaluation_name: str = "the evaluation",
           labels: Sequence[Any] | None = None, clusters: int | None = None, map_method: str | None = "umap",
           map_points: int = MAP_POINTS, title: str | None = None, progress: bool = True,
           seed: int = 0, projection: SpaceMap | None = None, budget: BudgetReport | None = None) -> Report:
    """Analyse ``space`` end to end (see the module docs); ``labels`` (one per key) add NMI/ARI to the
    clustering; ``clusters`` is the k of k-means (default from the sample size); ``map_method`` is
    ``"umap"``, ``"tsne"``, ``"pca"`` or ``None`` for no map; ``projection``, a map of ``space`` made
    already (:func:`~embspace.analysis.project`), is drawn instead of making one (``map_method`` is then
    ignored); ``budget``, what :func:`~embspace.analysis.budget` measured on this space's vectors, becomes the
    section "Memory and speed budget" (its recommendation also heads the list)."""
    if not isinstance(space, EmbeddingSpace):
        raise InvalidInputError(f"expected an EmbeddingSpace, got {type(space).__name__}")
    if len(space) < max(ID_K, k) + 2:
        raise InvalidInputError(f"the report needs at least {max(ID_K, k) + 2} vectors, got {len(space)}")
    if labels is not None and len(labels) != len(space):
        raise InvalidInputError(f"{len(labels)} labels for {len(space)} keys")
    if map_method not in (None, "umap", "tsne", "pca"):
        raise InvalidInputError(f"map_method must be 'umap', 'tsne', 'pca' or None, got {map_method!r}")
    if budget is not None and not isinstance(budget, BudgetReport):
        raise InvalidInputError(f"budget must be a BudgetReport (analysis.budget), got {type(budget).__name__}")
    if projection is not None:
        if not isinstance(projection, SpaceMap):
            raise InvalidInputError(f"projection must be a SpaceMap, got {type(projection).__name__}")
        if projection.dim != space.dim:
            raise InvalidInputError(f"the projection maps {projection.dim}-d vectors, the space has {space.dim}")
    start = time.perf_counter()
    steps: dict[str, float] = {}
    figures: dict[str, bytes] = {}
    drawn = map_method is not None or projection is not None
    total = 8 + len(_fix_runs(space.dim, 0)) + drawn  # with the reduced whitening
    with TrainingProgress(total, "report", unit="steps", enabled=progress) as bar, _fixes.shared_baseline():
        t = time.perf_counter()

        def step(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            steps[name] = round(now - t, 3)
            t = now
            bar.advance(1, description=name)

        # the diagnostics of `summary` (embspace analyze), on the same seeded rows and the same vectors
        nrm = norms(space, sample=sample, seed=seed)
        figures["norms"] = _fig_norms(nrm.lengths)
        step("norms")
        x, keys, rows = _rows(space, sample, seed)
        assert keys is not None
        work = space if len(rows) == len(space) else space.subset(keys)
        an = anisotropy(space, sample=sample, seed=seed)
        figures["cosine_shares"] = _fig_cosine_shares(an.cosine_share_by_dimension)
        step("anisotropy")
        # one exact k-NN pass serves intrinsic dimension (distances) and hubness (neighbours)
        kk = max(ID_K, k)
        metric = space.metric
        vectors = measured_vectors(metric)
        xi = _metric_view(x, metric)  # what the metric compares: unit rows for cosine, raw rows otherwise
        if metric == "dot":  # dot-product neighbours are not distances: a second pass, in L2, for the estimates
            _, nbrs = _neighbors(x, k, "dot")
            dist = _distances(x, _neighbors(x, ID_K, "l2")[1])
        else:
            _, nbrs = _neighbors(xi, kk, metric)
            dist = _distances(xi, nbrs[:, :ID_K])
        step("neighbours")
        idim = intrinsic_dimension_of(xi, dist, vectors=vectors)
        figures["spectrum"] = _fig_spectrum(idim.variance_shares, idim.pca90, idim.pca95)
        hub = hubness_of(nbrs[:, :k], keys, rows, vectors=vectors)
        figures["occurrence"] = _fig_occurrence(hub.k_occurrence, k)
        step("intrinsic dimension, hubness")
        stab = stability(work, k, rounds=3, sample=1_000, pool=20_000, seed=seed)
        step("stability")
        target = space if evaluate is not None else work
        reports: list[FixReport] = []
        runs = _fix_runs(space.dim, idim.pca95)
        if len(runs) < len(_fix_runs(space.dim, 0)):
            bar.advance(1)  # no reduced whitening when 95% of the variance needs every dimension
        for name, fix in runs:
            fixed = fix(target, evaluate=evaluate, seed=seed)
            assert isinstance(fixed, _fixes.FixedSpace)
            rep = fixed.report
            reports.append(replace(rep, fix=name, explanation=name + rep.explanation[len(rep.fix):]))
            step(name)
        small = target if (evaluate is not None or len(target) <= RESCORE_ROWS) else \
            target.subset([target.keys[i] for i in np.sort(
                np.random.default_rng(seed).choice(len(target), RESCORE_ROWS, replace=False))])
        reports.append(csls(small, k, hub_k=k, evaluate=evaluate, seed=seed).report)
        step("csls")
        reports.append(mutual_proximity(small, hub_k=k, evaluate=evaluate, seed=seed).report)
        step("mutual-proximity")
        n_clusters = clusters or int(min(50, max(2, round(math.sqrt(len(work) / 20)))))
        true = None if labels is None else [labels[i] for i in rows]
        clus = kmeans(work, min(n_clusters, len(work)), true_labels=true, seed=seed, nredo=1)
        step("clustering")
        if drawn:  # the given map, or one made now; drawn where its points are in the rows analysed
            if projection is None:
                from .maps import project

                options = {"n_epochs": 200} if map_method == "umap" else {}  # UMAP's own default for big data
                proj, how = project(work, str(map_method), 2, sample=map_points, seed=seed, **options), map_method
            else:
                proj, how = projection, f"{projection.method}, given"
            pos = {key: i for i, key in enumerate(work.keys)}
            shown = [i for i, key in enumerate(proj.keys) if key in pos]
            if shown:
                figures["map"] = _fig_map(proj.coords[shown], clus.labels[[pos[proj.keys[i]] for i in shown]],
                                          proj.method)
            step(f"map ({how})")
    recs = _recommend(an, idim, hub, reports, evaluation_name if evaluate is not None else None)
    if budget is not None:
        recs.append(f"Memory and speed: {budget.recommendation}")
        figures["budget"] = budget.png()
    return Report(title or f"{space.provenance.model}: {len(space):,} x {space.dim}", len(space), space.dim,
                  space.metric, space.provenance.model, len(rows), nrm, an, idim, hub, stab, reports, clus, recs,
                  evaluation_name if evaluate is not None else None, round(time.perf_counter() - start, 2), steps,
                  figures, budget)


# -------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.reading{background:#f7f9fc;
border-left:4px solid #4a78b5;padding:.5em .9em}.rec li{margin:.3em 0}img{max-width:100%}
.meta{color:#666}code{background:#f4f4f4;padding:0 .2em}
"""


_e = _html.esc


def _img(r: Report, name: str, alt: str) -> str:
    png = r.figures.get(name)
    return "" if png is None else f"<p>{_html.image(png, alt)}</p>"


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "—" if v is None else format(v, fmt)


def _measured(r: Report) -> str:
    """Which vectors each diagnostic measured, in words."""
    return (f"norms on the {r.norms.vectors} vectors, anisotropy on the {r.anisotropy.vectors} vectors, intrinsic "
            f"dimension and hubness on the {r.intrinsic_dimension.vectors} vectors the {r.metric} metric compares")


def _render(r: Report) -> str:
    h: list[str] = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(r.title)}</title>"
                    f"<style>{_CSS}</style></head><body>", f"<h1>{_e(r.title)}</h1>",
                    f"<p class=meta>{r.n:,} vectors x {r.dim} dimensions, metric {_e(r.metric)}, model "
                    f"{_e(r.model)}; diagnostics on {r.sample:,} rows ({_e(_measured(r))}); made by embspace in "
                    f"{r.seconds:.0f} s.</p>", "<h2>Summary and recommended fixes</h2><ul class=rec>"]
    h += [f"<li>{_e(x)}</li>" for x in r.recommendations]
    h.append("</ul>")
    sections = [("Norms", r.norms.explanation, [("norms", "norm histogram")], r.norms.vectors),
                ("Anisotropy", r.anisotropy.explanation, [("cosine_shares", "cosine share per coordinate")],
                 r.anisotropy.vectors),
                ("Intrinsic dimension", r.intrinsic_dimension.explanation, [("spectrum", "PCA spectrum")],
                 r.intrinsic_dimension.vectors),
                ("Hubness", r.hubness.explanation, [("occurrence", "k-occurrence histogram")], r.hubness.vectors),
                ("Neighbourhood stability", r.stability.explanation, [], None)]
    for name, text, figs, vectors in sections:
        on = f" <small class=meta>(on the {_e(vectors)} vectors)</small>" if vectors else ""
        h.append(f"<h2>{_e(name)}{on}</h2><p class=reading>{_e(text)}</p>")
        h += [_img(r, f, alt) for f, alt in figs]
        if name == "Anisotropy":
            a = r.anisotropy
            h.append("<table><tr><th>measure</th><th>value</th></tr>" + "".join(
                f"<tr><td>{_e(m)}</td><td>{v}</td></tr>" for m, v in (
                    ("mean cosine of random pairs", f"{a.mean_cosine:.3f}"), ("isotropy I(W)", f"{a.isotropy:.3f}"),
                    ("variance in the 1st component", f"{a.top1_variance:.1%}"),
                    ("variance in the first 10", f"{a.top10_variance:.1%}"),
                    ("rogue dimensions", ", ".join(f"{d} ({s:.0%})" for d, s in a.rogue_dimensions[:8]) or "none")))
                + "</table>")
        if name == "Intrinsic dimension":
            d = r.intrinsic_dimension
            h.append("<table><tr><th>estimate</th><th>dimensions</th></tr>" + "".join(
                f"<tr><td>{m}</td><td>{v}</td></tr>" for m, v in (
                    ("nominal", d.nominal), ("PCA, 90% of the variance", d.pca90), ("PCA, 95%", d.pca95),
                    ("TwoNN", f"{d.twonn:.1f}"), (f"MLE (k={d.k})", f"{d.mle:.1f}"))) + "</table>")
        if name == "Hubness":
            hb = r.hubness
            h.append(f"<table><tr><th>top hub</th><th>among others' {hb.k} nearest</th></tr>" + "".join(
                f"<tr><td>{_e(key)}</td><td>{n:,}</td></tr>" for key, n in hb.top_hubs) + "</table>")
        if name == "Neighbourhood stability" and r.stability.least_stable:
            h.append("<p>Least stable: " + ", ".join(f"{_e(key)} ({v:.0%})" for key, v in
                                                      r.stability.least_stable[:10]) + "</p>")
    ev = r.evaluation_name
    h.append("<h2>Fixes tried</h2><p>Each fix is learnt on the space and applied the same way to new queries "
             "(re-scoring fixes change how neighbours are ranked, not the vectors). Before and after are measured "
             "on the space the fix is learnt on: isotropy and mean cosine on up to 10,000 of its rows (unit "
             "vectors), hubness on up to 5,000, so a &ldquo;before&rdquo; may differ a little from the sections "
             "above on a bigger sample.</p><table><tr><th>fix</th>"
             "<th>isotropy</th><th>mean cosine</th><th>hubness (skewness, on up to 5,000 rows)</th>"
             + (f"<th>{_e(ev)}</th>" if ev else "") + "</tr>")
    for f in r.fixes:
        h.append(f"<tr><td>{_e(f.fix)}</td><td>{f.isotropy_before:.2f} &rarr; {f.isotropy_after:.2f}</td>"
                 f"<td>{f.mean_cosine_before:.3f} &rarr; {f.mean_cosine_after:.3f}</td>"
                 f"<td>{_num(f.hubness_before, '.2f')} &rarr; {_num(f.hubness_after, '.2f')}</td>"
                 + (f"<td>{_num(f.evaluation_before, '.4f')} &rarr; {_num(f.evaluation_after, '.4f')}</td>"
                    if ev else "") + "</tr>")
    h.append("</table>")
    if r.clustering is not None:
        c = r.clustering
        h.append(f"<h2>Clusters</h2><p class=reading>{_e(c.explanation)}</p><table><tr><th>cluster</th><th>size</th>"
                 "<th>nearest its centre</th></tr>")
        order = np.argsort(-np.asarray(c.sizes), kind="stable")[:20]
        h += [f"<tr><td>{i}</td><td>{c.sizes[i]:,}</td><td style='text-align:left'>"
              f"{_e(', '.join(c.descriptions[i]))}</td></tr>" for i in order.tolist()]
        h.append("</table>")
    if "map" in r.figures:
        h.append("<h2>Map</h2>" + _img(r, "map", "2-D map"))
    if r.budget is not None:
        h.append("<h2>Memory and speed budget</h2>" + r.budget.html(r.figures.get("budget")))
    h.append("<h2>Time per step</h2><table><tr><th>step</th><th>s</th></tr>" + "".join(
        f"<tr><td>{_e(s)}</td><td>{v:.1f}</td></tr>" for s, v in r.steps.items()) + "</table></body></html>")
    return "\n".join(h)
