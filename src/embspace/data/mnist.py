"""load_mnist: the MNIST digits from their IDX files (``*-images-idx3-ubyte[.gz]``, ``*-labels-idx1-ubyte[.gz]``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import CorruptDataError, InvalidInputError

__all__ = ["DIGIT_PHRASINGS", "DIGIT_WORDS", "digit_captions", "load_mnist"]

_PREFIX = {"train": "train", "test": "t10k"}


def _read_idx(path: Path, ndim: int) -> npt.NDArray[np.uint8]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as e:
        raise CorruptDataError(path, f"unreadable: {e}") from None
    if len(raw) < 4 + 4 * ndim or raw[:2] != b"\x00\x00" or raw[2] != 0x08 or raw[3] != ndim:
        raise CorruptDataError(path, f"not an IDX file of unsigned bytes with {ndim} dimensions")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise CorruptDataError(path, f"header says {shape} = {int(np.prod(shape))} bytes, the file holds {body.size}")
    return body.reshape(shape).copy()


def load_mnist(directory: str | Path, split: str = "test") -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The images ``(n, 28, 28)`` uint8 and labels ``(n,)`` int64 of one MNIST split.

    Parameters
    ----------
    directory
        The folder holding the IDX files (gzipped or not), e.g. ``../shared/data/images/mnist``.
    split
        ``"test"`` (``t10k-*``, 10,000 digits) or ``"train"`` (``train-*``, 60,000).

    Raises
    ------
    FileNotFoundError
        The split's files are not in ``directory`` (the message lists what is there).
    CorruptDataError
        A file is not a well-formed IDX file, or images and labels disagree in number.
    """
    if split not in _PREFIX:
        raise InvalidInputError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(directory)
    found = {}
    for kind, ndim in (("images", 3), ("labels", 1)):
        name = f"{_PREFIX[split]}-{kind}-idx{ndim}-ubyte"
        cands = [folder / (name + ".gz"), folder / name]
        path = next((c for c in cands if c.is_file()), None)
        if path is None:
            there = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else "no such folder"
            raise FileNotFoundError(f"MNIST {split} {kind}: neither {cands[0].name} nor {cands[1].name} in {folder} "
                                    f"(found: {there})")
        found[kind] = _read_idx(path, ndim)
    images, labels = found["images"], found["labels"]
    if len(images) != len(labels):
        raise CorruptDataError(folder, f"{len(images)} images but {len(labels)} labels")
    return images, labels.astype(np.int64)


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Phrasings of the training captions; "{w}" is the digit's word, "{d}" the numeral.
DIGIT_PHRASINGS = ("a handwritten {w}", "the digit {d}", "a picture of the number {w}", "handwritten number {d}",
                   "{w}", "a scanned {w} written by hand")


def digit_captions(labels: npt.ArrayLike, phrasings: tuple[str, ...] | list[str] = DIGIT_PHRASINGS, *,
                   seed: int = 0) -> list[str]:
    """One caption per digit label in one of ``phrasings`` (``"{w}"``: the word, ``"{d}"``: the numeral),
    e.g. ``"a handwritten seven"``, ``"the digit 7"``. Each digit's examples get the phrasings in equal
    shares (±1), in a seeded random order: no digit is only ever described one way."""
    lab = np.asarray(labels)
    if lab.ndim != 1 or (len(lab) and (lab.min() < 0 or lab.max() > 9)):
        raise InvalidInputError("labels must be a 1-D sequence of digits 0-9")
    if not phrasings or any("{w}" not in p and "{d}" not in p for p in phrasings):
        raise InvalidInputError("every phrasing must contain {w} (the word) or {d} (the numeral)")
    rng = np.random.default_rng(seed)
    pick = np.empty(len(lab), np.int64)
    for d in range(10):
        rows = np.flatnonzero(lab == d)
        pick[rows] = (rng.permutation(len(rows)) + rng.integers(len(phrasings))) % len(phrasings)
    return [phrasings[p].format(w=DIGIT_WORDS[d], d=int(d)) for d, p in zip(lab.tolist(), pick.tolist(), strict=True)]
