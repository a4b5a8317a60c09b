"""Deprecated alias of :mod:`embspace.encoders.file_encoding` (encoding files into a space), kept for one release."""

from .. import _deprecation
from . import file_encoding as _file_encoding
from .file_encoding import *  # noqa: F403
from .file_encoding import __all__  # noqa: F401

_deprecation.moved_module(__name__, _file_encoding.__name__)


def __getattr__(name: str) -> object:  # the module's other names (IMAGE_SUFFIXES, TEXT_SUFFIXES...)
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_file_encoding, name)
