"""Where embspace keeps what it makes for the user (not derived caches: see encoders._cache)."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """``$EMBSPACE_DATA``, else ``$XDG_DATA_HOME/embspace``, else ``~/.local/share/embspace``: where the
    demo writes what it builds and what ``embspace serve`` with no path serves."""
    env = os.environ.get("EMBSPACE_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share") / "embspace"
