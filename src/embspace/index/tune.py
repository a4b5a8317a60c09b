"""tune: the cheapest search parameters that reach a recall, measured against the exact oracle."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .._types import IntArray
from ..errors import InvalidInputError
from .base import BaseIndex, check_k
from .exact import ExactIndex

__all__ = ["TuneResult", "TuneTrial", "tune"]

EF_SEARCH_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
NPROBE_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048,
               4096, 8192, 16384, 32768, 65536)
K_FACTOR_GRID = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class TuneTrial:
    """One measured parameter setting.

    Attributes
    ----------
    params
        The search parameters tried.
    recall
        Mean recall@k against the exact oracle over the sample queries.
    latency_ms
        Wall time of the batched search divided by the number of queries, in milliseconds.
    qps
        Queries per second of that batched search.
    cost
        Estimated distance computations per query (the cost model used to rank settings).
    """

    params: dict[str, int]
    recall: float
    latency_ms: float
    qps: float
    cost: float


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune` chose and everything it measured.

    Attributes
    ----------
    params
        The chosen parameters (already set on the index).
    recall
        Their recall@k.
    latency_ms
        Their latency per query (batched), in milliseconds.
    target_recall, k
        The goal.
    reached
        Whether some setting reached ``target_recall`` (if not, the best recall was chosen).
    trials
        Every setting tried, in the order tried.
    """

    params: dict[str, int]
    recall: float
    latency_ms: float
    target_recall: float
    k: int
    reached: bool
    trials: list[TuneTrial] = field(default_factory=list)

    def to_markdown(self) -> str:
        """The trials as a Markdown table, the chosen row in bold."""
        names = sorted({n for t in self.trials for n in t.params})
        head = "| " + " | ".join([*names, f"recall@{self.k}", "ms/query", "QPS", "cost"]) + " |"
        rule = "|" + "---|" * (len(names) + 4)
        rows = []
        for t in self.trials:
            cells = [str(t.params.get(n, "")) for n in names]
            cells += [f"{t.recall:.4f}", f"{t.latency_ms:.4f}", f"{t.qps:.0f}", f"{t.cost:.0f}"]
            if t.params == self.params:
                cells = [f"**{c}**" for c in cells]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join([head, rule, *rows])

    def __str__(self) -> str:
        status = "reached" if self.reached else "NOT reached"
        return (f"target recall@{self.k} {self.target_recall} {status}: {self.params} gives "
                f"{self.recall:.4f} at {self.latency_ms:.3f} ms/query\n{self.to_markdown()}")


def _recall(found: IntArray, truth: IntArray) -> float:
    """Mean over queries of |found & truth| / |truth| (missing hits, id -1, never count)."""
    if truth.size == 0:
        return 1.0
    total = 0.0
    for f, t in zip(found, truth, strict=True):
        t = t[t >= 0]
        if len(t):
            total += len(np.intersect1d(f[f >= 0], t, assume_unique=True)) / len(t)
        else:
            total += 1.0
    return total / len(truth)


def _grid(index: BaseIndex, k: int) -> dict[str, list[int]]:
    params = index.params
    grid: dict[str, list[int]] = {}
    if "efSearch" in params:
        grid["efSearch"] = sorted({k, *(v for v in EF_SEARCH_GRID if v > k)})
    if "nprobe" in params:
        nlist = int(getattr(index, "nlist", 0) or max(NPROBE_GRID))
        grid["nprobe"] = sorted({*(v for v in NPROBE_GRID if v < nlist), nlist})
    if "k_factor" in params:
        grid["k_factor"] = list(K_FACTOR_GRID)
    return grid


def tune(index: BaseIndex, sample_queries: npt.ArrayLike, target_recall: float = 0.95, k: int = 10, *,
         vectors: npt.ArrayLike | None = None, ids: npt.ArrayLike | None = None) -> TuneResult:
    """Find the cheapest search parameters of ``index`` whose recall@k reaches ``target_recall``.

    The exact answers come from an :class:`~embspace.index.ExactIndex` over the same vectors (the
    oracle), on the caller's own data and queries. Settings are tried from cheap to expensive:
    ``efSearch`` (HNSW) or ``nprobe`` (IVF) upwards until the target is met; with refinement, for
    each ``k_factor`` (1, 2, 4, ...) the smallest passing ``nprobe``/``efSearch``, until a larger
    ``k_factor`` no longer lowers it. Among the
    passing settings the one with the fewest estimated distance computations per query wins
    (a deterministic cost model; measured latencies are reported next to it). The chosen
    parameters are set on the index (and saved with it).

    Parameters
    ----------
    index
        A :class:`~embspace.index.FaissIndex` (an exact index has nothing to tune: one trial).
    sample_queries
        ``(nq, dim)`` queries like the ones the index will serve (a few hundred suffice).
    target_recall
        Recall@k to reach, in (0, 1].
    k
        Hits per query the recall is measured at.
    vectors, ids
        The original vectors of the index (and their ids; default :attr:`~BaseIndex.ids`, in
        order of addition). Needed when the index stores compressed codes (PQ, SQ without
        ``Refine(Flat)``); otherwise read back from the index.

    Returns
    -------
    TuneResult
        The chosen parameters, their recall and latency, and every trial. When no setting
        reaches the target, the one with the best recall is set and a warning says so.
    """
    if not isinstance(target_recall, int | float) or isinstance(target_recall, bool) or not 0 < target_recall <= 1:
        raise InvalidInputError(f"target_recall must be in (0, 1], got {target_recall!r}")
    k = check_k(k)
    queries = np.ascontiguousarray(sample_queries, dtype=np.float32)
    if queries.ndim != 2 or len(queries) == 0:
        raise InvalidInputError(f"sample_queries must be a non-empty (nq, dim) matrix, got shape {queries.shape}")
    if index.ntotal == 0:
        raise InvalidInputError("the index is empty: add vectors before tuning it")

    oracle = ExactIndex(index.dim, metric=index.metric)
    if vectors is None:
        if ids is not None:
            raise InvalidInputError("ids were given without vectors; give both, or neither")
        if not index.stores_exact_vectors:
            raise InvalidInputError(
                f"{index!r} stores compressed vectors, which cannot serve as the exact oracle; pass the "
                "original vectors (and their ids) as tune(index, queries, vectors=..., ids=...)"
            )
        ids = index.ids
        vectors = index.reconstruct(ids)
    elif ids is None:
        ids = index.ids
    oracle.add(vectors, ids)
    if oracle.ntotal != index.ntotal:
        raise InvalidInputError(f"{oracle.ntotal} vectors were given but the index holds {index.ntotal}")
    truth = oracle.search(queries, k).ids

    cost_of: Any = getattr(index, "_search_cost", None)
    base = index.params
    index.search(queries[: min(len(queries), 8)], k)  # warm-up: first-call costs out of the timings
    trials: list[TuneTrial] = []
    seen: dict[tuple[tuple[str, int], ...], TuneTrial] = {}

    def trial(params: dict[str, int]) -> TuneTrial:
        key = tuple(sorted(params.items()))
        if key in seen:
            return seen[key]
        t0 = time.perf_counter()
        found = index.search(queries, k, params=params).ids
        dt = max(time.perf_counter() - t0, 1e-9)
        cost = float(cost_of({**base, **params}, k)) if cost_of is not None else float(index.ntotal)
        t = TuneTrial(dict(params), _recall(found, truth), 1000 * dt / len(queries), len(queries) / dt, cost)
        trials.append(t)
        seen[key] = t
        return t

    grid = _grid(index, k)
    primary = next((n for n in ("efSearch", "nprobe") if n in grid), None)
    passing: list[TuneTrial] = []
    if primary is None and "k_factor" not in grid:
        passing = [t for t in [trial({})] if t.recall >= target_recall]
    elif primary is None or "k_factor" not in grid:
        name = primary or "k_factor"
        for v in grid[name]:
            t = trial({name: v})
            if t.recall >= target_recall:
                passing.append(t)
                break
    else:
        # For each k_factor (cheapest first), the smallest passing primary value. More k_factor never
        # needs more of the primary parameter, so each scan stops at the previous answer; a k_factor
        # that fails even there is skipped after one trial; the loop ends once k_factor stops helping.
        bound = len(grid[primary])
        for kf in grid["k_factor"]:
            values = grid[primary][:bound]
            if trial({primary: values[-1], "k_factor": kf}).recall < target_recall:
                continue
            i = next(j for j, v in enumerate(values) if trial({primary: v, "k_factor": kf}).recall >= target_recall)
            passing.append(trial({primary: values[i], "k_factor": kf}))  # measured already: from the cache
            improved = i + 1 < bound or len(passing) == 1
            bound = i + 1
            if bound == 1 or not improved:
                break
    passing = [t for t in trials if t.recall >= target_recall]  # every passing setting measured, probes included
    if passing:
        best = min(passing, key=lambda t: (t.cost, t.latency_ms))
    else:
        best = max(trials, key=lambda t: (t.recall, -t.cost))
        warnings.warn(f"tune: no setting reached recall@{k} {target_recall}; the best ({best.params}, recall "
                      f"{best.recall:.4f}) was set. Consider a larger index type or refinement.",
                      RuntimeWarning, stacklevel=2)
    if best.params:
        index.set_params(best.params)
    return TuneResult(dict(best.params), best.recall, best.latency_ms, float(target_recall), k, bool(passing),
                      trials)
