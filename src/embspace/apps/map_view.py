"""A map of a space or a collection wired to its index: what the web projector shows.

The map (a :class:`~embspace.analysis.maps.SpaceMap`) gives every point a 2-D/3-D position; every
*question* about a point — its neighbours, a search, an analogy — is answered by the space's exact
search or the collection's index, never by distances on the map (which distort them), and the answers
come back with their map rows so the projector can draw them.

:meth:`MapView.axes` replaces the map's x and y by two concept directions
(:func:`embspace.analysis.direction`): every point placed by its projections on them.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from .._artifact import artifact_kind
from ..analysis.directions import Direction, direction
from ..analysis.maps import MAPS_DIR, SpaceMap, field_kind, map_path, project
from ..errors import InvalidInputError, UnknownKeyError, ZeroVectorError
from ..space import _linalg
from ..space.embedding_space import EmbeddingSpace
from .schemas import AxisInfo, ConceptAxis, MapAxes, MapField, MapHit, MapHits, MapInfo, MapPoint, MapQuery

__all__ = ["MapView", "axes_header", "find_map"]

#: Clusters of the computed ``cluster`` field (k-means), at most.
CLUSTERS = 12
#: Collections up to this size get their metadata fields as map fields (read on first use).
METADATA_FIELDS_MAX = 200_000
#: A computed (PCA) map is fitted on at most this many points; every point is then placed with it.
PCA_FIT = 50_000
#: The largest collection the server maps on demand (larger ones: `embspace project`, saved beside it).
COMPUTED_MAP_MAX = 1_000_000
TEXT_CHARS = 500
#: Metadata that is not worth colouring by (texts, offsets, hashes).
NOT_FIELDS = frozenset({"text", "start", "end", "hash", "content_hash"})
#: Missing examples listed in an axis' description (the rest are counted).
MISSING_LISTED = 20


def find_map(path: str | Path | None, name: str = "default") -> Path | None:
    """The saved map of the resource at ``path``: ``maps/<name>``, else the only map there, else None."""
    if path is None:
        return None
    p = Path(path)
    if _is_map(map_path(p, name)):
        return map_path(p, name)
    found = sorted(d for d in (p / MAPS_DIR).glob("*") if _is_map(d)) if (p / MAPS_DIR).is_dir() else []
    return found[0] if len(found) == 1 else None


def _is_map(path: Path) -> bool:
    """A saved map: its header says so, or (saved before the header) it has a ``map.json``."""
    return artifact_kind(path) == "map"


class MapView:
    """A map (:class:`~embspace.analysis.maps.SpaceMap`) over its source: an
    :class:`~embspace.space.EmbeddingSpace` or a collection (:mod:`embspace.store`).

    Parameters
    ----------
    source
        The space or collection the map shows; its search answers every query.
    projection
        The map. Points are the projection's keys, in its order (its *rows*); keys missing from the
        source are an error.
    encoder
        Encodes free-text queries (a collection's own encoder is used when not given).
    name
        What the map is called where it is served.
    saved
        Whether the map was read from disk (reported by :meth:`info`).
    """

    def __init__(self, source: Any, projection: SpaceMap, *, encoder: Any = None, name: str = "",
                 saved: bool = True) -> None:
        self.source = source
        self.projection = projection
        self.is_space = isinstance(source, EmbeddingSpace)
        self.encoder = encoder if encoder is not None or self.is_space else getattr(source, "encoder", None)
        self.name = name
        self.saved = saved
        self._rows: dict[str, int] | None = None
        self._computed: dict[str, npt.NDArray[Any]] = {}
        self._lock = threading.Lock()

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def open(cls, source: Any, path: str | Path | None = None, *, map_name: str = "default", encoder: Any = None,
             name: str = "") -> MapView:
        """The map saved beside ``source`` (at ``path``/maps/``map_name``), or a PCA map computed now."""
        found = find_map(path, map_name)
        if found is not None:
            return cls(source, SpaceMap.load(found), encoder=encoder, name=name)
        return cls(source, cls._pca(source), encoder=encoder, name=name, saved=False)

    @staticmethod
    def _space(source: Any) -> EmbeddingSpace:
        if isinstance(source, EmbeddingSpace):
            return source
        n = source.count()
        if n > COMPUTED_MAP_MAX:
            raise InvalidInputError(f"this collection has {n:,} items: compute its map once with "
                                    "`embspace project` and save it beside the collection")
        space: EmbeddingSpace = source.to_space()
        return space

    @classmethod
    def _pca(cls, source: Any) -> SpaceMap:
        space = cls._space(source)
        fit = project(space, "pca", 2, sample=PCA_FIT)
        if len(fit.keys) == len(space):
            return fit
        coords = fit.transform(np.asarray(space.vectors, np.float32))
        return SpaceMap("pca", 2, space.dim, list(space.keys), coords, fit.state)

    # -- what the map is -----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return len(self.projection.keys)

    def coords(self) -> npt.NDArray[np.float32]:
        """``(size, n_components)`` float32 map positions, in row order."""
        return np.ascontiguousarray(self.projection.coords, np.float32)

    def _total(self) -> int:
        return len(self.source) if self.is_space else int(self.source.count())

    def info(self) -> MapInfo:
        c = self.coords()
        bounds = [[float(c[:, j].min()), float(c[:, j].max())] for j in range(c.shape[1])] if len(c) else []
        enc = self.encoder
        return MapInfo(source="space" if self.is_space else "collection", name=self.name, size=self.size,
                       total=self._total(), n_components=self.projection.n_components, method=self.projection.method,
                       saved=self.saved, fields=self.fields(), encoder=getattr(enc, "name", None) if enc else None,
                       bounds=bounds)

    # -- fields --------------------------------------------------------------------------------------
    @functools.cached_property
    def _metadata_fields(self) -> dict[str, str]:
        """A collection's metadata fields and their kind (``numeric`` when every value seen is a float),
        judged from the first 200 map points (read once: a view is reopened when its collection changes)."""
        if self.is_space or self.size > METADATA_FIELDS_MAX:
            return {}
        sample = self.source.get(self.projection.keys[: min(200, self.size)], vectors=False)
        seen: dict[str, list[Any]] = {}
        for item in sample:
            for k, v in item["metadata"].items():
                if isinstance(v, str | int | float | bool) and k not in NOT_FIELDS:
                    seen.setdefault(k, []).append(v)
        return {name: "numeric" if all(isinstance(v, float) for v in values) else "categorical"
                for name, values in sorted(seen.items()) if name not in self.projection.fields}

    def fields(self) -> list[MapField]:
        """The fields the map can be coloured by: saved with the map, ``cluster`` (k-means on the vectors,
        computed on first use) and, for collections, their metadata fields (read on first use)."""
        out = [self._describe(name, values) for name, values in self.projection.fields.items()]
        kinds: dict[str, str] = {"cluster": "categorical", **self._metadata_fields}
        for name, kind in kinds.items():
            if name in self.projection.fields:
                continue
            if name in self._computed:
                out.append(self._describe(name, self._computed[name], computed=True))
            else:
                out.append(MapField(name=name, type="numeric" if kind == "numeric" else "categorical",
                                    computed=True))
        return out

    @staticmethod
    def _describe(name: str, values: npt.NDArray[Any], *, computed: bool = False) -> MapField:
        if field_kind(values) == "numeric":
            finite = values[np.isfinite(values)]
            return MapField(name=name, type="numeric", computed=computed,
                            min=float(finite.min()) if len(finite) else None,
                            max=float(finite.max()) if len(finite) else None)
        return MapField(name=name, type="categorical", computed=computed,
                        categories=[str(c) for c in np.unique(values).tolist()])

    def field(self, name: str) -> tuple[MapField, npt.NDArray[Any]]:
        """A field's description and its per-row values: ``int32`` category codes (into
        ``MapField.categories``) or ``float32`` numbers (NaN where missing)."""
        values = self.projection.fields.get(name)
        computed = False
        if values is None:
            with self._lock:
                if name not in self._computed:
                    self._computed[name] = self._compute(name)
            values, computed = self._computed[name], True
        desc = self._describe(name, values, computed=computed)
        if desc.type == "numeric":
            return desc, np.ascontiguousarray(values, np.float32)
        _, codes = np.unique(values, return_inverse=True)
        return desc, codes.astype(np.int32)

    def _compute(self, name: str) -> npt.NDArray[Any]:
        if name == "cluster":
            from ..analysis.clustering import kmeans

            space = self._map_space()
            labels = kmeans(space, min(CLUSTERS, len(space)), nredo=1, seed=0, describe=0).labels
            return np.asarray([f"cluster {i}" for i in range(int(labels.max()) + 1)])[labels]
        if name not in self._metadata_fields:
            have = [f.name for f in self.fields()]
            raise UnknownKeyError(f"this map has no field {name!r}; it has {', '.join(have) or 'none'}")
        values = [item["metadata"].get(name) for item in self._get_all()]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values if v is not None) and any(
                isinstance(v, float) for v in values):
            return np.asarray([np.nan if v is None else float(v) for v in values], np.float32)
        return np.asarray(["(none)" if v is None else str(v) for v in values])

    def _get_all(self) -> list[dict[str, Any]]:
        keys = self.projection.keys
        out: list[dict[str, Any]] = []
        for s in range(0, len(keys), 10_000):
            out.extend(self.source.get(keys[s : s + 10_000], vectors=False, strict=True))
        return out

    def _map_space(self) -> EmbeddingSpace:
        """The map's points as a space (their vectors from the source), in row order."""
        keys = self.projection.keys
        if self.is_space:
            space: EmbeddingSpace = self.source
            if len(keys) == len(space) and list(space.keys[:1]) == keys[:1] and list(space.keys) == keys:
                return space
            return EmbeddingSpace(keys, space[keys], metric=space.metric)
        vecs = [np.asarray(item["vector"], np.float32) for s in range(0, len(keys), 10_000)
                for item in self.source.get(keys[s : s + 10_000], strict=True)]
        return EmbeddingSpace(keys, np.stack(vecs), metric=self.source.metric)

    # -- rows and points -----------------------------------------------------------------------------
    def rows_of(self, keys: list[str]) -> list[int]:
        """The map row of each key (-1 for a key the map does not show)."""
        if self._rows is None:
            with self._lock:
                if self._rows is None:
                    self._rows = {k: i for i, k in enumerate(self.projection.keys)}
        return [self._rows.get(k, -1) for k in keys]

    def _check_rows(self, rows: list[int]) -> None:
        bad = [r for r in rows if not 0 <= r < self.size]
        if bad:
            raise InvalidInputError(f"row {bad[0]} is not on this map (rows 0 to {self.size - 1})")

    def keys(self, rows: list[int]) -> list[str]:
        """The keys of map ``rows`` (a lasso selection exported as ids)."""
        self._check_rows(rows)
        keys = self.projection.keys
        return [keys[r] for r in rows]

    def points(self, rows: list[int]) -> list[MapPoint]:
        """Key, text and metadata of map ``rows`` (hover labels)."""
        keys = self.keys(rows)
        if self.is_space:
            return [MapPoint(row=r, key=k) for r, k in zip(rows, keys, strict=True)]
        out = []
        for r, item in zip(rows, self.source.get(keys, vectors=False, strict=True), strict=True):
            meta = dict(item["metadata"])
            text = item.get("text")
            if text is None or meta.get("text") == text:  # older items kept their text in the metadata
                text = meta.pop("text", text)
            out.append(MapPoint(row=r, key=item["key"], text=str(text)[:TEXT_CHARS] if text is not None else None,
                                metadata=meta or None))
        return out

    # -- questions, answered by the index ------------------------------------------------------------
    def _hits(self, how: str, keys: list[str], scores: Any, row: int | None = None) -> MapHits:
        rows = self.rows_of(keys)
        return MapHits(query=how, row=row, hits=[MapHit(key=k, score=float(s), row=r)
                                                 for k, s, r in zip(keys, scores, rows, strict=True)])

    def _known(self, key: str) -> bool:
        if self.is_space:
            return key in self.source
        return key in self.source

    def warm(self) -> None:
        """Answer one neighbour query now, so that the first click does not pay for compiling or loading the
        search (the exact search's kernels are compiled on first use)."""
        for key in self.projection.keys[:8]:  # a zero vector (a token table's [PAD] row) has no neighbours
            try:
                self.neighbors(key, 1)
            except ZeroVectorError:
                continue
            return

    def neighbors(self, key: str, k: int = 10) -> MapHits:
        """The ``k`` nearest neighbours of a stored key (itself left out), from the index."""
        res = self.source.neighbors(key, k=k) if self.is_space else self.source.search(key=key, k=k)
        return self._hits("neighbors", list(res.keys), res.scores, self.rows_of([key])[0])

    def query(self, q: MapQuery) -> MapHits:
        """Answer a :class:`~embspace.apps.schemas.MapQuery` (exactly one of row, key, text or a/b/c)."""
        given = [n for n, v in (("row", q.row), ("key", q.key), ("text", q.text)) if v is not None]
        analogy = [v for v in (q.a, q.b, q.c) if v is not None]
        if analogy:
            if len(analogy) != 3 or given:
                raise InvalidInputError("an analogy query gives a, b and c (and nothing else)")
            return self.analogy(q.a or "", q.b or "", q.c or "", q.k)
        if len(given) != 1:
            raise InvalidInputError(f"give exactly one of row, key, text or a/b/c (got {', '.join(given) or 'none'})")
        if q.row is not None:
            return self.neighbors(self.keys([q.row])[0], q.k)
        if q.key is not None:
            return self.neighbors(q.key, q.k)
        return self.search(q.text or "", q.k)

    def search(self, text: str, k: int = 10) -> MapHits:
        """A search box: a stored key finds itself and its neighbours; other text is encoded (when the
        source has an encoder) and searched."""
        text = text.strip()
        if text and self._known(text):
            near = self.neighbors(text, max(k - 1, 1))
            first = MapHit(key=text, score=1.0, row=self.rows_of([text])[0])
            return MapHits(query="key", row=first.row, hits=[first, *near.hits[: k - 1]])
        if self.encoder is None:
            hint = ""
            if self.is_space:
                from ..space._suggest import suggest

                near_keys = suggest(text, self.source.keys)
                hint = f"; did you mean {', '.join(repr(s) for s in near_keys)}?" if near_keys else ""
            raise UnknownKeyError(f"{text!r} is not a key of this map and it has no text encoder{hint}")
        if self.is_space:
            vec = self.encoder.encode([text], progress=False)[0]
            res = self.source.neighbors(np.asarray(vec, np.float32), k=k)
        else:
            res = self.source.search(text, k=k)
        return self._hits("text", list(res.keys), res.scores)

    def analogy(self, a: str, b: str, c: str, k: int = 10) -> MapHits:
        """a is to b as c is to ? (3CosAdd on unit vectors), a, b and c left out."""
        if self.is_space:
            res = self.source.analogy(a, b, c, k=k)
            return self._hits("analogy", list(res.keys), res.scores)
        items = self.source.get([a, b, c], strict=True)
        va, vb, vc = (np.asarray(it["vector"], np.float32) for it in items)
        if self.source.metric == "cosine":
            va, vb, vc = _linalg.unit_rows(np.stack([va, vb, vc]))
        res = self.source.search(vb - va + vc, k=k + 3)
        keep = [(key, s) for key, s in zip(res.keys, res.scores, strict=True) if key not in (a, b, c)][:k]
        return self._hits("analogy", [key for key, _ in keep], [s for _, s in keep])

    # -- concept axes: x and y as directions instead of the map -------------------------------------
    @staticmethod
    def _axis(axis: ConceptAxis | Mapping[str, Any], label: str) -> ConceptAxis:
        if isinstance(axis, ConceptAxis):
            return axis
        try:
            return ConceptAxis.model_validate(axis)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInputError(f"the {label} axis is not valid ({where}: {first['msg']}); give "
                                    "{'positive': [...], 'negative': [...]} with at least one positive "
                                    "example") from None

    def _encodes(self, axis: ConceptAxis) -> bool:
        """Whether the axis' examples go through the encoder: there is one and some example is not a key."""
        return self.encoder is not None and not all(self._known(w) for w in [*axis.positive, *axis.negative])

    def axis_texts(self, x: ConceptAxis | Mapping[str, Any], y: ConceptAxis | Mapping[str, Any]) -> list[str] | None:
        """The examples of the two axes that :meth:`axes` would encode (None: none; all of them are keys)."""
        texts = [w for label, a in (("x", x), ("y", y)) for ax in [self._axis(a, label)] if self._encodes(ax)
                 for w in [*ax.positive, *ax.negative]]
        return texts or None

    @staticmethod
    def _pole(words: list[str]) -> str:
        shown = ", ".join(words[:2]) + (", ..." if len(words) > 2 else "")
        return shown if len(shown) <= 60 else shown[:57] + "..."

    def axis_direction(self, axis: ConceptAxis | Mapping[str, Any], *, method: str = "mean",
                       label: str = "x") -> Direction:
        """The concept direction of ``axis`` (:func:`embspace.analysis.direction`) in the map's source.

        Examples that are keys of the source give their vectors; when the source has a text encoder and some
        example is not a key, every example is encoded as a text. Keys the source lacks are left out (the
        direction's ``missing``); a pole none of whose examples is known is an error.
        """
        ax = self._axis(axis, label)
        name = ax.name or (f"{self._pole(ax.negative)} -> " if ax.negative else "") + self._pole(ax.positive)
        if method not in ("mean", "pca", "probe"):
            raise InvalidInputError(f"method must be one of mean, pca, probe, got {method!r}")
        if self._encodes(ax):
            enc: Any = self.encoder
            space = self.source if self.is_space else EmbeddingSpace(
                [], np.zeros((0, int(self.source.dim)), np.float32), metric=self.source.metric,
                provenance=enc.provenance)
            return direction(space, ax.positive, ax.negative, method=method, encoder=enc,  # type: ignore[arg-type]
                             name=name)
        for pole, words in (("positive", ax.positive), ("negative", ax.negative)):
            if words and not any(self._known(w) for w in words):
                hint = ""
                if self.is_space:
                    from ..space._suggest import suggest

                    near = [s for w in words[:3] for s in suggest(w, self.source.keys)][:5]
                    hint = f"; did you mean {', '.join(repr(s) for s in near)}?" if near else ""
                how = "" if self.encoder is not None else " (it has no text encoder: examples must be keys)"
                raise InvalidInputError(f"none of the {pole} examples of the {label} axis "
                                        f"({', '.join(repr(w) for w in words[:5])}) is a key of this map's "
                                        f"{'space' if self.is_space else 'collection'}{how}{hint}")
        if self.is_space:
            space = self.source
        else:  # a small space of the examples' vectors (the direction is then projected on every map point)
            known = [w for w in dict.fromkeys([*ax.positive, *ax.negative]) if self._known(w)]
            vecs = np.stack([np.asarray(it["vector"], np.float32) for it in self.source.get(known, strict=True)])
            space = EmbeddingSpace(known, vecs, metric=self.source.metric)
        return direction(space, ax.positive, ax.negative, method=method, name=name)  # type: ignore[arg-type]

    def project(self, d: Direction | npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The ``(size,)`` float32 projection of every map point on a direction, in row order (for a space
        shown whole: ``space.project(d)``)."""
        if self.is_space:
            space = self._map_space()
            scores: npt.NDArray[np.float32] = (space.project(d) if space is self.source
                                               else space.project(np.asarray(getattr(d, "vector", d), np.float32)))
            return scores
        u = np.asarray(getattr(d, "vector", d), np.float64).reshape(-1)
        keys = self.projection.keys
        out = np.empty(len(keys), np.float32)
        for s in range(0, len(keys), 10_000):
            items = self.source.get(keys[s : s + 10_000], strict=True)
            block = np.stack([np.asarray(it["vector"], np.float64) for it in items])
            out[s : s + len(items)] = block @ u
        return out

    def axes(self, x: ConceptAxis | Mapping[str, Any], y: ConceptAxis | Mapping[str, Any], *,
             method: str = "mean") -> tuple[npt.NDArray[np.float32], MapAxes]:
        """Two concept axes instead of the map: every point placed by its projections on them.

        Parameters
        ----------
        x, y
            :class:`~embspace.apps.schemas.ConceptAxis` (or a dict ``{"positive": [...], "negative": [...],
            "name": ...}``): the examples of each axis' high and low end.
        method
            How each direction is learnt: ``"mean"``, ``"pca"`` or ``"probe"`` (:func:`embspace.analysis.direction`).

        Returns
        -------
        coords, axes
            ``(size, 2)`` float32 positions in row order (the layout of :meth:`coords`): column 0 the projection
            on ``x``, column 1 on ``y``; and what the axes are (labels, reliability, missing examples).
        """
        dx = self.axis_direction(x, method=method, label="x")
        dy = self.axis_direction(y, method=method, label="y")
        coords = np.ascontiguousarray(np.stack([self.project(dx), self.project(dy)], axis=1), np.float32)
        cosine = float(np.dot(dx.vector.astype(np.float64), dy.vector.astype(np.float64)))
        return coords, MapAxes(size=self.size, x=self._describe_axis(dx, coords[:, 0]),
                               y=self._describe_axis(dy, coords[:, 1]), cosine=cosine)

    @staticmethod
    def _describe_axis(d: Direction, scores: npt.NDArray[np.float32]) -> AxisInfo:
        def num(v: float) -> float | None:
            return float(v) if np.isfinite(v) else None

        return AxisInfo(name=d.name, low=MapView._pole(list(d.negative)), high=MapView._pole(list(d.positive)),
                        method=d.method,
                        encoded=d.encoded, n_positive=len(d.positive), n_negative=len(d.negative),
                        missing=list(d.missing[:MISSING_LISTED]), n_missing=len(d.missing),
                        reliability=num(d.reliability), auc=num(d.auc),
                        min=float(scores.min()) if len(scores) else 0.0,
                        max=float(scores.max()) if len(scores) else 0.0)


def axes_header(axes: MapAxes) -> str:
    """``axes`` as one line of ASCII JSON (the ``X-Axes`` header of the binary axes route): characters outside
    printable ASCII escaped (``\\uXXXX``), DEL too, so any key is a valid header value."""
    text = json.dumps(axes.model_dump(mode="json"), ensure_ascii=True, separators=(",", ":"))
    return text.replace("\x7f", "\\u007f")
