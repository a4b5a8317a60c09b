"""The PyTorch word2vec engine, for CUDA and MPS: the same model as the CPU kernels, in large batches.

Each job's (centre, context) pairs are generated with dynamic windows and subsampling on the
device, then trained in batches of pairs with manual SGD updates (``index_add_``), no autograd.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_MAX_BATCH = 1 << 16
_ROW_HITS = 8.0  # FastText: the most summed gradients an input row takes at full size in one batch


class TorchWord2Vec:
    def __init__(self, syn0: npt.NDArray[np.float32], syn1: npt.NDArray[np.float32], device: str, architecture: str,
                 window: int, negative: int, noise: npt.NDArray[np.float64], keep: npt.NDArray[np.float32]) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self._np0, self._np1 = syn0, syn1
        self.syn0 = torch.from_numpy(syn0).to(self.device)
        self.syn1 = torch.from_numpy(syn1).to(self.device)
        self.architecture = architecture
        self.window = window
        self.negative = negative
        self.noise = torch.from_numpy(noise.astype(np.float32)).to(self.device)
        self.keep = torch.from_numpy(keep).to(self.device)
        # Summed updates of one batch land on a row at once: keep the batch small relative to the
        # vocabulary, so no row takes hundreds of stale gradient steps in one go.
        self.batch = int(min(_MAX_BATCH, max(512, 8 * syn0.shape[0])))

    def _pairs(self, tokens: Any, sent: Any, gen: Any) -> tuple[Any, Any, Any]:
        """(centre positions, context positions, kept tokens) with dynamic windows."""
        torch = self.torch
        n = tokens.shape[0]
        b = torch.randint(0, self.window, (n,), generator=gen, device=self.device)
        eff = self.window - b
        centres, contexts = [], []
        idx = torch.arange(n, device=self.device)
        for o in range(1, self.window + 1):
            if o >= n:
                break
            i = idx[: n - o]
            j = i + o
            same = sent[i] == sent[j]
            fwd = same & (eff[i] >= o)
            bwd = same & (eff[j] >= o)
            centres += [i[fwd], j[bwd]]
            contexts += [j[fwd], i[bwd]]
        return torch.cat(centres), torch.cat(contexts), tokens

    def run_job(self, tokens_np: npt.NDArray[np.int32], lens_np: npt.NDArray[np.int64], a0: float, a1: float,
                seed: int) -> npt.NDArray[np.float64]:
        torch = self.torch
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed & 0x7FFF_FFFF_FFFF_FFFF)
        tokens = torch.from_numpy(np.asarray(tokens_np, np.int64)).to(self.device)
        sent = torch.repeat_interleave(torch.arange(len(lens_np), device=self.device),
                                       torch.from_numpy(np.asarray(lens_np)).to(self.device))
        r = torch.rand(tokens.shape[0], generator=gen, device=self.device)
        kept = r < self.keep[tokens]
        tokens, sent = tokens[kept], sent[kept]
        stats = np.zeros(3)
        if tokens.shape[0] < 2:
            return stats
        ci, xi, _ = self._pairs(tokens, sent, gen)
        order = torch.randperm(ci.shape[0], generator=gen, device=self.device)
        ci, xi = ci[order], xi[order]
        centre_words, context_words = tokens[ci], tokens[xi]
        if self.architecture == "skipgram":
            total = centre_words.shape[0]
            for s in range(0, total, self.batch):
                alpha = a0 + (a1 - a0) * s / max(total, 1)
                loss = self._sg_batch(context_words[s : s + self.batch], centre_words[s : s + self.batch], alpha, gen)
                stats[1] += loss
                stats[2] += min(self.batch, total - s)
            stats[0] += tokens.shape[0]
        else:
            stats += self._cbow(tokens, ci, context_words, a0, a1, gen)
        return stats

    def _sg_batch(self, ctx: Any, centre: Any, alpha: float, gen: Any) -> float:
        torch = self.torch
        p = ctx.shape[0]
        neg = torch.multinomial(self.noise, p * self.negative, replacement=True, generator=gen).view(p, self.negative)
        targets = torch.cat([centre[:, None], neg], dim=1)  # (p, 1 + K)
        labels = torch.zeros_like(targets, dtype=torch.float32)
        labels[:, 0] = 1.0
        labels[:, 1:][neg == centre[:, None]] = float("nan")  # a negative equal to the centre is skipped
        u_sum, u_cnt = self._gather(ctx)
        u = u_sum / u_cnt[:, None]  # (p, d); word2vec: the row itself (divided by 1, exactly)
        v = self.syn1[targets]  # (p, 1+K, d)
        f = torch.einsum("pd,pkd->pk", u, v).clamp_(-6.0, 6.0)
        s = torch.sigmoid(f)
        valid = ~torch.isnan(labels)
        g = torch.where(valid, (torch.nan_to_num(labels) - s) * alpha, torch.zeros_like(s))
        loss = -(torch.where(labels == 1, torch.log(s + 1e-7), torch.log(1 - s + 1e-7)) * valid).sum().item()
        self._scatter(ctx, torch.einsum("pk,pkd->pd", g, v))
        self.syn1.index_add_(0, targets.reshape(-1), (g[:, :, None] * u[:, None, :]).reshape(-1, u.shape[1]))
        return float(loss) / max(1 + self.negative, 1)

    def _cbow(self, tokens: Any, ci: Any, context_words: Any, a0: float, a1: float, gen: Any) -> npt.NDArray[Any]:
        torch = self.torch
        n, d = tokens.shape[0], self.syn0.shape[1]
        stats = np.zeros(3)
        for s in range(0, n, self.batch):
            e = min(n, s + self.batch)
            sel = (ci >= s) & (ci < e)
            c_local, ctx = ci[sel] - s, context_words[sel]
            h = torch.zeros((e - s, d), device=self.device)
            cnt = torch.zeros(e - s, device=self.device)
            ctx_sum, ctx_cnt = self._gather(ctx)
            h.index_add_(0, c_local, ctx_sum)
            cnt.index_add_(0, c_local, ctx_cnt)
            has = cnt > 0
            h = h[has] / cnt[has, None]
            centre = tokens[s:e][has]
            m = centre.shape[0]
            if m == 0:
                continue
            alpha = a0 + (a1 - a0) * s / max(n, 1)
            neg = torch.multinomial(self.noise, m * self.negative, replacement=True, generator=gen).view(m, -1)
            targets = torch.cat([centre[:, None], neg], dim=1)
            v = self.syn1[targets]
            f = torch.einsum("md,mkd->mk", h, v).clamp_(-6.0, 6.0)
            sg = torch.sigmoid(f)
            labels = torch.zeros_like(sg)
            labels[:, 0] = 1.0
            valid = torch.ones_like(sg, dtype=torch.bool)
            valid[:, 1:] = neg != centre[:, None]
            g = torch.where(valid, (labels - sg) * alpha, torch.zeros_like(sg))
            neu1e = torch.einsum("mk,mkd->md", g, v)
            self.syn1.index_add_(0, targets.reshape(-1), (g[:, :, None] * h[:, None, :]).reshape(-1, d))
            row = torch.full((e - s,), -1, dtype=torch.long, device=self.device)
            row[has] = torch.arange(m, device=self.device)
            self._scatter(ctx, neu1e[row[c_local]])
            stats[0] += m
            stats[1] += -(torch.where(labels == 1, torch.log(sg + 1e-7), torch.log(1 - sg + 1e-7))
                          * valid).sum().item() / (1 + self.negative)
            stats[2] += m
        return stats

    def _gather(self, words: Any) -> tuple[Any, Any]:
        """The sum of each word's input rows ``(p, d)`` and how many rows ``(p,)``: word2vec has one."""
        return self.syn0[words], self.torch.ones(words.shape[0], device=self.device)

    def _scatter(self, words: Any, grad: Any) -> None:
        """Add ``grad[i]`` to every input row of ``words[i]``."""
        self.syn0.index_add_(0, words, grad)

    def sync(self) -> None:
        """Copy the weights back into the NumPy matrices the learner holds."""
        self._np0[...] = self.syn0.cpu().numpy()
        self._np1[...] = self.syn1.cpu().numpy()


class TorchFastText(TorchWord2Vec):
    """fastText on the PyTorch engine: a word's input is the mean of its rows ``rows[ptr[w]:ptr[w + 1]]`` (its own
    and its n-grams'), and each of them receives the word's full gradient, as in the CPU kernels."""

    def __init__(self, syn0: npt.NDArray[np.float32], syn1: npt.NDArray[np.float32], device: str, architecture: str,
                 window: int, negative: int, noise: npt.NDArray[np.float64], keep: npt.NDArray[np.float32],
                 ptr: npt.NDArray[np.int64], rows: npt.NDArray[np.int32]) -> None:
        super().__init__(syn0, syn1, device, architecture, window, negative, noise, keep)
        torch = self.torch
        self.ptr = torch.from_numpy(np.asarray(ptr, np.int64)).to(self.device)
        self.rows = torch.from_numpy(np.asarray(rows, np.int64)).to(self.device)
        # as word2vec's engine: a batch of about 8 pairs per vocabulary word (not per row)
        self.batch = int(min(_MAX_BATCH, max(512, 8 * (len(ptr) - 1))))

    def _bag(self, words: Any) -> tuple[Any, Any, Any]:
        """``(flat rows, the word index of each, rows per word)`` of a batch of words."""
        torch = self.torch
        starts = self.ptr[words]
        lens = self.ptr[words + 1] - starts
        seg = torch.repeat_interleave(torch.arange(words.shape[0], device=self.device), lens)
        first = torch.cumsum(lens, 0) - lens
        within = torch.arange(seg.shape[0], device=self.device) - first[seg]
        return self.rows[starts[seg] + within], seg, lens

    def _gather(self, words: Any) -> tuple[Any, Any]:
        flat, seg, lens = self._bag(words)
        out = self.torch.zeros((words.shape[0], self.syn0.shape[1]), device=self.device)
        out.index_add_(0, seg, self.syn0[flat])
        return out, lens.to(self.syn0.dtype)

    def _scatter(self, words: Any, grad: Any) -> None:
        """Each row receives the gradients of the words that use it, summed; a row used more than
        ``_ROW_HITS`` times in the batch (an n-gram that many words share: ``ing>``) gets that many's
        worth, scaled down, since summed stale steps of hundreds of pairs overshoot (the CPU kernels
        apply them one after another and need no such cap)."""
        torch = self.torch
        flat, seg, _ = self._bag(words)
        _, inverse, hits = torch.unique(flat, return_inverse=True, return_counts=True)
        scale = torch.clamp(_ROW_HITS / hits.to(grad.dtype), max=1.0)[inverse]
        self.syn0.index_add_(0, flat, grad[seg] * scale[:, None])
