"""Deprecated location: :class:`TwoTowerClip` is a learner and lives in :mod:`embspace.train.two_tower_clip`.

Kept importable for one release. The import of ``embspace.train`` is lazy (module ``__getattr__``),
so ``encoders`` does not depend on ``train`` (the layer test allows exactly this shim and
``embspace.encoders.__getattr__``).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("TwoTowerClip", "FORMAT"):
        warnings.warn(f"embspace.encoders.two_tower_clip.{name} moved to embspace.train.two_tower_clip; the old "
                      "location will be removed in the next release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("embspace.train.two_tower_clip"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
