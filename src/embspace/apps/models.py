"""Deprecated alias of :mod:`embspace.apps.schemas` (the wire schemas), kept for one release."""

from .. import _deprecation
from . import schemas as _schemas
from .schemas import *  # noqa: F403
from .schemas import __all__  # noqa: F401

_deprecation.moved_module(__name__, _schemas.__name__)


def __getattr__(name: str) -> object:  # the schemas' other public names (NAME_PATTERN, MAX_ROWS...)
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_schemas, name)
