"""Shared pieces of the RAG tests: a tiny sentence model (no downloads) and a small folder of documents."""

from __future__ import annotations

import sys
from pathlib import Path

#: A word no document but ``rare.txt`` holds, and which the tiny model only knows as [UNK].
RARE = "xylophone42"

DOCS = {
    "animals/cat.md": "# The cat\n\n" + "the cat sat on the mat and the cat is long . " * 6,
    "animals/dog.txt": "a dog sat in the river . the dog is long . " * 5,
    "money.html": "<html><head><title>Money</title></head><body><p>" + "she opened a bank account of money . " * 4
                  + "</p><script>var x = 1</script></body></html>",
    "rare.txt": f"the mat of the river and the {RARE} word in a long text",
    "unknown.txt": "qqq rrr sss ttt",  # only words the tiny vocabulary lacks: its vector is [UNK]-like
}


def _text_testing() -> None:
    here = str(Path(__file__).resolve().parents[1] / "encoders")
    if here not in sys.path:
        sys.path.insert(0, here)


def tiny_model(root: Path) -> Path:
    """The 2-layer BERT of tests/encoders/text_testing.py as a sentence-transformers dir (32 tokens)."""
    _text_testing()
    from text_testing import build_st

    return build_st(root, max_seq_length=32)


def tiny_cross_encoder(root: Path) -> Path:
    """A randomly initialised 1-layer BertForSequenceClassification (one label) with the tiny vocabulary."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    _text_testing()
    from text_testing import WORDS

    root.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(str(root / "vocab.txt")).save_pretrained(root)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=1)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(root)
    return root


def write_docs(folder: Path, docs: dict[str, str] | None = None) -> Path:
    for name, text in (DOCS if docs is None else docs).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
