"""Training checkpoints: weights (.npy), progress and settings (JSON), written atomically.

A checkpoint directory holds ``state.json``, one ``.npy`` per array and the ``embspace.json``
artifact header (kind ``checkpoint``; checkpoints written before the header read as before).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._artifact import check_format_version, write_header
from .._atomic import atomic_path
from ..data.vocab import Vocab
from ..errors import CorruptDataError, InvalidInputError

FORMAT = "embspace.checkpoint"
FORMAT_VERSION = 1


@dataclass
class State:
    fingerprint: str
    epoch: int
    job: int
    loss_history: list[float]
    arrays: dict[str, npt.NDArray[Any]]
    vocab: Vocab | None = None
    params: dict[str, Any] | None = None


def save(path: str | Path, fingerprint: str, epoch: int, job: int, loss_history: list[float],
         arrays: dict[str, npt.NDArray[Any]], *, vocab: Vocab | None = None,
         params: dict[str, Any] | None = None) -> None:
    with atomic_path(Path(path), is_dir=True) as work:
        for name, arr in arrays.items():
            np.save(work / f"{name}.npy", arr)
        meta: dict[str, Any] = {"format": FORMAT, "fingerprint": fingerprint, "epoch": epoch, "job": job,
                                "loss_history": loss_history, "arrays": sorted(arrays)}
        if params is not None:
            meta["params"] = params
        if vocab is not None:
            meta["vocab"] = {"words": list(vocab.words), "counts": vocab.counts.tolist(),
                             "min_count": vocab.min_count, "raw_token_count": vocab.raw_token_count}
        (work / "state.json").write_text(json.dumps(meta), "utf-8")
        write_header(work, "checkpoint", FORMAT_VERSION, epoch=epoch, job=job)


def load_any(path: Path) -> State:
    check_format_version(path, "checkpoint", FORMAT_VERSION)
    try:
        meta = json.loads((path / "state.json").read_text("utf-8"))
    except FileNotFoundError:
        raise CorruptDataError(path, "no state.json: not an embspace checkpoint") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptDataError(path / "state.json", f"invalid JSON: {e}") from None
    if meta.get("format") != FORMAT:
        raise CorruptDataError(path / "state.json", "not an embspace checkpoint")
    try:
        arrays = {n: np.load(path / f"{n}.npy", allow_pickle=False) for n in meta["arrays"]}
    except (OSError, ValueError) as e:
        raise CorruptDataError(path, f"unreadable checkpoint array: {e}") from None
    vocab = None
    if "vocab" in meta:
        v = meta["vocab"]
        vocab = Vocab(v["words"], v["counts"], min_count=v["min_count"], raw_token_count=v["raw_token_count"])
    return State(meta["fingerprint"], int(meta["epoch"]), int(meta["job"]), list(meta["loss_history"]), arrays,
                 vocab, meta.get("params"))


def load(path: str | Path, fingerprint: str) -> State | None:
    """The checkpoint at ``path`` if there is one; an error if it belongs to another run."""
    p = Path(path)
    if not (p / "state.json").exists():
        return None
    state = load_any(p)
    if state.fingerprint != fingerprint:
        raise InvalidInputError(f"the checkpoint at {p} was made with other settings or another corpus; "
                                "delete it or choose another checkpoint directory")
    return state
