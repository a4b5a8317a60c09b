"""Where embspace keeps derived artifacts (converted models, encoding caches)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$EMBSPACE_CACHE``, else ``$XDG_CACHE_HOME/embspace``, else ``~/.cache/embspace``."""
    env = os.environ.get("EMBSPACE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embspace"
