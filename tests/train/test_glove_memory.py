"""GloVe keeps to ``max_memory`` on a corpus whose co-occurrence table is larger than that limit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CHILD = r"""
import json, sys
from embspace.train import GloVe
from embspace.data.corpus import TextCorpus

def status(field):
    for line in open('/proc/self/status'):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
GloVe(dim=8, window=2, min_count=1, epochs=1, workers=2, progress=False).fit([["a", "b", "c"]] * 50)  # warm up
open('/proc/self/clear_refs', 'w').write('5')  # reset the peak-RSS counter (VmHWM)
base = status('VmRSS:')
model = GloVe(dim=16, window=10, min_count=1, epochs=2, workers=2, progress=False,
              max_memory=sys.argv[2]).fit(TextCorpus(sys.argv[1]))
print(json.dumps({"base": base, "peak": status('VmHWM:'), "nnz": model.cooccurrence_nnz_,
                  "loss": model.loss_history_}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak memory")
def test_peak_memory_stays_under_the_limit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = np.array([f"w{i}" for i in range(60_000)])
    ids = rng.integers(0, len(words), size=(60_000, 25))  # 1.5M tokens of near-unique pairs
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(row) for row in words[ids]) + "\n")
    limit = 64 * 2**20
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(limit)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    table_bytes = stats["nnz"] // 2 * 12  # canonical records alone, without any counting structure
    assert table_bytes > 1.5 * limit, "the test corpus must have a co-occurrence table larger than the limit"
    grown = stats["peak"] - stats["base"]
    assert grown <= limit, f"peak memory grew by {grown / 2**20:.0f} MiB over a {limit / 2**20:.0f} MiB limit"
    assert stats["loss"][-1] < stats["loss"][0]
