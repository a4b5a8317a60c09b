"""The budget of a space: what each dimension, precision and index costs and keeps, on your own queries.

:func:`budget` builds one candidate collection per (truncated dimension x precision x index), searches
it with the caller's queries at every rescoring depth, and measures for each candidate

- **quality**: nDCG@k against relevance judgements (``qrels``), else recall@k against exact float32
  search of the same queries over the full-dimension vectors (the exact oracle): the truth is always
  the untruncated, unquantised space, so a candidate's loss is the loss of its truncation and its
  precision together;
- **bytes per vector** of the index codes (float32 ``4 d``, int8 ``d``, binary ``d / 8``, PQ ``m``);
- **index RAM**: ``info()["index_bytes"]`` of the candidate collection (the estimate of
  :func:`~embspace.index.estimate_memory` when the collection does not report it). With rescoring,
  the float vectors stay on disk, memory-mapped, and are not counted;
- **build time**: the collection's index build from its table (:meth:`~embspace.store.Collection.rebuild_index`:
  reading the vectors, building the index, writing it);
- **single-query QPS** (one ``search(vector)`` call per query, on up to ``timing_queries`` queries) and
  **batch QPS** (one call with every query), each the median of ``repeats`` timed runs.

Truncation keeps the first ``d`` coordinates and re-normalises (cosine spaces), to the corpus and the
queries alike: what a Matryoshka model is trained for (:func:`embspace.encoders.matryoshka_dims`); a
model that was not trained for it loses more, and the sweep shows how much.

The Pareto fronts (quality vs index RAM, quality vs single-query QPS) and one recommendation are read
off the table; the rule is :func:`recommend`'s.
"""

from __future__ import annotations

import io
import json
import re
import statistics
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _html
from .._progress import TrainingProgress
from .._ranking import ranking_metrics, read_qrels
from ..errors import DimensionMismatchError, InvalidInputError
from ..space.embedding_space import EmbeddingSpace

__all__ = ["BudgetCandidate", "BudgetReport", "budget", "pareto_front", "recommend", "truncate_rows"]

F32 = npt.NDArray[np.float32]
PRECISIONS = ("float32", "int8", "binary")
_PRECISION_ALIASES = {"float": "float32", "fp32": "float32", "f32": "float32", "sq8": "int8", "uint8": "int8",
                      "ubinary": "binary", "bit": "binary"}
DEFAULT_KEEP = 0.95
RAM_TIE = 0.05  # candidates within 5% of the smallest RAM count as equally small: the faster one wins


@dataclass(frozen=True)
class BudgetCandidate:
    """One measured configuration (a row of the table).

    Attributes
    ----------
    dim
        Dimensions kept (the first ``dim`` coordinates, re-normalised for cosine).
    precision
        ``"float32"``, ``"int8"``, ``"binary"`` or ``"pq"`` (what the index stores).
    index
        The collection's index factory string (``"HNSW32"``, ``"HNSW32,SQ8"``, ``"BinaryFlat"``, ...).
    rescore
        Rescoring depth: the top ``k x rescore`` candidates re-scored with the float vectors (0: none).
    params
        Search parameters (``{"efSearch": 64}``) or empty for the index's own.
    quality
        nDCG@k (with qrels) or recall@k (against exact float search).
    quality_share
        ``quality`` divided by the quality of exact float32 search of the full-dimension vectors.
    bytes_per_vector
        Bytes of one vector's code in the index.
    index_bytes
        Memory of the index, in bytes.
    build_seconds
        Time of the index build.
    qps, batch_qps
        Single-query and batch queries per second (medians).
    """

    dim: int
    precision: str
    index: str
    rescore: int
    params: dict[str, int]
    quality: float
    quality_share: float
    bytes_per_vector: float
    index_bytes: int
    build_seconds: float
    qps: float
    batch_qps: float

    @property
    def name(self) -> str:
        """``"binary HNSW32 + rescore x4"``, with ``" @ 128d"`` when truncated, and the search parameters."""
        structure = _structure(self.index)
        text = f"{self.precision} {structure}".strip()
        if self.rescore:
            text += f" + rescore x{self.rescore}"
        if self.params:
            text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(self.params.items())) + ")"
        return text

    def label(self, full_dim: int) -> str:
        """:attr:`name`, with the dimension when it is not ``full_dim``."""
        return self.name if self.dim == full_dim else f"{self.name} @ {self.dim}d"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "name": self.name}


def _structure(factory: str) -> str:
    """The search structure of a factory string: ``"BinaryHNSW32"`` -> ``"HNSW32"``, ``"HNSW32,SQ8"`` -> ``"HNSW32"``,
    ``"SQ8"`` -> ``"Flat"``."""
    f = factory.strip()
    if f.lower() == "exact":
        return "exact"
    if f.startswith("Binary"):
        f = f[len("Binary"):]
    first = f.split(",")[0]
    return "Flat" if re.fullmatch(r"SQ\d+|PQ\d+(x\d+)?", first) else first


# ------------------------------------------------------------------------------------ pure helpers


def pareto_front(quality: Sequence[float], cost: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats: higher ``quality`` is better, lower ``cost`` is better.

    A point is dominated when another has quality >= and cost <=, one of them strictly; equal points
    do not dominate each other (both stay). The result is sorted by cost, then by quality descending.
    For a front on a measure where higher is better (QPS), pass its negative as the cost.
    """
    if len(quality) != len(cost):
        raise InvalidInputError(f"{len(quality)} qualities for {len(cost)} costs")
    q = [float(v) for v in quality]
    c = [float(v) for v in cost]
    front = [i for i in range(len(q))
             if not any(q[j] >= q[i] and c[j] <= c[i] and (q[j] > q[i] or c[j] < c[i]) for j in range(len(q)))]
    return sorted(front, key=lambda i: (c[i], -q[i]))


def recommend(candidates: Sequence[BudgetCandidate], keep: float = DEFAULT_KEEP,
              min_qps: float | None = None) -> BudgetCandidate | None:
    """The recommended candidate: the rule, in full.

    1. Keep the candidates whose quality is at least ``keep`` (default 95%) of the quality of exact
       float32 search over the full-dimension vectors (``quality_share >= keep``), and whose
       single-query QPS is at least ``min_qps`` when given.
    2. Among them, the smallest index RAM; candidates within 5% of that smallest RAM count as
       equally small, and among those the highest single-query QPS wins (then the higher quality).

    ``None`` when no candidate qualifies.
    """
    ok = [c for c in candidates if c.quality_share >= keep - 1e-12 and (min_qps is None or c.qps >= min_qps)]
    if not ok:
        return None
    smallest = min(c.index_bytes for c in ok)
    tied = [c for c in ok if c.index_bytes <= smallest * (1 + RAM_TIE)]
    return max(tied, key=lambda c: (c.qps, c.quality, -c.index_bytes))


def truncate_rows(x: npt.ArrayLike, dim: int, *, normalize: bool = True) -> F32:
    """The first ``dim`` coordinates of every row, re-normalised to unit length when ``normalize``
    (Matryoshka truncation; zero rows stay zero)."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim != 2:
        raise InvalidInputError(f"expected a (n, dim) matrix, got shape {a.shape}")
    if not 1 <= dim <= a.shape[1]:
        raise InvalidInputError(f"cannot truncate {a.shape[1]}-d vectors to {dim} dimensions; choose 1..{a.shape[1]}")
    out = np.ascontiguousarray(a[:, :dim], dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(out.astype(np.float64), axis=1)
        out = (out / np.where(norms == 0, 1.0, norms)[:, None]).astype(np.float32)
    return out


def _pct(share: float) -> str:
    """0.95 -> ``"95%"``, 0.995 -> ``"99.5%"``."""
    return f"{share * 100:.4g}%"


def _ratio(a: float, b: float) -> str:
    """``a`` relative to ``b`` in words: ``"1/24 of"``, ``"2.1x"``."""
    if b <= 0 or a <= 0:
        return "?"
    r = a / b
    if r < 0.67:
        return f"1/{b / a:.0f} of" if b / a >= 10 else f"1/{b / a:.1f} of"
    return f"{r:.2f}x"


# -------------------------------------------------------------------------------------------- report


@dataclass
class BudgetReport:
    """What :func:`budget` measured: the candidates, the Pareto fronts and the recommendation.

    Attributes
    ----------
    candidates
        Every measured configuration, in the order measured.
    metric
        ``"ndcg@10"`` (with qrels) or ``"recall@10"`` (against exact float search).
    float_quality
        The quality of exact float32 search over the full-dimension vectors (1 for recall).
    n, dim, n_queries, k, metric_space
        Vectors, their full dimension, queries, hits per query, the space's metric.
    keep, min_qps
        The recommendation's thresholds (see :func:`recommend`).
    recommended
        The recommended candidate, or ``None``.
    reference
        The candidate the recommendation is compared with: the full-dimension float32 candidate with
        the best quality (ties: the higher single-query QPS), or ``None`` when none was measured.
    recommendation
        The recommendation in one sentence.
    seconds
        Wall time of the whole sweep.
    """

    candidates: list[BudgetCandidate]
    metric: str
    float_quality: float
    n: int
    dim: int
    n_queries: int
    k: int
    metric_space: str
    keep: float
    min_qps: float | None
    recommended: BudgetCandidate | None
    reference: BudgetCandidate | None
    recommendation: str
    seconds: float = 0.0
    threads: int | None = None
    notes: list[str] = field(default_factory=list)

    # -- fronts ---------------------------------------------------------------------------------------
    @property
    def memory_front(self) -> list[BudgetCandidate]:
        """Candidates on the Pareto front of quality vs index RAM (smallest RAM first)."""
        c = self.candidates
        return [c[i] for i in pareto_front([x.quality for x in c], [x.index_bytes for x in c])]

    @property
    def speed_front(self) -> list[BudgetCandidate]:
        """Candidates on the Pareto front of quality vs single-query QPS (fastest first)."""
        c = self.candidates
        return [c[i] for i in pareto_front([x.quality for x in c], [-x.qps for x in c])]

    def combined(self, *others: BudgetReport) -> BudgetReport:
        """One report over the candidates of this one and ``others`` (sweeps of the same vectors and queries with
        different settings), the fronts and the recommendation read again."""
        for o in others:
            if (o.n, o.dim, o.n_queries, o.k, o.metric, o.metric_space) != (self.n, self.dim, self.n_queries, self.k,
                                                                           self.metric, self.metric_space):
                raise InvalidInputError("only reports of the same vectors, queries, k and quality measure combine")
        out = _finish([c for r in (self, *others) for c in r.candidates], self.metric, self.float_quality, self.n,
                      self.dim, self.n_queries, self.k, self.metric_space, self.keep, self.min_qps)
        out.seconds = round(sum(r.seconds for r in (self, *others)), 2)
        out.threads = self.threads
        out.notes = sorted({n for r in (self, *others) for n in r.notes})
        return out

    # -- output ---------------------------------------------------------------------------------------
    def rows(self) -> list[dict[str, Any]]:
        """One dict per candidate with its fronts and whether it is recommended."""
        mem = {id(c) for c in self.memory_front}
        spd = {id(c) for c in self.speed_front}
        return [{**c.to_dict(), "label": c.label(self.dim), "memory_front": id(c) in mem, "speed_front": id(c) in spd,
                 "recommended": c is self.recommended, "reference": c is self.reference} for c in self.candidates]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, every candidate (with its fronts), the recommendation."""
        return {"metric": self.metric, "float_quality": self.float_quality, "n": self.n, "dim": self.dim,
                "n_queries": self.n_queries, "k": self.k, "metric_space": self.metric_space, "keep": self.keep,
                "min_qps": self.min_qps, "threads": self.threads, "seconds": self.seconds,
                "recommendation": self.recommendation,
                "recommended": None if self.recommended is None else self.recommended.label(self.dim),
                "reference": None if self.reference is None else self.reference.label(self.dim),
                "candidates": self.rows(), "notes": list(self.notes)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (a ``.png`` path gets :meth:`plot` instead)."""
        from .._atomic import atomic_path

        p = Path(path)
        if p.suffix.lower() == ".png":
            return self.plot(p)
        with atomic_path(p) as tmp:
            Path(tmp).write_text(self.to_json() + "\n", encoding="utf-8")
        return p

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        head = ["candidate", "dim", self.metric, "of float", "bytes/vec", "index MB", "build s", "QPS", "batch QPS",
                "front"]
        rows = []
        for r, c in zip(self.rows(), self.candidates, strict=True):
            mark = ("M" if r["memory_front"] else "") + ("S" if r["speed_front"] else "")
            name = c.name + (" *" if r["recommended"] else "")
            rows.append([name, str(c.dim), f"{c.quality:.4f}", f"{c.quality_share:.1%}", f"{c.bytes_per_vector:g}",
                         f"{c.index_bytes / 2**20:.2f}", f"{c.build_seconds:.2f}", f"{c.qps:,.0f}",
                         f"{c.batch_qps:,.0f}", mark])
        return head, rows

    def to_markdown(self) -> str:
        """The table in Markdown (``*``: recommended; front ``M``: quality vs memory, ``S``: quality vs speed)."""
        head, rows = self._cells()
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        head, rows = self._cells()
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                   strict=True)))
        out = [f"budget of {self.n:,} x {self.dim} ({self.metric_space}), {self.n_queries:,} queries, "
               f"{self.metric} (exact float32: {self.float_quality:.4f})", line(head)]
        out += [line(r) for r in rows]
        out += ["(* recommended; front M: quality vs index RAM, S: quality vs single-query QPS)", self.recommendation]
        return "\n".join(out)

    def __rich__(self) -> Any:
        from rich.table import Table

        head, rows = self._cells()
        t = Table(title=f"budget: {self.n:,} x {self.dim}, {self.n_queries:,} queries, {self.metric}",
                  caption=self.recommendation)
        for i, h in enumerate(head):
            t.add_column(h, justify="left" if i == 0 else "right")
        for r in rows:
            t.add_row(*r)
        return t

    def _repr_html_(self) -> str:
        head, rows = self._cells()
        return _html.frame("BudgetReport", _html.note(self.recommendation), _html.table(rows, head, total=len(rows)),
                           subtitle=f"{self.n:,} x {self.dim}, {self.metric}")

    def png(self) -> bytes:
        """The figure: quality vs index RAM and quality vs single-query QPS, fronts drawn, as PNG bytes."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10.0, 4.0), dpi=100, layout="constrained")
        ax1, ax2 = fig.subplots(1, 2)
        c = self.candidates
        for ax, xs, front, xlabel in ((ax1, [x.index_bytes / 2**20 for x in c], self.memory_front, "index RAM (MB)"),
                                      (ax2, [x.qps for x in c], self.speed_front, "single-query QPS")):
            colours = ["#c0504d" if x is self.recommended else "#4a78b5" for x in c]
            ax.scatter(xs, [x.quality for x in c], c=colours, s=22, zorder=3)
            fx = [(x.index_bytes / 2**20) if ax is ax1 else x.qps for x in front]
            ax.plot(fx, [x.quality for x in front], color="#777777", linestyle="--", zorder=2, label="Pareto front")
            for x, xv in zip(c, xs, strict=True):
                if x in front or x is self.recommended:
                    ax.annotate(x.label(self.dim), (xv, x.quality), fontsize=6, xytext=(3, 3),
                                textcoords="offset points")
            if min(xs, default=1) > 0:
                ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(self.metric)
            ax.grid(alpha=0.3)
        ax1.set_title("quality vs memory")
        ax2.set_title("quality vs speed")
        ax1.legend(fontsize=7, loc="lower right")
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def plot(self, path: str | Path) -> Path:
        """Write :meth:`png` to ``path``."""
        from .._atomic import atomic_path

        p = Path(path)
        with atomic_path(p) as tmp:
            Path(tmp).write_bytes(self.png())
        return p

    def html(self, png: bytes | None = None) -> str:
        """The section of the analysis report: the recommendation, the table and the figure (``png``, default
        :meth:`png`); a fragment, not a page."""
        head, rows = self._cells()
        table = "<table><tr>" + "".join(f"<th>{_html.esc(h)}</th>" for h in head) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{_html.esc(v)}</td>" for v in r) + "</tr>" for r in rows) + "</table>"
        return (f"<p class=reading>{_html.esc(self.recommendation)}</p>"
                f"<p class=meta>{self.n_queries:,} queries, {self.metric} against "
                f"{'the relevance judgements' if self.metric.startswith('ndcg') else 'exact float32 search'}; "
                f"QPS medians of the runs; * recommended (the smallest index RAM keeping {_pct(self.keep)} of the "
                f"float quality); front M: quality vs index RAM, S: quality vs QPS.</p>{table}"
                f"<p>{_html.image(png or self.png(), 'quality vs memory and speed')}</p>")


# --------------------------------------------------------------------------------------- the sweep


def _precision(p: str) -> str:
    name = str(p).lower()
    name = _PRECISION_ALIASES.get(name, name)
    if name not in PRECISIONS:
        raise InvalidInputError(f"unknown precision {p!r}; choose from {', '.join(PRECISIONS)}")
    return name


def _factory(precision: str, index: str) -> tuple[str, str]:
    """(factory string, precision it stores) of a precision on a search structure (``"HNSW32"``, ``"Flat"``);
    an index string that names its encoding (``"HNSW32,SQ8"``, ``"BinaryFlat"``, ``"IVF256,PQ16"``) is
    taken as it is, with the precision it implies."""
    f = index.strip()
    if f.startswith("Binary"):
        return f, "binary"
    parts = f.split(",")
    if len(parts) > 1 or re.fullmatch(r"SQ\d+|PQ\d+(x\d+)?", f):
        enc = parts[-1]
        if enc.startswith("SQ"):
            return f, "int8"
        if enc.startswith("PQ"):
            return f, "pq"
        return f, "float32"
    if f.lower() == "exact":
        return {"float32": ("exact", "float32"), "int8": ("SQ8", "int8"), "binary": ("BinaryFlat", "binary")}[precision]
    if precision == "float32":
        return f, "float32"
    if precision == "int8":
        return ("SQ8" if f == "Flat" else f"{f},SQ8"), "int8"
    return f"Binary{f}", "binary"


def _code_bytes(precision: str, factory: str, dim: int) -> float:
    if precision == "float32":
        return 4.0 * dim
    if precision == "int8":
        return float(dim)
    if precision == "binary":
        return dim / 8
    m = re.search(r"PQ(\d+)(?:x(\d+))?", factory)
    return float(m.group(1)) * (int(m.group(2) or 8)) / 8 if m else float("nan")


def _read_query_file(path: Path) -> tuple[list[str], Any]:
    """(ids, texts or a (nq, dim) array) from ``.npy`` (vectors), ``.jsonl``/``.jsonl.gz`` (BEIR queries:
    ``_id``, ``text``), ``.tsv`` (``id<TAB>text``) or any other text file (one query per line; ids are
    the 0-based line numbers among non-blank lines)."""
    from .._ranking import lines

    name = path.name.lower()
    if name.endswith(".npy"):
        arr = np.load(path, allow_pickle=False)
        return [str(i) for i in range(len(arr))], arr
    ids: list[str] = []
    texts: list[str] = []
    if name.endswith((".jsonl", ".jsonl.gz")):
        for lineno, line in lines(path):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInputError(f"{path}:{lineno}: not a JSON object ({e.msg})") from None
            if not isinstance(obj, dict) or "text" not in obj:
                raise InvalidInputError(f"{path}:{lineno}: expected a JSON object with 'text' (and '_id')")
            ids.append(str(obj.get("_id", obj.get("id", len(ids)))))
            texts.append(str(obj["text"]))
    elif name.endswith((".tsv", ".tsv.gz")):
        for lineno, line in lines(path):
            qid, sep, text = line.partition("\t")
            if not sep:
                raise InvalidInputError(f"{path}:{lineno}: expected 'id<TAB>text'")
            ids.append(qid.strip())
            texts.append(text)
    else:
        for _, line in lines(path):
            ids.append(str(len(ids)))
            texts.append(line.strip())
    if not texts:
        raise InvalidInputError(f"{path}: no queries")
    return ids, texts


def _queries(queries: Any, encoder: Any, dim: int, progress: bool) -> tuple[list[str], F32]:
    """(query ids, (nq, dim) float32 vectors) from vectors, a space, texts, {id: text} or a file."""
    ids: list[str]
    if isinstance(queries, str | Path) and not (isinstance(queries, str) and not Path(queries).is_file()):
        ids, data = _read_query_file(Path(queries))
    elif isinstance(queries, EmbeddingSpace):
        ids, data = list(queries.keys), np.asarray(queries.vectors)
    elif isinstance(queries, Mapping):
        ids, data = [str(k) for k in queries], [str(v) for v in queries.values()]
    elif isinstance(queries, str):
        ids, data = ["0"], [queries]
    elif isinstance(queries, Sequence) and queries and all(isinstance(q, str) for q in queries):
        ids, data = [str(i) for i in range(len(queries))], list(queries)
    else:
        arr = np.asarray(queries, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        ids, data = [str(i) for i in range(len(arr))], arr
    if isinstance(data, list):  # texts
        if encoder is None:
            raise InvalidInputError("the queries are texts but there is no encoder: give a collection made with an "
                                    "encoder, pass encoder=, or give query vectors")
        data = encoder.encode(data, normalize=True, progress=progress)
    q = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
    if q.ndim != 2 or len(q) == 0:
        raise InvalidInputError(f"expected at least one query vector, got shape {q.shape}")
    if q.shape[1] != dim:
        raise DimensionMismatchError(q.shape[1], dim, "query vectors")
    if not np.all(np.isfinite(q)):
        raise InvalidInputError("the query vectors hold NaN or Inf")
    return ids, q


def _source(obj: Any, encoder: Any) -> tuple[list[str], F32, str, Any]:
    """(keys, vectors, metric, encoder) of a collection or a space."""
    if isinstance(obj, EmbeddingSpace):
        enc = encoder
        if isinstance(enc, str):
            from ..encoders import get_encoder

            enc = get_encoder(enc)
        return list(obj.keys), np.ascontiguousarray(obj.vectors, dtype=np.float32), obj.metric, enc
    if hasattr(obj, "to_space") and hasattr(obj, "search"):
        space = obj.to_space()
        enc = encoder
        if enc is None and getattr(obj, "encoder_spec", None):
            enc = obj.encoder
        return list(space.keys), np.ascontiguousarray(space.vectors, dtype=np.float32), str(obj.metric), enc
    raise InvalidInputError(f"expected a collection or an EmbeddingSpace, got {type(obj).__name__}")


def _default_dims(obj: Any, encoder: Any, dim: int) -> list[int]:
    """The full dimension, and the dims a Matryoshka model was trained for when the encoder says so."""
    dims = [dim]
    try:
        from .. import encoders

        md = getattr(encoders, "matryoshka_dims", None)
        model = encoder
        if model is None and isinstance(obj, EmbeddingSpace) and obj.provenance.model not in ("", "unknown"):
            model = obj.provenance.model  # a known Matryoshka model by name
        if md is not None and model is not None:
            got = md(model)
            if got:
                dims += [int(d) for d in got if 0 < int(d) < dim]
    except Exception:  # an unknown model: no Matryoshka dims
        pass
    return sorted(set(dims), reverse=True)


def _int_list(values: Iterable[Any] | Any, what: str) -> list[int]:
    items = [values] if isinstance(values, int | np.integer) else list(values)
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
            raise InvalidInputError(f"{what} must be non-negative integers, got {v!r}")
        out.append(int(v))
    return out


def _search(col: Any, q: F32, k: int, rescore: int, params: Mapping[str, int] | None, quantised: bool) -> Any:
    """One search of a candidate collection: rescoring depth given only to quantised indexes."""
    kwargs: dict[str, Any] = {}
    if params:
        kwargs["params"] = dict(params)
    if quantised:
        kwargs["rescore"] = rescore
    return col.search(q, k=k, **kwargs)


def _median_seconds(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _timings(col: Any, qd: F32, td: F32, k: int, depth: int, params: Mapping[str, int], quantised: bool,
             repeats: int) -> tuple[float, float]:
    """(seconds per single-query search over ``td``, seconds of one batch search of ``qd``), medians of runs."""
    single = _median_seconds(lambda: [_search(col, v, k, depth, params, quantised) for v in td], repeats)
    batch = _median_seconds(lambda: _search(col, qd, k, depth, params, quantised), repeats)
    return single / len(td), batch


def budget(collection_or_space: Any, *, queries: Any, qrels: Mapping[str, Mapping[str, int]] | str | Path | None = None,
           dims: Sequence[int] | None = None, precisions: Sequence[str] = PRECISIONS,
           indexes: Sequence[str] = ("HNSW32",), rescore: Sequence[int] | int = (0, 4),
           ef_search: Sequence[int] | None = None, nprobe: Sequence[int] | None = None, k: int = 10,
           keep: float = DEFAULT_KEEP,
           min_qps: float | None = None, repeats: int = 3, timing_queries: int = 200, threads: int | None = None,
           encoder: Any = None, workdir: str | Path | None = None, progress: bool = True) -> BudgetReport:
    """Measure every (dimension x precision x index x rescoring) candidate on ``queries`` (module docs).

    Parameters
    ----------
    collection_or_space
        A :class:`~embspace.store.Collection` (its vectors, metric and encoder) or an
        :class:`~embspace.EmbeddingSpace`.
    queries
        Query vectors ``(nq, dim)``, an EmbeddingSpace of them (its keys are the query ids), texts (a
        list, or ``{id: text}``; encoded with the collection's encoder or ``encoder``), or a file:
        ``.npy`` vectors, BEIR ``queries.jsonl``, ``id<TAB>text`` ``.tsv``, or one query per line.
    qrels
        ``{query_id: {key: relevance}}`` or a qrels file (BEIR ``query-id corpus-id score``): quality is
        then nDCG@k (the queries need their ids); without, recall@k against exact float search.
    dims
        Dimensions to keep (first-k truncation, re-normalised for cosine); default the full dimension
        and, for a model trained with Matryoshka (:func:`embspace.encoders.matryoshka_dims`), its dims.
    precisions
        ``"float32"``, ``"int8"`` (scalar quantisation, SQ8), ``"binary"`` (one bit a dimension).
    indexes
        Search structures (``"HNSW32"``, ``"Flat"``, ``"exact"``) each precision is put on
        (``"HNSW32"`` gives ``"HNSW32"``, ``"HNSW32,SQ8"``, ``"BinaryHNSW32"``), or full factory strings
        naming their encoding (``"IVF256,PQ16"``), measured as they are.
    rescore
        Rescoring depths tried on quantised indexes (``0``: none; ``4``: the top ``4 k`` re-scored with
        the float vectors).
    ef_search
        ``efSearch`` values tried on HNSW indexes (each a candidate); default the index's own.
    nprobe
        ``nprobe`` values tried on IVF indexes (``"IVF1024,SQ8"``, ``"BinaryIVF1024"``); default the index's own.
    k
        Hits per query (quality is measured at ``k``).
    keep, min_qps
        The recommendation's rule (:func:`recommend`): the smallest index RAM keeping ``keep`` of the
        float quality (and reaching ``min_qps`` single-query QPS when given).
    repeats, timing_queries
        Timed runs (their median is reported) and the queries of the single-query timing.
    threads
        FAISS threads during the sweep (default: as set).
    encoder
        Encoder of text queries (default the collection's).
    workdir
        Where the candidate collections are built (default a temporary directory, removed after).

    Returns
    -------
    BudgetReport
        Every candidate, the two Pareto fronts, and the recommendation, chosen by this rule
        (:func:`recommend`): among the candidates keeping at least ``keep`` of the quality of exact
        float32 search over the full-dimension vectors (and reaching ``min_qps`` single-query QPS when
        given), the smallest index RAM; candidates within 5% of that RAM count as equally small, and the
        fastest of them wins. Its sentence compares it with the full-dimension float32 candidate of the
        best quality (memory and single-query QPS ratios).
    """
    from ..store import Collection

    t_start = time.perf_counter()
    if not 0 < keep <= 1:
        raise InvalidInputError(f"keep must be in (0, 1], got {keep!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    if repeats < 1 or timing_queries < 1:
        raise InvalidInputError("repeats and timing_queries must be at least 1")
    keys, x, metric, enc = _source(collection_or_space, encoder)
    n, full = x.shape if x.ndim == 2 else (0, 0)
    if n <= k:
        raise InvalidInputError(f"the budget needs more than k={k} vectors, got {n}")
    qids, q = _queries(queries, enc, full, progress)
    cosine = metric == "cosine"
    if cosine:
        x = truncate_rows(x, full)
        q = truncate_rows(q, full)
    dim_list = _int_list(dims, "dims") if dims is not None else _default_dims(collection_or_space, enc, full)
    for d in dim_list:
        if not 1 <= d <= full:
            raise InvalidInputError(f"dims must be in 1..{full}, got {d}")
    precs = [_precision(p) for p in precisions]
    depths = sorted(set(_int_list(rescore, "rescore")))
    if not depths:
        raise InvalidInputError("rescore is empty; give at least 0 (no rescoring)")
    efs = _int_list(ef_search, "ef_search") if ef_search is not None else []
    probes = _int_list(nprobe, "nprobe") if nprobe is not None else []
    if not indexes:
        raise InvalidInputError("indexes is empty; give at least one, e.g. ('HNSW32',)")
    builds: list[tuple[int, str, str]] = []
    for d in dim_list:
        for idx in indexes:
            for p in precs:
                f, stored = _factory(p, str(idx))
                if stored == "binary" and d % 8:
                    raise InvalidInputError(f"binary codes need a dimension divisible by 8, got {d}")
                if (d, f, stored) not in builds:
                    builds.append((d, f, stored))

    # the truth: exact float32 search over the full-dimension vectors
    from ..index import ExactIndex

    oracle = ExactIndex(full, metric=metric)  # type: ignore[arg-type]
    oracle.add(x, np.arange(n, dtype=np.int64))
    truth_ids = np.asarray(oracle.search(q, k).ids)
    judged: dict[str, Mapping[str, int]] | None = None
    if qrels is not None:
        qr = read_qrels(Path(qrels))[0] if isinstance(qrels, str | Path) else qrels
        judged = {qid: qr[qid] for qid in qids if qid in qr}
        if not judged:
            raise InvalidInputError(f"no query id is judged in the qrels ({len(qr):,} judged queries, e.g. "
                                    f"{next(iter(qr), None)!r}; query ids e.g. {qids[0]!r}): give queries with their "
                                    "ids (BEIR queries.jsonl or id<TAB>text lines)")
    metric_name = f"ndcg@{k}" if judged is not None else f"recall@{k}"

    def quality(found: Sequence[Sequence[str]]) -> float:
        if judged is None:
            hits = 0
            for row, t in zip(found, truth_ids, strict=True):
                hits += len(set(row[:k]) & {keys[i] for i in t.tolist() if i >= 0})
            return hits / (len(found) * k)
        run = {qid: list(row) for qid, row in zip(qids, found, strict=True)}
        return ranking_metrics(judged, run, (k,))[0][metric_name]

    float_quality = quality([[keys[i] for i in t.tolist() if i >= 0] for t in truth_ids])
    timed = q[: min(len(q), timing_queries)]

    faiss_threads: tuple[Any, int] | None = None
    if threads is not None:
        import faiss

        faiss_threads = (faiss, faiss.omp_get_max_threads())
        faiss.omp_set_num_threads(int(threads))
    candidates: list[BudgetCandidate] = []
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="embspace-budget-", dir=workdir) as tmp, \
                TrainingProgress(len(builds), "budget", unit="indexes", enabled=progress) as bar:
            for b, (d, factory, stored) in enumerate(builds):
                xd = truncate_rows(x, d, normalize=cosine) if d < full else x
                qd = truncate_rows(q, d, normalize=cosine) if d < full else q
                td = qd[: len(timed)]
                quantised = stored != "float32"
                create: dict[str, Any] = {"dim": d, "metric": metric, "index": factory}
                if quantised and max(depths) > 0:
                    create["rescore"] = max(depths)
                col: Any = Collection.create(Path(tmp) / f"c{b}", **create)
                try:
                    for s in range(0, n, 50_000):
                        col.add(keys[s : s + 50_000], xd[s : s + 50_000])
                    t0 = time.perf_counter()
                    col.rebuild_index()
                    build_s = time.perf_counter() - t0
                    info = col.info()
                    ram = info.get("index_bytes")
                    if ram is None:
                        from ..index import estimate_memory

                        try:
                            ram = estimate_memory(factory, n, d)
                        except InvalidInputError:
                            ram = int(_code_bytes(stored, factory, d) * n)
                        if not notes:
                            notes.append("index RAM estimated (the collection does not report index_bytes)")
                    settings: list[dict[str, int]] = [{}]
                    if efs and "HNSW" in factory:
                        settings = [{"efSearch": e} for e in efs]
                    elif probes and "IVF" in factory:
                        settings = [{"nprobe": p} for p in probes]
                    for params in settings:
                        for depth in depths if quantised else [0]:
                            col.search(td[0], k=k)  # warm-up
                            res = _search(col, qd, k, depth, params, quantised)
                            found = res.keys if res.batched else [res.keys]
                            qual = quality(found)
                            single, batch = _timings(col, qd, td, k, depth, params, quantised, repeats)
                            candidates.append(BudgetCandidate(
                                dim=d, precision=stored, index=factory, rescore=depth, params=dict(params),
                                quality=qual, quality_share=qual / float_quality if float_quality > 0 else 0.0,
                                bytes_per_vector=_code_bytes(stored, factory, d), index_bytes=int(ram),
                                build_seconds=build_s, qps=1.0 / max(single, 1e-12),
                                batch_qps=len(qd) / max(batch, 1e-12)))
                finally:
                    col.close()
                bar.advance(1, description=f"{factory} @ {d}d")
    finally:
        if faiss_threads is not None:
            faiss_threads[0].omp_set_num_threads(faiss_threads[1])
    report = _finish(candidates, metric_name, float_quality, n, full, len(q), k, metric, keep, min_qps)
    report.seconds = round(time.perf_counter() - t_start, 2)
    report.threads = threads
    report.notes = notes
    return report


def _finish(candidates: list[BudgetCandidate], metric_name: str, float_quality: float, n: int, full: int,
            nq: int, k: int, metric: str, keep: float, min_qps: float | None) -> BudgetReport:
    """The report of measured candidates: reference, recommendation and its sentence."""
    floats = [c for c in candidates if c.dim == full and c.precision == "float32"]
    reference = max(floats, key=lambda c: (c.quality, c.qps)) if floats else None
    chosen = recommend(candidates, keep, min_qps)
    what = "nDCG" if metric_name.startswith("ndcg") else "recall"
    at = f"{what}@{k}"
    if chosen is None:
        best = max(candidates, key=lambda c: (c.quality, c.qps), default=None)
        sentence = (f"No candidate keeps {_pct(keep)} of the float {at} ({float_quality:.4f})"
                    + (f" at {min_qps:,.0f} QPS or more" if min_qps else "")
                    + (f"; the best is {best.label(full)} ({best.quality_share:.1%})." if best else "."))
    else:
        sentence = f"{chosen.label(full)} keeps {chosen.quality_share:.1%} of {at}"
        if reference is not None and reference is not chosen:
            sentence += (f" at {_ratio(chosen.index_bytes, reference.index_bytes)} the memory and "
                         f"{_ratio(chosen.qps, reference.qps)} the QPS of {reference.label(full)}")
        elif reference is None:
            sentence += f" at {_ratio(chosen.bytes_per_vector, 4.0 * full)} the bytes of a float32 vector"
        sentence += (f" (rule: the smallest index RAM keeping >= {_pct(keep)} of exact float32 {at}"
                     + (f" at >= {min_qps:,.0f} QPS" if min_qps else "") + ").")
    return BudgetReport(candidates=candidates, metric=metric_name, float_quality=float_quality, n=n, dim=full,
                        n_queries=nq, k=k, metric_space=metric, keep=keep, min_qps=min_qps, recommended=chosen,
                        reference=reference, recommendation=sentence)
