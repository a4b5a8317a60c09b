"""ImageAugment: random views of image batches with PyTorch tensor ops (SimCLR-style), on any device."""

from __future__ import annotations

import math
from typing import Any

from ..errors import InvalidInputError

__all__ = ["ImageAugment"]


class ImageAugment:
    """``ImageAugment(...)(batch, generator)``: one random view of each image of a float batch
    ``(n, c, h, w)`` in [0, 1], all randomness from ``generator`` (so views repeat under a seed).

    Per image, in this order: a random resized crop with rotation (one affine warp: zoom in
    ``scale``, rotation within ±``rotation`` degrees, shift within ±``translate`` of the size),
    brightness/contrast jitter, a random erased rectangle (with probability ``erase``), Gaussian
    noise. Written with ``affine_grid``/``grid_sample`` and elementwise ops: no torchvision needed.

    Parameters
    ----------
    scale
        Zoom range (1 = unchanged; > 1 crops in, < 1 shrinks the content).
    rotation
        Largest rotation, degrees.
    translate
        Largest shift, as a share of the image size.
    jitter
        Largest brightness/contrast change (0.4: contrast × [0.6, 1.4], brightness ± 0.4·std).
    erase
        Probability of erasing a random rectangle of 10-30% of the area.
    noise
        Standard deviation of the added Gaussian noise.
    """

    def __init__(self, *, scale: tuple[float, float] = (0.8, 1.3), rotation: float = 20.0, translate: float = 0.12,
                 jitter: float = 0.4, erase: float = 0.5, noise: float = 0.05) -> None:
        lo, hi = scale
        if not 0 < lo <= hi:
            raise InvalidInputError(f"scale must be (low, high) with 0 < low <= high, got {scale!r}")
        for name, v in (("rotation", rotation), ("translate", translate), ("jitter", jitter), ("noise", noise)):
            if not v >= 0:
                raise InvalidInputError(f"{name} must be non-negative, got {v!r}")
        if not 0 <= erase <= 1:
            raise InvalidInputError(f"erase must be a probability, got {erase!r}")
        self.scale = (float(lo), float(hi))
        self.rotation, self.translate, self.jitter = float(rotation), float(translate), float(jitter)
        self.erase, self.noise = float(erase), float(noise)

    def __call__(self, x: Any, generator: Any) -> Any:
        import torch
        import torch.nn.functional as F

        if x.ndim != 4:
            raise InvalidInputError(f"images must be a (n, channels, height, width) batch, got shape {tuple(x.shape)}")
        n, _, h, w = x.shape
        dev, dt = x.device, x.dtype

        def uniform(lo: float, hi: float, *shape: int) -> Any:
            return lo + (hi - lo) * torch.rand(shape or (n,), generator=generator, device=dev, dtype=dt)

        zoom = torch.exp(uniform(math.log(self.scale[0]), math.log(self.scale[1])))
        angle = uniform(-self.rotation, self.rotation) * (math.pi / 180.0)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        tx, ty = uniform(-2 * self.translate, 2 * self.translate), uniform(-2 * self.translate, 2 * self.translate)
        theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if self.jitter > 0:
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            std = out.std(dim=(1, 2, 3), keepdim=True)
            contrast = uniform(1 - self.jitter, 1 + self.jitter).view(n, 1, 1, 1)
            bright = uniform(-self.jitter, self.jitter).view(n, 1, 1, 1) * std
            out = (out - mean) * contrast + mean + bright
        if self.erase > 0:
            area = uniform(0.1, 0.3) * h * w
            aspect = torch.exp(uniform(math.log(0.5), math.log(2.0)))
            eh = torch.sqrt(area * aspect).clamp(1, h)
            ew = torch.sqrt(area / aspect).clamp(1, w)
            y0 = uniform(0, 1) * (h - eh)
            x0 = uniform(0, 1) * (w - ew)
            rows = torch.arange(h, device=dev, dtype=dt).view(1, h, 1)
            cols = torch.arange(w, device=dev, dtype=dt).view(1, 1, w)
            inside = ((rows >= y0.view(n, 1, 1)) & (rows < (y0 + eh).view(n, 1, 1))
                      & (cols >= x0.view(n, 1, 1)) & (cols < (x0 + ew).view(n, 1, 1)))
            on = uniform(0, 1) < self.erase
            out = out.masked_fill((inside & on.view(n, 1, 1)).unsqueeze(1), 0.0)
        if self.noise > 0:
            out = out + self.noise * torch.randn(out.shape, generator=generator, device=dev, dtype=dt)
        return out.clamp(0.0, 1.0)

    def __repr__(self) -> str:
        return (f"ImageAugment(scale={self.scale}, rotation={self.rotation}, translate={self.translate}, "
                f"jitter={self.jitter}, erase={self.erase}, noise={self.noise})")
