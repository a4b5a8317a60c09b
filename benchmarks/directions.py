"""Directions and bias (issue 27): WEAT side by side with WEFE, hard debiasing and INLP with before/after WEAT
and WordSim-353, and the "Lipstick on a Pig" recovery check.

One process, on a word space (default: the shipped wiki word vectors, ``embspace.data.demo_words``; ``--space``
names another, e.g. a word2vec trained on wiki17), word lists of the original WEAT tests from the ``wefe``
package, WordSim-353 from ``../shared/data/word_eval``:

- (a) WEAT 1-8 (Caliskan et al. 2017): our effect size d, statistic and permutation p-value (exact when there
  are at most ``--permutations`` re-partitions, else that many sampled with seed 0) next to WEFE's WEAT effect
  size on the same vectors and lists (WEFE's lowercase preprocessor, so both look up the same words);
- (b) hard debiasing (Bolukbasi et al. 2016; the ten definitional pairs, ``analysis.GENDER_PAIRS``) and INLP
  (Ravfogel et al. 2020; ``--inlp-iterations`` linear SVMs on the ``--inlp-words`` words most aligned with each
  side of the pairs' direction, among the 20,000 most frequent): the gender WEAT tests (6, 7, 8: d and the
  statistic) and WordSim-353 Spearman before and after; hard debiasing also with a two-dimensional subspace, and
  with ten first-name pairs (``NAME_PAIRS``, none in the WEAT lists) added to the definitional set;
- (c) "Lipstick on a Pig" (Gonen & Goldberg 2019): an RBF SVM's held-out accuracy at telling the most
  she-aligned from the most he-aligned words (by the original space's direction) in each space;
- (d) SEAT (May et al. 2019) on all-MiniLM-L6-v2: the same tests with the words in bleached templates
  ("This is X.", ``evaluate.SEAT_TEMPLATES``) (``--skip seat`` leaves it out).

Usage::

    nice -n 19 python benchmarks/directions.py            # the shipped wiki vectors, 100,000 permutations
    nice -n 19 python benchmarks/directions.py --quick    # smoke test: 2,000 permutations, 2 INLP iterations

Writes ``benchmarks/results/directions.json`` and the "Directions and bias (issue 27)" section of BENCHMARKS.md
(not with --quick).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import publish_section, say, version, write_json

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Directions and bias (issue 27)"
WEAT_1_8 = ["flowers-insects", "instruments-weapons", "european-african-names", "european-african-names-2",
            "european-african-names-3", "career-family", "math-arts", "science-arts"]
GENDER_TESTS = ["career-family", "math-arts", "science-arts"]
NAME_PAIRS = [("mary", "james"), ("susan", "robert"), ("jennifer", "michael"), ("linda", "david"),
              ("elizabeth", "william"), ("patricia", "richard"), ("barbara", "joseph"), ("margaret", "thomas"),
              ("karen", "charles"), ("nancy", "daniel")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--space", type=Path, default=None, help="a word space [default: the shipped wiki vectors]")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--permutations", type=int, default=100_000)
    p.add_argument("--inlp-iterations", type=int, default=20)
    p.add_argument("--inlp-words", type=int, default=1000, help="words per side for INLP and the recovery check")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: seat")
    p.add_argument("--quick", action="store_true", help="2,000 permutations, 2 INLP iterations, no Markdown")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "directions.json")
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    args = p.parse_args(argv)
    if args.quick:
        args.permutations, args.inlp_iterations = min(args.permutations, 2000), min(args.inlp_iterations, 2)
    return args


def wefe_effect_sizes(space: Any, lists: dict[str, list[str]], tests: list[str]) -> dict[str, float | None]:
    """WEFE's WEAT effect size of each test on the same vectors (None without wefe)."""
    try:
        from gensim.models import KeyedVectors
        from wefe.metrics import WEAT
        from wefe.query import Query
        from wefe.word_embedding_model import WordEmbeddingModel
    except ImportError:
        return dict.fromkeys(tests)
    from embspace.evaluate import WEAT_TESTS

    kv = KeyedVectors(space.dim)
    kv.add_vectors(list(space.keys), space.vectors)
    model = WordEmbeddingModel(kv, "space")
    out: dict[str, float | None] = {}
    for t in tests:
        x, y, a, b = WEAT_TESTS[t]
        r = WEAT().run_query(Query([lists[x], lists[y]], [lists[a], lists[b]]), model, return_effect_size=True,
                             lost_vocabulary_threshold=1.0, preprocessors=[{}, {"lowercase": True}])
        out[t] = float(r["effect_size"])
    return out


def weat_table(space: Any, lists: dict[str, list[str]], tests: list[str], permutations: int) -> dict[str, Any]:
    from embspace.evaluate import weat_test

    return {t: weat_test(space, t, lists=lists, permutations=permutations, seed=0).to_dict() for t in tests}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import embspace
    from embspace import analysis
    from embspace.data import demo_words
    from embspace.evaluate import load_weat_lists, word_similarity

    t0 = time.perf_counter()
    space = demo_words() if args.space is None else embspace.load(args.space)
    lists = load_weat_lists()
    wordsim = args.data / "word_eval" / "wordsim353.tsv"
    say(f"space: {len(space):,} x {space.dim}; lists: wefe {version('wefe')}")

    # (a) WEAT 1-8 next to WEFE
    ours = weat_table(space, lists, WEAT_1_8, args.permutations)
    theirs = wefe_effect_sizes(space, lists, WEAT_1_8)
    for t in WEAT_1_8:
        say(f"{t:26} d={ours[t]['effect_size']:.3f} wefe={theirs[t]} p={ours[t]['p_value']:.4g} "
            f"({ours[t]['p_method']})")

    # (b) hard debiasing and INLP
    pairs = analysis.GENDER_PAIRS
    axis = analysis.direction(space, [a for a, _ in pairs], [b for _, b in pairs], method="pca", name="he->she")
    feminine, masculine = axis.extremes(space, args.inlp_words, among=20_000)
    gendered = {w for p in pairs for w in p} | {w.lower() for p in pairs for w in p}
    feminine = [w for w in feminine if w not in gendered]
    masculine = [w for w in masculine if w not in gendered]
    spaces: dict[str, Any] = {"original": space}
    t = time.perf_counter()
    spaces["hard-debias"] = analysis.hard_debias(space, pairs)
    say(f"hard debias: {time.perf_counter() - t:.1f} s")
    spaces["hard-debias k=2"] = analysis.hard_debias(space, pairs, k=2)
    # Dev & Phillips (2019): first names carry gender the ten pairs miss; ten frequent name pairs, none of them in
    # the WEAT lists (so the test words never define the direction), join the definitional set.
    test_words = {w.lower() for words in lists.values() if isinstance(words, list) for w in words}
    names = [p for p in NAME_PAIRS if not {w.lower() for w in p} & test_words]
    spaces["hard-debias k=2 + names"] = analysis.hard_debias(space, list(pairs) + names, k=2,
                                                             equalize=pairs)
    t = time.perf_counter()
    spaces["inlp"] = analysis.inlp(space, feminine, masculine, iterations=args.inlp_iterations)
    say(f"INLP: {time.perf_counter() - t:.1f} s; held-out accuracy {spaces['inlp'].transform.params['accuracies']}")
    fixes: dict[str, Any] = {}
    for name, s in spaces.items():
        fixes[name] = {
            "weat": {t: {k: v for k, v in r.items() if k in ("effect_size", "statistic", "p_value", "p_method")}
                     for t, r in weat_table(s, lists, GENDER_TESTS, args.permutations).items()},
            "wordsim353": word_similarity(s, wordsim).spearman,
            # (c) Lipstick on a Pig: what an RBF SVM still recovers
            "recovery_rbf": analysis.bias_recovery(s, feminine, masculine, classifier="rbf"),
            "recovery_linear": analysis.bias_recovery(s, feminine, masculine, classifier="svm"),
        }
        say(f"{name:12} wordsim {fixes[name]['wordsim353']:.4f} recovery rbf {fixes[name]['recovery_rbf']:.3f} "
            f"linear {fixes[name]['recovery_linear']:.3f} "
            + " ".join(f"{t} d={r['effect_size']:.3f} s={r['statistic']:.3f}" for t, r in fixes[name]["weat"].items()))
    seat_results: dict[str, Any] = {}
    if "seat" not in args.skip.split(","):
        from embspace.encoders import get_encoder
        from embspace.evaluate import WEAT_TESTS, seat

        encoder = get_encoder("minilm")
        for name in WEAT_1_8[:2] + GENDER_TESTS if not args.quick else ["career-family"]:
            x, y, a, b = (lists[n] for n in WEAT_TESTS[name])
            t = time.perf_counter()
            r = seat(encoder, x, y, a, b, permutations=args.permutations, seed=0, name=name)
            seat_results[name] = {k: v for k, v in r.to_dict().items() if k != "missing"}
            say(f"SEAT {name:24} d={r.effect_size:.3f} p={r.p_value:.4g} ({r.p_method}) "
                f"{time.perf_counter() - t:.1f} s")
    report = {"space": str(args.space or "embspace.data.demo_words()"), "n": len(space), "dim": space.dim,
              "permutations": args.permutations, "wefe": version("wefe"), "weat": ours, "wefe_effect_size": theirs,
              "direction": {"reliability": axis.reliability, "auc": axis.auc, "missing": list(axis.missing)},
              "inlp_accuracies": spaces["inlp"].transform.params["accuracies"], "inlp_words": len(feminine),
              "fixes": fixes, "seat": seat_results, "seconds": time.perf_counter() - t0}
    if not args.quick:
        write_json(args.json, report)
        publish_section(args.markdown, SECTION, markdown(report))
    print(markdown(report))
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = [SECTION, "", f"`python benchmarks/directions.py` on {r['space']} ({r['n']:,} x {r['dim']}); word lists "
             f"of the original tests from wefe {r['wefe']}; p-values from {r['permutations']:,} permutations "
             "(exact when there are fewer re-partitions), one-sided, seed 0.", "",
             "| test | d (embspace) | d (WEFE) | p | coverage |", "|---|---|---|---|---|"]
    for t, w in r["weat"].items():
        theirs = r["wefe_effect_size"].get(t)
        cov = min(w["coverage"].values())
        lines.append(f"| {t} | {w['effect_size']:.3f} | {'-' if theirs is None else f'{theirs:.3f}'} | "
                     f"{w['p_value']:.2g} ({w['p_method']}) | {cov:.0%} (lowest list) |")
    lines += ["", "| space | " + " | ".join(f"{t} d / statistic" for t in GENDER_TESTS)
              + " | WordSim-353 | RBF recovery | linear recovery |", "|---" * (len(GENDER_TESTS) + 4) + "|"]
    for name, f in r["fixes"].items():
        cells = " | ".join(f"{f['weat'][t]['effect_size']:.3f} / {f['weat'][t]['statistic']:.3f}" for t in GENDER_TESTS)
        lines.append(f"| {name} | {cells} | {f['wordsim353']:.4f} | {f['recovery_rbf']:.3f} | "
                     f"{f['recovery_linear']:.3f} |")
    base = r["fixes"]["original"]
    lines += ["", "Change against the original space (d / statistic; negative: less bias):", "",
              "| space | " + " | ".join(GENDER_TESTS) + " | WordSim-353 |", "|---" * (len(GENDER_TESTS) + 2) + "|"]
    for name, f in r["fixes"].items():
        if name == "original":
            continue
        cells = " | ".join(
            f"{f['weat'][t]['effect_size'] / base['weat'][t]['effect_size'] - 1:+.0%} / "
            f"{f['weat'][t]['statistic'] / base['weat'][t]['statistic'] - 1:+.0%}" for t in GENDER_TESTS)
        lines.append(f"| {name} | {cells} | {f['wordsim353'] - base['wordsim353']:+.4f} |")
    if r.get("seat"):
        lines += ["", "SEAT on all-MiniLM-L6-v2 (the words in the six templates of `evaluate.SEAT_TEMPLATES`):", "",
                  "| test | d | p |", "|---|---|---|"]
        lines += [f"| {t} | {v['effect_size']:.3f} | {v['p_value']:.2g} ({v['p_method']}) |"
                  for t, v in r["seat"].items()]
    lines += ["", f"INLP: held-out accuracy per iteration {r['inlp_accuracies']} on {r['inlp_words']} words per "
              "side. Recovery: held-out accuracy of a classifier telling the most she- from the most he-aligned "
              "words (0.5: nothing left).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
