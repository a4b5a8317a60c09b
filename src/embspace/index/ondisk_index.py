"""OnDiskIVFIndex: an IVF index whose inverted lists live in a memory-mapped file, for collections beyond RAM.

The lists (the codes and labels of every stored vector) are written once into an immutable file in FAISS's
``OnDiskInvertedLists`` layout and mapped read-only: the operating system pages in the lists a query probes,
so the memory held is the coarse quantiser, the codec's tables and the id map (about 25 bytes a vector),
not the codes. Vectors added afterwards go into a small in-memory *delta* (the same trained quantiser and
codec); a search sees both through FAISS's ``HStackInvertedLists`` (list ``i`` = the file's list ``i``
followed by the delta's). Saving links the immutable file into the saved directory (a hard link: no copy)
and writes the delta beside it; a large delta is merged into a new file on save.

Building never holds all the vectors: :meth:`OnDiskIVFIndex.train` takes a sample, and
:meth:`OnDiskIVFIndex.add_shards` fills the lists shard by shard (each shard encoded into a temporary
in-memory IVF, written to a file, and all of them merged into the new lists file by FAISS's
``merge_from_multiple``, as ``faiss.contrib.ondisk.merge_ondisk`` does).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .._atomic import atomic_path
from .._types import FloatArray, IntArray, Metric
from ..errors import CorruptDataError, InvalidInputError
from ._factory import FactorySpec
from ._idmap import IdMap, as_ids
from .base import _faiss, write_meta
from .faiss_index import FaissIndex, _structure

__all__ = ["OnDiskIVFIndex", "training_sample"]

LISTS = "lists.ivfdata"  # the immutable lists file (codes and labels)
LISTS_HEADER = "lists.faiss"  # its table (list offsets and sizes) as FAISS writes an OnDiskInvertedLists
TEMPLATE = "trained.faiss"  # the trained, empty index: coarse quantiser, codec tables
DELTA = "delta.faiss"  # the vectors added since the lists file was written (an ordinary IVF index)
#: A delta larger than this share of the lists file (and than MERGE_MIN vectors) is merged into a new file on save.
MERGE_FRACTION = 0.1
MERGE_MIN = 100_000


#: Training sample per IVF list (FAISS wants 39 at least; its k-means uses at most 256).
TRAIN_PER_LIST = 64


def training_sample(ids: npt.ArrayLike, nlist: int, *, seed: int = 0, per_list: int = TRAIN_PER_LIST,
                    minimum: int = 10_000) -> IntArray:
    """The ids (sorted) of the seeded training sample an on-disk build trains on: ``per_list * nlist`` of
    ``ids`` (at least ``minimum``: a product quantiser's 256 centroids want 39 points each; all of them when
    fewer), drawn without replacement by ``numpy.random.default_rng(seed)``. The same ids and seed give the same sample,
    so an in-memory IVF trained on it has the same quantiser."""
    arr = np.asarray(ids, np.int64)
    size = min(len(arr), max(per_list * int(nlist), minimum))
    if size == len(arr):
        return np.sort(arr)
    pick = np.random.default_rng(seed).choice(len(arr), size, replace=False)
    return np.sort(arr[pick])


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence FAISS's C ``printf`` of ``OnDiskInvertedLists`` ("resizing FILE to N bytes", unconditional) by
    pointing file descriptor 1 at /dev/null while it runs."""
    import ctypes
    import sys

    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):  # no real stdout: nothing to protect
        yield
        return
    libc = ctypes.CDLL(None)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved, 1)
        os.close(saved)


def _ivf(index: Any) -> Any:
    """The IndexIVF inside ``index`` (under its transforms), downcast."""
    return _structure(index).ivf


def check_ivf(factory: str) -> str:
    spec = FactorySpec.parse(factory)
    if spec.index != "IVF" or spec.refine is not None:
        raise InvalidInputError(f"an on-disk index is an IVF index without refinement ('IVF4096,PQ32', 'IVF1024,Flat', "
                                f"'OPQ32,IVF4096,PQ32'), got {factory!r}; re-score with the collection's rescore= "
                                "instead of Refine")
    return str(spec)


class OnDiskIVFIndex(FaissIndex):
    """An IVF :class:`FaissIndex` whose inverted lists are a memory-mapped file (see the module docstring).

    Parameters
    ----------
    dim, factory, metric, params
        As :class:`FaissIndex`; ``factory`` must be an IVF one (``"IVF4096,PQ32"``).
    workdir
        Where :meth:`add_shards` writes its shard files and the new lists file until :meth:`save` links it
        into the saved directory (default: a temporary directory). Keep it until the index is saved.

    Notes
    -----
    Tombstones (:meth:`remove`) work as in :class:`FaissIndex`; the index keeps no direct map (label ->
    list position), so it cannot give back its vectors (:meth:`reconstruct`): a collection keeps them in
    SQLite and rebuilds from there. Filtered searches always take the FAISS path with an id selector.
    """

    kind = "faiss-ondisk"
    _filter_mode = "index"  # the exact-subset path reconstructs vectors, which this index cannot

    def __init__(self, dim: int, factory: str | FactorySpec = "IVF1024,Flat", *, metric: Metric = "cosine",
                 params: dict[str, int] | None = None, workdir: str | Path | None = None) -> None:
        self._base_holder: Any = None  # the index owning self._base
        self._base: Any = None  # the read-only OnDiskInvertedLists of the lists file (None: no file yet)
        self._base_n = 0  # labels stored in the lists file (0 .. base_n - 1)
        self._base_fd: int | None = None  # an open descriptor of the lists file (to link it while saving)
        self._delta: Any = None
        self._template: Any = None
        self._keep: list[Any] = []  # SWIG objects the search index points to
        self._workdir = None if workdir is None else Path(workdir)
        super().__init__(dim, check_ivf(str(factory)), metric=metric, params=params)
        #: Rows per call of the shard writer (:meth:`add_shards`): the hook a test counts rows in memory with.
        self.shard_sizes: list[int] = []

    # ----------------------------------------------------------------- structure
    def _new_faiss_index(self) -> Any:
        index = super()._new_faiss_index()
        ivf = _ivf(index)
        ivf.make_direct_map(False)  # no direct map: the lists are read-only, labels found through the lists
        return index

    def _assemble(self) -> None:
        """The search index: a clone of the trained template whose lists are (the file's, the delta's)."""
        faiss = _faiss()
        if self._template is None:
            self._template = faiss.clone_index(self._index)
            self._template.reset()
        if self._delta is None:
            self._delta = faiss.clone_index(self._template)
        top = faiss.clone_index(self._template)
        delta_lists = _ivf(self._delta).invlists
        if self._base is not None:
            vec = faiss.InvertedListsPtrVector()
            vec.push_back(self._base)
            vec.push_back(delta_lists)
            lists = faiss.HStackInvertedLists(vec.size(), vec.data())
            self._keep = [vec, lists]
        else:
            lists = delta_lists
            self._keep = []
        _ivf(top).replace_invlists(lists, False)
        self._index = top
        self._struct = _structure(top)
        self._apply_params()
        self._sync_ntotal()

    def _sync_ntotal(self) -> None:
        n = self._base_n + int(self._delta.ntotal)
        self._index.ntotal = n
        _ivf(self._index).ntotal = n

    @property
    def n_on_disk(self) -> int:
        """Labels (live and removed) stored in the memory-mapped lists file."""
        return self._base_n

    @property
    def n_in_memory(self) -> int:
        """Labels added since the lists file was written (kept in memory until a merge)."""
        return 0 if self._delta is None else int(self._delta.ntotal)

    def memory_bytes(self) -> int:
        """Bytes held in memory: the trained template, the delta, the lists table and the id map (the lists
        file is mapped, not held)."""
        faiss = _faiss()
        n = int(faiss.serialize_index(self._template).size) if self._template is not None else 0
        if self._delta is not None:
            n += int(faiss.serialize_index(self._delta).size)
        nlist = self.nlist or 0
        return n + 24 * nlist + 24 * self._map.n_labels

    def file_bytes(self) -> int:
        """Bytes of the memory-mapped lists file (0 without one)."""
        return int(self._base.totsize) if self._base is not None else 0

    # ----------------------------------------------------------------- training and adding
    def train(self, vectors: npt.ArrayLike) -> None:
        """Train the coarse quantiser and the codec on a sample (``(n, dim)``), before any vector is added."""
        super().train(vectors)
        self._assemble()

    def _add(self, x: FloatArray, ids: IntArray) -> None:
        if not self._index.is_trained:
            self._train_faiss(self._index, x)
            self._assemble()
        labels = np.arange(self._map.n_labels, self._map.n_labels + len(x), dtype=np.int64)
        self._delta.add_with_ids(x, labels)
        self._sync_ntotal()
        self._map.append(ids)

    def add_shards(self, shards: Iterable[tuple[npt.ArrayLike, npt.ArrayLike]],
                   workdir: str | Path | None = None) -> int:
        """Add ``(vectors, ids)`` shards straight into a new lists file, holding one shard at a time.

        The index must be trained (:meth:`train`). Each shard is encoded into an in-memory IVF sharing the
        trained quantiser, written to a file in ``workdir`` and dropped; then the lists file (if any), the
        delta and the shard files (memory-mapped) are merged into a new lists file there. Returns the number
        of vectors added.
        """
        faiss = _faiss()
        if not self._index.is_trained:
            raise InvalidInputError("add_shards() needs a trained index: call train(sample) first")
        work = Path(workdir) if workdir is not None else self._work()
        work.mkdir(parents=True, exist_ok=True)
        files: list[str] = []
        added = 0
        try:
            for vectors, ids in shards:
                x, _ = self._as_matrix(vectors, "vectors")
                new_ids = as_ids(ids)
                if len(new_ids) != len(x):
                    raise InvalidInputError(f"a shard of {len(x)} vectors has {len(new_ids)} ids; give one id per "
                                            "vector")
                self._map.check_new(new_ids)
                if not len(x):
                    continue
                self.shard_sizes.append(len(x))
                shard = faiss.clone_index(self._template)
                labels = np.arange(self._map.n_labels, self._map.n_labels + len(x), dtype=np.int64)
                shard.add_with_ids(self._stored(x), labels)
                files.append(str(work / f"shard-{len(files)}-{secrets.token_hex(4)}.faiss"))
                faiss.write_index(shard, files[-1])
                del shard
                self._map.append(new_ids)
                added += len(x)
            if files:
                self._merge(work, files)
        finally:
            for f in files:
                with contextlib.suppress(OSError):
                    os.unlink(f)
        return added

    def _work(self) -> Path:
        if self._workdir is None:
            import tempfile

            self._workdir = Path(tempfile.mkdtemp(prefix="embspace-ivf-"))
        return self._workdir

    def _merge(self, work: Path, shard_files: list[str]) -> None:
        """Write the file's lists, the delta's and the shards' (in label order) into a new lists file in ``work``
        and map it read-only in place of the old one; the delta is emptied."""
        faiss = _faiss()
        ivf_t = _ivf(self._template)
        sources: list[Any] = []
        held: list[Any] = []
        if self._base is not None:
            sources.append(self._base)
        if self._delta is not None and self._delta.ntotal:
            sources.append(_ivf(self._delta).invlists)
        # memory-mapped, not read: the shards together may exceed the memory; and without the precomputed
        # table an IVF-PQ computes when read (nlist x M x 256 floats, 134 MB for IVF4096,PQ32: 100 shards of
        # a 10M build would hold 13 GB), which merging the lists never uses
        flags = faiss.IO_FLAG_MMAP | getattr(faiss, "IO_FLAG_SKIP_PRECOMPUTE_TABLE", 0)
        for f in shard_files:
            idx = faiss.read_index(f, flags)
            ivf = _ivf(idx)
            held.append(idx)
            sources.append(ivf.invlists)
        target = work / f"lists-{secrets.token_hex(6)}.ivfdata"
        vec = faiss.InvertedListsPtrVector()
        for s in sources:
            vec.push_back(s)
        with _quiet_stdout():
            out = faiss.OnDiskInvertedLists(ivf_t.nlist, ivf_t.code_size, str(target))
            n = int(out.merge_from_multiple(vec.data(), vec.size(), False, False))
        del vec, held
        # write the table, read it back read-only: one path for a fresh and a loaded lists file
        holder = faiss.clone_index(self._template)
        _ivf(holder).replace_invlists(out, True)
        out.this.disown()
        header = work / (target.name + ".faiss")
        faiss.write_index(holder, str(header))
        del holder  # unmaps the writable mapping
        self._open_base(header, target, n)
        os.unlink(header)
        self._delta = faiss.clone_index(self._template)
        self._assemble()

    def _open_base(self, header: Path, data: Path, n: int) -> None:
        """Map the lists file ``data`` read-only, with the table FAISS wrote in ``header``."""
        faiss = _faiss()
        try:
            holder = faiss.read_index(str(header), faiss.IO_FLAG_SKIP_IVF_DATA)
        except RuntimeError as e:
            raise CorruptDataError(header, f"FAISS cannot read it: {str(e).strip().splitlines()[-1]}") from None
        ivf = _ivf(holder)
        od = faiss.downcast_InvertedLists(ivf.invlists)
        if not isinstance(od, faiss.OnDiskInvertedLists):
            raise CorruptDataError(header, "not the table of an on-disk lists file")
        if not data.is_file() or data.stat().st_size < int(od.totsize):
            raise CorruptDataError(data, f"the lists file is missing or shorter than its table says ({od.totsize} "
                                         "bytes)")
        od.filename = str(data)  # the path it has now (FAISS keeps the one it was written at)
        od.read_only = True
        od.do_mmap()
        self._base_holder = holder  # owns the lists (freed, and unmapped, with it)
        if self._base_fd is not None:
            os.close(self._base_fd)
        self._base, self._base_n = od, int(n)
        self._base_fd = os.open(data, os.O_RDONLY)

    def __del__(self) -> None:
        fd = getattr(self, "_base_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    # ----------------------------------------------------------------- maintenance
    def _replace_content(self, x: FloatArray, ids: IntArray, *, max_norm: float | None) -> None:
        faiss = _faiss()
        index = faiss.index_factory(self._faiss_dim(), self._factory, self._faiss_metric())
        _ivf(index).make_direct_map(False)
        if len(x):
            self._train_faiss(index, x)
        self._index, self._template, self._delta, self._base, self._base_n = index, None, None, None, 0
        self._map = IdMap()
        if len(x):
            self._assemble()
            self.add_shards([(x, ids)])

    def rebuild(self, vectors: npt.ArrayLike | None = None, ids: npt.ArrayLike | None = None) -> None:
        """Rebuild (and retrain) from the given vectors; compacting without them is not possible here (the
        index cannot give back its vectors): a collection rebuilds from its table."""
        if vectors is None:
            if self._map.n_dead:
                raise InvalidInputError("an on-disk index cannot give back its vectors to compact itself; "
                                        "rebuild(vectors, ids) with the originals")
            return
        super().rebuild(vectors, ids)

    # ----------------------------------------------------------------- persistence
    def _meta(self) -> dict[str, Any]:
        meta = super()._meta()
        meta.update(n_on_disk=self._base_n)
        return meta

    def save(self, path: str | Path) -> Path:
        """Write the trained template, the lists file (a hard link to the mapped one when the file system
        allows, else a copy), its table, the delta, ``ids.npy`` and ``index.json`` into the directory ``path``.
        A delta beyond :data:`MERGE_FRACTION` of the lists file is merged into a new lists file first."""
        faiss = _faiss()
        target = Path(path)
        if self._template is None:  # never trained (nothing added): the untrained index alone
            with atomic_path(target, is_dir=True) as tmp:
                faiss.write_index(self._index, str(tmp / TEMPLATE))
                np.save(tmp / "ids.npy", self._map.saved_label_ids(), allow_pickle=False)
                write_meta(tmp, self._meta())
            return target
        n_delta = int(self._delta.ntotal)
        if n_delta > max(MERGE_MIN, MERGE_FRACTION * self._base_n):
            self._merge(self._work(), [])
        with atomic_path(target, is_dir=True) as tmp:
            faiss.write_index(self._template, str(tmp / TEMPLATE))
            faiss.write_index(self._delta, str(tmp / DELTA))
            if self._base is not None:
                self._link_lists(tmp / LISTS)
                holder = faiss.clone_index(self._template)
                _ivf(holder).replace_invlists(self._base, False)
                faiss.write_index(holder, str(tmp / LISTS_HEADER))
                del holder
            np.save(tmp / "ids.npy", self._map.saved_label_ids(), allow_pickle=False)
            write_meta(tmp, self._meta())
        self._drop_work_files()
        return target

    def _drop_work_files(self) -> None:
        """Unlink the lists files this object wrote in its work directory once a save linked the current one
        elsewhere (the mapping and the open descriptor keep it readable), and the directory when empty."""
        if self._workdir is None:
            return
        for f in self._workdir.glob("lists-*.ivfdata"):
            with contextlib.suppress(OSError):
                f.unlink()
        with contextlib.suppress(OSError):
            self._workdir.rmdir()

    def _link_lists(self, dst: Path) -> None:
        assert self._base_fd is not None
        try:  # the file is immutable: another name for the same inode costs nothing
            os.link(f"/proc/self/fd/{self._base_fd}", dst, follow_symlinks=True)
            return
        except OSError:
            pass
        src = Path(str(self._base.filename))
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
        with os.fdopen(os.dup(self._base_fd), "rb") as f_in, open(dst, "wb") as f_out:
            f_in.seek(0)
            shutil.copyfileobj(f_in, f_out, 1 << 24)

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read an index written by :meth:`save`, mapping its lists file read-only."""
        faiss = _faiss()
        path = Path(path)
        self, meta = cls._blank(path)
        self._factory, self._dot_graph, self._mips = meta["factory"], "reduce", False
        self._user_max_norm = self._max_norm = None
        self._base, self._base_n, self._base_fd, self._keep, self._workdir = None, 0, None, [], None
        self._base_holder = None
        self.shard_sizes = []
        try:
            template = faiss.read_index(str(path / TEMPLATE))
            self._delta = faiss.read_index(str(path / DELTA)) if (path / DELTA).is_file() else None
        except RuntimeError as e:
            raise CorruptDataError(path, f"FAISS cannot read the index: {str(e).strip().splitlines()[-1]}") from None
        if int(template.d) != self._faiss_dim() or int(template.metric_type) != self._faiss_metric():
            raise CorruptDataError(path / TEMPLATE, f"dimension {template.d} or metric does not match the "
                                                    f"sidecar (dim {self._dim}, metric {self._metric!r})")
        self._index, self._struct = template, _structure(template)
        self._params = self._default_params()
        if self._delta is not None:  # trained: the template, the lists file and the delta
            self._template = template
            n_disk = int(meta.get("n_on_disk", 0))
            if n_disk:
                self._open_base(path / LISTS_HEADER, path / LISTS, n_disk)
            self._assemble()
        else:
            self._template = None
        self._finish_load(path, meta)
        return self
