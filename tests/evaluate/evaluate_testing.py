"""Helpers for the evaluation tests: a seeded space with planted analogies, and evaluation files.

The space holds word pairs (country/capital, male/female, adjective/adverb, ...) whose second word
is the first plus a shared per-section offset plus noise, so 3CosAdd solves some questions and
fails others. Case variants are planted on purpose:

- ``berlin`` (frequent, the planted vector) comes before ``Berlin`` (rare, a random vector): the
  case-insensitive lookup must take the frequent variant, whatever its case;
- ``paris`` (rare) lies next to ``Paris`` (frequent, planted): it is a candidate answer that the
  case-insensitive comparison must treat as ``PARIS``;
- ``KING`` (rare) is a random vector that must never stand for ``king``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from embspace import EmbeddingSpace

DIM = 24
SECTIONS: dict[str, list[tuple[str, str]]] = {
    "capital-common-countries": [
        ("Greece", "Athens"), ("Iraq", "Baghdad"), ("Thailand", "Bangkok"), ("China", "Beijing"),
        ("Germany", "berlin"), ("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"),
        ("Russia", "Moscow"), ("Egypt", "Cairo"), ("Spain", "Madrid"), ("Norway", "Oslo"),
    ],
    "family": [
        ("boy", "girl"), ("brother", "sister"), ("father", "mother"), ("king", "queen"), ("man", "woman"),
        ("son", "daughter"), ("uncle", "aunt"), ("husband", "wife"),
    ],
    "gram1-adjective-to-adverb": [
        ("calm", "calmly"), ("quick", "quickly"), ("slow", "slowly"), ("rare", "rarely"), ("sudden", "suddenly"),
        ("quiet", "quietly"), ("happy", "happily"), ("safe", "safely"), ("free", "freely"), ("usual", "usually"),
    ],
    "gram3-comparative": [
        ("big", "bigger"), ("small", "smaller"), ("good", "better"), ("bad", "worse"), ("cheap", "cheaper"),
        ("fast", "faster"), ("long", "longer"), ("old", "older"), ("young", "younger"), ("high", "higher"),
    ],
}
NOISE = {"capital-common-countries": 0.9, "family": 1.0, "gram1-adjective-to-adverb": 1.2,
         "gram3-comparative": 1.4}
OOV_WORDS = ("Atlantis", "Poseidonia", "Lemuria", "zorgly")


def planted_space(seed: int = 0, n_distractors: int = 80, counts: bool = True) -> EmbeddingSpace:
    """Keys in frequency order (row 0 most frequent), with strictly decreasing counts if asked."""
    rng = np.random.default_rng(seed)

    def rand() -> np.ndarray:
        return np.asarray(rng.standard_normal(DIM) / np.sqrt(DIM))

    vectors: dict[str, np.ndarray] = {}
    for name, pairs in SECTIONS.items():
        offset = rand()
        for x, y in pairs:
            vx = rand()
            vectors[x] = vx
            vectors[y] = vx + offset + NOISE[name] * rand()
    vectors["paris"] = vectors["Paris"] + 0.15 * rand()
    vectors["Berlin"] = rand()
    vectors["KING"] = rand()
    for i in range(n_distractors):
        vectors[f"w{i:03d}"] = rand()
    keys = [str(k) for k in rng.permutation(list(vectors))]
    for first, later in (("berlin", "Berlin"), ("Paris", "paris"), ("king", "KING")):
        i, j = keys.index(first), keys.index(later)
        if i > j:
            keys[i], keys[j] = keys[j], keys[i]
    matrix = np.stack([vectors[k] for k in keys]).astype(np.float32)
    return EmbeddingSpace(keys, matrix, counts=np.arange(len(keys), 0, -1) * 10 if counts else None)


def _case(word: str, rng: np.random.Generator) -> str:
    r = rng.random()
    return word.lower() if r < 0.15 else word.upper() if r < 0.25 else word


def write_questions(path: Path, seed: int = 0) -> Path:
    """All ordered pairs of pairs in each section, some in other letter cases, plus OOV questions
    and a section whose questions are all OOV."""
    rng = np.random.default_rng(seed + 1)
    lines: list[str] = []
    for name, pairs in SECTIONS.items():
        lines.append(f": {name}")
        for i, (a, b) in enumerate(pairs):
            for j, (c, d) in enumerate(pairs):
                if i != j:
                    lines.append(" ".join(_case(w, rng) for w in (a, b, c, d)))
        a, b = pairs[0]
        lines.append(f"{OOV_WORDS[0]} {OOV_WORDS[1]} {a} {b}")
        lines.append(f"{a} {b} {pairs[1][0]} {OOV_WORDS[3]}")
        lines.append("")  # blank lines are ignored
    lines.append(": currency")
    lines.append(f"{OOV_WORDS[0]} dinar {OOV_WORDS[2]} drachma")
    lines.append(f"{OOV_WORDS[2]} ruble {OOV_WORDS[3]} yen")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def word_pairs(space: EmbeddingSpace, seed: int = 0, n: int = 70) -> list[tuple[str, str, float]]:
    """Pairs with human-like scores: 10 * (cos + 1) / 2 plus noise, rounded (ties happen); some
    pairs in other cases, some OOV, some with a word that only a large restrict_vocab covers."""
    rng = np.random.default_rng(seed + 2)
    keys = [k for k in space.keys if k not in ("Berlin", "paris", "KING")]
    planted = [p for pairs in SECTIONS.values() for p in pairs]
    out: list[tuple[str, str, float]] = []
    for i in range(n):
        if i % 2:
            a, b = planted[int(rng.integers(len(planted)))]
        else:
            a, b = (str(x) for x in rng.choice(keys, 2, replace=False))
        cos = space.similarity(a, b)
        score = float(np.clip(10 * (cos + 1) / 2 + rng.normal(0, 1.2), 0, 10))
        out.append((_case(a, rng), _case(b, rng), round(score, 2)))
    out += [("Paris", "France", 8.5), ("BERLIN", "germany", 8.1), ("King", "queen", 8.6),
            (OOV_WORDS[0], "Greece", 7.0), ("Rome", OOV_WORDS[3], 1.0)]
    return out


def write_pairs(path: Path, pairs: list[tuple[str, str, float]], sep: str = "\t", header: bool = True) -> Path:
    lines = ["# A generated word-similarity set", f"# Word 1{sep}Word 2{sep}Human (mean)"]
    if header:
        lines.append(f"Word1{sep}Word2{sep}Score")
    lines += [f"{a}{sep}{b}{sep}{s}" for a, b, s in pairs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def to_gensim(space: EmbeddingSpace, order: list[str] | None = None) -> Any:
    """The same vectors as gensim KeyedVectors, in ``order`` (default: the space's row order)."""
    from gensim.models import KeyedVectors

    keys = list(order or space.keys)
    kv = KeyedVectors(vector_size=space.dim, count=0, dtype=np.float32)
    kv.add_vectors(keys, np.asarray(space[keys], dtype=np.float32))
    return kv
