"""The error tree of embspace.

Every error raised on bad user input is an :class:`EmbspaceError` and also a subclass of the
matching built-in exception, so ``except KeyError`` or ``except ValueError`` keep working.
Messages say what was given, what was expected, and how to fix it. The warnings defined here
(:class:`UnknownFieldWarning`) are ``UserWarning`` subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CollectionLockedError",
    "CorruptDataError",
    "DimensionMismatchError",
    "EmbspaceError",
    "IncompatibleSpaceError",
    "InvalidInputError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "NotFittedError",
    "SnapshotChangedError",
    "UnknownFieldWarning",
    "UnknownFormatError",
    "UnknownKeyError",
    "ZeroVectorError",
]


class EmbspaceError(Exception):
    """Root of every error embspace raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors whose __init__ takes other arguments than the message would not unpickle
        # (multiprocessing workers, pytest-xdist): rebuild them from the message and the state.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[EmbspaceError], args: tuple[Any, ...], state: dict[str, Any]) -> EmbspaceError:
    err = cls.__new__(cls, *args)
    super(EmbspaceError, err).__init__(*args)  # the built-in's own fields (ImportError.msg...)
    err.__dict__.update(state)
    return err


class InvalidInputError(EmbspaceError, ValueError):
    """An argument has the right type but an unusable value (duplicate keys, NaN, bad metric...)."""


class CollectionLockedError(InvalidInputError):
    """A collection is open for writing by another process (only one may write it at a time).

    ``path`` is the collection's directory and ``holder`` what the writer noted about itself
    (``{"pid", "command", ...}``; see :func:`embspace.store.collection.lock_holder`), when known.
    """

    path: Path | None = None
    holder: dict[str, Any] | None = None


class SnapshotChangedError(EmbspaceError, ValueError):
    """A later page of a paged read was asked for, but the collection changed since its first page in a
    way the pages cannot hide (an item deleted or replaced, or another table restored): the pages would
    mix versions. Read again from the first page."""


class NotFittedError(EmbspaceError, ValueError, AttributeError):
    """A learner's learned state was used before ``fit``."""


class DimensionMismatchError(EmbspaceError, ValueError):
    """Vectors of the wrong dimension were given."""

    def __init__(self, given: int, expected: int, what: str = "vector") -> None:
        self.given = given
        self.expected = expected
        super().__init__(
            f"{what} has dimension {given}, but this space has dimension {expected}; "
            "encode it with the same model that produced the space"
        )


class UnknownKeyError(EmbspaceError, KeyError):
    """A key is not in the space; the message suggests up to five near matches."""

    def __init__(self, key: object, suggestions: Sequence[str] = (), where: str = "the space") -> None:
        self.key = key
        self.suggestions = list(suggestions)
        msg = f"{key!r} is not in {where}"
        if self.suggestions:
            msg += "; did you mean " + ", ".join(repr(s) for s in self.suggestions) + "?"
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message, adding quotes
        return self.message


class IncompatibleSpaceError(EmbspaceError, ValueError):
    """Vectors or spaces from different models (different coordinate systems) were mixed."""


class MissingDependencyError(EmbspaceError, ImportError):
    """An optional dependency is not installed; the message names the pip extra to install."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed; "
            f'install it with: pip install "embspace[{extra}]"'
        )


class CorruptDataError(EmbspaceError, ValueError):
    """A file could not be read as the format it claims to be; names the file and line."""

    def __init__(self, path: str | Path | None, reason: str, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = reason
        where = self.path if self.path is not None else "<input>"
        if line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {reason}")


class UnknownFormatError(EmbspaceError, ValueError):
    """The format of a file could not be detected, or an unknown format name was given."""


class ZeroVectorError(EmbspaceError, ValueError):
    """A zero vector was used where a direction is needed (a cosine query)."""


class ModelNotFoundError(EmbspaceError, FileNotFoundError):
    """A pretrained model could not be found locally; the message says how to provide it."""


class UnknownFieldWarning(UserWarning):
    """A metadata filter names a field that no item of the collection has (a typo, most often): the
    message names the field and lists the fields items do have."""
