"""Vector indexes: the exact oracle and FAISS indexes from factory strings.

Every index stores float32 vectors under int64 ids chosen by the caller, answers k-nearest
neighbour queries with higher-is-better scores (a :class:`~embspace.space.SearchResult`), removes
by id, restricts a search to allowed ids, and saves its search parameters with it.

- :class:`ExactIndex`: brute force with embspace's top-k kernel; the oracle.
- :class:`FaissIndex`: ``Flat``, ``HNSW32``, ``IVF1024,Flat``, ``IVF4096,PQ32``, ``OPQ16,IVF1024,PQ16``,
  with ``Refine(Flat)`` re-ranking; FAISS is imported when one is built.
- :class:`BinaryIndex`: ``BinaryFlat``, ``BinaryHNSW32``, ``BinaryIVF1024``: sign bits searched by Hamming
  distance (FAISS's binary indexes), the first stage of a collection with ``rescore=``.
- :class:`OnDiskIVFIndex`: an IVF index whose inverted lists are a memory-mapped file, built shard by shard
  (:meth:`~OnDiskIVFIndex.add_shards`): the index of a collection created with ``on_disk=True``.
- :class:`FactorySpec`: a factory string parsed once (for FaissIndex, the memory estimate and Milvus);
  :data:`LIMITS`: the bounds a new index's factory must keep.
- :func:`choose_index`: a factory string from the size of the data and a memory budget.
- :func:`tune`: the cheapest ``efSearch``/``nprobe``/``k_factor`` reaching a recall on your data.
- :func:`load_index`: read any saved index.
- :func:`quantize`: a space as int8, uint8 or binary codes (:class:`QuantizedSpace`), with the
  :class:`Calibration` (per-dimension ranges, computed once) that quantises its queries.
"""

from ._factory import LIMITS, FactorySpec
from .base import BaseIndex, Index, load_index
from .binary_index import BinaryIndex
from .calibration import PRECISIONS, Calibration, Precision
from .choose import choose_index, estimate_memory
from .exact import ExactIndex
from .faiss_index import FaissIndex
from .ondisk_index import OnDiskIVFIndex, training_sample
from .quantized_space import QuantizedSpace, quantize
from .tune import TuneResult, TuneTrial, tune

__all__ = [
    "LIMITS",
    "PRECISIONS",
    "BaseIndex",
    "BinaryIndex",
    "Calibration",
    "ExactIndex",
    "FactorySpec",
    "FaissIndex",
    "Index",
    "OnDiskIVFIndex",
    "Precision",
    "QuantizedSpace",
    "TuneResult",
    "TuneTrial",
    "choose_index",
    "estimate_memory",
    "load_index",
    "quantize",
    "training_sample",
    "tune",
]
