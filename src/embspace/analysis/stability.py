"""Neighbourhood stability under resampling: how much of a key's ``k`` nearest neighbours survives.

Two kinds of resampling, by what is given:

- several spaces trained on resampled data or with other seeds (``stability([run1, run2, run3])``):
  the overlap of each key's neighbours across every pair of runs, within their shared keys — the
  reliability of Hellrich & Hahn (2016) and the bootstrap of Antoniak & Mimno (2018). Low values
  mean the neighbours are artefacts of one run; they are usually rare keys.
- one space (``stability(space)``): random subspaces — each round keeps a random ``fraction`` of the
  coordinates and searches again. Neighbourhoods that survive are spread over many coordinates;
  ones that collapse hang on a few (rogue dimensions, noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import numpy.typing as npt

from .. import _html
from ..errors import InvalidInputError
from ..space import _topk
from ..space.embedding_space import EmbeddingSpace
from .diagnostics import _rows, _unit

__all__ = ["Stability", "stability"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Stability:
    """Share of each probe key's ``k`` nearest neighbours kept under resampling (1 = all kept).

    ``mode``: ``"runs"`` (several spaces) or ``"coordinates"`` (random subspaces of one space);
    ``least_stable``: ``(key, overlap)``, lowest first; ``frequency_correlation``: Spearman
    correlation of overlap and count, when the (first) space has counts.
    """

    mode: str
    k: int
    rounds: int
    mean_overlap: float
    quantiles: dict[str, float]
    least_stable: list[tuple[str, float]]
    frequency_correlation: float | None
    per_key: F64 = field(repr=False)
    keys: list[str] = field(repr=False)
    explanation: str = ""

    def _repr_html_(self) -> str:
        least = _html.table(self.least_stable, ["least stable", f"share of {self.k} nearest kept"], more="more keys")
        return _html.dataclass_html(self, skip=["least_stable"], extra=[("probes", len(self.keys))], after=[least])


def _knn(probes: F64, pool: F64, own: npt.NDArray[np.int64], k: int, metric: str) -> npt.NDArray[np.int64]:
    """Rows of ``pool`` nearest each probe (its own pool row ``own`` left out), as sorted ``(n, k)``."""
    if metric == "cosine":
        probes, pool = _unit(probes), _unit(pool)
    q, x = (np.ascontiguousarray(a, np.float32) for a in (probes, pool))
    # embspace's one exact searcher (unit rows: cosine is the inner product)
    _, rows = _topk.search(q, x, k, "l2" if metric == "l2" else "dot", exclude_per_query=own[:, None])
    return np.sort(rows, axis=1)


def _overlap(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> F64:
    """Per-row share of common ids of two ``(n, k)`` id lists."""
    k = a.shape[1]
    return np.array([len(np.intersect1d(r, s, assume_unique=True)) / k for r, s in zip(a, b, strict=True)])


def _shared(spaces: Sequence[EmbeddingSpace]) -> list[str]:
    first = spaces[0]
    order = list(first.keys)
    if first.counts is not None:
        order = [first.keys[i] for i in np.argsort(-np.asarray(first.counts), kind="stable")]
    return [key for key in order if all(key in s for s in spaces[1:])]


def stability(space: EmbeddingSpace | Sequence[EmbeddingSpace], k: int = 10, *, rounds: int = 5,
              fraction: float = 0.5, sample: int = 2_000, pool: int = 20_000, least: int = 20,
              seed: int = 0) -> Stability:
    """Neighbourhood stability of ``sample`` random probe keys, neighbours searched among ``pool`` keys.

    Give several spaces (runs) for stability across runs, or one space for stability under random
    subspaces (``rounds`` draws of ``fraction`` of its coordinates); see the module docs.
    """
    if k < 1:
        raise InvalidInputError(f"k must be positive, got {k}")
    if not 0 < fraction < 1:
        raise InvalidInputError(f"fraction must be between 0 and 1, got {fraction}")
    runs = list(space) if not isinstance(space, EmbeddingSpace) else [space]
    if not runs or not all(isinstance(s, EmbeddingSpace) for s in runs):
        raise InvalidInputError("stability() takes an EmbeddingSpace or a sequence of them")
    rng = np.random.default_rng(seed)
    first = runs[0]
    if len(runs) == 1:
        mode = "coordinates"
        x, keys, _ = _rows(first, pool, seed, min_rows=k + 2)
        assert keys is not None
        if rounds < 1:
            raise InvalidInputError(f"rounds must be positive, got {rounds}")
        probe = np.sort(rng.choice(len(x), min(sample, len(x)), replace=False))
        x64 = x.astype(np.float64)
        full = _knn(x64[probe], x64, probe, k, first.metric)
        keep = max(1, round(fraction * first.dim))
        per = np.zeros(len(probe))
        for _ in range(rounds):
            cols = np.sort(rng.choice(first.dim, keep, replace=False))
            sub = np.ascontiguousarray(x64[:, cols])
            per += _overlap(full, _knn(sub[probe], sub, probe, k, first.metric))
        per /= rounds
        pairs = rounds
    else:
        mode = "runs"
        shared = _shared(runs)
        if len(shared) < k + 2:
            raise InvalidInputError(f"the spaces share {len(shared)} keys; at least {k + 2} are needed")
        if len(shared) > pool:
            shared = [shared[i] for i in np.sort(rng.choice(len(shared), pool, replace=False))]
        probe = np.sort(rng.choice(len(shared), min(sample, len(shared)), replace=False))
        graphs = []
        for s in runs:
            x64 = np.asarray(s.vectors[[s.index_of(key) for key in shared]], np.float64)
            graphs.append(_knn(x64[probe], x64, probe, k, s.metric))
        per = np.zeros(len(probe))
        pairs = 0
        for a, b in combinations(graphs, 2):
            per += _overlap(a, b)
            pairs += 1
        per /= pairs
        keys = shared
    probe_keys = [keys[i] for i in probe]
    corr = None
    if first.counts is not None and len(per) > 2 and np.ptp(per) > 0:
        from scipy.stats import spearmanr

        counts = np.asarray(first.counts)[[first.index_of(key) for key in probe_keys]]
        if np.ptp(counts) > 0:
            corr = float(spearmanr(per, counts).statistic)
    order = np.argsort(per, kind="stable")[:least]
    worst = [(probe_keys[i], float(per[i])) for i in order]
    qs = {f"p{p}": float(np.percentile(per, p)) for p in (10, 50, 90)}
    mean = float(per.mean())
    if mode == "runs":
        text = (f"Across {len(runs)} runs, a key keeps on average {mean:.0%} of its {k} nearest neighbours "
                f"(median {qs['p50']:.0%}, the worst tenth {qs['p10']:.0%} or less).")
    else:
        text = (f"With a random {fraction:.0%} of the coordinates, a key keeps on average {mean:.0%} of its {k} "
                f"nearest neighbours (median {qs['p50']:.0%}; {rounds} draws).")
        text += (" The neighbourhoods are spread over many coordinates." if mean >= 0.5 else
                 " The neighbourhoods hang on a few coordinates or on fine detail: treat small similarity "
                 "differences with care.")
    if corr is not None:
        text += f" Stability and frequency correlate at {corr:+.2f} (Spearman)" + (
            ": rare keys have the least reliable neighbours." if corr > 0.3 else ".")
    return Stability(mode, k, pairs, mean, qs, worst, corr, per, probe_keys, text)
