"""Tiny transformer text models built from configs (no downloads): BERT dirs for HF and sentence-transformers."""

from __future__ import annotations

from pathlib import Path

WORDS = ["the", "cat", "dog", "sat", "on", "mat", "a", "river", "bank", "money", "account", "we", "she",
         "opened", "in", "of", "and", "is", "long", "text", "word", "##s", "##ing"]


def build_hf_bert(root: Path, *, seed: int = 0, hidden: int = 16, max_positions: int = 64) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece tokenizer, saved as a Hugging Face dir."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    hf_dir = root / "hf"
    hf_dir.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (hf_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(str(hf_dir / "vocab.txt"))  # positional: transformers 5 ignores vocab_file=
    assert tok.convert_tokens_to_ids("cat") == vocab.index("cat"), "the tiny tokenizer lost its vocabulary"
    tok.save_pretrained(hf_dir)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=max_positions)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(hf_dir)
    return hf_dir


def build_st(root: Path, *, pooling: str = "mean", dense: int | None = None, normalize: bool = False,
             max_seq_length: int = 32, seed: int = 0) -> Path:
    """The tiny BERT wrapped as a sentence-transformers model (optionally with a Dense head, Normalize)."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models  # type: ignore[no-redef]

    hf_dir = build_hf_bert(root, seed=seed)
    word = models.Transformer(str(hf_dir), max_seq_length=max_seq_length)
    dim_of = getattr(word, "get_embedding_dimension", None) or word.get_word_embedding_dimension
    mods: list[torch.nn.Module] = [word, models.Pooling(dim_of(), pooling_mode=pooling)]
    if dense:
        torch.manual_seed(seed + 1)
        mods.append(models.Dense(dim_of(), dense, activation_function=torch.nn.Tanh()))
    if normalize:
        mods.append(models.Normalize())
    st_dir = root / "st"
    SentenceTransformer(modules=mods, device="cpu").save(str(st_dir))
    return st_dir
