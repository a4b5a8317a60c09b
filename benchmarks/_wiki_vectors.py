"""MiniLM vectors of Wikipedia paragraphs for the search benchmark (computed once, then cached).

The paragraphs are the first ``n`` lines of ``../shared/data/corpus/wiki/wiki.txt.xz`` that are
neither an article title (the first line of an article) nor shorter than 20 words (section headings,
stubs), in corpus order. They are encoded by embspace's default text encoder (all-MiniLM-L6-v2,
fp32, 256-token truncation, unit vectors) and cached as ``.npy`` under ``$EMBSPACE_CACHE/bench/``,
with the paragraphs' first 40 characters' hash as a check.

Usage::

    python benchmarks/_wiki_vectors.py 100000      # prepare (about 20 minutes on 2 cores)
"""

from __future__ import annotations

import hashlib
import lzma
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WIKI = ROOT.parent / "shared" / "data" / "corpus" / "wiki" / "wiki.txt.xz"
MIN_WORDS = 20


def paragraphs(n: int, path: Path = WIKI) -> list[str]:
    """The first ``n`` body paragraphs (>= 20 words, article titles skipped) of the corpus."""
    out: list[str] = []
    with lzma.open(path, "rt", encoding="utf-8") as f:
        title_next = True
        for line in f:
            line = line.strip()
            if not line:
                title_next = True
                continue
            if title_next:
                title_next = False
                continue
            if len(line.split()) >= MIN_WORDS:
                out.append(line)
                if len(out) >= n:
                    break
    if len(out) < n:
        raise SystemExit(f"{path} has only {len(out)} paragraphs of {MIN_WORDS}+ words; asked for {n}")
    return out


def cache_file(n: int, start: int = 0) -> Path:
    from embspace.encoders._cache import cache_dir

    name = f"wiki-minilm-{n}.npy" if start == 0 else f"wiki-minilm-{start}-{n}.npy"
    return cache_dir() / "bench" / name


CHUNK = 10_000


def wiki_minilm(n: int, *, start: int = 0, progress: bool = True) -> tuple[list[str], np.ndarray]:
    """(paragraphs ``start .. start+n``, (n, 384) float32 unit MiniLM vectors), encoded only when not cached.

    More than ``CHUNK`` paragraphs from the start are encoded and cached ``CHUNK`` at a time, so an
    interrupted preparation (about 40 CPU-minutes for 100,000) resumes where it stopped.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if start == 0 and n > CHUNK and n % CHUNK == 0:
        path = cache_file(n)
        texts = paragraphs(n)
        if path.is_file():
            return texts, np.load(path)
        parts = []
        for s in range(0, n, CHUNK):
            if progress:
                print(f"paragraphs {s:,}..{s + CHUNK:,} of {n:,}", file=sys.stderr, flush=True)
            parts.append(wiki_minilm(CHUNK, start=s, progress=progress)[1])
        vectors = np.concatenate(parts)
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
        return texts, vectors
    texts = paragraphs(start + n)[start:]
    digest = hashlib.sha256("\n".join(t[:40] for t in texts).encode()).hexdigest()[:16]
    path = cache_file(n, start)
    tag = path.with_suffix(".sha")
    if path.is_file() and tag.is_file() and tag.read_text().strip() == digest:
        return texts, np.load(path)
    from embspace.encoders import get_encoder

    vectors = np.asarray(get_encoder("minilm").encode(texts, progress=progress), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, vectors)
    os.replace(tmp, path)
    tag.write_text(digest + "\n")
    return texts, vectors


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    _, vecs = wiki_minilm(count)
    print(f"{vecs.shape} -> {cache_file(count)}")
