"""Rebuild the word vectors shipped with embspace (``embspace.data.demo_words()``).

Trains skip-gram word2vec with embspace itself on the whole English Wikipedia slice in
``../shared/data/corpus/wiki/wiki.txt.xz`` (62.9M words, CC BY-SA 3.0), keeps the 30,000 most
frequent words, stores them as int8 with a per-row scale, and writes the evaluation figures and the
provenance next to them. Run from the repository root:

    python tools/build_demo_space.py [--epochs 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from embspace import evaluate
from embspace.data.corpus import TextCorpus
from embspace.train import Word2Vec

ROOT = Path(__file__).resolve().parents[1]
TOKEN = re.compile(r"[a-z]+")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--top", type=int, default=30000)
    ap.add_argument("--out", type=Path, default=ROOT / "src" / "embspace" / "data" / "wiki_words")
    args = ap.parse_args()
    corpus_path = args.data_dir / "corpus" / "wiki" / "wiki.txt.xz"
    t0 = time.perf_counter()
    model = Word2Vec(dim=100, window=5, min_count=5, architecture="skipgram", negative=5, sample=1e-3,
                     epochs=args.epochs, workers=args.workers, seed=1)
    model.fit(TextCorpus(corpus_path, tokenizer=TOKEN.findall))
    wall = time.perf_counter() - t0
    space = model.space_.top(args.top)
    qw = args.data_dir / "word_eval" / "questions-words.txt"
    ws = args.data_dir / "word_eval" / "wordsim353.tsv"
    full = {"analogy": evaluate.analogy(model.space_, qw).to_dict(),
            "wordsim353": evaluate.word_similarity(model.space_, ws).to_dict()}
    space.save(args.out, dtype="int8")
    shipped = evaluate.analogy(space, qw).to_dict()
    info = {
        "corpus": "shared/data/corpus/wiki/wiki.txt.xz (English Wikipedia slice, 62.9M words, CC BY-SA 3.0)",
        "tokenizer": "lower-cased, runs of [a-z]+",
        "command": f"python tools/build_demo_space.py --epochs {args.epochs} --workers {args.workers} --top {args.top}",
        "training_seconds": round(wall, 1),
        "words_per_second": round(model.words_per_second_),
        "corpus_tokens": model.vocab_.raw_token_count,
        "vocabulary_trained": len(model.vocab_),
        "shipped_words": len(space),
        "storage": "int8 with a per-row float32 scale",
        "evaluation_full_vocabulary_float32": full,
        "evaluation_shipped_int8": {"analogy": shipped,
                                    "wordsim353": evaluate.word_similarity(space, ws).to_dict()},
        "king - man + woman": space.analogy("man", "king", "woman", k=3).to_list(),
    }
    (args.out / "BUILD.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps({k: v for k, v in info.items() if not k.startswith("evaluation")}, indent=2))
    print("analogy (shipped):", shipped["accuracy"], "wordsim:", info["evaluation_shipped_int8"]["wordsim353"])


if __name__ == "__main__":
    main()
