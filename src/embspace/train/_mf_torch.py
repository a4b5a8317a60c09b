"""The PyTorch matrix-factorisation engine, for CUDA and MPS: the same three objectives as the CPU
kernels, with every row (ALS) or a large batch of pairs (explicit SGD, BPR) updated at once.

- ALS: the conjugate-gradient row solves of ``_mf_implicit_kernels.als_sweep`` for ALL rows together:
  ``A d`` is ``d @ G + λ d`` plus, per observed pair, ``(c − 1)(y_i · d_u) y_i`` summed into its row
  (``index_add_``). Same model, same three CG steps.
- explicit and BPR: SGD in batches of pairs/triples; a batch's gradients are summed into their rows
  (sparse SGD, no autograd), so a row seen t times in a batch takes its t steps at once from the same
  point. Batches are kept small against the number of rows for that reason.

Results match the CPU kernels' in quality, not bit for bit (sums on a GPU run in any order).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_MAX_BATCH = 1 << 15


class TorchMF:
    def __init__(self, x: npt.NDArray[np.float32], y: npt.NDArray[np.float32], device: str, seed: int) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.x = torch.from_numpy(x).to(self.device)
        self.y = torch.from_numpy(y).to(self.device)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(seed)
        self.batch = int(min(_MAX_BATCH, max(256, 4 * (x.shape[0] + y.shape[0]))))

    def tensor(self, a: npt.NDArray[Any]) -> Any:
        return self.torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    def numpy(self, t: Any) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))

    # ------------------------------------------------------------------ ALS
    def als_sweep(self, rows: Any, cols: Any, conf: Any, solve_users: bool, lam: float, cg_steps: int = 3) -> None:
        """Update every user (``solve_users``) or item row against the other side, in place.
        ``rows``/``cols``/``conf``: the observed pairs from the solved side's point of view."""
        x, y = (self.x, self.y) if solve_users else (self.y, self.x)
        gram = y.T @ y
        yi = y[cols]
        cm1 = conf - 1.0

        def apply(d: Any) -> Any:  # A d for every row at once
            out = d @ gram + lam * d
            w = cm1 * (yi * d[rows]).sum(1)
            return out.index_add_(0, rows, w[:, None] * yi)

        w0 = conf - cm1 * (yi * x[rows]).sum(1)  # b − (the observed part of A x)
        r = self.torch.zeros_like(x).index_add_(0, rows, w0[:, None] * yi) - (x @ gram + lam * x)
        d = r.clone()
        rs = (r * r).sum(1)
        for _ in range(cg_steps):
            ad = apply(d)
            dad = (d * ad).sum(1)
            step = self.torch.where(dad > 0, rs / dad.clamp_min(1e-30), self.torch.zeros_like(rs))
            step = self.torch.where(rs < 1e-20, self.torch.zeros_like(rs), step)
            x += step[:, None] * d
            r -= step[:, None] * ad
            rs_new = (r * r).sum(1)
            d = r + (rs_new / rs.clamp_min(1e-30))[:, None] * d
            rs = rs_new

    def observed_error(self, rows: Any, cols: Any) -> float:
        return float((((self.x[rows] * self.y[cols]).sum(1) - 1.0) ** 2).sum().item())

    # ------------------------------------------------------------------ explicit (biased MF, SGD)
    def sgd_epoch(self, users: Any, items: Any, ratings: Any, mu: float, bu: Any, bi: Any, lr: float, reg: float,
                  reg_b: float) -> float:
        """One shuffled pass; returns the summed squared error (before each batch's update)."""
        torch = self.torch
        order = torch.randperm(users.shape[0], generator=self.gen, device=self.device)
        sse = 0.0
        for s in range(0, users.shape[0], self.batch):
            b = order[s : s + self.batch]
            u, i = users[b], items[b]
            pu, qi = self.x[u], self.y[i]
            err = ratings[b] - (mu + bu[u] + bi[i] + (pu * qi).sum(1))
            sse += float((err * err).sum().item())
            bu.index_add_(0, u, lr * (err - reg_b * bu[u]))
            bi.index_add_(0, i, lr * (err - reg_b * bi[i]))
            self.x.index_add_(0, u, lr * (err[:, None] * qi - reg * pu))
            self.y.index_add_(0, i, lr * (err[:, None] * pu - reg * qi))
        return sse

    # ------------------------------------------------------------------ BPR
    def bpr_epoch(self, users: Any, pos: Any, neg: Any, bi: Any, lr: float, reg: float) -> tuple[float, int]:
        """Triples with ``neg == -1`` are skipped; returns (mean ln σ of the margins, triples used)."""
        torch = self.torch
        keep = neg >= 0
        users, pos, neg = users[keep], pos[keep], neg[keep]
        total, used = 0.0, int(users.shape[0])
        for s in range(0, used, self.batch):
            u, i, j = users[s : s + self.batch], pos[s : s + self.batch], neg[s : s + self.batch]
            xu, yi, yj = self.x[u], self.y[i], self.y[j]
            margin = bi[i] - bi[j] + (xu * (yi - yj)).sum(1)
            total += float(torch.nn.functional.logsigmoid(margin).sum().item())
            z = torch.sigmoid(-margin)
            bi.index_add_(0, i, lr * (z - reg * bi[i]))
            bi.index_add_(0, j, lr * (-z - reg * bi[j]))
            self.x.index_add_(0, u, lr * (z[:, None] * (yi - yj) - reg * xu))
            self.y.index_add_(0, i, lr * (z[:, None] * xu - reg * yi))
            self.y.index_add_(0, j, lr * (-z[:, None] * xu - reg * yj))
        return (total / used if used else 0.0), used
