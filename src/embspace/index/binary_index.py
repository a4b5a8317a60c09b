"""BinaryIndex: FAISS binary indexes over the sign bits of the vectors, searched by Hamming distance.

Role: the memory-light first stage of a quantised collection (``index="BinaryHNSW32"`` or
``"BinaryFlat"`` with ``rescore=N``): each vector is kept as ``ceil(dim / 8)`` bytes (32x less than
float32), candidates are found by Hamming distance, and the collection re-scores ``k * N`` of them
exactly with the float vectors. On its own its scores are coarse (``dim - 2 * hamming``, the inner
product of the +-1 sign vectors).

Cost: ``BinaryFlat`` scans every code (``n * dim / 8`` bytes per query, popcount); ``BinaryHNSW<M>``
walks a graph (``efSearch * M`` Hamming distances); ``BinaryIVF<nlist>`` scans ``nprobe`` lists.
Memory per vector: ``dim / 8`` bytes, plus ``8 M`` bytes of links for HNSW, plus embspace's id map.

FAISS computes Hamming distances fastest for codes of 8, 16, 32 or 64 bytes (an unrolled popcount per size;
any other size takes a generic loop, half as fast: 384-d MiniLM's 48-byte codes, 100,000 of them, 1 thread:
3,142 single-query searches/s at 48 bytes, 6,257 padded to 64). Codes are therefore handed to FAISS padded
with zero bytes to the next of these sizes (up to 64), which leaves every Hamming distance unchanged; and a
Flat search for many candidates (``k >= COUNTING_K``, the first stage of rescoring) selects them by counting
distances (FAISS's ``use_heap = False``: 4,660 against 3,432 searches/s for ``k = 300``) instead of a heap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .._atomic import atomic_path
from .._types import FloatArray, IntArray, Metric
from ..errors import CorruptDataError, InvalidInputError
from ._factory import FactorySpec
from ._idmap import IdMap, as_ids
from .base import BaseIndex, _faiss, load_ids, read_meta, write_meta
from .calibration import Calibration, hamming

__all__ = ["BinaryIndex"]

DEFAULT_EF_SEARCH = 64
_MIN_POINTS_PER_LIST = 39
_EF_CAP = 4096
_ID_BYTES = 24  # embspace's id map per vector (label -> id, sorted id/label pairs)
#: Code sizes (bytes) FAISS has an unrolled Hamming distance for; smaller codes are padded to the next one.
_FAST_CODE_BYTES = (4, 8, 16, 20, 32, 64)
#: From this many candidates on, a Flat search selects by counting distances instead of a heap.
COUNTING_K = 128


def faiss_code_bytes(nbytes: int) -> int:
    """The bytes per code handed to FAISS for ``nbytes``-byte sign codes: the next size FAISS computes Hamming
    distances fastest for (see the module docs), or ``nbytes`` itself above 64."""
    return next((b for b in _FAST_CODE_BYTES if b >= nbytes and (b == nbytes or b % 8 == 0)), nbytes)


class BinaryIndex(BaseIndex):
    """A FAISS binary index (``BinaryFlat``, ``BinaryHNSW<M>``, ``BinaryIVF<nlist>``) of sign bits.

    Parameters
    ----------
    dim
        Dimension of the float vectors (the codes have ``ceil(dim / 8)`` bytes).
    factory
        ``"BinaryFlat"`` (exhaustive Hamming scan), ``"BinaryHNSW<M>"`` (FAISS's ``IndexBinaryHNSW``)
        or ``"BinaryIVF<nlist>"`` (``IndexBinaryIVF``, trained on the first vectors added: at least
        ``39 * nlist``).
    metric
        The metric of the float vectors (cosine vectors are normalised first, which keeps their signs).
        Scores are ``dim - 2 * hamming`` whatever the metric; re-score for exact ones.
    params
        ``efSearch`` (default 64) and ``efConstruction`` (FAISS's 40) for HNSW, ``nprobe`` for IVF
        (default ``round(sqrt(nlist))``); saved with the index.

    Notes
    -----
    A bit is 1 when the coordinate is > 0, packed as :class:`~embspace.index.Calibration` (``"ubinary"``)
    packs them (FAISS's bit order). Removed vectors are tombstones, skipped with FAISS's bitmap selector
    (Flat, HNSW) or by an exact Hamming scan of the live codes (IVF, whose search takes no selector,
    and any filter with fewer candidates than the search would visit); ``allowed_ids`` likewise.

    Examples
    --------
    >>> import numpy as np
    >>> from embspace.index import BinaryIndex
    >>> x = np.random.default_rng(0).standard_normal((1000, 64)).astype("float32")
    >>> index = BinaryIndex(64, "BinaryHNSW32")
    >>> index.add(x, ids=np.arange(1000) + 100)
    >>> res = index.search(x[7], k=1)
    >>> int(res.ids[0]), float(res.scores[0])  # its own sign bits: Hamming 0, score = dim
    (107, 64.0)
    """

    kind = "faiss-binary"

    def __init__(self, dim: int, factory: str | FactorySpec = "BinaryFlat", *, metric: Metric = "cosine",
                 params: dict[str, int] | None = None) -> None:
        super().__init__(dim, metric=metric)
        spec = FactorySpec.parse(factory)
        if not spec.is_binary:
            raise InvalidInputError(f"BinaryIndex takes a binary factory ('BinaryFlat', 'BinaryHNSW32', "
                                    f"'BinaryIVF1024'), got {str(spec)!r}; use FaissIndex for float indexes")
        spec.check_limits(dim)
        self._spec = spec
        self._factory = str(spec)
        self._cal = Calibration("ubinary", dim=self._dim)
        self._nbytes = self._cal.code_bytes
        self._fbytes = faiss_code_bytes(self._nbytes)  # what FAISS holds per code (zero-padded)
        self._codes = np.empty((0, self._nbytes), np.uint8)  # BinaryIVF only: FAISS cannot give codes back cheaply
        self._index = self._new_faiss()
        self._params = self._default_params()
        self._params.update(self._check_params(params))
        self._sp_cache: dict[int, Any] = {}  # efSearch -> SearchParametersHNSW of the unfiltered search
        self._apply_params()

    # ----------------------------------------------------------------- construction
    def _new_faiss(self) -> Any:
        faiss = _faiss()
        bits = 8 * self._fbytes
        if self._spec.index == "BinaryFlat":
            return faiss.IndexBinaryFlat(bits)
        if self._spec.index == "BinaryHNSW":
            return faiss.IndexBinaryHNSW(bits, int(self._spec.binary_m or 32))
        quantizer = faiss.IndexBinaryFlat(bits)
        index = faiss.IndexBinaryIVF(quantizer, bits, int(self._spec.nlist or 1))
        index.own_fields = True
        quantizer.this.disown()
        return index

    def _default_params(self) -> dict[str, int]:
        if self._spec.index == "BinaryHNSW":
            return {"efSearch": DEFAULT_EF_SEARCH, "efConstruction": 40}
        if self._spec.index == "BinaryIVF":
            nlist = int(self._spec.nlist or 1)
            return {"nprobe": max(1, min(nlist, round(math.sqrt(nlist))))}
        return {}

    def _param_names(self) -> tuple[str, ...]:
        return tuple(self._default_params())

    def _apply_params(self) -> None:
        if self._spec.index == "BinaryHNSW":
            self._index.hnsw.efSearch = self._params["efSearch"]
            self._index.hnsw.efConstruction = self._params["efConstruction"]
        elif self._spec.index == "BinaryIVF":
            self._index.nprobe = min(int(self._spec.nlist or 1), self._params["nprobe"])

    def _describe(self) -> str:
        return f"BinaryIndex({self._factory!r})"

    @property
    def factory(self) -> str:
        return self._factory

    @property
    def faiss_index(self) -> Any:
        """The underlying FAISS ``IndexBinary`` (labels are sequential; ids are mapped by this object)."""
        return self._index

    @property
    def stores_exact_vectors(self) -> bool:
        return False

    def memory_bytes(self) -> int:
        """Bytes the index holds: FAISS's structure (codes, graph links, lists) and the id map."""
        faiss = _faiss()
        size = int(faiss.serialize_index_binary(self._index).size)
        return size + int(self._codes.nbytes) + _ID_BYTES * self._map.n_labels

    def __repr__(self) -> str:
        return (f"BinaryIndex(dim={self._dim}, factory={self._factory!r}, metric={self._metric!r}, "
                f"ntotal={self.ntotal}, params={self._params})")

    # ----------------------------------------------------------------- codes
    def encode(self, x: FloatArray) -> npt.NDArray[np.uint8]:
        """Packed sign bits of stored-form rows (``(n, ceil(dim / 8))`` uint8)."""
        out: npt.NDArray[np.uint8] = self._cal.encode(x)
        return out

    def _padded(self, codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """``codes`` as FAISS holds them: zero bytes appended up to :func:`faiss_code_bytes`."""
        if codes.shape[1] == self._fbytes:
            return codes
        out = np.zeros((len(codes), self._fbytes), np.uint8)
        out[:, : codes.shape[1]] = codes
        return out

    def _all_codes(self) -> npt.NDArray[np.uint8]:
        """The codes of every label, ``(n_labels, bytes)`` (a view into FAISS's storage for Flat and HNSW)."""
        n = self._map.n_labels
        if self._spec.index == "BinaryIVF":
            return self._codes[:n]
        faiss = _faiss()
        flat = self._index if self._spec.index == "BinaryFlat" else faiss.downcast_IndexBinary(self._index.storage)
        if n == 0:
            return np.empty((0, self._nbytes), np.uint8)
        view = faiss.rev_swig_ptr(flat.xb.data(), flat.xb.size())
        return np.asarray(view).reshape(-1, self._fbytes)[:n, : self._nbytes]

    def _add_codes(self, index: Any, codes: npt.NDArray[np.uint8]) -> None:
        codes = self._padded(codes)
        if not index.is_trained:
            nlist = int(self._spec.nlist or 1)
            need = _MIN_POINTS_PER_LIST * nlist
            if len(codes) < need:
                fit = 2 ** int(math.log2(max(len(codes) // _MIN_POINTS_PER_LIST, 1)))
                raise InvalidInputError(f"{self._factory!r} needs at least {need} training vectors "
                                        f"({_MIN_POINTS_PER_LIST} per list), but {len(codes)} were given; add more "
                                        f"vectors in the first add(), or use fewer lists, e.g. 'BinaryIVF{fit}'")
            index.train(codes)
        index.add(codes)

    def _add(self, x: FloatArray, ids: IntArray) -> None:
        codes = self.encode(x)
        self._add_codes(self._index, codes)
        if self._spec.index == "BinaryIVF":
            n0 = self._map.n_labels
            n1 = n0 + len(codes)
            if n1 > len(self._codes):
                grown = np.empty((max(n1, 2 * len(self._codes), 16), self._nbytes), np.uint8)
                grown[:n0] = self._codes[:n0]
                self._codes = grown
            self._codes[n0:n1] = codes
        self._map.append(ids)

    # ----------------------------------------------------------------- search
    def _search_cost(self, params: dict[str, int], k: int, frac: float = 1.0) -> float:
        """Hamming computations per query (the cost model of tune() and of the filtered path)."""
        n = max(self._map.n_labels, 1)
        if self._spec.index == "BinaryHNSW":
            ef = max(min(math.ceil(params["efSearch"] / max(frac, 1e-9)), _EF_CAP), k)
            return float(ef * 2 * int(self._spec.binary_m or 32))
        if self._spec.index == "BinaryIVF":
            nlist = int(self._spec.nlist or 1)
            return nlist + min(nlist, params["nprobe"]) * n / nlist
        return float(n)

    def _scores(self, dist: npt.NDArray[Any], labels: npt.NDArray[Any]) -> tuple[FloatArray, IntArray]:
        labels = labels.astype(np.int64, copy=False)
        scores = np.where(labels >= 0, self._dim - 2.0 * dist, -np.inf).astype(np.float32)
        return scores, labels

    def _exact_subset(self, qc: npt.NDArray[np.uint8], k: int, labels: IntArray) -> tuple[FloatArray, IntArray]:
        d = hamming(qc, self._all_codes()[labels])
        k = min(k, len(labels))
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < len(labels) else np.broadcast_to(
            np.arange(len(labels)), (len(qc), len(labels)))
        dk = np.take_along_axis(d, part, 1)
        lk = labels[part]
        order = np.lexsort((lk, dk), axis=1)
        return self._scores(np.take_along_axis(dk, order, 1), np.take_along_axis(lk, order, 1))

    def _search(self, q: FloatArray, k: int, params: dict[str, int], allowed: IntArray | None,
                memo: dict[str, Any] | None = None) -> tuple[FloatArray, IntArray]:
        faiss = _faiss()
        qc = self.encode(q)
        m = self._map
        sp: Any = None
        sel: Any = None
        frac = 1.0
        if allowed is not None or m.n_dead:
            n_cand = len(allowed) if allowed is not None else m.n_live
            frac = n_cand / max(m.n_labels, 1)
            if self._spec.index == "BinaryIVF" or n_cand <= self._search_cost(params, k, frac):
                return self._exact_subset(qc, k, allowed if allowed is not None else m.live_labels())
            held = memo.get("bitmap") if memo is not None else None
            if held is None:
                mask = np.zeros(m.n_labels, np.bool_)
                if allowed is not None:
                    mask[allowed] = True
                else:
                    mask[:] = m.alive
                bits = np.packbits(mask, bitorder="little")
                held = (faiss.IDSelectorBitmap(bits), bits)
                if memo is not None:
                    memo["bitmap"] = held
            sel = held[0]
        if sel is None and params is self._params and self._spec.index != "BinaryIVF":  # stored parameters
            return self._scores(*self._faiss_search(qc, k, None))
        if self._spec.index == "BinaryHNSW":
            sp = faiss.SearchParametersHNSW()
            sp.efSearch = min(max(math.ceil(params["efSearch"] / max(frac, 1e-9)), params["efSearch"]),
                              max(params["efSearch"], _EF_CAP))
        elif self._spec.index == "BinaryIVF":
            sp = faiss.SearchParametersIVF()
            sp.nprobe = min(int(self._spec.nlist or 1), params["nprobe"])
        elif sel is not None:
            sp = faiss.SearchParameters()
        if sel is not None:
            sp.sel = sel
        return self._scores(*self._faiss_search(qc, k, sp))

    def _search_plain(self, q: FloatArray, k: int, params: dict[str, int]) -> tuple[FloatArray, IntArray] | None:
        # The unfiltered search without tombstones in few NumPy calls (one query: the rescoring hot path);
        # the same FAISS search as _search, so the same hits.
        if self._map.n_dead or self._spec.index == "BinaryIVF":
            return None
        qc = np.packbits(q > 0, axis=1, bitorder="little")  # Calibration("ubinary").encode without its checks
        sp: Any = None
        if params is not self._params and self._spec.index == "BinaryHNSW":
            sp = self._sp_cache.get(params["efSearch"])
            if sp is None:
                sp = self._sp_cache[params["efSearch"]] = _faiss().SearchParametersHNSW()
                sp.efSearch = params["efSearch"]
        dist, labels = self._faiss_search(qc, k, sp)
        if len(q) == 1:
            if labels.tolist()[0][-1] < 0:  # a row FAISS could not fill: the general path pads it
                return None
        elif (labels[:, -1] < 0).any():
            return None
        scores = (self._dim - 2.0 * dist).astype(np.float32)
        return scores, self._map.label_ids[labels]

    def _faiss_search(self, qc: npt.NDArray[np.uint8], k: int, sp: Any) -> tuple[Any, Any]:
        """FAISS's search of the codes ``qc`` (with search parameters ``sp`` or None)."""
        faiss = _faiss()
        qc = self._padded(qc)
        if self._spec.index == "BinaryFlat":
            # a heap for few candidates, counting for many (both give the k smallest distances, ties in the
            # codes' order; a concurrent search of another size only changes which of the two runs)
            self._index.use_heap = k < COUNTING_K
        if len(qc) == 1 and faiss.omp_get_max_threads() > 1:
            # FAISS's binary indexes open an OpenMP region even for one query (IndexHNSW does not): on a busy
            # machine its barrier costs milliseconds (2 loaded cores: BinaryHNSW32 8 ms against 1 ms over 1,000
            # codes; BinaryFlat 24-79 ms against 1.1-1.5 ms over 100,000). The thread count is per calling
            # thread in OpenMP, so this does not touch other threads' searches.
            before = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                dist, labels = self._index.search(qc, k, params=sp) if sp is not None else self._index.search(qc, k)
            finally:
                faiss.omp_set_num_threads(before)
        else:
            dist, labels = self._index.search(qc, k, params=sp) if sp is not None else self._index.search(qc, k)
        return dist, labels

    def _reconstruct_labels(self, labels: IntArray) -> FloatArray:
        """The +-1 sign vectors of the codes (not the originals: see :attr:`stores_exact_vectors`)."""
        return self._cal.decode(np.ascontiguousarray(self._all_codes()[labels]))

    # ----------------------------------------------------------------- maintenance
    def _replace(self, codes: npt.NDArray[np.uint8], ids: IntArray) -> None:
        index = self._new_faiss()
        if self._spec.index == "BinaryHNSW":
            index.hnsw.efConstruction = self._params["efConstruction"]
        if len(codes):
            self._add_codes(index, codes)
        self._index = index
        self._codes = np.array(codes) if self._spec.index == "BinaryIVF" else np.empty((0, self._nbytes), np.uint8)
        self._map = IdMap()
        self._map.append(ids)
        self._apply_params()

    def rebuild(self, vectors: npt.ArrayLike | None = None, ids: npt.ArrayLike | None = None) -> None:
        """Compact tombstones away (from the codes), or rebuild from the float ``vectors`` (and ``ids``)."""
        if vectors is None:
            if ids is not None:
                raise InvalidInputError("rebuild(ids=...) needs the vectors of those ids too")
            if not self._map.n_dead:
                return
            live = self._map.live_labels()
            self._replace(np.ascontiguousarray(self._all_codes()[live]), self._map.label_ids[live].copy())
            return
        x = self._stored(self._as_matrix(vectors, "vectors")[0])
        new_ids = np.arange(len(x), dtype=np.int64) if ids is None else as_ids(ids)
        if len(new_ids) != len(x):
            raise InvalidInputError(f"{len(x)} vectors but {len(new_ids)} ids; give one id per vector")
        IdMap().check_new(new_ids)
        self._replace(self.encode(x), new_ids)

    # ----------------------------------------------------------------- persistence
    def _meta(self) -> dict[str, Any]:
        meta = super()._meta()
        meta.update(factory=self._factory, faiss_version=str(_faiss().__version__))
        return meta

    def save(self, path: str | Path) -> Path:
        """Write ``index.faiss`` (``faiss.write_index_binary``), ``ids.npy`` and ``index.json`` into ``path``."""
        faiss = _faiss()
        target = Path(path)
        with atomic_path(target, is_dir=True) as tmp:
            faiss.write_index_binary(self._index, str(tmp / "index.faiss"))
            np.save(tmp / "ids.npy", self._map.saved_label_ids(), allow_pickle=False)
            write_meta(tmp, self._meta())
        return target

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read an index written by :meth:`save`, with its parameters."""
        faiss = _faiss()
        meta = read_meta(path, kind=cls.kind)
        p = Path(path)
        if not isinstance(meta.get("factory"), str) or not isinstance(meta.get("params"), dict):
            raise CorruptDataError(p / "index.json", "missing 'factory' or 'params'")
        try:
            self = cls(meta["dim"], meta["factory"], metric=meta["metric"], params=meta["params"])
        except InvalidInputError as e:
            raise CorruptDataError(p / "index.json", str(e)) from None
        try:
            index = faiss.read_index_binary(str(p / "index.faiss"))
        except RuntimeError as e:
            raise CorruptDataError(p / "index.faiss", f"FAISS cannot read it: {str(e).strip().splitlines()[-1]}"
                                   ) from None
        if int(index.d) not in (8 * self._nbytes, 8 * self._fbytes):  # unpadded: saved before codes were padded
            raise CorruptDataError(p / "index.faiss", f"{index.d} bits per code, expected {8 * self._fbytes}")
        self._fbytes = int(index.d) // 8
        index.this.disown()  # the downcast proxy takes ownership of what read_index_binary made
        self._index = faiss.downcast_IndexBinary(index)
        self._index.this.own(True)
        self._map = load_ids(p / "ids.npy", int(self._index.ntotal))
        if self._spec.index == "BinaryIVF":
            inv = self._index
            codes = np.zeros((self._map.n_labels, self._nbytes), np.uint8)
            invlists = inv.invlists
            for lst in range(int(inv.nlist)):
                size = int(invlists.list_size(lst))
                if size:
                    labels = faiss.rev_swig_ptr(invlists.get_ids(lst), size).copy()
                    codes[labels] = faiss.rev_swig_ptr(invlists.get_codes(lst), size * self._fbytes).reshape(
                        size, self._fbytes)[:, : self._nbytes]
            self._codes = codes
        self._apply_params()
        return self
