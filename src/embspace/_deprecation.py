"""Old public names kept importable for one release, with a :class:`DeprecationWarning`.

``__getattr__ = renamed(__name__, {"old": "new"})`` in a module makes ``module.old`` (and
``from module import old``) warn and return ``module.new``, the very same object. A module that moved
is kept as a thin alias module that calls :func:`moved_module` and re-exports the new one.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved_module", "renamed"]


def renamed(module: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module``: each old name of ``names`` warns and gives the new one."""

    def __getattr__(name: str) -> Any:
        new = names.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warnings.warn(f"{module}.{name} is deprecated and will be removed in the next release; use "
                      f"{module}.{new} (the same object; see docs/glossary.md)", DeprecationWarning, stacklevel=2)
        return getattr(sys.modules[module], new)

    return __getattr__


def moved_module(old: str, new: str) -> None:
    """Warn that the module ``old`` is now ``new`` (call it from the alias module's body)."""
    warnings.warn(f"the module {old} is deprecated and will be removed in the next release; import from {new} "
                  "(the same names; see docs/glossary.md)", DeprecationWarning, stacklevel=3)
