"""Recommendation embeddings: embspace MatrixFactorization vs implicit 0.7 (ALS, BPR) on MovieLens.

One process, the same Interactions (and so the same user/item codes) for both libraries, 64 factors,
the same thread count:

- explicit ratings: ``embspace.train.MatrixFactorization(objective="explicit", seed=s, progress=False)``
  (defaults: dim 64, 60 epochs, regularization 0.1, learning rate 0.01) on ml-100k ``u1.base``,
  RMSE/MAE on ``u1.test`` (pairs whose user or item is not in ``u1.base`` predicted as the global mean);
- top-k with ratings >= 4 as positives: embspace ``objective="als"|"bpr"`` vs
  ``implicit.cpu.als.AlternatingLeastSquares`` / ``implicit.cpu.bpr.BayesianPersonalizedRanking``
  (``num_threads=threads``), both fitted on the same binary positives (value 1 per pair; implicit gets
  ``Interactions.user_item_matrix("ones")`` of the very Interactions embspace fits, rows = users), on
  ml-100k ``u1`` (train: ``u1.base`` ratings >= 4; relevance: ``u1.test`` ratings >= 4) and on
  ml-latest-small (``leave_last_out(all ratings, n=5)`` by timestamp, the train part's ratings >= 4 as
  positives, relevance: held-out ratings >= 4; a leave-one-out (n=1) check is reported beside it).
  NDCG@10 via ``embspace.evaluate.recommendation``; each library's own recommend call leaves out the
  user's training positives (``MatrixFactorization(...).fit(x).recommender_.recommend(user, k)``; implicit's
  ``recommend(userids, user_items[userids], N=k, filter_already_liked_items=True)``).
- hyper-parameters: a grid for BOTH libraries (ALS: regularization x the confidence c of a positive pair,
  15 iterations -- implicit weighs a positive ``alpha * value`` and embspace ``1 + alpha * value``, so c
  is implicit's ``alpha=c`` and embspace's ``alpha=c - 1``; BPR:
  learning rate x regularization x epochs), each config fitted once on ``random_split(train, 0.2,
  seed)``'s train part and scored on its held-out part (validation, never the test set) by one ranking
  code for both (user · item from the raw factors, training positives masked); the best
  config of each (library, model) is then refitted on the whole train split and scored on test.

Timing: the constructor + ``fit`` (implicit: + building its CSR from the Interactions), after a
warm-up fit of every kernel (numba compiles or loads its cache on first use), median of ``--runs``
runs interleaved across systems (run r uses seed ``seed + r``); the grid's times are single fits.

Usage::

    python benchmarks/recommend.py             # full: grid + 3 interleaved runs, 2 threads (~6.5 min)
    python benchmarks/recommend.py --quick     # smoke test: the libraries' defaults only, 1 run
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import itertools
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

from _report import (
    busy_sentence,
    cpu_snapshot,
    measured_sentence,
    other_cpu,
    publish_section,
    say,
    set_threads,
    version,
    write_json,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "recommend.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
DEFAULT_DATA = ROOT.parent / "shared" / "data"
SECTION = "## Recommendation (issue 7)"
ML100K = Path("recsys") / "ml-100k.zip"
MLSMALL = Path("recsys") / "ml-latest-small.zip"

DIM = 64
THRESHOLD = 4.0
RMSE_TARGET = 0.93
TIME_TARGET = 1.5
# The libraries' own defaults (64 factors), for reference rows.
DEFAULTS = {
    ("embspace", "als"): {"regularization": 0.01, "confidence": 11.0, "epochs": 15},  # alpha 10
    ("embspace", "bpr"): {"learning_rate": 0.01, "regularization": 0.01, "epochs": 100},
    ("implicit", "als"): {"regularization": 0.01, "confidence": 1.0, "epochs": 15},  # alpha 1
    ("implicit", "bpr"): {"learning_rate": 0.01, "regularization": 0.01, "epochs": 100},
}
# The grid of both libraries: the example grid, widened where a first run chose a config on its
# edge (ALS regularization up to 100; BPR learning rates 0.005 and 0.1, 25 to 400 epochs). ALS's axis is the
# confidence of a positive pair, c = 1 + embspace's alpha = implicit's alpha: {1, 2, 4, 11, 41} covers
# embspace's alpha {0, 1, 3, 10, 40} and implicit's alpha {1, 2, 4, 11, 41} (both libraries' defaults included).
GRID = {
    "als": [{"regularization": r, "confidence": c, "epochs": 15}
            for r, c in itertools.product((0.01, 0.1, 1.0, 10.0, 30.0, 100.0), (1.0, 2.0, 4.0, 11.0, 41.0))],
    "bpr": [{"learning_rate": lr, "regularization": r, "epochs": e}
            for lr, r, e in itertools.product((0.005, 0.01, 0.05, 0.1), (0.001, 0.01), (25, 50, 100, 200, 400))],
}
LIBS = ("embspace", "implicit")
MODELS = ("als", "bpr")


# ---------------------------------------------------------------------------------------------- arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", type=int, default=None, help="timed runs per system, interleaved (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=2, help="fit threads and BLAS/OpenMP/numba threads, both libraries")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split and of run 1 (run r: seed + r)")
    p.add_argument("--k", type=int, default=10, help="the cut-off of NDCG@k")
    p.add_argument("--small-n", type=int, default=5,
                   help="ml-latest-small: each user's n latest ratings held out (leave_last_out(x, n))")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share carved from train (per user)")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder (holds recsys/)")
    p.add_argument("--quick", action="store_true", help="smoke test: no grid (the defaults), 1 run")
    p.add_argument("--json", type=Path, default=None,
                   help=f"results file (default {DEFAULT_JSON.relative_to(ROOT)}; --quick: recommend-quick.json)")
    p.add_argument("--markdown", type=Path, default=None,
                   help=f"Markdown file whose section is refreshed (default {DEFAULT_MARKDOWN.name} for a full run)")
    p.add_argument("--no-markdown", action="store_true", help="do not write the Markdown section")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: print the tables of the --json results and refresh the Markdown")
    args = p.parse_args(argv)
    args.runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if args.json is None:
        args.json = DEFAULT_JSON.with_name("recommend-quick.json") if args.quick else DEFAULT_JSON
    if args.no_markdown:
        args.markdown = None
    elif args.markdown is None and not args.quick:
        args.markdown = DEFAULT_MARKDOWN
    for name in ("runs", "threads", "k", "small_n"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    if not 0.0 < args.val_fraction < 1.0:
        p.error("--val-fraction must be between 0 and 1")
    return args


# ---------------------------------------------------------------------------------------------- fitting
def library_params(lib: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The library's own keyword values for a config (ALS: confidence c -> alpha)."""
    out = {k: v for k, v in cfg.items() if k != "confidence"}
    if "confidence" in cfg:
        out["alpha"] = cfg["confidence"] - 1.0 if lib == "embspace" else cfg["confidence"]
    return out


def call_string(lib: str, model: str, cfg: dict[str, Any], threads: int) -> str:
    cfg = library_params(lib, cfg)
    if lib == "embspace":
        extra = ", ".join(f"{k}={v!r}" for k, v in cfg.items())
        return f"MatrixFactorization(dim={DIM}, objective={model!r}, {extra}, seed=s, progress=False).fit(x)"
    it = f"iterations={cfg['epochs']}"
    if model == "als":
        return (f"AlternatingLeastSquares(factors={DIM}, regularization={cfg['regularization']!r}, "
                f"alpha={cfg['alpha']!r}, {it}, random_state=s, num_threads={threads}).fit(x.user_item_matrix('ones'))")
    return (f"BayesianPersonalizedRanking(factors={DIM}, learning_rate={cfg['learning_rate']!r}, "
            f"regularization={cfg['regularization']!r}, {it}, random_state=s, num_threads={threads})"
            ".fit(x.user_item_matrix('ones'))")


def fit(lib: str, model: str, cfg: dict[str, Any], x: Any, seed: int, threads: int) -> tuple[Any, Any, float]:
    """(fitted model, its CSR or None, wall seconds of constructor + fit)."""
    cfg = library_params(lib, cfg)
    gc.collect()
    if lib == "embspace":
        from embspace.train import MatrixFactorization

        t0 = time.perf_counter()
        m = MatrixFactorization(dim=DIM, objective=model, seed=seed, progress=False, **cfg).fit(x)
        return m, None, time.perf_counter() - t0
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    t0 = time.perf_counter()
    csr = x.user_item_matrix("ones")  # rows = users, from the same codes embspace fits
    if model == "als":
        m = AlternatingLeastSquares(factors=DIM, regularization=cfg["regularization"], alpha=cfg["alpha"],
                                    iterations=cfg["epochs"], random_state=seed, num_threads=threads)
    else:
        m = BayesianPersonalizedRanking(factors=DIM, learning_rate=cfg["learning_rate"],
                                        regularization=cfg["regularization"], iterations=cfg["epochs"],
                                        random_state=seed, num_threads=threads)
    m.fit(csr, show_progress=False)
    return m, csr, time.perf_counter() - t0


def recommendations(lib: str, m: Any, csr: Any, x: Any, users: list[str], k: int) -> dict[str, list[str]]:
    """Each library's own recommend call; users unknown to the model get no list (score 0)."""
    from embspace.errors import UnknownKeyError

    if lib == "embspace":
        out: dict[str, list[str]] = {}
        for u in users:
            try:
                out[u] = list(m.recommender_.recommend(u, k).keys)
            except UnknownKeyError:
                out[u] = []
        return out
    import numpy as np

    index = {u: i for i, u in enumerate(x.user_ids)}
    known = [u for u in users if u in index]
    out = {u: [] for u in users}
    if known:
        codes = np.array([index[u] for u in known], dtype=np.int64)
        ids, _ = m.recommend(codes, csr[codes], N=k, filter_already_liked_items=True)
        for u, row in zip(known, ids.tolist(), strict=True):
            out[u] = [x.item_ids[j] for j in row if j >= 0]
    return out


def factor_recommendations(lib: str, m: Any, x: Any, users: list[str], k: int) -> dict[str, list[str]]:
    """The top-k computed here from the raw factors (score user · item, the user's training positives
    masked, ties to the lower item row), the same code for both libraries: it scores the grid, and on the
    test set it checks that each library's recommend call ranks as its factors say."""
    import numpy as np

    if lib == "embspace":
        u_vec, i_vec = np.asarray(m.user_space_.vectors, np.float64), np.asarray(m.item_space_.vectors, np.float64)
        u_keys, i_keys = list(m.user_space_.keys), list(m.item_space_.keys)
    else:
        u_vec, i_vec = np.asarray(m.user_factors, np.float64), np.asarray(m.item_factors, np.float64)
        u_keys, i_keys = list(x.user_ids), list(x.item_ids)
    u_row = {u: r for r, u in enumerate(u_keys)}
    i_row = {it: r for r, it in enumerate(i_keys)}
    col = np.array([i_row[it] for it in x.item_ids], dtype=np.int64)  # x's item code -> factor row
    seen = x.user_item_matrix("ones")
    known = [u for u in users if u in u_row]
    out: dict[str, list[str]] = {u: [] for u in users}
    if not known:
        return out
    s = u_vec[[u_row[u] for u in known]] @ i_vec.T
    for q, u in enumerate(known):
        c = x.user_index(u)
        s[q, col[seen.indices[seen.indptr[c]:seen.indptr[c + 1]]]] = -np.inf
    kk = min(k, s.shape[1])
    top = np.sort(np.argpartition(-s, kk - 1, axis=1)[:, :kk], axis=1)  # candidates, by item row
    vals = np.take_along_axis(s, top, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")  # best first; equal scores keep the lower row first
    top, vals = np.take_along_axis(top, order, axis=1), np.take_along_axis(vals, order, axis=1)
    for q, u in enumerate(known):
        out[u] = [i_keys[r] for r, v in zip(top[q].tolist(), vals[q].tolist(), strict=True) if v > -np.inf]
    return out


def score(recs: dict[str, list[str]], test: Any, k: int) -> dict[str, Any]:
    import numpy as np

    from embspace import evaluate

    r = evaluate.recommendation(recs, test, k_values=(k,), threshold=THRESHOLD)
    per = np.array([v[f"ndcg@{k}"] for v in r.per_user.values()])
    return {"ndcg": r.metrics[f"ndcg@{k}"], "recall": r.metrics[f"recall@{k}"],
            "precision": r.metrics[f"precision@{k}"], "map": r.metrics[f"map@{k}"], "n_users": r.n_users,
            "se": float(per.std(ddof=1) / math.sqrt(len(per))) if len(per) > 1 else None,
            "per_user": {u: v[f"ndcg@{k}"] for u, v in r.per_user.items()}}


def relevant_users(test: Any) -> list[str]:
    by = test.items_by_user(min_rating=THRESHOLD) if test.ratings is not None else test.items_by_user()
    return sorted(by)


# ---------------------------------------------------------------------------------------------- data
def binary(x: Any) -> Any:
    """The positives (rating >= 4) of ``x`` as value-1 interactions (no rating column)."""
    from embspace.data import Interactions

    pos = x.subset(x.ratings >= THRESHOLD)
    return Interactions({"user": pos.users, "item": pos.items})


def describe(x: Any) -> dict[str, int]:
    return {"rows": len(x), "users": x.n_users, "items": x.n_items}


def load_datasets(data: Path, small_n: int) -> dict[str, dict[str, Any]]:
    from embspace.data import leave_last_out, load_movielens_100k, load_movielens_latest_small

    out: dict[str, dict[str, Any]] = {}
    if (data / ML100K).is_file():
        base, test = load_movielens_100k(data / ML100K, split="u1")
        out["ml-100k"] = {"explicit_train": base, "explicit_test": test, "train": binary(base), "test": test,
                          "split": "u1.base / u1.test (the published 80/20 split); train positives = u1.base "
                                   "ratings >= 4; relevant = u1.test ratings >= 4"}
    else:
        say(f"ml-100k: SKIPPED, {data / ML100K} is not here")
    if (data / MLSMALL).is_file():
        allr = load_movielens_latest_small(data / MLSMALL)
        tr, te = leave_last_out(allr, n=small_n)
        tr1, te1 = leave_last_out(allr, n=1)
        out["ml-latest-small"] = {"train": binary(tr), "test": te, "loo_train": binary(tr1), "loo_test": te1,
                                  "all": describe(allr),
                                  "split": f"leave_last_out(all ratings, n={small_n}) by timestamp; train "
                                           f"positives = the rest's ratings >= 4; relevant = held-out ratings >= 4"}
    else:
        say(f"ml-latest-small: SKIPPED, {data / MLSMALL} is not here")
    return out


# ---------------------------------------------------------------------------------------------- stages
def warm_up(ds: dict[str, dict[str, Any]], threads: int) -> None:
    """One untimed fit of every kernel (numba compiles it, or loads it from its disk cache)."""
    from embspace.train import MatrixFactorization

    t0 = time.perf_counter()
    first = next(iter(ds.values()))
    x = first["train"]
    if "explicit_train" in first:
        MatrixFactorization(dim=DIM, epochs=1, progress=False).fit(first["explicit_train"])
    for lib, model in itertools.product(LIBS, MODELS):
        fit(lib, model, {**DEFAULTS[(lib, model)], "epochs": 1}, x, 0, threads)
    say(f"warm-up fits (untimed): {time.perf_counter() - t0:.1f}s")


def explicit_bench(d: dict[str, Any], runs: int, seed: int) -> dict[str, Any]:
    import numpy as np

    from embspace import evaluate
    from embspace.train import MatrixFactorization

    base, test = d["explicit_train"], d["explicit_test"]
    actual = np.asarray(test.ratings, np.float64)
    out: dict[str, Any] = {"runs": []}
    for r in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        m = MatrixFactorization(objective="explicit", seed=seed + r, progress=False).fit(base)
        wall = time.perf_counter() - t0
        users, items = test.users, test.items
        known = np.array([u in m.user_space_ and i in m.item_space_ for u, i in zip(users, items, strict=True)])
        pred = np.full(len(test), m.global_mean_)
        pred[known] = m.recommender_.predict(users[known].tolist(), items[known].tolist())
        res = {"seed": seed + r, "fit_s": wall, "rmse": evaluate.rmse(pred, actual), "mae": evaluate.mae(pred, actual),
               "unknown_pairs": int((~known).sum())}
        out["runs"].append(res)
        say(f"explicit run {r + 1}/{runs}: RMSE {res['rmse']:.4f} MAE {res['mae']:.4f} fit {wall:.2f}s")
    rs = out["runs"]
    out.update({"rmse": statistics.median(x["rmse"] for x in rs), "mae": statistics.median(x["mae"] for x in rs),
                "fit_s": statistics.median(x["fit_s"] for x in rs), "unknown_pairs": rs[0]["unknown_pairs"],
                "global_mean_rmse": evaluate.rmse(np.full(len(test), float(base.ratings.mean())), actual),
                "params": m.get_params(), "test_rows": len(test), "train_rows": len(base)})
    return out


def grid_search(name: str, d: dict[str, Any], args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict]:
    from embspace.data import random_split

    fit_part, val = random_split(d["train"], test_fraction=args.val_fraction, seed=args.seed)
    d["validation"] = {"fit": describe(fit_part), "val": describe(val)}
    users = relevant_users(val)
    rows: list[dict[str, Any]] = []
    for model in MODELS:
        configs = GRID[model] if not args.quick else []
        for lib in LIBS:
            todo = configs or [DEFAULTS[(lib, model)]]
            for cfg in todo:
                m, _, wall = fit(lib, model, cfg, fit_part, args.seed, args.threads)
                s = score(factor_recommendations(lib, m, fit_part, users, args.k), val, args.k)
                rows.append({"lib": lib, "model": model, "config": cfg, "val_ndcg": s["ndcg"], "fit_s": wall})
                say(f"{name} grid: {lib} {model} {cfg}: val NDCG@{args.k} {s['ndcg']:.4f}, fit {wall:.2f}s")
    chosen = {}
    for lib, model in itertools.product(LIBS, MODELS):
        cands = [r for r in rows if r["lib"] == lib and r["model"] == model]
        best = max(cands, key=lambda r: r["val_ndcg"])  # first of equals: grid order
        best["chosen"] = True
        chosen[f"{lib}-{model}"] = best["config"]
    return rows, chosen


def final_runs(name: str, d: dict[str, Any], chosen: dict[str, dict[str, Any]],
               args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The chosen configs (and the libraries' defaults) fitted on the whole train split, scored on test."""
    x, test = d["train"], d["test"]
    users = relevant_users(test)
    systems: dict[str, dict[str, Any]] = {}
    for lib, model in itertools.product(LIBS, MODELS):
        systems[f"{lib}-{model}"] = {"lib": lib, "model": model, "config": chosen[f"{lib}-{model}"], "kind": "tuned"}
    if not args.quick:
        for lib, model in itertools.product(LIBS, MODELS):
            systems[f"{lib}-{model}-defaults"] = {"lib": lib, "model": model, "config": DEFAULTS[(lib, model)],
                                                  "kind": "defaults"}
    for s in systems.values():
        s["runs"] = []
        s["call"] = call_string(s["lib"], s["model"], s["config"], args.threads)
    for r in range(args.runs):
        for key, s in systems.items():
            m, csr, wall = fit(s["lib"], s["model"], s["config"], x, args.seed + r, args.threads)
            t0 = time.perf_counter()
            recs = recommendations(s["lib"], m, csr, x, users, args.k)
            rec_s = time.perf_counter() - t0
            sc = score(recs, test, args.k)
            run = {"seed": args.seed + r, "fit_s": wall, "recommend_s": rec_s,
                   **{k: v for k, v in sc.items() if k != "per_user"}}
            if s["kind"] == "tuned":
                s.setdefault("per_user_runs", []).append(sc["per_user"])
            if r == 0 and s["kind"] == "tuned":
                check = score(factor_recommendations(s["lib"], m, x, users, args.k), test, args.k)
                run["factor_check_ndcg"] = check["ndcg"]
            s["runs"].append(run)
            say(f"{name} run {r + 1}/{args.runs}: {key}: NDCG@{args.k} {sc['ndcg']:.4f} (±{sc['se']:.4f}), "
                f"fit {wall:.2f}s, recommend {rec_s:.2f}s")
    for s in systems.values():
        rs = s["runs"]
        s.update({"ndcg": statistics.median(x["ndcg"] for x in rs), "fit_s": statistics.median(x["fit_s"] for x in rs),
                  "recall": statistics.median(x["recall"] for x in rs), "se": rs[0]["se"], "n_users": rs[0]["n_users"],
                  "ndcg_runs": [x["ndcg"] for x in rs], "fit_s_runs": [x["fit_s"] for x in rs],
                  "recommend_s": statistics.median(x["recommend_s"] for x in rs)})
    return systems


def leave_one_out(d: dict[str, Any], chosen: dict[str, dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """ml-latest-small with n=1 (each user's latest rating held out): the chosen configs, one run."""
    x, test = d["loo_train"], d["loo_test"]
    users = relevant_users(test)
    out: dict[str, Any] = {}
    for lib, model in itertools.product(LIBS, MODELS):
        m, csr, wall = fit(lib, model, chosen[f"{lib}-{model}"], x, args.seed, args.threads)
        sc = score(recommendations(lib, m, csr, x, users, args.k), test, args.k)
        out[f"{lib}-{model}"] = {"ndcg": sc["ndcg"], "se": sc["se"], "n_users": sc["n_users"], "fit_s": wall}
        say(f"ml-latest-small n=1: {lib}-{model}: NDCG@{args.k} {sc['ndcg']:.4f} (±{sc['se']:.4f}) "
            f"over {sc['n_users']} users")
    out["test_users_with_relevant"] = len(users)
    return out


def paired_se(a: list[dict[str, float]], b: list[dict[str, float]]) -> tuple[float, float]:
    """(mean per-user difference a - b, its standard error over users); each user's NDCG averaged over the runs."""
    import numpy as np

    common = sorted(set.intersection(*(set(x) for x in a + b)))
    diff = np.array([statistics.fmean(x[u] for x in a) - statistics.fmean(x[u] for x in b) for u in common])
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def compare(systems: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def best(lib: str) -> str:
        return max((f"{lib}-{m}" for m in MODELS), key=lambda n: systems[n]["ndcg"])

    e, i = best("embspace"), best("implicit")
    fastest = min((f"implicit-{m}" for m in MODELS), key=lambda n: systems[n]["fit_s"])
    diff, se = paired_se(systems[e]["per_user_runs"], systems[i]["per_user_runs"])
    same = {m: systems[f"embspace-{m}-defaults"]["fit_s"] / systems[f"implicit-{m}-defaults"]["fit_s"]
            for m in MODELS if f"embspace-{m}-defaults" in systems}
    return {"time_ratio_defaults": same, "embspace_best": e, "implicit_best": i, "implicit_fastest": fastest,
            "ndcg_embspace": systems[e]["ndcg"], "ndcg_implicit": systems[i]["ndcg"],
            "time_ratio_vs_best": systems[e]["fit_s"] / systems[i]["fit_s"],
            "time_ratio_vs_fastest": systems[e]["fit_s"] / systems[fastest]["fit_s"],
            "paired_diff": diff, "paired_se": se}


def acceptance(report: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    ex = report.get("explicit")
    checks.append({"check": "ml-100k u1 explicit RMSE (defaults, median of runs)", "target": f"<= {RMSE_TARGET}",
                   "measured": f"{ex['rmse']:.4f} (MAE {ex['mae']:.4f}, fit {ex['fit_s']:.2f} s)" if ex else
                   "not measured", "holds": (ex["rmse"] <= RMSE_TARGET) if ex else None})
    for name, d in report["datasets"].items():
        c = d.get("comparison")
        if c is None:
            continue
        s = d["systems"]
        checks.append({"check": f"{name}: embspace's best NDCG@{report['config']['k']} >= implicit's best",
                       "target": ">= 1.00x",
                       "measured": f"{c['embspace_best']} {c['ndcg_embspace']:.4f} vs {c['implicit_best']} "
                                   f"{c['ndcg_implicit']:.4f} (paired per-user diff: {c['paired_diff']:+.4f} "
                                   f"± {c['paired_se']:.4f} SE)",
                       "holds": c["ndcg_embspace"] >= c["ndcg_implicit"]})
        e, i, f = c["embspace_best"], c["implicit_best"], c["implicit_fastest"]
        checks.append({"check": f"{name}: fit time of embspace's best vs implicit's best model",
                       "target": f"<= {TIME_TARGET}x",
                       "measured": f"{s[e]['fit_s']:.2f} s vs {s[i]['fit_s']:.2f} s = {c['time_ratio_vs_best']:.2f}x"
                                   f" (vs the faster implicit model, {f}: {s[f]['fit_s']:.2f} s = "
                                   f"{c['time_ratio_vs_fastest']:.2f}x)",
                       "holds": c["time_ratio_vs_best"] <= TIME_TARGET})
    for c in checks:
        c["note"] = "quick mode: no grid, 1 run" if report["config"]["quick"] else ""
    return checks


# ---------------------------------------------------------------------------------------------- main
def command_line(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/recommend.py"]
    if args.quick:
        parts.append("--quick")
    parts += ["--runs", str(args.runs), "--threads", str(args.threads)]
    for flag, value, default in (("--seed", args.seed, 0), ("--k", args.k, 10), ("--small-n", args.small_n, 5),
                                 ("--val-fraction", args.val_fraction, 0.2)):
        if value != default:
            parts += [flag, str(value)]
    if args.data_dir.resolve() != DEFAULT_DATA.resolve():
        parts += ["--data-dir", str(args.data_dir)]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        report = json.loads(args.json.read_text(encoding="utf-8"))
        publish(report, args.json, args.markdown)
        return 0
    # Thread control BEFORE numpy (and its BLAS) is loaded.
    set_threads(args.threads)
    # implicit warns when OpenBLAS has more than one thread; both libraries get the same BLAS threads here.
    warnings.filterwarnings("ignore", message="OpenBLAS is configured to use", category=RuntimeWarning)
    try:
        import implicit  # noqa: F401
    except ImportError:
        say("SKIPPED: the recommendation benchmark needs implicit (pip install 'implicit>=0.7')")
        return 0
    data = args.data_dir.resolve()
    ds = load_datasets(data, args.small_n)
    if not ds:
        say(f"SKIPPED: no MovieLens archive under {data / 'recsys'} (ml-100k.zip, ml-latest-small.zip)")
        return 0
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    cpu_start = cpu_snapshot()
    warm_up(ds, args.threads)
    report: dict[str, Any] = {"benchmark": "recommendation (issue 7)", "command": command_line(args), "datasets": {}}
    if "explicit_train" in ds.get("ml-100k", {}):
        report["explicit"] = explicit_bench(ds["ml-100k"], args.runs, args.seed)
    for name, d in ds.items():
        grid, chosen = grid_search(name, d, args)
        systems = final_runs(name, d, chosen, args)
        entry: dict[str, Any] = {"split": d["split"], "train": describe(d["train"]), "test": describe(d["test"]),
                                 "test_users_with_relevant": len(relevant_users(d["test"])),
                                 "validation": d["validation"], "grid": grid, "chosen": chosen, "systems": systems,
                                 "comparison": compare(systems)}
        if "all" in d:
            entry["all"] = d["all"]
        if "loo_train" in d:
            entry["leave_one_out"] = leave_one_out(d, chosen, args)
        report["datasets"][name] = entry
    load_after = os.getloadavg()
    contention = other_cpu(cpu_start, cpu_snapshot())
    contention = contention if contention["other_cpu_s"] is not None else None
    versions = {"python": platform.python_version(), "numpy": version("numpy"), "scipy": version("scipy"),
                "numba": version("numba"), "implicit": version("implicit"), "embspace": version("embspace")}
    report["config"] = {
        "dim": DIM, "k": args.k, "threshold": THRESHOLD, "threads": args.threads, "runs": args.runs,
        "seed": args.seed, "quick": args.quick, "small_n": args.small_n, "val_fraction": args.val_fraction,
        "grid": GRID, "defaults": {f"{lib}-{m}": c for (lib, m), c in DEFAULTS.items()},
        "timing": "constructor + fit (implicit: + Interactions.user_item_matrix('ones')), after warm-up fits; "
                  "median of the interleaved runs (seed + r)",
        "versions": versions, "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": platform.processor() or platform.machine(),
        "loadavg_before": list(load_before), "loadavg_after": list(load_after), "other_processes": contention,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "total_s": time.perf_counter() - t_start,
    }
    report["acceptance"] = acceptance(report)
    for d in report["datasets"].values():  # per-user lists only served the paired comparison
        for s in d["systems"].values():
            s.pop("per_user_runs", None)
    write_json(args.json, report)
    publish(report, args.json, args.markdown)
    return 0


# ---------------------------------------------------------------------------------------------- output
LABEL = {"embspace-als": "embspace ALS", "embspace-bpr": "embspace BPR", "implicit-als": "implicit ALS",
         "implicit-bpr": "implicit BPR"}


def _cfg(cfg: dict[str, Any], lib: str | None = None) -> str:
    """A config in words; with ``lib``, ALS's confidence also as that library's alpha."""
    short = {"regularization": "reg", "confidence": "c", "epochs": "epochs", "learning_rate": "lr"}
    text = ", ".join(f"{short[k]} {v:g}" for k, v in cfg.items())
    if lib is not None and "confidence" in cfg:
        text += f" (alpha {library_params(lib, cfg)['alpha']:g})"
    return text


def _label(key: str) -> str:
    base = key.removesuffix("-defaults")
    return LABEL[base] + (" (defaults)" if key.endswith("-defaults") else " (tuned)")


def _table(heads: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(["---"] * len(heads)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def system_rows(d: dict[str, Any], k: int) -> tuple[list[str], list[list[str]]]:
    c = d["comparison"]
    heads = ["system", "config", f"NDCG@{k} (± SE over users)", f"recall@{k}", "fit s (median)",
             "fit vs implicit's best", "factor check"]
    rows = []
    ref = d["systems"][c["implicit_best"]]["fit_s"]
    for key, s in d["systems"].items():
        check = s["runs"][0].get("factor_check_ndcg")
        rows.append([_label(key), _cfg(s["config"], s["lib"]), f"{s['ndcg']:.4f} (± {s['se']:.4f})",
                     f"{s['recall']:.4f}",
                     f"{s['fit_s']:.2f}", f"{s['fit_s'] / ref:.2f}x",
                     "—" if check is None else ("same" if abs(check - s["runs"][0]["ndcg"]) < 1e-9
                                                else f"{check:.4f}")])
    return heads, rows


def grid_rows(d: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    heads = ["model", "config", "embspace val NDCG", "embspace fit s", "implicit val NDCG", "implicit fit s"]
    by: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in d["grid"]:
        by.setdefault((r["model"], _cfg(r["config"])), {})[r["lib"]] = r
    rows = []
    for (model, cfg), libs in by.items():
        row = [model.upper(), cfg]
        for lib in LIBS:
            r = libs.get(lib)
            row += ["—", "—"] if r is None else [f"{r['val_ndcg']:.4f}" + (" *" if r.get("chosen") else ""),
                                                 f"{r['fit_s']:.2f}"]
        rows.append(row)
    return heads, rows


def acceptance_table(report: dict[str, Any]) -> str:
    rows = [[c["check"], c["target"], c["measured"],
             "not measured" if c["holds"] is None else ("yes" if c["holds"] else "NO")] for c in report["acceptance"]]
    return _table(["target", "required", "measured", "holds"], rows)


def explicit_table(report: dict[str, Any]) -> str:
    ex = report["explicit"]
    runs = ", ".join(f"{r['rmse']:.4f}" for r in ex["runs"])
    return _table(["system", "RMSE (median)", "MAE", "fit s", "RMSE per run"],
                  [["embspace explicit (defaults)", f"{ex['rmse']:.4f}", f"{ex['mae']:.4f}", f"{ex['fit_s']:.2f}",
                    runs],
                   ["global mean (reference)", f"{ex['global_mean_rmse']:.4f}", "—", "—", "—"]])


def print_table(report: dict[str, Any]) -> None:
    k = report["config"]["k"]
    width = max(150, shutil.get_terminal_size().columns)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of embspace
        console = None
    else:
        console = Console(width=width)

    def show(title: str, heads: list[str], rows: list[list[str]]) -> None:
        if console is None:
            print(title)
            print(_table(heads, rows))
            return
        t = Table(title=title)
        for i, h in enumerate(heads):
            t.add_column(h, justify="left" if i < 2 else "right")
        for r in rows:
            t.add_row(*r)
        console.print(t)

    if "explicit" in report:
        ex = report["explicit"]
        show("ml-100k u1 explicit ratings", ["system", "RMSE", "MAE", "fit s"],
             [["embspace explicit (defaults)", f"{ex['rmse']:.4f}", f"{ex['mae']:.4f}", f"{ex['fit_s']:.2f}"],
              ["global mean", f"{ex['global_mean_rmse']:.4f}", "—", "—"]])
    for name, d in report["datasets"].items():
        show(f"{name}: top-{k} on test ({d['test_users_with_relevant']} users with a relevant item; "
             f"runs={report['config']['runs']})", *system_rows(d, k))
        show(f"{name}: grid on validation (* chosen)", *grid_rows(d))
        loo = d.get("leave_one_out")
        if loo:
            show(f"{name}: leave-one-out (n=1) check, chosen configs, 1 run", ["system", f"NDCG@{k}", "SE", "users"],
                 [[LABEL[key], f"{v['ndcg']:.4f}", f"{v['se']:.4f}", str(v["n_users"])]
                  for key, v in loo.items() if isinstance(v, dict)])
    show("Acceptance", ["target", "required", "measured", "holds"],
         [[c["check"], c["target"], c["measured"], "—" if c["holds"] is None else ("yes" if c["holds"] else "NO")]
          for c in report["acceptance"]])
    print(f"  total {report['config']['total_s']:.0f} s")
    other = report["config"].get("other_processes")
    if other:
        print(f"  other processes: {other['other_cpu_s']:.0f} CPU-s during the run ({100 * other['other_share']:.0f}% "
              "of the machine)")


def publish(report: dict[str, Any], json_path: Path, markdown: Path | None) -> None:
    print_table(report)
    say(f"results: {json_path}")
    publish_section(markdown, SECTION, markdown_section(report))


def markdown_section(report: dict[str, Any]) -> str:
    cfg = report["config"]
    k, v = cfg["k"], cfg["versions"]
    load = cfg["loadavg_before"][0], cfg["loadavg_after"][0]
    other = cfg.get("other_processes")
    busy = busy_sentence(other)
    paras = [
        SECTION,
        f"embspace `MatrixFactorization` against `implicit` {v['implicit']} (ALS and BPR, CPU), in one process, "
        f"{DIM} factors, {cfg['threads']} threads each (fit threads and BLAS/OpenMP/numba). Both libraries fit the "
        "SAME `Interactions` (implicit gets `x.user_item_matrix(\"ones\")`, rows = users, from the codes embspace "
        "uses): the training ratings >= 4 as binary positives (value 1 per pair). Top-k lists come from each "
        "library's own recommend call, which leaves out the user's training positives; NDCG@10 by "
        "`embspace.evaluate.recommendation` (binary relevance: held-out rating >= 4; users without a relevant "
        "held-out item are not counted; a test user with no training positive scores 0 for both). "
        "Fit time = constructor + `fit` (implicit: + building its CSR), after one untimed warm-up fit of every "
        f"kernel (numba compiles or loads its cache on first use); median of {cfg['runs']} runs interleaved across "
        "systems, run r with seed `seed + r` (implicit's BPR with 2 threads is not bit-reproducible). ± is the "
        "standard error of the per-user NDCG of run 1.",
    ]
    if "explicit" in report:
        ex = report["explicit"]
        paras += [
            f"**Explicit ratings**, ml-100k `u1.base` -> `u1.test` ({ex['train_rows']:,} / {ex['test_rows']:,} "
            f"ratings), `MatrixFactorization(objective=\"explicit\")` with its defaults (dim 64, 60 epochs, "
            f"regularization 0.1, learning rate 0.01); the {ex['unknown_pairs']} test pairs whose movie is not in "
            "`u1.base` are predicted as the global mean. No peer: implicit has no explicit-rating model.",
            explicit_table(report),
        ]
    for name, d in report["datasets"].items():
        tr, te, val = d["train"], d["test"], d["validation"]
        c = d["comparison"]
        text = (f"**{name}**: {d['split']}. Train positives: {tr['rows']:,} pairs, {tr['users']:,} users, "
                f"{tr['items']:,} items; test: {te['rows']:,} held-out ratings, {d['test_users_with_relevant']} "
                "users with a relevant one.")
        paras.append(text)
        paras.append(_table(*system_rows(d, k)))
        e, i, f = c["embspace_best"], c["implicit_best"], c["implicit_fastest"]
        s = d["systems"]
        paras.append(
            f"Best on test: {LABEL[e]} {c['ndcg_embspace']:.4f} vs {LABEL[i]} {c['ndcg_implicit']:.4f} (paired "
            f"per-user difference, each user's NDCG averaged over the runs: {c['paired_diff']:+.4f} ± "
            f"{c['paired_se']:.4f} SE); fit "
            f"{s[e]['fit_s']:.2f} s vs {s[i]['fit_s']:.2f} s = {c['time_ratio_vs_best']:.2f}x, and "
            f"{c['time_ratio_vs_fastest']:.2f}x the faster implicit model ({LABEL[f]}, {s[f]['fit_s']:.2f} s). "
            "\"factor check\": NDCG of the top-k recomputed here from the raw factors (user · item, training "
            "positives masked), \"same\" when it equals the library's recommend call."
            + ("" if not c.get("time_ratio_defaults") else
               " At the libraries' default settings (the same work: BPR lr 0.01, reg 0.01, 100 epochs on both; "
               "ALS 15 iterations, only alpha differs) embspace's fit takes "
               + ", ".join(f"{r:.2f}x implicit's ({m.upper()})" for m, r in c["time_ratio_defaults"].items())
               + "."))
        if not cfg["quick"]:
            paras.append(
                f"Grid on validation: `random_split(train, {cfg['val_fraction']}, seed={cfg['seed']})` "
                f"({val['fit']['rows']:,} pairs to fit, {val['val']['rows']:,} held out; every held-out pair is "
                f"relevant), each config fitted once (seed {cfg['seed']}) and scored by the same ranking code for both "
                "libraries (the \"factor check\" above: user · item, training positives masked), * = chosen for "
                "test; the fit times of this table are single fits. ALS's c is the confidence of a positive "
                "pair: implicit weighs it `alpha * value` and embspace `1 + alpha * value`, so each row gives "
                "implicit `alpha=c` and embspace `alpha=c - 1` (the same model).")
            paras.append(_table(*grid_rows(d)))
        loo = d.get("leave_one_out")
        if loo:
            sys_loo = {key: x for key, x in loo.items() if isinstance(x, dict)}
            rows = [[LABEL[key], f"{x['ndcg']:.4f} (± {x['se']:.4f})", str(x["n_users"])] for key, x in sys_loo.items()]
            rel = statistics.median(x["se"] / x["ndcg"] for x in sys_loo.values() if x["ndcg"] > 0)
            rel_n = statistics.median(s["se"] / s["ndcg"] for key, s in d["systems"].items()
                                      if not key.endswith("-defaults") and s["ndcg"] > 0)
            paras.append(
                f"Why n = {cfg['small_n']} on ml-latest-small: leave-one-out (n=1, each user's latest rating held "
                f"out) leaves only {loo['test_users_with_relevant']} users whose held-out rating is >= 4, and the "
                f"standard error is {100 * rel:.0f}% of the NDCG itself (median over the four models; with "
                f"n = {cfg['small_n']}: {100 * rel_n:.0f}%). Chosen configs, one run, seed {cfg['seed']}:")
            paras.append(_table(["system", f"NDCG@{k} (± SE)", "users"], rows))
    runs = "; ".join(f"{name} {key} " + ", ".join(f"{t:.2f}" for t in s["fit_s_runs"])
                     for name, d in report["datasets"].items() for key, s in d["systems"].items())
    paras += [
        f"Acceptance targets (issue 7){' — QUICK run, no grid' if cfg['quick'] else ''}:",
        acceptance_table(report),
        f"All fit times (s): {runs}.",
        measured_sentence(cfg["date"], cfg["cpu_count"], load, busy, v,
                          f" (this benchmark's own load included); the whole benchmark took "
                          f"{cfg['total_s'] / 60:.1f} min"),
        f"```\n{report['command']}\n```",
    ]
    return "\n\n".join(paras) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
