"""Two MiniLM models fine-tuned on SciFact's TRAIN split, for the budget benchmark (trained once, then cached).

Both start from embspace's default text encoder (all-MiniLM-L6-v2) and are trained by
:func:`embspace.train.finetune` with the same settings on the same (query, relevant document) pairs of
``../shared/data/retrieval/scifact/qrels/train.tsv`` (document text = title + abstract, as
:meth:`~embspace.evaluate.BeirDataset.pairs` builds it): one plainly (MultipleNegativesRankingLoss), one
for truncation (MatryoshkaLoss over 384, 256, 128, 64, 32 dimensions). The test split is never seen.
They are cached under ``$EMBSPACE_CACHE/bench/`` as ``scifact-minilm-plain`` and
``scifact-minilm-matryoshka`` with ``scifact_train.json`` (settings, data digest, training seconds)
inside; a model whose recorded settings differ from the asked ones is trained again.

Usage::

    python benchmarks/_scifact_models.py              # train both (453 s + 324 s on 2 busy cores), print paths
    python benchmarks/_scifact_models.py --evaluate   # and SciFact test nDCG@10 at 384 and 128 dimensions
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "retrieval" / "scifact"
MATRYOSHKA_DIMS = (384, 256, 128, 64, 32)
#: Shared by both models. One epoch is 29 steps of 32 pairs. On 2 cores shared with other jobs (load ~12), a step at
#: 256 tokens took ~1 min of wall time, so training reads the texts cut at 64 tokens (claims are shorter; a title
#: and the first sentences of an abstract), one thread (PyTorch's two threads stalled each other on the busy
#: cores), and a learning rate raised from finetune's 2e-5 to make the single epoch count. The saved models then
#: encode up to ENCODE_MAX_LENGTH tokens, as the base model does.
SETTINGS: dict[str, Any] = {"model": "minilm", "epochs": 1, "batch_size": 32, "learning_rate": 5e-5,
                            "max_length": 64, "warmup": 0.1, "seed": 0}
ENCODE_MAX_LENGTH = 256
INFO_FILE = "scifact_train.json"


def model_dir(kind: str) -> Path:
    from embspace.encoders._cache import cache_dir

    return cache_dir() / "bench" / f"scifact-minilm-{kind}"


def train_pairs(path: Path = SCIFACT) -> list[tuple[str, str]]:
    """(claim, title + abstract) for every relevant judgement of the train split."""
    from embspace.evaluate import load_beir

    return load_beir(path, "train").pairs()


def _wanted(kind: str, pairs: list[tuple[str, str]], settings: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]
    return {"kind": kind, "pairs": len(pairs), "pairs_sha256": digest, **settings,
            "matryoshka_dims": list(MATRYOSHKA_DIMS) if kind == "matryoshka" else None}


def scifact_models(*, settings: dict[str, Any] | None = None, progress: bool = True) -> dict[str, Path]:
    """``{"plain": path, "matryoshka": path}``: the two fine-tuned models, trained only when not cached."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from embspace.train import finetune

    cfg = {**SETTINGS, **(settings or {})}
    pairs = train_pairs()
    out: dict[str, Path] = {}
    for kind in ("plain", "matryoshka"):
        path = model_dir(kind)
        want = _wanted(kind, pairs, cfg)
        info = path / INFO_FILE
        if info.is_file():
            try:
                have = json.loads(info.read_text("utf-8"))
            except ValueError:
                have = {}
            if {k: have.get(k) for k in want} == want:
                out[kind] = path
                continue
        t0 = time.perf_counter()
        finetune(pairs, path, model=cfg["model"], epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                 learning_rate=cfg["learning_rate"], max_length=cfg["max_length"], warmup=cfg["warmup"],
                 seed=cfg["seed"], device="cpu", progress=progress,
                 matryoshka_dims=MATRYOSHKA_DIMS if kind == "matryoshka" else None)
        seconds = time.perf_counter() - t0
        st_config = path / "sentence_bert_config.json"
        body = json.loads(st_config.read_text("utf-8"))
        body["max_seq_length"] = ENCODE_MAX_LENGTH  # trained on cut texts, used on whole ones (as MiniLM itself)
        st_config.write_text(json.dumps(body, indent=2) + "\n", "utf-8")
        info.write_text(json.dumps({**want, "encode_max_length": ENCODE_MAX_LENGTH, "train_seconds": round(seconds, 1)},
                                   indent=2) + "\n", "utf-8")
        print(f"{kind}: trained in {seconds:.0f} s -> {path}", file=sys.stderr)
        out[kind] = path
    return out


def ndcg_at_10(model: str | Path, dims: tuple[int, ...] = (384, 128), *, progress: bool = True) -> dict[int, float]:
    """SciFact TEST nDCG@10 of ``model`` with its vectors truncated to each of ``dims`` (first d, re-normalised);
    the corpus is encoded once at full size."""
    import numpy as np

    from embspace import EmbeddingSpace
    from embspace.encoders import get_encoder
    from embspace.evaluate import load_beir, retrieval

    ds = load_beir(SCIFACT, "test")
    enc = get_encoder(str(model), device="cpu")
    docs = np.asarray(enc.encode(list(ds.corpus_texts), progress=progress), np.float32)
    queries = np.asarray(enc.encode(list(ds.query_texts), progress=False), np.float32)
    scores: dict[int, float] = {}
    for d in dims:
        def cut(x: np.ndarray, d: int = d) -> np.ndarray:
            head = np.ascontiguousarray(x[:, :d])
            return head / np.linalg.norm(head, axis=1, keepdims=True)

        corpus = EmbeddingSpace(list(ds.corpus_ids), cut(docs), metric="cosine")
        qs = EmbeddingSpace(list(ds.query_ids), cut(queries), metric="cosine", provenance=corpus.provenance)
        result = retrieval(ds, corpus_space=corpus, query_space=qs, k_values=(10,), progress=False)
        scores[d] = float(result.metrics["ndcg@10"])
    return scores


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)  # see SETTINGS
    paths = scifact_models()
    for kind, path in paths.items():
        seconds = json.loads((path / INFO_FILE).read_text("utf-8")).get("train_seconds")
        print(f"{kind}\t{path}\ttrained in {seconds} s")
    if "--evaluate" in sys.argv[1:]:
        for name, path in [("minilm (not fine-tuned)", "minilm"), *((k, str(p)) for k, p in paths.items())]:
            got = ndcg_at_10(path)
            print(f"{name}\tSciFact test nDCG@10\t" + "\t".join(f"{d}: {v:.4f}" for d, v in got.items()))
