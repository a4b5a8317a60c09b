"""finetune: adapt a sentence-transformers encoder to (query, positive) pairs with in-batch negatives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from ..encoders.matryoshka import FINETUNE_FILE
from ..encoders.sentence_encoder import SentenceEncoder
from ..encoders.text_encoder import quiet_loading
from ..errors import InvalidInputError, MissingDependencyError
from .contrastive_trainer import ContrastiveTrainer

__all__ = ["finetune"]


def finetune(pairs: Sequence[tuple[str, str]], output: str | Path, *, model: str | Path = "minilm", epochs: int = 1,
             batch_size: int = 32, learning_rate: float = 2e-5, scale: float = 20.0, max_length: int = 256,
             warmup: float = 0.1, device: str = "auto", seed: int = 0, progress: bool = True,
             matryoshka_dims: Sequence[int] | None = None, matryoshka_weights: Sequence[float] | None = None) -> Path:
    """Fine-tune a sentence encoder with :class:`~embspace.losses.MultipleNegativesRankingLoss` on
    (anchor, positive) pairs — each anchor against its positive and every other positive of its
    batch — through :class:`~embspace.train.ContrastiveTrainer`, and save a sentence-transformers
    model directory that :func:`~embspace.encoders.get_encoder` (and sentence-transformers) load.

    Parameters
    ----------
    pairs
        ``(anchor, positive)`` texts, e.g. (query, relevant passage).
    output
        The model directory to write (replaced atomically; nothing is left half-written).
    model
        The starting model: ``"minilm"`` (the bundled all-MiniLM-L6-v2), a local directory or a hub id.
    epochs, batch_size, learning_rate, warmup
        Training settings (AdamW, weight decay 0.01, linear warm-up over ``warmup`` of the steps, cosine decay).
    scale
        The loss's cosine scale (20: temperature 0.05, sentence-transformers' default).
    max_length
        Tokens per text during training (and the saved model's ``max_seq_length``).
    device, seed, progress
        As for :class:`~embspace.train.ContrastiveTrainer`.
    matryoshka_dims, matryoshka_weights
        Train for truncation too (Matryoshka representation learning): the loss becomes
        :class:`~embspace.losses.MatryoshkaLoss` over these sizes (descending, the first at most the
        model's dimension, e.g. ``(384, 256, 128, 64, 32)``), with these weights (default 1 each).
        The saved model records them (``embspace_finetune.json`` and its model card), so
        :func:`~embspace.encoders.matryoshka_dims` reads them back and ``get_encoder(path, dim=128)``
        truncates without a warning.

    Returns
    -------
    Path
        ``output``, holding the model, its card (``README.md``, naming the loss) and
        ``embspace_finetune.json`` (settings, base model, loss, Matryoshka dims, loss history).
    """
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from torch import nn
    except ImportError:
        raise MissingDependencyError("sentence-transformers", "encoders", "Fine-tuning sentence encoders") from None
    from ..losses import MatryoshkaLoss, MultipleNegativesRankingLoss  # torch: loaded on first use
    from ..losses.matryoshka import check_dims

    pair_list = list(pairs)
    if len(pair_list) < 2:
        raise InvalidInputError(f"fine-tuning needs at least 2 (anchor, positive) pairs, got {len(pair_list)}")
    for i, p in enumerate(pair_list):
        if not (isinstance(p, tuple | list) and len(p) == 2 and all(isinstance(t, str) and t.strip() for t in p)):
            raise InvalidInputError(f"pair #{i} must be two non-empty strings (anchor, positive), got {p!r}")
    dims = None if matryoshka_dims is None else check_dims(matryoshka_dims, "matryoshka_dims")
    if dims is None and matryoshka_weights is not None:
        raise InvalidInputError("matryoshka_weights needs matryoshka_dims (the sizes they weigh)")
    source, name, revision = SentenceEncoder._resolve(model)
    with quiet_loading():
        st = SentenceTransformer(str(source), device="cpu")
    st.max_seq_length = max_length
    full = (getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension)()
    if dims is not None and full is not None and dims[0] > int(full):
        raise InvalidInputError(f"matryoshka_dims {list(dims)} go up to {dims[0]}, but {name} makes "
                                f"{full}-dimensional embeddings; start them at {full} or below")
    loss: nn.Module = MultipleNegativesRankingLoss(scale)
    if dims is not None:
        loss = MatryoshkaLoss(loss, dims, matryoshka_weights)

    class _Tower(nn.Module):
        """Texts in, the model's (pooled, normalised as the model does) sentence embeddings out."""

        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, texts: list[str]) -> torch.Tensor:
            dev = next(self.st.parameters()).device
            prep = getattr(self.st, "preprocess", None) or self.st.tokenize  # sentence-transformers >= 5.2 / older
            features = {k: (v.to(dev) if isinstance(v, torch.Tensor) else v) for k, v in prep(texts).items()}
            return self.st(features)["sentence_embedding"]  # type: ignore[no-any-return]

    trainer = ContrastiveTrainer(_Tower(), loss, epochs=epochs, batch_size=batch_size,
                                 learning_rate=learning_rate, weight_decay=0.01, warmup=warmup, device=device,
                                 seed=seed, progress=progress)
    trainer.fit([a for a, _ in pair_list], pairs=[p for _, p in pair_list])
    st.to("cpu")
    out = Path(output)
    with atomic_path(out, is_dir=True) as work, quiet_loading():
        st.save(str(work))
        meta: dict[str, Any] = {"base_model": name, "base_revision": revision, "pairs": len(pair_list),
                                "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                                "scale": scale, "max_length": max_length, "warmup": warmup, "seed": seed,
                                "loss": "MultipleNegativesRankingLoss" if dims is None else
                                "MatryoshkaLoss(MultipleNegativesRankingLoss)",
                                "loss_history": trainer.loss_history_}
        if dims is not None:
            meta["matryoshka_dims"] = list(dims)
            meta["matryoshka_weights"] = list(getattr(loss, "weights", ()))
        (work / FINETUNE_FILE).write_text(json.dumps(meta, indent=2), "utf-8")
        _write_card(work, meta)
    return out


def _write_card(model_dir: Path, meta: dict[str, Any]) -> None:
    """Add what embspace trained to the model card (README.md, written by sentence-transformers or new): the
    base model, the pairs and the loss, with its parameters as sentence-transformers' cards give them (a
    Matryoshka model's card names ``MatryoshkaLoss`` and its ``matryoshka_dims``, which tools read)."""
    card = model_dir / "README.md"
    text = card.read_text("utf-8") if card.is_file() else f"# {model_dir.name}\n"
    params: dict[str, Any] = {"loss": "MultipleNegativesRankingLoss", "scale": meta["scale"]}
    if "matryoshka_dims" in meta:
        params = {"loss": "MultipleNegativesRankingLoss", "matryoshka_dims": meta["matryoshka_dims"],
                  "matryoshka_weights": meta["matryoshka_weights"], "n_dims_per_step": -1}
        loss = "[MatryoshkaLoss](https://arxiv.org/abs/2205.13147) over MultipleNegativesRankingLoss"
    else:
        loss = "MultipleNegativesRankingLoss"
    section = (f"\n\n## Fine-tuning (embspace)\n\nFine-tuned from `{meta['base_model']}` with "
               f"`embspace.train.finetune` on {meta['pairs']:,} (anchor, positive) pairs for {meta['epochs']} "
               f"epoch(s), batch size {meta['batch_size']}, learning rate {meta['learning_rate']}.\n\nLoss: {loss}, "
               f"with these parameters:\n\n```json\n{json.dumps(params, indent=4)}\n```\n")
    card.write_text(text.rstrip("\n") + section, "utf-8")
