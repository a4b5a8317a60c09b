"""Which engine trains: the compiled CPU kernels, or PyTorch on an accelerator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidInputError, MissingDependencyError


@dataclass(frozen=True)
class Engine:
    kind: Literal["numba", "torch"]
    device: str


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_engine(device: str) -> Engine:
    """``"auto"``: CUDA when present, else the CPU kernels. ``"cpu"``: CPU kernels.
    ``"cuda"``, ``"cuda:N"``, ``"mps"``: PyTorch there. ``"torch-cpu"``: PyTorch on the CPU (tests)."""
    if device == "auto":
        return Engine("torch", "cuda") if cuda_available() else Engine("numba", "cpu")
    if device == "cpu":
        return Engine("numba", "cpu")
    if device == "torch-cpu":
        return Engine("torch", "cpu")
    if device.startswith("cuda") or device == "mps":
        try:
            import torch
        except ImportError:
            raise MissingDependencyError("torch", "train", f"training on {device}") from None
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InvalidInputError(f"device {device!r} asked for, but no CUDA GPU is available; use 'cpu' or 'auto'")
        if device == "mps" and not torch.backends.mps.is_available():
            raise InvalidInputError("device 'mps' asked for, but MPS is not available; use 'cpu' or 'auto'")
        return Engine("torch", device)
    raise InvalidInputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")
