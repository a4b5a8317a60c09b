"""Fixes for the shape of a space: centring, all-but-the-top, PCA/ZCA whitening, standardisation.

Each fix learns a :class:`Transform` from the space (``y = ((x - mean) / scale) @ matrix``) and
returns a :class:`FixedSpace`: an EmbeddingSpace of the transformed vectors whose ``transform``
maps new vectors (queries, items added later) into it, with the transform recorded in its
provenance and a :class:`FixReport` of what changed (isotropy and mean cosine before and after,
and an evaluation before and after when one is given).

A fixed space saves as a space directory that also holds its transform (``transform.npz``) and its
report (``report.json``), under the artifact kind ``fixed-space``: :meth:`FixedSpace.load` and
:func:`embspace.open` read it back whole, while :func:`embspace.load` reads its vectors as a plain
space.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _html
from .._artifact import check_format_version
from ..errors import CorruptDataError, DimensionMismatchError, InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ..space.io import FormatName
from ..space.provenance import Provenance
from .diagnostics import Anisotropy, _gram, _rows, anisotropy, hubness, hubness_of

__all__ = ["FixReport", "FixedSpace", "Transform", "all_but_the_top", "center", "pca_truncate", "standardize",
           "whiten"]

F32 = npt.NDArray[np.float32]
#: The version of what a fixed space adds to the space layout (transform.npz, report.json), kept in its header
#: as ``fixed_space_version``; the header's ``format_version`` is the space layout's.
FORMAT_VERSION = 1
TRANSFORM_FILE = "transform.npz"
REPORT_FILE = "report.json"
LEGACY_TRANSFORM_SUFFIX = ".transform.npz"  # `embspace fix` wrote OUTPUT.transform.npz beside the space


@dataclass(frozen=True, eq=False)
class Transform:
    """``y = ((x - mean) / scale) @ matrix`` (each part optional), learnt by a fix; call it on vectors."""

    kind: str
    dim: int
    mean: F32 | None = None
    scale: F32 | None = None
    matrix: F32 | None = None  # (dim, out_dim)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def out_dim(self) -> int:
        return self.dim if self.matrix is None else int(self.matrix.shape[1])

    def _repr_html_(self) -> str:
        return _html.dataclass_html(self, extra=[("out dim", self.out_dim), ("digest", self.digest())])

    def __call__(self, vectors: npt.ArrayLike) -> F32:
        """The transformed ``(n, dim)`` (or ``(dim,)``) vectors, float32."""
        x = np.asarray(vectors, np.float32)
        single = x.ndim == 1
        x2 = x.reshape(1, -1) if single else x
        if x2.ndim != 2:
            raise InvalidInputError(f"expected a (n, {self.dim}) array, got shape {x.shape}")
        if x2.shape[1] != self.dim:
            raise DimensionMismatchError(int(x2.shape[1]), self.dim, what="the vectors to transform")
        y = x2.astype(np.float64)
        if self.mean is not None:
            y = y - self.mean
        if self.scale is not None:
            y = y / self.scale
        if self.matrix is not None:
            y = y @ self.matrix.astype(np.float64)
        out = np.ascontiguousarray(y, np.float32)
        return out[0] if single else out

    def digest(self) -> str:
        h = hashlib.sha256(self.kind.encode())
        for part in (self.mean, self.scale, self.matrix):
            h.update(b"-" if part is None else np.ascontiguousarray(part, np.float32).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Write the transform as ``.npz`` (load it with :meth:`load`)."""
        from .._atomic import atomic_path

        p = Path(path)
        arrays: dict[str, Any] = {k: v for k, v in (("mean", self.mean), ("scale", self.scale),
                                                    ("matrix", self.matrix)) if v is not None}
        arrays.update(kind=np.array(self.kind), dim=np.array(self.dim), params=np.array(json.dumps(self.params)))
        with atomic_path(p) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Transform:
        """Read a transform written by :meth:`save`."""
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                parts = {k: (np.asarray(z[k], np.float32) if k in z else None) for k in ("mean", "scale", "matrix")}
                return cls(str(z["kind"]), int(z["dim"]), params=json.loads(str(z["params"])), **parts)
        except (OSError, KeyError, ValueError) as e:
            raise CorruptDataError(Path(path), f"not an embspace transform: {e}") from None


@dataclass(frozen=True)
class FixReport:
    """What a fix changed: isotropy, mean cosine and hubness (k-occurrence skewness) before/after, and an
    evaluation when given."""

    fix: str
    isotropy_before: float
    isotropy_after: float
    mean_cosine_before: float
    mean_cosine_after: float
    evaluation_before: float | None = None
    evaluation_after: float | None = None
    explanation: str = ""
    hubness_before: float | None = None  # k-occurrence skewness
    hubness_after: float | None = None
    bias_before: float | None = None  # a bias measure when given (debiasing fixes: a WEAT effect size)
    bias_after: float | None = None

    def _repr_html_(self) -> str:
        rows = [(name, before, after) for name, before, after in (
            ("isotropy", self.isotropy_before, self.isotropy_after),
            ("mean cosine", self.mean_cosine_before, self.mean_cosine_after),
            ("hubness (skewness)", self.hubness_before, self.hubness_after),
            ("bias", self.bias_before, self.bias_after),
            ("evaluation", self.evaluation_before, self.evaluation_after)) if before is not None or after is not None]
        return _html.frame("FixReport", _html.table(rows, ["measure", "before", "after"]),
                           _html.note(self.explanation), subtitle=self.fix)


class FixedSpace(EmbeddingSpace):
    """An EmbeddingSpace made by a fix: ``transform`` maps new vectors into it, ``report`` says
    what the fix changed. (Derived spaces — subsets, normalised copies — are plain spaces.)"""

    __slots__ = ("report", "transform")
    transform: Transform
    report: FixReport

    def _repr_html_(self) -> str:
        report = getattr(self, "report", None)
        return super()._repr_html_() + ("" if report is None else report._repr_html_())

    def save(self, path: str | Path, format: FormatName | None = None, **options: Any) -> Path:
        """Write the fixed space: a directory (no suffix) keeps the vectors, the transform and the report
        (kind ``fixed-space``; read it back with :meth:`load` or :func:`embspace.open`); a file format
        (``.txt``, ``.npy``, ``.parquet``...) keeps the vectors only, as :func:`embspace.save` does."""
        from ..space._formats._common import strip_compression
        from ..space._formats._own import write_own
        from ..space.io import _BY_SUFFIX

        p = Path(path)
        fmt = format if format is not None else _BY_SUFFIX.get(strip_compression(p)[0].suffix.lower(), "embspace")
        transform: Transform | None = getattr(self, "transform", None)
        if fmt != "embspace" or transform is None:  # a file format, or no transform to keep: the vectors alone
            return super().save(p, format=format, **options)
        report = getattr(self, "report", None)
        rescoring = getattr(self, "rescoring", None)

        def extra(work: Path) -> dict[str, object]:
            transform.save(work / TRANSFORM_FILE)
            if report is not None:
                (work / REPORT_FILE).write_text(json.dumps(dataclasses.asdict(report), indent=2) + "\n", "utf-8")
            out: dict[str, object] = {"fix": transform.kind, "fixed_space_version": FORMAT_VERSION}
            if rescoring is not None:  # a RescoredSpace: its statistics are learnt again on load
                out["rescoring"] = {"kind": rescoring, **{name: getattr(self, attr) for name, attr in (
                    ("k", "_k"), ("reference", "_reference_size"), ("seed", "_seed"))}}
            return out

        write_own(self, p, kind="fixed-space", extra=extra, **options)
        return p

    @classmethod
    def load(cls, path: str | Path, format: FormatName | None = None, **options: Any) -> FixedSpace:
        """Read a fixed space written by :meth:`save` (``mmap`` as for :func:`embspace.load`).

        A space directory without the header but with ``PATH.transform.npz`` beside it (what
        ``embspace fix`` wrote before the header existed) reads too, with an empty report.
        """
        from ..space._formats._own import FORMAT_VERSION as SPACE_VERSION
        from ..space._formats._own import read_own

        p = Path(path)
        if format not in (None, "embspace"):
            raise InvalidInputError(f"a fixed space is a directory (format 'embspace'), not {format!r}")
        header = check_format_version(p, "fixed-space", SPACE_VERSION) if p.is_dir() else None
        if header is None:
            legacy = p.with_name(p.name + LEGACY_TRANSFORM_SUFFIX)
            if not legacy.is_file():
                raise CorruptDataError(p, "not a fixed space (no embspace.json of kind 'fixed-space', and no "
                                          f"{legacy.name} beside it); load it as a plain space with embspace.load")
            space, transform, report = read_own(p, **options), Transform.load(legacy), None
            rescoring = None
        else:
            version = header.extra.get("fixed_space_version", 1)
            if not isinstance(version, int) or version > FORMAT_VERSION:
                raise CorruptDataError(p / "embspace.json", f"fixed-space version {version!r} is newer than this "
                                                            f"embspace reads ({FORMAT_VERSION}); upgrade embspace")
            space, transform = read_own(p, **options), Transform.load(p / TRANSFORM_FILE)
            report = _read_report(p / REPORT_FILE)
            rescoring = header.extra.get("rescoring")
        if transform.out_dim != space.dim:
            raise CorruptDataError(p, f"the transform maps to {transform.out_dim} dimensions, the space has "
                                      f"{space.dim}")
        if isinstance(rescoring, dict):
            from .rescoring import _build

            try:
                out: FixedSpace = _build(space, str(rescoring["kind"]), int(rescoring["k"]),
                                         int(rescoring["reference"]), int(rescoring["seed"]))
            except (KeyError, TypeError, ValueError) as e:
                raise CorruptDataError(p / "embspace.json", f"invalid 'rescoring': {e}") from None
        else:
            out = cls._trusted(space.keys, space.vectors, metric=space.metric,  # type: ignore[assignment]
                               normalized=space.is_normalized, counts=space.counts, provenance=space.provenance)
        out.transform = transform
        nan = float("nan")
        out.report = report if report is not None else FixReport(
            transform.kind, nan, nan, nan, nan, explanation=f"{transform.kind}: saved without its report.")
        return out


def _read_report(path: Path) -> FixReport | None:
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text("utf-8"))
        names = {f.name for f in dataclasses.fields(FixReport)}
        return FixReport(**{k: v for k, v in body.items() if k in names})
    except (UnicodeDecodeError, ValueError, TypeError, AttributeError) as e:
        raise CorruptDataError(path, f"not a fix report: {e}") from None


def _space(space: EmbeddingSpace) -> EmbeddingSpace:
    if not isinstance(space, EmbeddingSpace):
        raise InvalidInputError(f"expected an EmbeddingSpace, got {type(space).__name__}")
    if len(space) < 2:
        raise InvalidInputError("a fix needs at least two vectors to learn from")
    return space


def _sample(space: EmbeddingSpace, sample: int | None, seed: int) -> npt.NDArray[np.float64]:
    x = np.asarray(space.vectors)
    if sample is not None and len(x) > sample:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), sample, replace=False))]
    return x.astype(np.float64)


def _finish(space: EmbeddingSpace, transform: Transform, *, evaluate: Callable[[EmbeddingSpace], float] | None,
            seed: int, bias: Callable[[EmbeddingSpace], float] | None = None,
            vectors: F32 | None = None) -> FixedSpace:
    """The fixed space of ``transform`` applied to the space's rows (or of ``vectors``, when a fix changes some
    rows otherwise than new vectors, as hard debiasing's equalised pairs), with its report."""
    if vectors is None:
        vectors = np.empty((len(space), transform.out_dim), np.float32)
        for r0 in range(0, len(space), 65_536):
            vectors[r0 : r0 + 65_536] = transform(space.vectors[r0 : r0 + 65_536])
    prov = space.provenance
    config = {**dict(prov.config), "fix": {"kind": transform.kind, **transform.params, "transform": transform.digest()}}
    fixed = FixedSpace(space.keys, vectors, metric=space.metric, counts=space.counts,
                       provenance=Provenance(model=f"{prov.model}+{transform.kind}", config=config,
                                             data_hash=prov.data_hash))
    fixed.transform = transform
    fixed.report = fix_report(space, fixed, transform.kind, evaluate=evaluate, seed=seed, bias=bias)
    if transform.out_dim != transform.dim:
        fixed.report = replace(fixed.report, explanation=fixed.report.explanation[:-1]
                               + f", {transform.dim} -> {transform.out_dim} dimensions.")
    return fixed


_Baseline = tuple[Anisotropy, float | None, float | None]  # anisotropy, hubness skewness, evaluation
_BASELINES: dict[tuple[int, ...], tuple[EmbeddingSpace, _Baseline]] | None = None


@contextmanager
def shared_baseline() -> Iterator[None]:
    """Within the block, the fixes of one space measure its "before" once (the report tries many)."""
    global _BASELINES
    saved, _BASELINES = _BASELINES, {}
    try:
        yield
    finally:
        _BASELINES = saved


def _before(space: EmbeddingSpace, *, evaluate: Callable[[EmbeddingSpace], float] | None, seed: int,
            sample: int | None, k: int) -> _Baseline:
    key = (id(space), id(evaluate), seed, -1 if sample is None else sample, k)
    hit = _BASELINES.get(key) if _BASELINES is not None else None
    if hit is not None and hit[0] is space:
        return hit[1]
    out = (anisotropy(space, seed=seed), hubness(space, k, sample=sample, seed=seed).skewness if k >= 1 else None,
           None if evaluate is None else float(evaluate(space)))
    if _BASELINES is not None:
        _BASELINES[key] = (space, out)
    return out


def fix_report(space: EmbeddingSpace, fixed: EmbeddingSpace, kind: str, *,
               evaluate: Callable[[EmbeddingSpace], float] | None, seed: int, sample: int | None = 5_000,
               k: int = 10, rescore: Callable[[EmbeddingSpace], EmbeddingSpace] | None = None,
               bias: Callable[[EmbeddingSpace], float] | None = None) -> FixReport:
    """Isotropy, mean cosine and hubness (``k`` neighbours, on ``sample`` rows) before and after a fix,
    and ``evaluate`` (a task score) and ``bias`` (a bias measure) before and after when given. ``rescore``
    (re-scoring fixes) learns the fix on the sample, whose neighbour graph then comes from the re-scored space."""
    k = min(k, len(space) - 2)
    before, hub_b, ev_b = _before(space, evaluate=evaluate, seed=seed, sample=sample, k=k)
    after = before if rescore is not None else anisotropy(fixed, seed=seed)
    hub_a = ev_a = None
    if k >= 1:
        if rescore is None:
            hub_a = hubness(fixed, k, sample=sample, seed=seed).skewness
        else:
            _, keys, _ = _rows(space, sample, seed)
            sub = rescore(space.subset(keys) if keys is not None and len(keys) < len(space) else space)
            hub_a = hubness_of(np.asarray(sub.neighbors(list(sub.keys), k).ids)).skewness
    if evaluate is not None:
        ev_a = float(evaluate(fixed))
    if rescore is None:
        text = (f"{kind}: isotropy {before.isotropy:.2f} -> {after.isotropy:.2f}, mean cosine of random "
                f"pairs {before.mean_cosine:.3f} -> {after.mean_cosine:.3f}")
    else:
        text = f"{kind}: the vectors are unchanged, their neighbours re-scored"
    if hub_b is not None and hub_a is not None:
        text += f", hubness (k-occurrence skewness) {hub_b:.2f} -> {hub_a:.2f}"
    if ev_b is not None and ev_a is not None:
        text += f", evaluation {ev_b:.4f} -> {ev_a:.4f}"
    bias_b = bias_a = None
    if bias is not None:
        bias_b, bias_a = float(bias(space)), float(bias(fixed))
        text += f", bias {bias_b:.3f} -> {bias_a:.3f}"
    return FixReport(kind, before.isotropy, after.isotropy, before.mean_cosine, after.mean_cosine, ev_b, ev_a,
                     text + ".", hub_b, hub_a, bias_b, bias_a)


def center(space: EmbeddingSpace, *, evaluate: Callable[[EmbeddingSpace], float] | None = None,
           bias: Callable[[EmbeddingSpace], float] | None = None,
           sample: int | None = None, seed: int = 0) -> FixedSpace:
    """Subtract the mean vector (removes the common direction of an anisotropic space)."""
    space = _space(space)
    mean = _sample(space, sample, seed).mean(axis=0).astype(np.float32)
    return _finish(space, Transform("center", space.dim, mean=mean), evaluate=evaluate, seed=seed, bias=bias)


def all_but_the_top(space: EmbeddingSpace, d: int | None = None, *,
                    evaluate: Callable[[EmbeddingSpace], float] | None = None,
                    bias: Callable[[EmbeddingSpace], float] | None = None, sample: int | None = 100_000,
                    seed: int = 0) -> FixedSpace:
    """Centre, then remove the projections on the top ``d`` principal components (Mu & Viswanath,
    2018; default ``d = max(1, round(dim / 100))``)."""
    space = _space(space)
    if d is None:
        d = max(1, round(space.dim / 100))
    if not 0 < d < space.dim:
        raise InvalidInputError(f"d must be between 1 and {space.dim - 1}, got {d}")
    x = _sample(space, sample, seed)
    mean = x.mean(axis=0)
    _, vecs = np.linalg.eigh(_gram(x, centre=True))
    top = vecs[:, ::-1][:, :d].T  # (d, dim): the top principal directions
    matrix = (np.eye(space.dim) - top.T @ top).astype(np.float32)
    return _finish(space, Transform("all-but-the-top", space.dim, mean=mean.astype(np.float32), matrix=matrix,
                                    params={"d": d}), evaluate=evaluate, seed=seed, bias=bias)


def whiten(space: EmbeddingSpace, dim: int | None = None, *, kind: str = "pca", eps: float = 1e-8,
           evaluate: Callable[[EmbeddingSpace], float] | None = None,
           bias: Callable[[EmbeddingSpace], float] | None = None, sample: int | None = 100_000,
           seed: int = 0) -> FixedSpace:
    """Whitening: centre and decorrelate to unit variance (covariance = identity).

    ``kind="pca"`` rotates onto the principal axes and may keep only the first ``dim`` (as
    BERT-whitening, Su et al. 2021); ``kind="zca"`` rotates back to the original axes (no ``dim``).
    """
    space = _space(space)
    if kind not in ("pca", "zca"):
        raise InvalidInputError(f"kind must be 'pca' or 'zca', got {kind!r}")
    if dim is not None and (kind == "zca" or not 0 < dim <= space.dim):
        raise InvalidInputError("dim= works with kind='pca' only, between 1 and the space's dimension"
                                if kind == "zca" else f"dim must be between 1 and {space.dim}, got {dim}")
    x = _sample(space, sample, seed)
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    s, u = np.linalg.eigh(cov)
    order = np.argsort(s)[::-1]
    s, u = np.maximum(s[order], 0.0), u[:, order]
    w = u / np.sqrt(s + eps)
    matrix = w[:, : dim or space.dim] if kind == "pca" else w @ u.T  # ZCA: rotated back to the original axes
    params: dict[str, Any] = {"kind": kind}
    if dim is not None:
        params["dim"] = dim
    return _finish(space, Transform(f"whiten-{kind}", space.dim, mean=mean.astype(np.float32),
                                    matrix=matrix.astype(np.float32), params=params), evaluate=evaluate, seed=seed,
                   bias=bias)


def standardize(space: EmbeddingSpace, *, evaluate: Callable[[EmbeddingSpace], float] | None = None,
                bias: Callable[[EmbeddingSpace], float] | None = None,
                sample: int | None = None, seed: int = 0) -> FixedSpace:
    """Z-score every coordinate (mean 0, standard deviation 1): rogue dimensions no longer dominate
    cosine similarity (Timkey & van Schijndel, 2021)."""
    space = _space(space)
    x = _sample(space, sample, seed)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    return _finish(space, Transform("standardize", space.dim, mean=mean.astype(np.float32),
                                    scale=scale.astype(np.float32)), evaluate=evaluate, seed=seed, bias=bias)


def pca_truncate(space: EmbeddingSpace, dim: int, *, evaluate: Callable[[EmbeddingSpace], float] | None = None,
                 bias: Callable[[EmbeddingSpace], float] | None = None,
                 sample: int | None = 100_000, seed: int = 0) -> FixedSpace:
    """Fewer dimensions by PCA: centre, then project onto the top ``dim`` principal axes learnt on the space
    (on ``sample`` of its rows), without whitening, so that the kept dimensions are the ones that vary most.
    For a model not trained for truncation (not Matryoshka), this loses less than keeping its first ``dim``.

    The result's :attr:`~FixedSpace.transform` maps new vectors (queries, items added later) into it:
    ``fixed.transform(q)`` is ``(q - mean) @ components[:dim].T``. Its provenance records the projection
    (``fix``: ``kind="pca-truncate"``, ``dim``, ``full_dim`` and the transform's digest), so a full-size or a
    first-``dim`` vector is refused by it even where the dimensions match; it saves and loads with the space
    (:meth:`FixedSpace.save`). Cosine spaces stay cosine: search re-normalises.

    Parameters
    ----------
    space
        The space to learn the projection on (its corpus).
    dim
        Dimensions to keep, between 1 and the space's dimension.
    evaluate, bias, sample, seed
        As for the other fixes (:func:`whiten`; ``bias``: a bias measure before and after, in the report).
    """
    space = _space(space)
    if not isinstance(dim, int) or isinstance(dim, bool) or not 0 < dim <= space.dim:
        raise InvalidInputError(f"dim must be an int between 1 and the space's dimension {space.dim}, got {dim!r}")
    x = _sample(space, sample, seed)
    mean = x.mean(axis=0)
    s, u = np.linalg.eigh(np.cov(x - mean, rowvar=False) if len(x) > 1 else np.eye(space.dim))
    order = np.argsort(s)[::-1]
    components = u[:, order[:dim]]  # (full_dim, dim): the top principal axes as columns
    components *= np.where(components[np.abs(components).argmax(axis=0), np.arange(dim)] < 0, -1.0, 1.0)  # one sign
    return _finish(space, Transform("pca-truncate", space.dim, mean=mean.astype(np.float32),
                                    matrix=np.ascontiguousarray(components, np.float32),
                                    params={"dim": dim, "full_dim": space.dim}), evaluate=evaluate, seed=seed,
                   bias=bias)
