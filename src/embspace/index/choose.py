"""choose_index: a sensible FAISS factory string from the size of the data and a memory budget."""

from __future__ import annotations

import math

from ..errors import InvalidInputError
from ._factory import FactorySpec
from .binary_index import faiss_code_bytes

__all__ = ["choose_index", "estimate_memory"]

FLAT_MAX = 20_000
"""Below this many vectors, exact search (``"Flat"``) is chosen."""
HNSW_M = 32
MAX_NLIST = 65_536
MIN_POINTS_PER_LIST = 39
_ID_BYTES = 24  # embspace's id map: label -> id, and the sorted (id, label) pairs
_SQ8_KSUB = 256


def _nlist(n: int) -> int:
    """A power of two near 4 sqrt(n), with at least 39 vectors per list, at most 65,536 lists."""
    target = 4 * math.sqrt(max(n, 1))
    nlist = 1 << round(math.log2(target))
    while nlist > 1 and nlist * MIN_POINTS_PER_LIST > n:
        nlist //= 2
    return max(1, min(nlist, MAX_NLIST))


def _pq_sizes(dim: int) -> list[int]:
    """PQ code sizes (bytes) to try, largest first: divisors of dim, at most dim / 4 and 64."""
    top = max(1, min(64, dim // 4))
    return [m for m in range(top, 0, -1) if dim % m == 0]


def estimate_memory(factory: str, n: int, dim: int) -> int:
    """Approximate resident bytes of a :class:`~embspace.index.FaissIndex` holding ``n`` vectors.

    Understands the factory strings :func:`choose_index` returns: ``Flat``, ``HNSW<M>`` and
    ``IVF<nlist>,PQ<m>`` optionally followed by ``,Refine(Flat)`` or ``,Refine(SQ8)``, and also
    ``IVF<nlist>,Flat``, ``IVF<nlist>,SQ8``, ``SQ8``, a leading ``OPQ``/``PCA`` rotation, and the binary
    indexes ``BinaryFlat``, ``BinaryHNSW<M>``, ``BinaryIVF<nlist>`` (``ceil(dim / 8)`` bytes a code, padded as
    :func:`~embspace.index.binary_index.faiss_code_bytes` pads them). Counts the
    stored codes, graph links, inverted-list ids, trained tables and embspace's id map (24 bytes
    per vector). The string is read by :class:`~embspace.index.FactorySpec`, as FaissIndex reads it.
    """
    spec = FactorySpec.parse(factory)
    per, fixed = float(_ID_BYTES), 0.0
    pq_m, sq_bits = spec.pq_m, spec.sq_bits
    code = faiss_code_bytes(math.ceil(dim / 8))
    if spec.index == "BinaryFlat":
        per += code
    elif spec.index == "BinaryHNSW":
        m = spec.binary_m or 32
        per += code + 8 * m + 4 * m / max(m - 1, 1) + 12  # codes, links as for HNSW
    elif spec.index == "BinaryIVF":
        per += code + 8 + code  # code and id in its list, embspace's copy of the code
        fixed += int(spec.nlist or 1) * (code + 160)
    elif spec.index == "Flat":
        per += 4 * dim
    elif spec.index == "HNSW" and (spec.encoding in (None, "Flat") or sq_bits is not None):
        m = spec.m or 32
        # float32 (or SQ) storage, 2M level-0 links (int32), ~M/(M-1) upper-level links, level and offset tables
        per += (4 * dim if sq_bits is None else dim * sq_bits / 8) + 8 * m + 4 * m / max(m - 1, 1) + 12
        fixed += 0 if sq_bits is None else 8 * dim  # the SQ's per-dimension ranges
    elif spec.index == "IVF" and spec.coarse is None and pq_m is not None:
        per += pq_m * (spec.pq_nbits or 8) / 8 + 8 + 8  # code, inverted-list id, direct map
        fixed += 4 * dim * (int(spec.nlist or 1) + _SQ8_KSUB)  # centroids and PQ codebooks
    elif spec.index == "IVF" and spec.coarse is None and spec.encoding == "Flat":
        per += 4 * dim + 16
        fixed += 4 * dim * int(spec.nlist or 1)
    elif spec.index == "IVF" and spec.coarse is None and sq_bits is not None:
        per += dim * sq_bits / 8 + 16
        fixed += 4 * dim * int(spec.nlist or 1) + 8 * dim  # centroids, per-dimension ranges
    elif spec.index == "SQ" and sq_bits is not None:
        per += dim * sq_bits / 8
        fixed += 8 * dim
    else:
        raise InvalidInputError(f"estimate_memory does not know the factory {factory!r}; it sizes Flat, HNSW<M>, "
                                "IVF<nlist>,Flat|PQ<m>|SQ8 and SQ8, each with an optional Refine(Flat|SQ8), "
                                "and BinaryFlat, BinaryHNSW<M>, BinaryIVF<nlist>")
    if any(t.startswith(("OPQ", "PCA", "RR")) for t in spec.transforms):
        fixed += 4 * dim * dim  # the rotation matrix
    if spec.refine == "Flat":
        per += 4 * dim
    elif spec.refine == "SQ8":
        per += dim
        fixed += 8 * dim
    return math.ceil(n * per + fixed)


def choose_index(n: int, dim: int, memory_budget: int | float | None = None) -> str:
    """A FAISS factory string for ``n`` vectors of dimension ``dim``.

    Parameters
    ----------
    n
        Number of vectors the index will hold.
    dim
        Their dimension.
    memory_budget
        Bytes the index may use; ``None`` (default) means memory is not a constraint.

    Returns
    -------
    str
        A factory string for :class:`~embspace.index.FaissIndex`, chosen by these rules:

        1. ``n < 20,000``: ``"Flat"``. Exact search over 20k vectors takes about a millisecond
           per query and needs neither training nor tuning: approximation buys nothing.
        2. Otherwise ``"HNSW32"`` when it fits (``4 dim + ~280`` bytes per vector): the best
           recall/speed trade-off of FAISS on CPU, no training, incremental adds.
        3. Otherwise IVF-PQ with refinement: ``"IVF<nlist>,PQ<m>,Refine(Flat)"`` when the full
           vectors still fit next to the codes, else ``",Refine(SQ8)"`` (re-ranking by 8-bit
           scalar-quantized vectors, a quarter of the memory), else ``"IVF<nlist>,PQ<m>"`` alone.
           ``nlist`` is the power of two nearest ``4 sqrt(n)`` (FAISS's guideline), lowered until
           every list has 39 training vectors; ``m`` (code bytes) is the largest divisor of
           ``dim`` up to ``dim / 4`` and 64, lowered until the index fits.

    Raises
    ------
    InvalidInputError
        When even the smallest IVF-PQ index does not fit the budget.

    Examples
    --------
    >>> choose_index(5_000, 384)
    'Flat'
    >>> choose_index(1_000_000, 384)
    'HNSW32'
    >>> choose_index(1_000_000, 384, memory_budget=2**30)
    'IVF4096,PQ64,Refine(SQ8)'
    """
    for name, value in (("n", n), ("dim", dim)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "n" else 1):
            raise InvalidInputError(f"{name} must be a {'non-negative' if name == 'n' else 'positive'} integer, "
                                    f"got {value!r}")
    if memory_budget is not None and (not isinstance(memory_budget, int | float) or isinstance(memory_budget, bool)
                                      or not memory_budget > 0):
        raise InvalidInputError(f"memory_budget must be a positive number of bytes or None, got {memory_budget!r}")
    budget = math.inf if memory_budget is None else float(memory_budget)

    def fits(factory: str) -> bool:
        return estimate_memory(factory, n, dim) <= budget

    if n < FLAT_MAX and fits("Flat"):
        return "Flat"
    if fits(f"HNSW{HNSW_M}"):
        return f"HNSW{HNSW_M}"
    nlist = _nlist(n)
    sizes = _pq_sizes(dim)
    for refine in (",Refine(Flat)", ",Refine(SQ8)", ""):
        for m in sizes:
            factory = f"IVF{nlist},PQ{m}{refine}"
            if fits(factory):
                return factory
    smallest = estimate_memory(f"IVF{nlist},PQ{sizes[-1]}", n, dim)
    raise InvalidInputError(f"memory_budget of {budget:.0f} bytes is too small for {n} vectors of dimension {dim}: "
                            f"the smallest IVF-PQ index ('IVF{nlist},PQ{sizes[-1]}') needs about {smallest} bytes")
