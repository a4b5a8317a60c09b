"""Tiny audio models and clips for tests, built here (nothing is downloaded).

``save_tiny_clap`` makes a ClapModel from a config with tiny text (RoBERTa) and audio (HTSAT) towers and random
weights, a RoBERTa BPE tokenizer over a few words, and a ClapFeatureExtractor at 8 kHz with a 1 s window.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np

CLAP_WORDS = ("dog", "cat", "bark", "rain", "sound", "the", "of", "a", "tone", "high", "low")
RATE = 8000


def tiny_clap_tokenizer() -> object:
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for c in string.ascii_lowercase:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault("Ġ" + c, len(vocab))
    merges: list[tuple[str, str]] = []
    for w in CLAP_WORDS:
        cur = "Ġ" + w[0]
        for c in w[1:]:
            if (cur, c) not in merges:
                merges.append((cur, c))
            cur += c
            vocab.setdefault(cur, len(vocab))
    vocab["<mask>"] = len(vocab)
    return RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=32)


def save_tiny_clap(path: Path, *, seed: int = 0) -> Path:
    """A tiny ClapModel (random weights) with its ClapProcessor, saved with save_pretrained."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    tok = tiny_clap_tokenizer()
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,  # type: ignore[arg-type]
                num_attention_heads=2, max_position_embeddings=40, projection_dim=16)
    audio = dict(window_size=4, num_mel_bins=16, spec_size=32, patch_size=4, patch_stride=(4, 4), hidden_size=32,
                 depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16, projection_dim=16)
    torch.manual_seed(seed)
    ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16)).eval().save_pretrained(path)
    # 8 kHz, a 1 s window, 51 frames of 16 mel bands: within the tiny HTSAT's 64 x 16 input
    fe = ClapFeatureExtractor(feature_size=16, sampling_rate=RATE, hop_length=160, max_length_s=1, fft_window_size=256,
                              frequency_max=4000, truncation="rand_trunc")
    ClapProcessor(feature_extractor=fe, tokenizer=tok).save_pretrained(path)
    return path


def tone(freq: float, seconds: float, rate: int = RATE, *, seed: int = 0) -> np.ndarray:
    """A float32 sine at ``freq`` Hz with a little noise (amplitude 0.3)."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t)) * 0.01
    return (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)
