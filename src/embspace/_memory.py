"""Large arrays on transparent huge pages.

Training touches rows of big weight matrices at random; with 4 KiB pages nearly every access also
misses the TLB. Backing the matrices with 2 MiB pages (``madvise(MADV_HUGEPAGE)``, honoured when
the kernel's transparent huge pages are in ``madvise`` or ``always`` mode) removes most of those
misses. Elsewhere this is an ordinary array.
"""

from __future__ import annotations

import contextlib
import mmap
from typing import Any

import numpy as np
import numpy.typing as npt

_HUGE = 2 * 2**20


def huge_empty(shape: tuple[int, ...], dtype: Any = np.float32) -> npt.NDArray[Any]:
    """An uninitialised C-contiguous array, on huge pages where the OS allows."""
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dt.itemsize
    if nbytes < _HUGE or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.empty(shape, dt)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    with contextlib.suppress(OSError):  # a kernel without transparent huge pages
        buf.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(buf, dtype=dt, count=int(np.prod(shape))).reshape(shape)


def huge_copy(a: npt.ArrayLike, dtype: Any = None) -> npt.NDArray[Any]:
    """A copy of ``a`` on huge pages."""
    src = np.asarray(a, dtype=dtype)
    out = huge_empty(src.shape, src.dtype)
    out[...] = src
    return out


def release_free_memory() -> None:
    """Give memory that was freed back to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Between the phases of a memory-bounded job, freed buffers would otherwise stay in the
    allocator's arenas and count against the process's resident memory.
    """
    global _TRIM
    if _TRIM is None:
        try:
            import ctypes

            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None
