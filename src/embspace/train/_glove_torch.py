"""The PyTorch GloVe engine, for CUDA and MPS: AdaGrad on batches of co-occurrence records."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_BATCH = 1 << 16


class TorchGloVe:
    def __init__(self, w: npt.NDArray[np.float32], bias: npt.NDArray[np.float32], gradsq: npt.NDArray[np.float64],
                 gradsq_b: npt.NDArray[np.float64], device: str, x_max: float, alpha: float, eta: float,
                 grad_clip: float, vocab_size: int) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self._np: tuple[npt.NDArray[Any], ...] = (w, bias, gradsq, gradsq_b)
        self.w, self.bias, self.gradsq, self.gradsq_b = (torch.from_numpy(a).to(self.device) for a in self._np)
        self.x_max, self.alpha, self.eta, self.clip = x_max, alpha, eta, grad_clip
        self.vocab_size = vocab_size

    def run(self, rec: npt.NDArray[np.void]) -> tuple[float, int]:
        torch = self.torch
        rows = torch.from_numpy(np.ascontiguousarray(rec["row"]).astype(np.int64)).to(self.device)
        cols = torch.from_numpy(np.ascontiguousarray(rec["col"]).astype(np.int64)).to(self.device)
        vals = torch.from_numpy(np.ascontiguousarray(rec["val"])).to(self.device)
        diag = rows == cols
        x = torch.where(diag, vals * 2, vals)
        off = ~diag  # both directions of each off-diagonal pair, the diagonal once
        i = torch.cat([rows, cols[off]])
        j = torch.cat([cols, rows[off]]) + self.vocab_size
        x = torch.cat([x, x[off]])
        perm = torch.randperm(i.shape[0], device=self.device)
        i, j, x = i[perm], j[perm], x[perm]
        cost, n = 0.0, 0
        for s in range(0, i.shape[0], _BATCH):
            cost += self._batch(i[s : s + _BATCH], j[s : s + _BATCH], x[s : s + _BATCH])
            n += min(_BATCH, i.shape[0] - s)
        return cost, n

    def _batch(self, i: Any, j: Any, x: Any) -> float:
        torch = self.torch
        wi, wj = self.w[i], self.w[j]
        diff = (wi * wj).sum(1) + self.bias[i] + self.bias[j] - torch.log(x)
        weight = torch.clamp((x / self.x_max) ** self.alpha, max=1.0)
        fdiff = weight * diff
        cost = float((0.5 * fdiff * diff).sum().item())
        g_i = (fdiff[:, None] * wj).clamp(-self.clip, self.clip) * self.eta  # as glove.c: eta on the
        g_j = (fdiff[:, None] * wi).clamp(-self.clip, self.clip) * self.eta  # vectors, not the biases
        idx = torch.cat([i, j])
        grads = torch.cat([g_i, g_j])
        gb = torch.cat([fdiff, fdiff])
        acc = torch.zeros_like(self.w).index_add_(0, idx, grads)
        acc_b = torch.zeros_like(self.bias).index_add_(0, idx, gb)
        touched = torch.unique(idx)
        g, gbt = acc[touched].to(self.gradsq.dtype), acc_b[touched].to(self.gradsq_b.dtype)
        self.w[touched] -= (g / torch.sqrt(self.gradsq[touched])).to(self.w.dtype)
        self.bias[touched] -= (gbt / torch.sqrt(self.gradsq_b[touched])).to(self.bias.dtype)
        self.gradsq[touched] += g * g
        self.gradsq_b[touched] += gbt * gbt
        return cost

    def sync(self) -> None:
        for dst, src in zip(self._np, (self.w, self.bias, self.gradsq, self.gradsq_b), strict=True):
            dst[...] = src.cpu().numpy()
