"""2-D / 3-D maps of a space: PCA, t-SNE (scikit-learn) and UMAP (umap-learn), with ``transform``
so new points land on an existing map, saved beside the space.

- PCA maps new points exactly (the same linear projection).
- UMAP maps them with its own ``transform`` (the fitted model is pickled with the map: load maps
  only from places you trust, as with any pickle).
- t-SNE has no out-of-sample map; new points are placed at the similarity-weighted average of the
  map positions of their ``k`` nearest fitted points (cosine), a standard approximation.

A map may carry per-point **fields** (``SpaceMap.fields``: a label, a cluster, an evaluation error),
which the web projector offers for colouring: numbers (floats) are a continuous scale, strings, integers
and booleans are categories. They are saved with the map as ``.npy`` arrays (never pickled).

A saved map is a directory (``map.json``, ``coords.npy``, ``keys.json``, ...) with the ``embspace.json``
artifact header (kind ``map``); maps saved before the header existed load as before.
"""

from __future__ import annotations

import json
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _deprecation
from .._artifact import check_format_version, write_header
from ..errors import CorruptDataError, DimensionMismatchError, InvalidInputError
from ..space import _linalg, _topk
from ..space.embedding_space import EmbeddingSpace

__all__ = ["SpaceMap", "map_path", "project"]

F32 = npt.NDArray[np.float32]
METHODS = ("pca", "tsne", "umap")
MAPS_DIR = "maps"
FORMAT_VERSION = 1  # of the saved map directory (its embspace.json header)
FIELD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


def field_kind(values: npt.NDArray[Any]) -> str:
    """``"numeric"`` (floats: a continuous colour scale) or ``"categorical"`` (anything else)."""
    return "numeric" if np.issubdtype(values.dtype, np.floating) else "categorical"


def _field_array(name: str, values: Any, n: int) -> npt.NDArray[Any]:
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise InvalidInputError(f"a field name must match {FIELD_NAME.pattern}, got {name!r}")
    arr = np.asarray(values)
    if arr.ndim != 1 or len(arr) != n:
        raise InvalidInputError(f"field {name!r} needs one value per map point ({n}), got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        return np.ascontiguousarray(arr, np.float32)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return arr
    return arr.astype(str)  # strings and mixed objects: categories by their text


def _unit(x: npt.NDArray[Any]) -> F32:
    return _linalg.unit_rows(np.ascontiguousarray(x, np.float32))


@dataclass(eq=False)
class SpaceMap:
    """A map of ``keys`` to ``coords`` (``(n, n_components)``) made by ``method``; :meth:`transform`
    places new vectors on it."""

    method: str
    n_components: int
    dim: int
    keys: list[str] = field(repr=False)
    coords: F32 = field(repr=False)
    state: dict[str, Any] = field(repr=False, default_factory=dict)
    fields: dict[str, npt.NDArray[Any]] = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.fields = {name: _field_array(name, v, len(self.keys)) for name, v in self.fields.items()}

    def add_field(self, name: str, values: npt.ArrayLike) -> SpaceMap:
        """Attach per-point ``values`` (one per map point, in map order) as the field ``name``; returns self.

        Floats are a continuous scale; strings, integers and booleans are categories.
        """
        self.fields[name] = _field_array(name, values, len(self.keys))
        return self

    def transform(self, vectors: npt.ArrayLike, *, k: int = 10) -> F32:
        """Map positions of new ``(n, dim)`` vectors (``k``: neighbours used by t-SNE's placement)."""
        x = np.asarray(vectors, np.float32)
        single = x.ndim == 1
        x = x.reshape(1, -1) if single else x
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DimensionMismatchError(int(x.shape[-1]), self.dim, what="the vectors to place on the map")
        if self.method == "pca":
            out = (x - self.state["mean"]) @ self.state["components"].T
        elif self.method == "umap":
            out = self.state["model"].transform(_unit(x) if self.state.get("cosine") else x)
        else:
            fitted = self.state["fitted"]  # unit vectors of the mapped points
            kk = min(k, fitted.shape[0])
            # the kk nearest mapped points by cosine, with embspace's one exact searcher
            near, nn = _topk.search(_unit(x), np.ascontiguousarray(fitted, np.float32), kk, "dot")
            w = np.maximum(near, 0.0) + 1e-6
            out = (w[:, :, None] * self.state["fitted_coords"][nn]).sum(axis=1) / w.sum(axis=1, keepdims=True)
        out = np.ascontiguousarray(out, np.float32)
        return out[0] if single else out

    def plot(self, labels: npt.ArrayLike | None = None, *, size: tuple[int, int] = (640, 480)) -> Any:
        """The map as a scatter image (a ``PIL.Image.Image``; a 3-D map shows its first two components).

        ``labels``: one value per point (a cluster, a class) to colour by, the largest groups named in a
        legend (``-1``, HDBSCAN's noise, in grey). Needs Pillow (``pip install "embspace[analysis]"``).
        """
        from ._scatter import scatter

        return scatter(self.coords, labels, size=size, title=f"{self.method} map, {len(self.keys):,} points")

    def _repr_html_(self) -> str:
        from ._scatter import map_html

        return map_html(self)

    def save(self, path: str | Path) -> Path:
        """Write the map to the directory ``path`` (coordinates, keys, and what transform needs)."""
        from .._atomic import atomic_path

        p = Path(path)
        with atomic_path(p, is_dir=True) as tmp:
            np.save(tmp / "coords.npy", self.coords)
            (tmp / "keys.json").write_text(json.dumps(self.keys), encoding="utf-8")
            arrays: dict[str, Any] = {k: v for k, v in self.state.items() if isinstance(v, np.ndarray)}
            if arrays:
                np.savez(tmp / "state.npz", **arrays)
            if "model" in self.state:
                with open(tmp / "model.pkl", "wb") as f:
                    pickle.dump(self.state["model"], f)
            flags = {k: v for k, v in self.state.items() if isinstance(v, bool | int | float | str)}
            fields: dict[str, Any] = {}
            if self.fields:
                (tmp / "fields").mkdir()
            for i, (name, values) in enumerate(self.fields.items()):
                if field_kind(values) == "numeric":
                    np.save(tmp / "fields" / f"{i}.npy", values)
                    fields[name] = {"file": f"{i}.npy", "type": "numeric"}
                else:
                    cats, codes = np.unique(values, return_inverse=True)
                    np.save(tmp / "fields" / f"{i}.npy", codes.astype(np.int32))
                    fields[name] = {"file": f"{i}.npy", "type": "categorical", "dtype": values.dtype.str,
                                    "categories": cats.tolist()}
            (tmp / "map.json").write_text(json.dumps({"method": self.method, "n_components": self.n_components,
                                                      "dim": self.dim, "flags": flags, "fields": fields}),
                                          encoding="utf-8")
            write_header(tmp, "map", FORMAT_VERSION, method=self.method, n_components=self.n_components,
                         n=len(self.keys))
        return p

    @classmethod
    def load(cls, path: str | Path) -> SpaceMap:
        """Read a map written by :meth:`save` (or by an embspace older than the artifact header)."""
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"no saved map at {p}")
        if not p.is_dir():
            raise CorruptDataError(p, "not an embspace map (a file, not a directory)")
        check_format_version(p, "map", FORMAT_VERSION)
        try:
            meta = json.loads((p / "map.json").read_text(encoding="utf-8"))
            coords = np.load(p / "coords.npy")
            keys = json.loads((p / "keys.json").read_text(encoding="utf-8"))
            state: dict[str, Any] = dict(meta.get("flags", {}))
            if (p / "state.npz").is_file():
                with np.load(p / "state.npz") as z:
                    state.update({k: z[k] for k in z.files})
            if (p / "model.pkl").is_file():
                with open(p / "model.pkl", "rb") as f:
                    state["model"] = pickle.load(f)
            fields: dict[str, npt.NDArray[Any]] = {}
            for name, spec in meta.get("fields", {}).items():
                values = np.load(p / "fields" / Path(spec["file"]).name, allow_pickle=False)
                if spec["type"] == "categorical":
                    cats = np.asarray(spec["categories"], dtype=spec.get("dtype", "U"))
                    values = cats[values] if len(cats) else values
                fields[name] = values
        except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
            raise CorruptDataError(p, f"not an embspace map: {e}") from None
        return cls(meta["method"], int(meta["n_components"]), int(meta["dim"]), keys, coords, state, fields)


def map_path(space_dir: str | Path, name: str) -> Path:
    """Where a map called ``name`` is kept beside a space saved in embspace's own directory format."""
    return Path(space_dir) / MAPS_DIR / name


def project(space: EmbeddingSpace, method: str = "umap", n_components: int = 2, *, sample: int | None = None,
            seed: int = 0, **options: Any) -> SpaceMap:
    """A 2-D or 3-D map of ``space`` (of a seeded sample of ``sample`` rows when given).

    ``options`` go to the method: ``perplexity`` (t-SNE), ``n_neighbors`` / ``min_dist`` (UMAP).
    Cosine spaces are mapped by their directions (unit vectors).
    """
    if method not in METHODS:
        raise InvalidInputError(f"unknown map method {method!r}; choose one of {', '.join(METHODS)}")
    if n_components not in (2, 3):
        raise InvalidInputError(f"n_components must be 2 or 3, got {n_components}")
    if not isinstance(space, EmbeddingSpace):
        raise InvalidInputError(f"expected an EmbeddingSpace, got {type(space).__name__}")
    rows = np.arange(len(space))
    if sample is not None and len(space) > sample:
        rows = np.sort(np.random.default_rng(seed).choice(len(space), sample, replace=False))
    keys = [space.keys[i] for i in rows.tolist()]
    cosine = space.metric == "cosine"
    x = np.asarray(space.vectors[rows], np.float32)
    xin = _unit(x) if cosine else x
    if len(x) == 0 or (method != "pca" and len(x) <= n_components + 1):
        raise InvalidInputError(f"a {method} map needs more than {0 if method == 'pca' else n_components + 1} "
                                f"points, got {len(x)}")
    state: dict[str, Any] = {"cosine": cosine}
    if method == "pca":  # any number of points: axes beyond the data's rank stay at 0
        mean = x.mean(axis=0)
        _, _, vt = np.linalg.svd((x - mean).astype(np.float64), full_matrices=False)
        components = np.zeros((n_components, x.shape[1]), np.float32)
        components[: min(n_components, len(vt))] = vt[:n_components]
        state.update(mean=mean.astype(np.float32), components=components)
        coords = (x - mean) @ state["components"].T
    elif method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(options.pop("perplexity", min(30.0, (len(x) - 1) / 3)))
        model = TSNE(n_components=n_components, perplexity=perplexity, init="pca", random_state=seed,
                     metric="cosine" if cosine else "euclidean", **options)
        coords = model.fit_transform(xin)
        state.update(fitted=_unit(x), fitted_coords=np.asarray(coords, np.float32))
    else:
        try:
            import umap
        except ImportError:
            from ..errors import MissingDependencyError

            raise MissingDependencyError("umap-learn", "analysis", "UMAP maps") from None
        model = umap.UMAP(n_components=n_components, random_state=seed, n_jobs=int(options.pop("n_jobs", 1)),
                          n_neighbors=int(options.pop("n_neighbors", min(15, len(x) - 1))), **options)
        coords = model.fit_transform(xin)
        state["model"] = model
    return SpaceMap(method, n_components, space.dim, keys, np.ascontiguousarray(coords, np.float32), state)


#: Old name (one release): ``Projection``.
__getattr__ = _deprecation.renamed(__name__, {"Projection": "SpaceMap"})
