"""FaissIndex: a FAISS index built from a factory string, with embspace's ids, metrics and scores."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
import numpy.typing as npt

from .._atomic import atomic_path
from .._types import FloatArray, IntArray, Metric
from ..errors import CorruptDataError, InvalidInputError
from ._factory import EXAMPLES as _EXAMPLES
from ._factory import FactorySpec
from ._idmap import IdMap, as_ids
from .base import BaseIndex, _faiss, exact_topk, load_ids, read_meta, row_sq_norms, write_meta

__all__ = ["FaissIndex"]

DotGraph = Literal["reduce", "native"]

# Leading components of a factory string that transform vectors before the index proper.
_TRANSFORMS = ("OPQ", "PCA", "RR", "L2norm", "ITQ", "Pad")
_MIN_POINTS_PER_LIST = 39  # below this FAISS warns that k-means is unreliable; embspace refuses
DEFAULT_EF_SEARCH = 64
DEFAULT_K_FACTOR = 4
_EF_CAP = 4096  # efSearch raised for a filtered search never goes beyond this (or the given value)


@dataclass(frozen=True)
class _Structure:
    """The parts of a FAISS index that embspace drives (downcast SWIG proxies; the top index owns them)."""

    leaf: Any
    ivf: Any
    hnsw: Any
    refine: Any
    exact_storage: bool
    selector: bool


def _structure(index: Any) -> _Structure:
    faiss = _faiss()
    node = faiss.downcast_index(index)
    refine = None
    chain_exact = True
    while True:
        if isinstance(node, faiss.IndexRefine):
            refine = refine or node
            node = faiss.downcast_index(node.base_index)
        elif isinstance(node, faiss.IndexPreTransform):
            for i in range(node.chain.size()):
                vt = faiss.downcast_VectorTransform(node.chain.at(i))
                if not (isinstance(vt, faiss.LinearTransform) and vt.is_orthonormal and vt.d_in == vt.d_out):
                    chain_exact = False
            node = faiss.downcast_index(node.index)
        else:
            break
    ivf = node if isinstance(node, faiss.IndexIVF) else None
    hnsw = node if isinstance(node, faiss.IndexHNSW) else None
    if refine is not None:
        exact = isinstance(faiss.downcast_index(refine.refine_index), faiss.IndexFlat)
    elif hnsw is not None:
        exact = chain_exact and isinstance(faiss.downcast_index(hnsw.storage), faiss.IndexFlat)
    else:
        exact = chain_exact and isinstance(node, faiss.IndexFlat | faiss.IndexIVFFlat)
    selector = ivf is not None or hnsw is not None or isinstance(node, faiss.IndexFlat)
    return _Structure(node, ivf, hnsw, refine, exact, selector)


def _parse_factory(factory: object, refine: int | None, dim: int | None = None) -> str:
    """The canonical factory string (:class:`FactorySpec`), with ``Refine(Flat)`` added for ``refine``,
    checked against :data:`~embspace.index.LIMITS` and the memory rule (``dim`` given)."""
    spec = FactorySpec.parse(factory)
    spec.check_limits(dim)
    if refine is not None:
        if not isinstance(refine, int) or isinstance(refine, bool) or refine < 1:
            raise InvalidInputError(f"refine must be a positive integer (candidates per hit re-ranked exactly), "
                                    f"got {refine!r}")
        spec = spec.with_refine()
    return str(spec)


def _is_graph(factory: str) -> bool:
    """Whether the index proper (after any transform) is a graph (HNSW, NSG)."""
    try:
        return FactorySpec.parse(factory).is_graph
    except InvalidInputError:  # a sidecar written before FactorySpec, with a string FAISS took
        return any(p.startswith(("HNSW", "NSG")) for p in factory.split(",") if not p.startswith(_TRANSFORMS))


def _boost(value: int, frac: float) -> int:
    """A search parameter scaled up by 1 / (fraction of the index that qualifies)."""
    return max(value, math.ceil(value / max(frac, 1e-9)))


class FaissIndex(BaseIndex):
    """A FAISS index from a factory string, with caller ids, removal, filtering and scores.

    Parameters
    ----------
    dim
        Dimension of the vectors.
    factory
        FAISS factory string: ``"Flat"``, ``"HNSW32"``, ``"IVF1024,Flat"``, ``"IVF4096,PQ32"``,
        ``"OPQ16,IVF1024,PQ16"``, ``"IVF1024,PQ16,Refine(Flat)"``, ... (no ``IDMap``: ids are
        handled here), or a :class:`~embspace.index.FactorySpec`. It is read by ``FactorySpec`` and
        kept in its canonical spelling (:attr:`factory`); a string it cannot read raises
        :class:`~embspace.errors.InvalidInputError` naming the nearest valid part, and so does one
        beyond :data:`~embspace.index.LIMITS` (graph degree <= 256, IVF lists <= 2**20, PQ bits <= 16,
        transform dimensions <= 16,384, and the memory held before the first vector at most a quarter
        of the memory available; see :meth:`~embspace.index.FactorySpec.check_limits`).
        :func:`~embspace.index.choose_index` picks one from the size of the data.
    metric
        ``"cosine"`` (vectors and queries L2-normalised, inner product), ``"dot"`` (inner product on
        the vectors as given) or ``"l2"``. Scores are always higher-is-better (cosine similarity,
        inner product, negated Euclidean distance).
    params
        Search and build parameters, saved with the index: ``efSearch`` and ``efConstruction``
        (HNSW), ``nprobe`` (IVF), ``k_factor`` (refinement: candidates fetched per hit). Defaults:
        ``efSearch=64``, FAISS's ``efConstruction`` (40), ``nprobe = round(sqrt(nlist))``,
        ``k_factor=4``; :func:`~embspace.index.tune` finds the cheapest that reach a recall.
    refine
        Re-rank ``refine * k`` candidates by exact distance: appends ``,Refine(Flat)`` to the
        factory (FAISS keeps the full vectors next to the compressed codes) and sets ``k_factor``.
    max_norm
        ``dot`` on a graph index only: the largest vector norm to expect (see Notes). Default: the
        largest norm of the first vectors added.
    dot_graph
        ``dot`` on a graph index only: ``"reduce"`` (default) builds the graph on the Euclidean
        reduction below; ``"native"`` uses FAISS's inner-product graph as it is (see Notes).

    Notes
    -----
    **Training.** An index that needs training (IVF, PQ, OPQ) is trained on the first vectors
    given to :meth:`add` (or to :meth:`train`). IVF with ``nlist`` lists needs at least
    ``39 * nlist`` of them (FAISS's own threshold for a reliable k-means; ``IVF4096`` needs
    159,744), PQ at least 256; fewer raise :class:`~embspace.errors.InvalidInputError` naming a
    factory that fits.

    **Inner product on a graph.** A graph built with the inner product on unnormalised vectors is
    not a proximity graph (a vector is not its own best match; large norms attract every edge) and
    its recall collapses: the hnswlib failure mode. Under ``dot``, HNSW and NSG indexes therefore
    use the standard reduction of maximum inner product search to Euclidean search: every stored
    vector ``x`` gets one more coordinate ``sqrt(M^2 - |x|^2)`` (``M`` the largest norm) and every
    query a 0, so ``|q' - x'|^2 = |q|^2 + M^2 - 2 q.x`` and the nearest is the largest inner
    product. The hits' scores are then recomputed exactly as ``q.x``. Adding a vector longer than
    ``M`` rebuilds the graph with the new ``M`` (with a warning); pass ``max_norm`` to avoid it.
    Flat and IVF indexes use FAISS's inner product directly (they scan lists exhaustively).

    The reduction's graph is a proximity graph whatever the norms, and it is the safer default:
    on anisotropic data (points sharing a common direction, as most real embeddings do), FAISS's
    inner-product graph loses recall that ``efSearch`` cannot buy back (5,000 Gaussian points of
    dim 32 offset by 1, 2, 3 along the diagonal, norms spread 0.1-10x, recall@10 at
    ``efSearch=64``: reduction 0.966 / 0.866 / 0.836, inner-product graph 0.911 / 0.588 / 0.362,
    and still 0.445 at ``efSearch=256`` for the last). On benign data the reduction needs a larger
    ``efSearch`` than the inner-product graph (clustered data: 0.966 vs 1.000; isotropic Gaussian,
    dim 128: 0.53 vs 0.996 at 64, 0.91 vs 1.00 at 256). ``dot_graph="native"`` takes FAISS's
    graph for that speed; :func:`~embspace.index.tune` measures either on your data.

    **Removal.** Ids are mapped to FAISS's sequential labels here. :meth:`remove` leaves a
    tombstone (FAISS cannot remove from HNSW at all); searches skip tombstones with an
    ``IDSelectorBitmap`` inside FAISS (Flat, IVF, HNSW), raising ``efSearch``/``nprobe`` by the
    inverse of the live fraction so that as many live candidates are explored: the in-index form
    of over-fetching. Index types without selector support over-fetch ``k + removed`` hits and
    drop the tombstones. :meth:`rebuild` compacts them away.

    **Filtered search.** ``allowed_ids`` is served by the cheaper of two exact-by-construction
    paths: an exact scan of the allowed vectors (when there are fewer of them than the distance
    computations the approximate search would make), or the FAISS search with a bitmap selector
    of the allowed labels and ``efSearch``/``nprobe`` raised by ``ntotal / len(allowed)``.

    **Files.** :meth:`save` writes a directory: ``index.faiss`` (``faiss.write_index``),
    ``ids.npy`` (label -> id, ``-1`` for a tombstone) and ``index.json`` (factory, metric,
    dimension, every parameter and ``M``). Nothing is pickled.

    Examples
    --------
    >>> import numpy as np
    >>> from embspace.index import FaissIndex
    >>> x = np.random.default_rng(0).standard_normal((1000, 16)).astype("float32")
    >>> index = FaissIndex(16, "HNSW32", metric="l2", params={"efSearch": 32})
    >>> index.add(x, ids=np.arange(1000) + 5000)
    >>> int(index.search(x[7], k=1).ids[0])
    5007
    """

    kind = "faiss"
    _filter_mode: str = "auto"  # "auto" | "exact" | "index": how allowed_ids are served (tests force one)

    def __init__(self, dim: int, factory: str | FactorySpec = "HNSW32", *, metric: Metric = "cosine",
                 params: dict[str, int] | None = None, refine: int | None = None,
                 max_norm: float | None = None, dot_graph: DotGraph = "reduce") -> None:
        super().__init__(dim, metric=metric)
        self._factory = _parse_factory(factory, refine, dim)
        if dot_graph not in ("reduce", "native"):
            raise InvalidInputError(f"dot_graph must be 'reduce' or 'native', got {dot_graph!r}")
        self._dot_graph: DotGraph = dot_graph
        self._mips = metric == "dot" and _is_graph(self._factory) and dot_graph == "reduce"
        if max_norm is not None and (not isinstance(max_norm, int | float) or isinstance(max_norm, bool)
                                     or not math.isfinite(max_norm) or max_norm <= 0):
            raise InvalidInputError(f"max_norm must be a positive number, got {max_norm!r}")
        self._user_max_norm = None if max_norm is None else float(max_norm)
        self._max_norm = self._user_max_norm
        self._index = self._new_faiss_index()
        self._struct = _structure(self._index)
        self._params = self._default_params()
        if refine is not None:
            self._params["k_factor"] = int(refine)
        self._params.update(self._check_params(params))
        self._apply_params()

    # ----------------------------------------------------------------- construction
    def _faiss_dim(self) -> int:
        return self._dim + 1 if self._mips else self._dim

    def _faiss_metric(self) -> int:
        faiss = _faiss()
        return int(faiss.METRIC_L2 if self._metric == "l2" or self._mips else faiss.METRIC_INNER_PRODUCT)

    def _new_faiss_index(self) -> Any:
        faiss = _faiss()
        try:
            index = faiss.index_factory(self._faiss_dim(), self._factory, self._faiss_metric())
        except (RuntimeError, TypeError) as e:
            reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise InvalidInputError(f"invalid FAISS factory string {self._factory!r} for dimension {self._dim}: "
                                    f"{reason}; examples: {_EXAMPLES}") from None
        st = _structure(index)
        if st.ivf is not None:
            st.ivf.make_direct_map(True)  # reconstruct() for exact re-scoring, tune() and rebuild()
        if hasattr(st.leaf, "do_polysemous_training"):
            # The factory turns on polysemous training for PQ (codebook re-ordering by simulated
            # annealing, ~15 s even for 5k vectors). It only serves polysemous filtering
            # (polysemous_ht), which embspace never enables.
            st.leaf.do_polysemous_training = False
        return index

    def _default_params(self) -> dict[str, int]:
        st = self._struct
        p: dict[str, int] = {}
        if st.hnsw is not None:
            p["efSearch"] = DEFAULT_EF_SEARCH
            p["efConstruction"] = int(st.hnsw.hnsw.efConstruction)
        if st.ivf is not None:
            nlist = int(st.ivf.nlist)
            p["nprobe"] = max(1, min(nlist, round(math.sqrt(nlist))))
        if st.refine is not None:
            p["k_factor"] = DEFAULT_K_FACTOR
        return p

    def _param_names(self) -> tuple[str, ...]:
        return tuple(self._default_params())

    def _apply_params(self, st: _Structure | None = None) -> None:
        self._sp_cache: dict[tuple[tuple[str, int], ...], tuple[Any, ...]] = {}  # unfiltered SearchParameters
        st = st or self._struct
        if st.hnsw is not None:
            st.hnsw.hnsw.efConstruction = self._params["efConstruction"]
            st.hnsw.hnsw.efSearch = self._params["efSearch"]  # also for FAISS tools reading the binary
        if st.ivf is not None:
            st.ivf.nprobe = min(int(st.ivf.nlist), self._params["nprobe"])

    def _describe(self) -> str:
        return f"FaissIndex({self._factory!r})"

    # ----------------------------------------------------------------- properties
    @property
    def factory(self) -> str:
        """The FAISS factory string the index was built from."""
        return self._factory

    @property
    def faiss_index(self) -> Any:
        """The underlying FAISS index (labels are sequential; ids are mapped by this object)."""
        return self._index

    @property
    def nlist(self) -> int | None:
        """Number of inverted lists of an IVF index (None for other kinds)."""
        return None if self._struct.ivf is None else int(self._struct.ivf.nlist)

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    @property
    def stores_exact_vectors(self) -> bool:
        return self._struct.exact_storage

    @property
    def max_norm(self) -> float | None:
        """``dot`` on a graph: the norm ``M`` of the inner-product-to-L2 reduction (None otherwise)."""
        return self._max_norm if self._mips else None

    def memory_bytes(self) -> int:
        """Bytes the index holds: FAISS's structure as ``faiss.serialize_index`` writes it (vectors or codes,
        graph links, lists, trained tables) and embspace's id map (24 bytes per vector)."""
        return int(_faiss().serialize_index(self._index).size) + 24 * self._map.n_labels

    def __repr__(self) -> str:
        return (f"FaissIndex(dim={self._dim}, factory={self._factory!r}, metric={self._metric!r}, "
                f"ntotal={self.ntotal}, params={self._params})")

    # ----------------------------------------------------------------- training and adding
    def _training_minimums(self, n: int) -> None:
        st = self._struct
        if st.ivf is not None:
            nlist = int(st.ivf.nlist)
            need = _MIN_POINTS_PER_LIST * nlist
            if n < need:
                fit = 2 ** int(math.log2(max(n // _MIN_POINTS_PER_LIST, 1)))
                suggestion = self._factory.replace(f"IVF{nlist}", f"IVF{fit}", 1)
                raise InvalidInputError(
                    f"{self._factory!r} needs at least {need} training vectors ({_MIN_POINTS_PER_LIST} per list, "
                    f"FAISS's minimum for a reliable k-means over {nlist} lists), but {n} were given; add more "
                    f"vectors in the first add() (or call train() with a larger sample), or use fewer lists, "
                    f"e.g. {suggestion!r} (choose_index(n, dim) picks a factory that fits)"
                )
        pq = None
        leaf = st.leaf
        if hasattr(leaf, "pq"):
            pq = leaf.pq
        elif st.hnsw is not None and hasattr(_faiss().downcast_index(st.hnsw.storage), "pq"):
            pq = _faiss().downcast_index(st.hnsw.storage).pq
        if pq is not None and n < int(pq.ksub):
            raise InvalidInputError(f"{self._factory!r}: product quantization with {int(pq.nbits)}-bit codes needs "
                                    f"at least {int(pq.ksub)} training vectors, but {n} were given")

    def _train_faiss(self, index: Any, xi: FloatArray) -> None:
        self._training_minimums(len(xi))
        try:
            index.train(xi)
        except RuntimeError as e:
            raise InvalidInputError(f"training {self._factory!r} on {len(xi)} vectors failed: "
                                    f"{str(e).strip().splitlines()[-1]}") from None

    def train(self, vectors: npt.ArrayLike) -> None:
        """Train on a sample (IVF, PQ, OPQ) before the first :meth:`add`; ``(n, dim)`` array-like."""
        if self._map.n_labels:
            raise InvalidInputError("train() must come before add(); to retrain, use rebuild(vectors, ids)")
        x = self._stored(self._as_matrix(vectors, "training vectors")[0])
        if self._mips and self._max_norm is None:
            self._max_norm = self._norm_of(x)
        self._train_faiss(self._index, self._internal(x))

    @staticmethod
    def _norm_of(x: FloatArray) -> float:
        m = float(np.sqrt(row_sq_norms(x).max())) if len(x) else 0.0
        return m if m > 0 else 1.0

    def _internal(self, x: FloatArray) -> FloatArray:
        """Stored rows as FAISS sees them: with the MIPS coordinate under ``dot`` on a graph."""
        if not self._mips:
            return x
        assert self._max_norm is not None
        extra = np.sqrt(np.maximum(self._max_norm**2 - row_sq_norms(x), 0.0)).astype(np.float32)
        return np.ascontiguousarray(np.hstack([x, extra[:, None]]))

    def _query_internal(self, q: FloatArray) -> FloatArray:
        if not self._mips:
            return q
        return np.ascontiguousarray(np.hstack([q, np.zeros((len(q), 1), np.float32)]))

    def _add(self, x: FloatArray, ids: IntArray) -> None:
        if self._mips:
            norm = self._norm_of(x)
            if self._max_norm is None:
                self._max_norm = norm
            elif norm > self._max_norm * (1 + 1e-6):
                self._regrow(x, ids, norm)
                return
        xi = self._internal(x)
        if not self._index.is_trained:
            self._train_faiss(self._index, xi)
        self._index.add(xi)
        self._map.append(ids)

    def _regrow(self, x: FloatArray, ids: IntArray, norm: float) -> None:
        """Rebuild a ``dot`` graph index whose vectors outgrew the norm ``M`` of its reduction."""
        live = self._map.live_labels()
        if len(live):
            warnings.warn(f"{self._describe()}: a vector of norm {norm:.4g} exceeds the norm {self._max_norm:.4g} "
                          "of the inner-product reduction; the graph is rebuilt. Pass max_norm= to avoid this.",
                          RuntimeWarning, stacklevel=4)
        all_x = np.vstack([self._reconstruct_labels(live), x])
        all_ids = np.concatenate([self._map.label_ids[live], ids])
        self._replace_content(all_x, all_ids, max_norm=norm)

    def _replace_content(self, x: FloatArray, ids: IntArray, *, max_norm: float | None) -> None:
        """Build a fresh FAISS index holding stored rows ``x`` under ``ids`` (trained on ``x``), then swap."""
        old_norm = self._max_norm
        self._max_norm = max_norm
        try:
            index = self._new_faiss_index()
            self._apply_params(_structure(index))  # efConstruction before the graph is built
            xi = self._internal(x) if len(x) else np.empty((0, self._faiss_dim()), np.float32)
            if not index.is_trained and len(xi):
                self._train_faiss(index, xi)
            if len(xi):
                index.add(xi)
        except BaseException:
            self._max_norm = old_norm
            raise
        self._index = index
        self._struct = _structure(index)
        self._apply_params()
        self._map = IdMap()
        self._map.append(ids)

    # ----------------------------------------------------------------- search
    def _search_cost(self, params: dict[str, int], k: int, frac: float = 1.0) -> float:
        """Distance computations per query the approximate search makes (the cost model of tune())."""
        st = self._struct
        n = max(self._map.n_labels, 1)
        if st.hnsw is not None:
            ef = max(min(_boost(params["efSearch"], frac), max(params["efSearch"], _EF_CAP)), k)
            cost = float(ef * int(st.hnsw.hnsw.nb_neighbors(0)))
        elif st.ivf is not None:
            nlist = int(st.ivf.nlist)
            nprobe = min(nlist, _boost(params["nprobe"], frac))
            cost = nlist + nprobe * n / nlist
        else:
            cost = float(n)
        if st.refine is not None:
            cost += k * params["k_factor"]
        return cost

    def _search_parameters(self, params: dict[str, int], sel: Any, frac: float) -> tuple[Any, ...]:
        """(SearchParameters, the SWIG objects it points to): hold the tuple while searching."""
        if sel is None and frac == 1.0:  # the common case: built once per parameter set, not per query
            key = tuple(sorted(params.items()))
            hit = self._sp_cache.get(key)
            if hit is None:
                hit = self._sp_cache[key] = self._new_search_parameters(params, None, 1.0)
            return hit
        return self._new_search_parameters(params, sel, frac)

    def _new_search_parameters(self, params: dict[str, int], sel: Any, frac: float) -> tuple[Any, ...]:
        """(the SearchParameters, every SWIG object it points to — kept alive alongside it)."""
        faiss = _faiss()
        st = self._struct
        leaf: Any = None
        if st.ivf is not None:
            leaf = faiss.SearchParametersIVF()
            leaf.nprobe = min(int(st.ivf.nlist), _boost(params["nprobe"], frac))
        elif st.hnsw is not None:
            leaf = faiss.SearchParametersHNSW()
            ef = params["efSearch"]
            leaf.efSearch = min(_boost(ef, frac), max(ef, _EF_CAP))
        elif sel is not None:
            leaf = faiss.SearchParameters()
        if sel is not None:
            leaf.sel = sel
        if st.refine is not None:
            top = faiss.IndexRefineSearchParameters()
            top.k_factor = float(params["k_factor"])
            if leaf is not None:
                top.base_index_params = leaf
            return top, leaf, sel
        return leaf, sel

    def _search(self, q: FloatArray, k: int, params: dict[str, int], allowed: IntArray | None,
                memo: dict[str, Any] | None = None) -> tuple[FloatArray, IntArray]:
        m = self._map
        n = m.n_labels
        sel = None
        frac = 1.0
        if allowed is not None or m.n_dead:
            n_cand = len(allowed) if allowed is not None else m.n_live
            frac = n_cand / n
            if self._filter_mode == "exact" or (allowed is not None and not self._struct.selector) or (
                    self._filter_mode == "auto" and n_cand <= self._search_cost(params, k, frac)):
                return self._exact_subset(q, k, allowed if allowed is not None else m.live_labels())
            if not self._struct.selector:
                return self._overfetch(q, k, params)
            held = memo.get("bitmap") if memo is not None else None
            if held is None:
                mask = np.zeros(n, np.bool_)
                if allowed is not None:
                    mask[allowed] = True
                else:
                    mask[:] = m.alive
                bits = np.packbits(mask, bitorder="little")  # held with the selector while FAISS reads it
                held = (_faiss().IDSelectorBitmap(bits), bits)
                if memo is not None:
                    memo["bitmap"] = held
            sel = held[0]
        sp = self._search_parameters(params, sel, frac)
        dist, labels = self._index.search(self._query_internal(q), k, params=sp[0])
        return self._scores(q, dist, labels)

    def _search_plain(self, q: FloatArray, k: int, params: dict[str, int]) -> tuple[FloatArray, IntArray] | None:
        # Few NumPy calls after the FAISS call, and no reductions: right after a graph search NumPy's
        # ufunc machinery runs cache-cold (a 1-element .min() then costs ~10 us); tolist() does not.
        if self._map.n_dead or self._mips or self._struct.refine is not None:
            return None
        sp = self._search_parameters(params, None, 1.0)  # cached per parameter set
        nq = len(q)
        dist = np.empty((nq, k), np.float32)
        labels = np.empty((nq, k), np.int64)
        swig_ptr = _faiss().swig_ptr
        self._index.search_c(nq, swig_ptr(q), k, swig_ptr(dist), swig_ptr(labels), sp[0])
        if nq == 1:
            if labels.tolist()[0][-1] < 0:  # a row the index could not fill: the general path pads it
                return None
            if self._metric == "l2":
                dist = np.array([[-math.sqrt(d) if d > 0.0 else 0.0 for d in dist.tolist()[0]]], np.float32)
        else:
            if (labels[:, -1] < 0).any():
                return None
            if self._metric == "l2":
                dist = -np.sqrt(np.maximum(dist, 0.0))
        return dist, self._map.label_ids[labels]

    def _scores(self, q: FloatArray, dist: FloatArray, labels: IntArray) -> tuple[FloatArray, IntArray]:
        labels = labels.astype(np.int64, copy=False)
        if self._mips:
            return self._rescore(q, labels)
        scores = -np.sqrt(np.maximum(dist, 0.0)) if self._metric == "l2" else dist
        scores = np.where(labels >= 0, scores, -np.inf).astype(np.float32)
        return scores, labels

    def _rescore(self, q: FloatArray, labels: IntArray) -> tuple[FloatArray, IntArray]:
        """Exact inner products of the hits (the reduction's distances lose precision), re-sorted."""
        valid = labels >= 0
        scores = np.full(labels.shape, -np.inf, np.float32)
        if valid.any():
            x = self._reconstruct_labels(labels[valid])
            rows = np.nonzero(valid)[0]
            scores[valid] = np.einsum("ij,ij->i", x, q[rows])
        order = np.argsort(-scores, axis=1, kind="stable")
        return np.take_along_axis(scores, order, 1), np.take_along_axis(labels, order, 1)

    def _exact_subset(self, q: FloatArray, k: int, labels: IntArray) -> tuple[FloatArray, IntArray]:
        x = self._reconstruct_labels(labels)
        scores, rows = exact_topk(q, x, k, self._metric)
        return scores, np.where(rows >= 0, labels[np.maximum(rows, 0)], -1)

    def _overfetch(self, q: FloatArray, k: int, params: dict[str, int]) -> tuple[FloatArray, IntArray]:
        """Tombstones on an index without selector support: fetch ``k + removed`` hits, drop the dead."""
        m = self._map
        fetch = min(m.n_labels, k + m.n_dead)
        dist, labels = self._index.search(self._query_internal(q), fetch,
                                          params=self._search_parameters(params, None, 1.0)[0])
        scores, labels = self._scores(q, dist, labels)
        ok = (labels >= 0) & m.alive[np.maximum(labels, 0)]
        order = np.argsort(~ok, axis=1, kind="stable")[:, :k]
        kept = np.take_along_axis(ok, order, 1)
        scores = np.where(kept, np.take_along_axis(scores, order, 1), -np.inf).astype(np.float32)
        return scores, np.where(kept, np.take_along_axis(labels, order, 1), -1)

    def _reconstruct_labels(self, labels: IntArray) -> FloatArray:
        if len(labels) == 0:
            return np.empty((0, self._dim), np.float32)
        try:
            x = self._index.reconstruct_batch(np.ascontiguousarray(labels, dtype=np.int64))
        except RuntimeError as e:
            raise InvalidInputError(f"{self._describe()} cannot give back its vectors "
                                    f"({str(e).strip().splitlines()[-1]}); pass the original vectors instead") from None
        return np.ascontiguousarray(x[:, : self._dim]) if self._mips else np.asarray(x, np.float32)

    # ----------------------------------------------------------------- maintenance
    def rebuild(self, vectors: npt.ArrayLike | None = None, ids: npt.ArrayLike | None = None) -> None:
        """Compact tombstones away, or rebuild (and retrain) from the original vectors.

        Parameters
        ----------
        vectors
            ``(n, dim)`` originals to rebuild from (a collection's source of truth); the index is
            trained again on them. Without them, the live vectors are read back from the index
            and re-added (exact for Flat/HNSW/refined storage; PQ codes are decoded and re-encoded,
            nearly lossless but not exactly), keeping the trained quantizers.
        ids
            ``(n,)`` ids of ``vectors`` (default ``0..n-1``).
        """
        if vectors is None:
            if ids is not None:
                raise InvalidInputError("rebuild(ids=...) needs the vectors of those ids too")
            if not self._map.n_dead:
                return
            faiss = _faiss()
            live = self._map.live_labels()
            xi = (self._index.reconstruct_batch(live) if len(live)
                  else np.empty((0, self._faiss_dim()), np.float32))
            fresh = faiss.clone_index(self._index)
            fresh.reset()
            if len(xi):
                fresh.add(xi)
            self._index = fresh
            self._struct = _structure(fresh)
            self._apply_params()
            self._map.compact()
            return
        x = self._stored(self._as_matrix(vectors, "vectors")[0])
        new_ids = np.arange(len(x), dtype=np.int64) if ids is None else as_ids(ids)
        if len(new_ids) != len(x):
            raise InvalidInputError(f"{len(x)} vectors but {len(new_ids)} ids; give one id per vector")
        IdMap().check_new(new_ids)
        norm = self._user_max_norm
        if self._mips and (norm is None or self._norm_of(x) > norm):
            norm = self._norm_of(x)
        self._replace_content(x, new_ids, max_norm=norm)

    # ----------------------------------------------------------------- persistence
    def _meta(self) -> dict[str, Any]:
        meta = super()._meta()
        meta.update(factory=self._factory, mips=self._mips, dot_graph=self._dot_graph, max_norm=self._max_norm,
                    max_norm_given=self._user_max_norm, faiss_version=str(_faiss().__version__))
        return meta

    def save(self, path: str | Path) -> Path:
        """Write ``index.faiss``, ``ids.npy`` and the ``index.json`` sidecar into the directory ``path``."""
        faiss = _faiss()
        target = Path(path)
        with atomic_path(target, is_dir=True) as tmp:
            faiss.write_index(self._index, str(tmp / "index.faiss"))
            np.save(tmp / "ids.npy", self._map.saved_label_ids(), allow_pickle=False)
            write_meta(tmp, self._meta())
        return target

    @classmethod
    def _blank(cls, path: Path) -> tuple[Self, dict[str, Any]]:
        """A new instance holding the sidecar's dimension and metric, and the sidecar (checked for a factory and
        parameters): the common start of :meth:`load` here and in subclasses."""
        meta = read_meta(path, kind=cls.kind)
        if not isinstance(meta.get("factory"), str) or not isinstance(meta.get("params"), dict):
            raise CorruptDataError(path / "index.json", "missing 'factory' or 'params'")
        self = cls.__new__(cls)
        BaseIndex.__init__(self, meta["dim"], metric=meta["metric"])
        return self, meta

    def _finish_load(self, path: Path, meta: dict[str, Any]) -> None:
        """The common end of :meth:`load` here and in subclasses: the id map and the saved search parameters."""
        self._map = load_ids(path / "ids.npy", int(self._index.ntotal))
        self._params = self._default_params()
        try:
            self._params.update(self._check_params(meta["params"]))
        except InvalidInputError as e:
            raise CorruptDataError(path / "index.json", str(e)) from None
        self._apply_params()

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read an index written by :meth:`save`, with its parameters."""
        faiss = _faiss()
        path = Path(path)
        sidecar = path / "index.json"
        self, meta = cls._blank(path)
        self._factory = meta["factory"]
        self._dot_graph = "native" if meta.get("dot_graph") == "native" else "reduce"
        self._mips = self._metric == "dot" and _is_graph(self._factory) and self._dot_graph == "reduce"
        self._user_max_norm = meta.get("max_norm_given")
        self._max_norm = meta.get("max_norm")
        if bool(meta.get("mips")) != self._mips:
            raise CorruptDataError(sidecar, "the 'mips' flag does not match the factory and metric")
        try:
            self._index = faiss.read_index(str(path / "index.faiss"))
        except RuntimeError as e:
            raise CorruptDataError(path / "index.faiss", f"FAISS cannot read it: {str(e).strip().splitlines()[-1]}"
                                   ) from None
        if int(self._index.d) != self._faiss_dim() or int(self._index.metric_type) != self._faiss_metric():
            raise CorruptDataError(path / "index.faiss", f"dimension {self._index.d} or metric does not match the "
                                                         f"sidecar (dim {self._dim}, metric {self._metric!r})")
        self._struct = _structure(self._index)
        self._finish_load(path, meta)
        return self
