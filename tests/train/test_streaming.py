"""A corpus of 200M+ tokens streams through vocabulary building and training without being held in memory.

Slow (minutes): run with ``pytest -m slow tests/train/test_streaming.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TOKENS = 200_000_000
VOCAB = 50_000
LINE = 25

CHILD = r"""
import json, resource, sys, time
from embspace.data.corpus import TextCorpus
from embspace.train import Word2Vec
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096
# a tiny fit first: the compiled kernels, LLVM and the thread pool (~250 MB, whatever the corpus) are loaded
Word2Vec(dim=32, window=3, min_count=1, architecture="cbow", negative=2, epochs=1, workers=2,
         progress=False).fit([["a", "b", "c", "d"]] * 100)
start = rss()
t = time.time()
model = Word2Vec(dim=32, window=3, min_count=5, architecture="cbow", negative=2, sample=1e-3, epochs=1,
                 workers=2, progress=False).fit(TextCorpus(sys.argv[1]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"start_rss": start, "peak_rss": peak, "seconds": time.time() - t,
                  "tokens": model.vocab_.raw_token_count, "vocab": len(model.vocab_),
                  "words_per_second": model.words_per_second_}))
"""


def _generate(path: Path) -> int:
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(VOCAB)])
    written = 0
    with open(path, "w") as f:
        while written < TOKENS:
            ids = np.minimum(rng.zipf(1.2, size=(200_000, LINE)) - 1, VOCAB - 1)
            f.write("\n".join(" ".join(row) for row in words[ids]) + "\n")
            written += ids.size
    return written


@pytest.mark.slow
def test_200m_tokens_stream_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    n = _generate(path)
    size = path.stat().st_size
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps({**stats, "file_bytes": size}))
    assert stats["tokens"] >= n >= TOKENS
    grown = stats["peak_rss"] - stats["start_rss"]
    # Holding the corpus would take >= 800 MB as int32 ids (and 1 GB+ as text); the stream stays far
    # below: what grows is the vocabulary and one length per sentence (8M sentences here).
    assert grown < 300 * 2**20, f"peak memory grew by {grown / 2**20:.0f} MiB"
