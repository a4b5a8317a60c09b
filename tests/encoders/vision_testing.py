"""Tiny randomly initialised vision and CLIP models, built from configs and saved like real ones.

Nothing is downloaded: each builder makes a model from a config (and a tokenizer from a vocabulary
written here), saves it with ``save_pretrained`` to a directory, and returns the directory, so the
encoders under test run their real loading code and real forward passes.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np

# Words the tiny CLIP tokenizer knows as whole tokens; anything else falls back to letters.
CLIP_WORDS = ("a", "photo", "of", "cat", "dog", "car", "tree", "the", "red", "blue", "sketch", "bird")


def _seed(seed: int) -> None:
    import torch

    torch.manual_seed(seed)


def save_tiny_vit(path: Path, *, seed: int = 0, intermediate_size: int = 37) -> Path:
    """A 2-layer ViT (hidden 32, 32x32 images, 8x8 patches: CLS + 16 patch tokens) and its processor."""
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    _seed(seed)
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=intermediate_size,
                    image_size=32, patch_size=8)
    ViTModel(cfg).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def save_tiny_dinov2(path: Path, *, seed: int = 0, registers: int = 0) -> Path:
    """A 2-layer DINOv2 (with ``registers`` register tokens when > 0) and a resize + center-crop processor."""
    from transformers import BitImageProcessor

    _seed(seed)
    common = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_ratio=2, image_size=32,
                  patch_size=8)
    if registers:
        from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel

        Dinov2WithRegistersModel(Dinov2WithRegistersConfig(num_register_tokens=registers, **common)).save_pretrained(
            path)
    else:
        from transformers import Dinov2Config, Dinov2Model

        Dinov2Model(Dinov2Config(**common)).save_pretrained(path)
    BitImageProcessor(size={"shortest_edge": 36}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def save_tiny_resnet(path: Path, *, seed: int = 0) -> Path:
    """A 2-stage ResNet (16 output channels): a conv net, whose pooled output is its vector."""
    from transformers import ResNetConfig, ResNetModel, ViTImageProcessor

    _seed(seed)
    ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")).eval() \
        .save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def tiny_clip_tokenizer() -> object:
    """A CLIP BPE tokenizer over a few words: letters, letters ending a word, and merges building CLIP_WORDS."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for c in string.ascii_lowercase:
        vocab.setdefault(c, len(vocab))
    for c in string.ascii_lowercase:
        vocab.setdefault(c + "</w>", len(vocab))
    merges: list[tuple[str, str]] = []
    for word in CLIP_WORDS:
        cur = word[0]
        for i, c in enumerate(word[1:], 1):
            nxt = c + ("</w>" if i == len(word) - 1 else "")
            if (cur, nxt) not in merges:
                merges.append((cur, nxt))
            cur += nxt
            vocab.setdefault(cur, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)  # the highest id, as in the real CLIP vocabulary
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=16)


def save_tiny_clip(path: Path, *, seed: int = 0, projection_dim: int = 24) -> Path:
    """A tiny CLIPModel (2-layer text and vision towers) with a CLIPProcessor (tokenizer + image processor)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tok = tiny_clip_tokenizer()
    vocab_size = len(tok)  # type: ignore[arg-type]
    eos = tok.convert_tokens_to_ids("<|endoftext|>")  # type: ignore[attr-defined]
    bos = tok.convert_tokens_to_ids("<|startoftext|>")  # type: ignore[attr-defined]
    text = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=16, bos_token_id=bos, eos_token_id=eos,
                pad_token_id=eos)
    vision = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                  patch_size=8)
    _seed(seed)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)).save_pretrained(path)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tok).save_pretrained(path)
    return path


def random_images(n: int, *, seed: int = 0, height: int = 40, width: int = 48) -> list[np.ndarray]:
    """``n`` random RGB uint8 arrays with some structure (a gradient plus noise), seeded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for _ in range(n):
        base = rng.integers(0, 256, size=3)
        grad = (base[None, None, :] + rng.integers(1, 5) * (xx + yy)[:, :, None]) % 256
        noise = rng.integers(0, 40, size=(height, width, 3))
        out.append(((grad + noise) % 256).astype(np.uint8))
    return out
