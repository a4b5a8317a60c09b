"""SmallConvNet: a compact CNN image encoder (with an optional projection head) for small images."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance

__all__ = ["STAGES", "SmallConvNet"]

#: The named stages of :class:`SmallConvNet`, input to output: the three conv blocks (each pooled by its spatial
#: mean), the backbone's features, and the projection head's output (only with ``head_dim``).
STAGES = ("block1", "block2", "block3", "features", "head")


class SmallConvNet(nn.Module):
    """A 3-block CNN (two conv-BN-ReLU per block, ×2 width per block, max-pool; global average pool)
    → ``dim`` features; with ``head_dim`` a SimCLR projection head (ReLU-Linear-ReLU-Linear) follows,
    and :attr:`backbone` alone gives the features (SimCLR probes the features before the head).

    Input: float ``(n, in_channels, h, w)`` batches (28×28 MNIST at width 32: about 0.3M parameters).
    ``seed`` seeds the initial weights without touching torch's global generator (None: use it).
    """

    def __init__(self, in_channels: int = 1, *, width: int = 32, dim: int = 128, head_dim: int | None = None,
                 seed: int | None = 0) -> None:
        super().__init__()
        if min(in_channels, width, dim) < 1 or (head_dim is not None and head_dim < 1):
            raise InvalidInputError("in_channels, width, dim and head_dim must be positive")
        self.config = {"in_channels": in_channels, "width": width, "dim": dim, "head_dim": head_dim}
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            layers: list[nn.Module] = []
            c = in_channels
            for out in (width, 2 * width, 4 * width):
                layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                           nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                           nn.MaxPool2d(2)]
                c = out
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, dim)]
            self.backbone = nn.Sequential(*layers)
            self.head: nn.Module = (nn.Sequential(nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, head_dim))
                                    if head_dim is not None else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))  # type: ignore[no-any-return]

    @property
    def stages(self) -> tuple[str, ...]:
        """The stages :meth:`encode` can return: :data:`STAGES`, without ``"head"`` when there is no head."""
        return STAGES if self.config["head_dim"] is not None else STAGES[:-1]

    def weights_fingerprint(self) -> str:
        """A hash of every parameter and buffer: retraining changes it (and so the stages' space_ids)."""
        h = hashlib.sha256()
        for name, t in self.state_dict().items():
            h.update(name.encode() + t.detach().cpu().contiguous().numpy().tobytes())
        return "sha256:" + h.hexdigest()[:16]

    def stage_provenance(self, stage: str, fingerprint: str | None = None) -> Provenance:
        """The provenance of stage ``stage``: the net's config and weights, the stage and its pooling."""
        if stage not in self.stages:
            raise InvalidInputError(f"unknown stage {stage!r}; this SmallConvNet has {', '.join(self.stages)}")
        return Provenance(model="SmallConvNet", config={
            **self.config, "weights": fingerprint or self.weights_fingerprint(), "output": "stage", "layer": stage,
            "pooling": "mean" if stage.startswith("block") else None})

    def encode(self, x: Any, *, layers: Sequence[str] | Literal["all"] = "all", keys: Sequence[Any] | None = None,
               batch_size: int = 1024, normalize: bool = True) -> dict[str, EmbeddingSpace]:
        """The output of named stages (:attr:`stages`) for a float ``(n, c, h, w)`` batch, as ``{stage:
        EmbeddingSpace}``: the conv blocks pooled by their spatial mean, ``"features"`` (the backbone's
        output, what SimCLR probes) and ``"head"``. Rows keyed by ``keys`` (default ``"0"``, ``"1"``, ...),
        L2-normalised when ``normalize``; each stage has its own space_id (:meth:`stage_provenance`, which
        also covers the weights). Runs in eval mode without gradients; the mode is restored after.
        """
        wanted = list(self.stages) if isinstance(layers, str) and layers == "all" else list(layers)
        if isinstance(layers, str) and layers != "all":
            raise InvalidInputError(f"layers must be a list of stage names or 'all', got {layers!r}")
        for stage in wanted:
            if stage not in self.stages:
                raise InvalidInputError(f"unknown stage {stage!r}; this SmallConvNet has {', '.join(self.stages)}")
        if not wanted:
            raise InvalidInputError(f"layers is empty; give stage names among {', '.join(self.stages)}, or 'all'")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        data = torch.as_tensor(np.asarray(x), dtype=torch.float32)
        if data.ndim != 4:
            raise InvalidInputError(f"x must be a float (n, channels, height, width) batch, got shape "
                                    f"{tuple(data.shape)}")
        key_list = [str(i) for i in range(len(data))] if keys is None else [str(k) for k in keys]
        if len(key_list) != len(data):
            raise InvalidInputError(f"{len(key_list)} keys for {len(data)} images; give one key per image")
        device = next(self.parameters()).device
        parts: dict[str, list[np.ndarray[Any, Any]]] = {stage: [] for stage in wanted}
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(data), batch_size):
                    out = self._stage_outputs(data[start:start + batch_size].to(device))
                    for stage in wanted:
                        parts[stage].append(out[stage].float().cpu().numpy())
        finally:
            self.train(was_training)
        fingerprint = self.weights_fingerprint()
        spaces = {}
        for stage in wanted:
            arr = np.ascontiguousarray(np.concatenate(parts[stage]), np.float32)
            if normalize:
                norms = np.linalg.norm(arr, axis=1, keepdims=True)
                arr = np.ascontiguousarray(arr / np.where(norms > 0, norms, 1), np.float32)
            spaces[stage] = EmbeddingSpace(key_list, arr, metric="cosine",
                                           provenance=self.stage_provenance(stage, fingerprint), copy=False)
        return spaces

    def _stage_outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        h = x
        for i, module in enumerate(self.backbone):
            h = module(h)
            if i % 7 == 6 and i < 21:  # the max-pool ending conv block i // 7 + 1
                out[f"block{i // 7 + 1}"] = h.mean(dim=(2, 3))
        out["features"] = h
        if self.config["head_dim"] is not None:
            out["head"] = self.head(h)
        return out
