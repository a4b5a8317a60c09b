"""Bias tests: WEAT (Caliskan, Bryson & Narayanan, 2017, "Semantics derived automatically from language corpora
contain human-like biases", Science 356) and SEAT (May et al., 2019, "On Measuring Social Biases in Sentence
Encoders", NAACL): the same test on sentences made from templates ("This is X.") through an encoder.

For a target word ``w``, ``s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)``. The test statistic is
``sum_x s(x, A, B) - sum_y s(y, A, B)``; the effect size is
``d = (mean_x s(x, A, B) - mean_y s(y, A, B)) / std_{w in X u Y} s(w, A, B)``, with the population standard
deviation (``ddof=0``) over the union of the targets, as WEFE computes it (``ddof=1`` is the sample deviation
of the SEAT code); d is 0 when that deviation is below 1e-6, the rounding of float32 cosines (every target
equally associated, as after equalising).

The p-value is the permutation test of the paper: the share of equal-size re-partitions ``(X_i, Y_i)`` of
``X u Y`` whose statistic is at least the observed one (``alternative="greater"``), all of them when there are
at most ``permutations`` (exact), else ``permutations`` random ones drawn with ``seed`` (sampled,
``(count + 1) / (permutations + 1)``).

The word lists of the original tests are not shipped with embspace (they come with the papers under their own
terms): :func:`load_weat_lists` reads them from the ``wefe`` package (``pip install embspace[bias]``) or from a
JSON/YAML file of named lists that you name.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _html
from ..errors import CorruptDataError, IncompatibleSpaceError, InvalidInputError, MissingDependencyError
from ..space.embedding_space import EmbeddingSpace

__all__ = ["SEAT_TEMPLATES", "WEAT_TESTS", "WeatResult", "load_weat_lists", "seat", "seat_test", "weat",
           "weat_test"]

Alternative = Literal["greater", "less", "two-sided"]
F64 = npt.NDArray[np.float64]

#: The ten tests of Caliskan et al. (2017), as (targets X, targets Y, attributes A, attributes B): names of
#: the lists that :func:`load_weat_lists` reads (WEFE's names). A test has a number (``weat6``) and a name.
WEAT_TESTS: dict[str, tuple[str, str, str, str]] = {
    "flowers-insects": ("flowers", "insects", "pleasant_5", "unpleasant_5a"),
    "instruments-weapons": ("instruments", "weapons", "pleasant_5", "unpleasant_5a"),
    "european-african-names": ("european_american_names_5", "african_american_names_5", "pleasant_5",
                               "unpleasant_5b"),
    "european-african-names-2": ("european_american_names_7", "african_american_names_7", "pleasant_5",
                                 "unpleasant_5b"),
    "european-african-names-3": ("european_american_names_7", "african_american_names_7", "pleasant_9",
                                 "unpleasant_9"),
    "career-family": ("male_names", "female_names", "career", "family"),
    "math-arts": ("math", "arts", "male_terms", "female_terms"),
    "science-arts": ("science", "arts_2", "male_terms_2", "female_terms_2"),
    "mental-physical-disease": ("mental_disease", "physical_disease", "temporary", "permanent"),
    "young-old-names": ("young_people_names", "old_people_names", "pleasant_9", "unpleasant_9"),
}
_NOISE = 1e-6  # a standard deviation of s below this is the rounding of float32 cosines
_NUMBERED = {f"weat{i}": name for i, name in enumerate(WEAT_TESTS, 1)}

#: Semantically bleached templates of SEAT (May et al., 2019) for single words; ``{}`` is the word.
SEAT_TEMPLATES: tuple[str, ...] = ("This is {}.", "That is {}.", "There is {}.", "Here is {}.", "{} is here.",
                                   "{} is there.")


@dataclass(frozen=True)
class WeatResult:
    """A WEAT (or SEAT) result: effect size ``d``, the statistic, the permutation p-value and how it was
    computed (``p_method``: ``"exact"`` over every re-partition or ``"sampled"`` with ``seed``), and the
    coverage of each list in the space (``missing``: the words it lacks)."""

    effect_size: float
    statistic: float
    p_value: float
    p_method: str
    permutations: int
    alternative: str
    seed: int
    sizes: dict[str, int]
    coverage: dict[str, float]
    missing: dict[str, list[str]] = field(default_factory=dict)
    name: str = ""

    @property
    def d(self) -> float:
        """The effect size (Cohen's d-like)."""
        return self.effect_size

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "effect_size": self.effect_size, "statistic": self.statistic,
                "p_value": self.p_value, "p_method": self.p_method, "permutations": self.permutations,
                "alternative": self.alternative, "seed": self.seed, "sizes": dict(self.sizes),
                "coverage": dict(self.coverage), "missing": {k: list(v) for k, v in self.missing.items()}}

    def __repr__(self) -> str:
        head = f"{self.name}: " if self.name else ""
        return (f"WeatResult({head}d={self.effect_size:.3f}, p={self.p_value:.4g} ({self.p_method}, "
                f"{self.permutations:,} permutations), coverage={_coverage_text(self.coverage)})")

    def _repr_html_(self) -> str:
        facts: list[tuple[str, object]] = [
            ("effect size d", self.effect_size), ("statistic", self.statistic), ("p-value", self.p_value),
            ("p-value method", f"{self.p_method} ({self.permutations:,} permutations, {self.alternative})"),
            *((f"coverage of {k}", f"{v:.0%} of {self.sizes[k]}") for k, v in self.coverage.items())]
        parts = [_html.kv_table(facts)]
        missing = [(k, ", ".join(v)) for k, v in self.missing.items() if v]
        if missing:
            parts.append(_html.table(missing, ["list", "missing words"]))
        return _html.frame("WeatResult", *parts, subtitle=self.name or f"d = {self.effect_size:.3f}")


def _coverage_text(coverage: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in coverage.items())


def _unit(x: npt.ArrayLike) -> F64:
    a = np.asarray(x, np.float64)
    n = np.linalg.norm(a, axis=1, keepdims=True)
    out: F64 = np.divide(a, n, out=np.zeros_like(a), where=n > 0)
    return out


def _words(items: Iterable[str] | str, what: str) -> list[str]:
    if isinstance(items, str):
        raise InvalidInputError(f"{what} must be a list of words, got the string {items!r}; wrap it in a list")
    out = [str(w) for w in items]
    if not out:
        raise InvalidInputError(f"{what} is empty; give at least one word")
    return out


def _lookup(space: EmbeddingSpace, words: list[str], what: str, lower: bool) -> tuple[F64, list[str]]:
    keys = [w if w in space or not lower or w.lower() not in space else w.lower() for w in words]
    found = [k for k in keys if k in space]
    missing = [w for w, k in zip(words, keys, strict=True) if k not in space]
    if not found:
        raise InvalidInputError(f"none of the {len(words)} words of {what} is in the space (e.g. {words[0]!r}); "
                                "check their case and spelling, or encode them with encoder=")
    return _unit(np.asarray(space[found])), missing


def _encode(encoder: Any, texts: list[str], space: EmbeddingSpace | None) -> F64:
    if space is not None and getattr(encoder, "space_id", None) != space.space_id:
        raise IncompatibleSpaceError(
            f"the encoder {getattr(encoder, 'name', type(encoder).__name__)!r} does not produce the vectors of "
            "this space; encode the words with the space's own encoder, or pass space=None")
    return _unit(np.asarray(encoder.encode(texts, progress=False)))


def _s(w: F64, a: F64, b: F64) -> F64:
    """``s(w, A, B)`` for every row of ``w`` (unit rows)."""
    out: F64 = (w @ a.T).mean(axis=1) - (w @ b.T).mean(axis=1)
    return out


def weat_statistics(x: F64, y: F64, a: F64, b: F64, *, ddof: int = 0) -> tuple[float, float, F64]:
    """``(effect size, statistic, s of X then Y)`` of unit-row matrices."""
    sx, sy = _s(x, a, b), _s(y, a, b)
    s = np.concatenate([sx, sy])
    std = float(np.std(s, ddof=ddof)) if len(s) > ddof else 0.0
    diff = float(sx.mean() - sy.mean())
    # below float32 rounding of cosines the associations are all equal (an equalised space): no effect
    d = diff / std if std > _NOISE else 0.0
    return d, float(sx.sum() - sy.sum()), s


def _passes(stats: F64, observed: float, alternative: str) -> int:
    tol = 1e-12 * max(1.0, abs(observed))  # re-partitions equal to the observed one count, whatever the rounding
    if alternative == "greater":
        return int(np.count_nonzero(stats >= observed - tol))
    if alternative == "less":
        return int(np.count_nonzero(stats <= observed + tol))
    return int(np.count_nonzero(np.abs(stats) >= abs(observed) - tol))


def permutation_p_value(s: F64, nx: int, *, permutations: int, seed: int,
                        alternative: str = "greater") -> tuple[float, str, int]:
    """The p-value of the statistic ``sum(s[:nx]) - sum(s[nx:])`` over the re-partitions of ``s`` into ``nx``
    and ``len(s) - nx``: ``(p, "exact" | "sampled", how many were evaluated)``."""
    n = len(s)
    total_sum = float(s.sum())
    observed = 2.0 * float(s[:nx].sum()) - total_sum
    total = math.comb(n, nx)
    if total <= permutations:
        count = 0
        chunk = 65_536
        combos = itertools.combinations(range(n), nx)
        while True:
            block = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, chunk)), np.int64)
            if block.size == 0:
                break
            stats = 2.0 * s[block.reshape(-1, nx)].sum(axis=1) - total_sum
            count += _passes(stats, observed, alternative)
        return count / total, "exact", total
    rng = np.random.default_rng(seed)
    count = 0
    done = 0
    while done < permutations:
        m = min(8_192, permutations - done)
        order = rng.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1)
        stats = 2.0 * s[order[:, :nx]].sum(axis=1) - total_sum
        count += _passes(stats, observed, alternative)
        done += m
    return (count + 1) / (permutations + 1), "sampled", permutations


def _check(permutations: int, alternative: str, ddof: int) -> None:
    if not isinstance(permutations, int) or isinstance(permutations, bool) or permutations < 1:
        raise InvalidInputError(f"permutations must be a positive int, got {permutations!r}")
    if alternative not in ("greater", "less", "two-sided"):
        raise InvalidInputError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    if ddof not in (0, 1):
        raise InvalidInputError(f"ddof must be 0 (population std, as WEFE) or 1 (sample std), got {ddof!r}")


def _run(sets: dict[str, F64], sizes: dict[str, int], missing: dict[str, list[str]], *, permutations: int,
         seed: int, alternative: str, ddof: int, name: str) -> WeatResult:
    x, y, a, b = sets.values()
    d, stat, s = weat_statistics(x, y, a, b, ddof=ddof)
    p, method, evaluated = permutation_p_value(s, len(x), permutations=permutations, seed=seed,
                                               alternative=alternative)
    coverage = {k: (sizes[k] - len(missing.get(k, []))) / sizes[k] for k in sizes}
    return WeatResult(d, stat, p, method, evaluated, alternative, seed, sizes, coverage,
                      {k: v for k, v in missing.items() if v}, name)


_SET_NAMES = ("targets_x", "targets_y", "attrs_a", "attrs_b")


def weat(space: EmbeddingSpace | None, targets_x: Iterable[str], targets_y: Iterable[str],
         attrs_a: Iterable[str], attrs_b: Iterable[str], *, permutations: int = 100_000, seed: int = 0,
         alternative: Alternative = "greater", encoder: Any = None, ddof: int = 0, lowercase: bool = True,
         name: str = "") -> WeatResult:
    """The Word Embedding Association Test (Caliskan et al., 2017) of targets X, Y against attributes A, B.

    Parameters
    ----------
    space
        The space whose keys are the words (cosine similarity of its vectors, whatever its metric). None
        with ``encoder``: the words are encoded.
    targets_x, targets_y, attrs_a, attrs_b
        Word lists (e.g. flowers, insects, pleasant, unpleasant). Words the space lacks are left out and
        reported in ``missing`` and ``coverage``; a list with none of its words in the space is an error.
    permutations
        The p-value enumerates every equal-size re-partition of X u Y when there are at most this many
        (``p_method="exact"``), else draws this many at random with ``seed`` (``"sampled"``).
    alternative
        ``"greater"`` (X is closer to A than Y is: the one-sided test of the paper), ``"less"`` or ``"two-sided"``.
    encoder
        Encode the words with this encoder instead of looking them up (sentence/image spaces: the space's
        own encoder; its ``space_id`` must match the space's).
    ddof
        0: the population standard deviation of ``s`` over X u Y (WEFE's effect size); 1: the sample one.
    lowercase
        A word the space lacks is looked up lower-cased too (``"John"`` as ``"john"`` in a lower-cased
        vocabulary, as WEFE's ``lowercase`` preprocessor); False: as given only.

    Returns
    -------
    WeatResult
        ``effect_size`` (d), ``statistic``, ``p_value`` with ``p_method`` and ``permutations``, ``coverage``.
    """
    _check(permutations, alternative, ddof)
    lists = {k: _words(v, k) for k, v in zip(_SET_NAMES, (targets_x, targets_y, attrs_a, attrs_b), strict=True)}
    sizes = {k: len(v) for k, v in lists.items()}
    sets: dict[str, F64] = {}
    missing: dict[str, list[str]] = {}
    if encoder is not None:
        for k, words in lists.items():
            sets[k] = _encode(encoder, words, space)
    else:
        if not isinstance(space, EmbeddingSpace):
            raise InvalidInputError(f"weat needs an EmbeddingSpace (or encoder=), got {type(space).__name__}")
        for k, words in lists.items():
            sets[k], missing[k] = _lookup(space, words, k, lowercase)
    return _run(sets, sizes, missing, permutations=permutations, seed=seed, alternative=alternative, ddof=ddof,
                name=name)


def seat(encoder: Any, targets_x: Iterable[str], targets_y: Iterable[str], attrs_a: Iterable[str],
         attrs_b: Iterable[str], *, templates: Sequence[str] = SEAT_TEMPLATES, permutations: int = 100_000,
         seed: int = 0, alternative: Alternative = "greater", ddof: int = 0, name: str = "") -> WeatResult:
    """The Sentence Encoder Association Test (May et al., 2019): every word becomes one sentence per template
    (``"This is {}."``), the sentences are encoded by ``encoder`` and tested as WEAT does, each set being its
    sentences (so ``sizes`` count sentences)."""
    _check(permutations, alternative, ddof)
    temps = [str(t) for t in templates]
    if not temps or any("{}" not in t for t in temps):
        raise InvalidInputError(f"every template must hold '{{}}' where the word goes, got {temps!r}")
    sets: dict[str, F64] = {}
    sizes: dict[str, int] = {}
    for k, v in zip(_SET_NAMES, (targets_x, targets_y, attrs_a, attrs_b), strict=True):
        sentences = [t.format(w) for w in _words(v, k) for t in temps]
        sets[k] = _encode(encoder, sentences, None)
        sizes[k] = len(sentences)
    return _run(sets, sizes, {}, permutations=permutations, seed=seed, alternative=alternative, ddof=ddof,
                name=name)


def load_weat_lists(path: str | Path | None = None) -> dict[str, list[str]]:
    """Named word lists: from ``path`` (a JSON or YAML mapping of a name to a list of words; an optional
    ``tests`` entry maps a test name to four list names, see :func:`weat_test`), or, without a path, the lists
    of the original WEAT tests from the ``wefe`` package (``pip install embspace[bias]``)."""
    if path is None:
        try:
            from wefe.datasets import load_weat
        except ImportError:
            raise MissingDependencyError("wefe", "bias", "the word lists of the original WEAT tests") from None
        with warnings.catch_warnings():  # wefe 1.0 reads its file with a deprecated importlib.resources call
            warnings.simplefilter("ignore", DeprecationWarning)
            lists = load_weat()
        return {str(k): [str(w) for w in v] for k, v in lists.items()}
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as e:
        raise InvalidInputError(f"cannot read the word lists {p}: {e.strerror or e}") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise MissingDependencyError("pyyaml", "bias", "word lists in YAML") from None
        try:
            body = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise CorruptDataError(p, f"not YAML: {e}") from None
    else:
        try:
            body = json.loads(text)
        except ValueError as e:
            raise CorruptDataError(p, f"not JSON: {e}") from None
    if not isinstance(body, dict):
        raise CorruptDataError(p, "expected a mapping of a list name to a list of words")
    out: dict[str, Any] = {}
    for k, v in body.items():
        if k == "tests":
            if not isinstance(v, dict) or not all(isinstance(t, list) and len(t) == 4 for t in v.values()):
                raise CorruptDataError(p, "'tests' must map a test name to four list names [X, Y, A, B]")
            out["tests"] = {str(n): [str(x) for x in t] for n, t in v.items()}
        elif isinstance(v, list) and all(isinstance(w, str | int) for w in v):
            out[str(k)] = [str(w) for w in v]
        else:
            raise CorruptDataError(p, f"list {k!r} must be a list of words, got {type(v).__name__}")
    return out


def resolve_test(name: str, lists: Mapping[str, Any]) -> tuple[str, tuple[str, str, str, str]]:
    """``(canonical name, (X, Y, A, B) list names)`` of a test: a name of :data:`WEAT_TESTS` or ``weat1``..
    ``weat10``, a test of the lists' ``tests`` entry, or four list names joined by commas."""
    tests: dict[str, Sequence[str]] = {**WEAT_TESTS, **dict(lists.get("tests", {}) or {})}
    key = _NUMBERED.get(name.lower(), name)
    if key in tests:
        x, y, a, b = tests[key]
        return key, (x, y, a, b)
    parts = [p.strip() for p in name.split(",")]
    if len(parts) == 4:
        return name, (parts[0], parts[1], parts[2], parts[3])
    known = ", ".join(sorted(tests))
    raise InvalidInputError(f"unknown bias test {name!r}; use one of {known} (or weat1..weat10), or four list "
                            "names X,Y,A,B")


def _named_sets(test: str, lists: Mapping[str, Any] | str | Path | None
                ) -> tuple[str, tuple[str, ...], tuple[Any, Any, Any, Any]]:
    """``(test key, its four list names, the four lists)`` of a named test, from ``lists`` (default: WEFE's)."""
    named = lists if isinstance(lists, Mapping) else load_weat_lists(lists)
    key, names = resolve_test(test, named)
    absent = [n for n in names if n not in named]
    if absent:
        raise InvalidInputError(f"test {key!r} needs the word lists {', '.join(absent)}, which the lists given "
                                f"lack (they have {', '.join(sorted(k for k in named if k != 'tests'))})")
    x, y, a, b = (named[n] for n in names)
    return key, tuple(names), (x, y, a, b)


def _by_list_names(result: WeatResult, names: tuple[str, ...]) -> WeatResult:
    rename = dict(zip(_SET_NAMES, names, strict=True))  # the sets by the names of their lists
    return replace(result, sizes={rename[k]: v for k, v in result.sizes.items()},
                   coverage={rename[k]: v for k, v in result.coverage.items()},
                   missing={rename[k]: v for k, v in result.missing.items()})


def weat_test(space: EmbeddingSpace | None, test: str, *, lists: Mapping[str, Any] | str | Path | None = None,
              **options: Any) -> WeatResult:
    """Run a named test (``"career-family"``, ``"weat6"``, or ``"X,Y,A,B"`` list names) on ``space`` with the
    word lists of ``lists`` (a mapping or a file, see :func:`load_weat_lists`; default: WEFE's). ``options``
    go to :func:`weat`."""
    key, names, sets = _named_sets(test, lists)
    return _by_list_names(weat(space, *sets, name=options.pop("name", key), **options), names)


def seat_test(encoder: Any, test: str, *, lists: Mapping[str, Any] | str | Path | None = None,
              **options: Any) -> WeatResult:
    """:func:`weat_test` for sentence encoders: the named test's words in SEAT's templates through ``encoder``
    (:func:`seat`; ``options`` go to it)."""
    key, names, sets = _named_sets(test, lists)
    return _by_list_names(seat(encoder, *sets, name=options.pop("name", key), **options), names)
