"""The error tree: every error is an EmbspaceError and the matching built-in, and survives pickling."""

from __future__ import annotations

import pickle

import pytest

from embspace import errors
from embspace.errors import (
    CorruptDataError,
    DimensionMismatchError,
    EmbspaceError,
    IncompatibleSpaceError,
    InvalidInputError,
    MissingDependencyError,
    NotFittedError,
    UnknownFormatError,
    UnknownKeyError,
    ZeroVectorError,
)

INSTANCES = [
    InvalidInputError("bad"),
    NotFittedError("not fitted"),
    DimensionMismatchError(3, 4, "query"),
    UnknownKeyError("kign", ["king"], where="the vocabulary"),
    IncompatibleSpaceError("a vs b"),
    MissingDependencyError("faiss", "index", "FAISS indexes"),
    CorruptDataError("v.txt", "bad value", line=3),
    CorruptDataError(None, "bad"),
    UnknownFormatError("?"),
    ZeroVectorError("zero"),
]


def test_every_exported_error_is_an_embspace_error() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if issubclass(cls, Warning):  # the warnings of errors.py (UnknownFieldWarning) are UserWarnings
            assert issubclass(cls, UserWarning) and not issubclass(cls, EmbspaceError), name
            continue
        assert issubclass(cls, EmbspaceError) and issubclass(cls, Exception)


@pytest.mark.parametrize("err", INSTANCES, ids=lambda e: type(e).__name__)
def test_pickle_round_trip(err: Exception) -> None:
    # Errors cross process boundaries (multiprocessing, pytest-xdist): they must unpickle intact.
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert back.__dict__ == err.__dict__


def test_builtin_bases() -> None:
    assert issubclass(UnknownKeyError, KeyError)
    assert issubclass(MissingDependencyError, ImportError)
    assert issubclass(NotFittedError, AttributeError) and issubclass(NotFittedError, ValueError)
    for cls in (InvalidInputError, DimensionMismatchError, IncompatibleSpaceError, CorruptDataError,
                UnknownFormatError, ZeroVectorError):
        assert issubclass(cls, ValueError)


def test_messages() -> None:
    assert "dimension 3" in str(DimensionMismatchError(3, 4)) and "4" in str(DimensionMismatchError(3, 4))
    assert 'pip install "embspace[index]"' in str(MissingDependencyError("faiss", "index", "x"))
    e = UnknownKeyError("kign", ["king", "kin"])
    assert str(e) == "'kign' is not in the space; did you mean 'king', 'kin'?"
    assert str(UnknownKeyError("zzz")) == "'zzz' is not in the space"
