"""Atomic writes: build in a temporary sibling, then rename over the target."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces ``target`` atomically.

    On failure the target is untouched and the temporary is removed: nothing is lost, nothing is
    half-written.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    work = tmp / target.name
    if is_dir:
        work.mkdir()
    try:
        yield work
        if is_dir and target.is_dir():
            old = tmp / (target.name + ".old")
            os.replace(target, old)
            try:
                os.replace(work, target)
            except BaseException:
                os.replace(old, target)  # put the previous version back
                raise
        else:
            os.replace(work, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
