"""ContrastiveTrainer: train any PyTorch encoder with a metric/contrastive loss."""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._types import Metric
from ..errors import InvalidInputError
from ..space import _linalg
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ._base import Learner
from ._device import resolve_engine
from ._progress import TrainingProgress
from .sampler import ClassBalancedSampler

__all__ = ["ContrastiveTrainer"]

Augment = Callable[[Any, Any], Any]


class ContrastiveTrainer(Learner):
    """Train a PyTorch encoder (any ``nn.Module`` mapping a batch to ``(n, dim)`` embeddings) with one
    of :mod:`embspace.losses`. What ``fit`` is given decides the batches:

    - ``fit(x, labels)``: labelled examples for :class:`~embspace.losses.TripletLoss` or
      :class:`~embspace.losses.ContrastiveLoss` with in-batch mining; batches come from a
      :class:`ClassBalancedSampler` (``batch_size // samples_per_class`` classes × ``samples_per_class``),
      so every batch has positives. The loss gets ``(embeddings, labels)``.
    - ``fit(x)`` with ``augment``: self-supervised (SimCLR): two random views of each example,
      ``loss(encoder(augment(xb)), encoder(augment(xb)))`` — :class:`~embspace.losses.NTXentLoss`.
    - ``fit(x, pairs=x2)``: aligned pairs (query/document, image/caption):
      ``loss(encoder(xb), second_encoder(x2b))`` — :class:`~embspace.losses.InfoNCELoss`,
      :class:`~embspace.losses.MultipleNegativesRankingLoss`. Without ``second_encoder``, one shared tower.

    Inputs: NumPy arrays or tensors (sliced into tensors on the device), or lists (e.g. strings,
    passed as lists to the encoder, which handles its own tokenising and device).

    Parameters
    ----------
    encoder
        The model to train; also the tower of ``x`` in pair mode.
    loss
        A loss module; its own parameters (a learned temperature) are trained too.
    second_encoder
        The tower of ``pairs`` (two-tower / CLIP-style), or None to share ``encoder``.
    augment
        ``augment(batch, generator) -> batch``: a random view (tensor ops on the device). Needed by
        ``fit(x)`` (two views per example); with labels or pairs it augments ``x``'s batches once.
    epochs, batch_size
        Passes over the data; examples per batch.
    samples_per_class
        K of the class-balanced batches (labelled mode).
    learning_rate, weight_decay
        AdamW settings; the learning rate follows a cosine decay to 0 over training after a linear
        warm-up of ``warmup`` of the steps.
    device
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.
    seed
        Seeds the batch order, the views and (via ``torch.manual_seed``) dropout: CPU runs repeat.
    progress
        Show a progress bar with the running loss.
    checkpoint_dir
        Save the encoder(s), loss and optimizer state there after every epoch (``torch.save`` of
        state dicts only); a later ``fit`` with the same settings resumes after the last saved epoch.

    Attributes
    ----------
    space_
        The trained encoder's :class:`~embspace.EmbeddingSpace` of the training inputs ``x`` (keys:
        ``fit(..., keys=...)``, default the row numbers ``"0"``, ``"1"``, ...), computed on first
        use (the trainer keeps a reference to ``x`` for it, not a copy); :meth:`encode_space` makes
        the space of other inputs.
    encoder_, second_encoder_
        The trained towers (in eval mode).
    device_
        The ``torch.device`` they are on.
    loss_history_
        Mean loss of each epoch.
    """

    def __init__(self, encoder: Any, loss: Any, *, second_encoder: Any = None, augment: Augment | None = None,
                 epochs: int = 10, batch_size: int = 256, samples_per_class: int = 4, learning_rate: float = 1e-3,
                 weight_decay: float = 1e-4, warmup: float = 0.05, device: str = "auto", seed: int = 0,
                 progress: bool = True, checkpoint_dir: str | Path | None = None) -> None:
        self.encoder = encoder
        self.loss = loss
        self.second_encoder = second_encoder
        self.augment = augment
        self.epochs = epochs
        self.batch_size = batch_size
        self.samples_per_class = samples_per_class
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.device = device
        self.seed = seed
        self.progress = progress
        self.checkpoint_dir = checkpoint_dir

    # ------------------------------------------------------------------ checks
    def _check(self) -> None:
        from torch import nn

        if not isinstance(self.encoder, nn.Module):
            raise InvalidInputError(f"encoder must be a torch.nn.Module, got {type(self.encoder).__name__}")
        if not isinstance(self.loss, nn.Module):
            raise InvalidInputError(f"loss must be a torch.nn.Module (see embspace.losses), got "
                                    f"{type(self.loss).__name__}")
        if self.second_encoder is not None and not isinstance(self.second_encoder, nn.Module):
            raise InvalidInputError("second_encoder must be a torch.nn.Module or None")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {v!r}")
        if not self.learning_rate > 0 or not self.weight_decay >= 0 or not 0 <= self.warmup < 1:
            raise InvalidInputError("learning_rate must be > 0, weight_decay >= 0 and warmup in [0, 1)")

    @staticmethod
    def _length(x: Any, what: str) -> int:
        try:
            return len(x)
        except TypeError:
            raise InvalidInputError(f"{what} must be an array, a tensor or a list, got {type(x).__name__}") from None

    # ------------------------------------------------------------------ training
    def fit(self, x: Any, labels: Any = None, *, pairs: Any = None,
            keys: Sequence[Any] | None = None) -> ContrastiveTrainer:
        """Train on ``x`` (with ``labels``, or ``pairs``, or neither with ``augment``). Returns ``self``.

        ``keys`` (one per example) name the rows of :attr:`space_`; default ``"0"``, ``"1"``, ...
        """
        import torch

        self._check()
        n = self._length(x, "x")
        if n < 2:
            raise InvalidInputError(f"need at least 2 examples to train on, got {n}")
        if keys is not None and len(keys) != n:
            raise InvalidInputError(f"keys must name every example: {n} examples, {len(keys)} keys")
        modes = [labels is not None, pairs is not None]
        if all(modes):
            raise InvalidInputError("give labels (mined pairs/triplets) or pairs (aligned pairs), not both")
        if labels is not None:
            lab = np.asarray(labels.cpu() if hasattr(labels, "cpu") else labels)
            if lab.shape != (n,):
                raise InvalidInputError(f"labels must have one entry per example ({n}), got shape {lab.shape}")
            mode = "labels"
        elif pairs is not None:
            if self._length(pairs, "pairs") != n:
                raise InvalidInputError(f"pairs must align with x: {n} examples, {len(pairs)} pairs")
            mode = "pairs"
        else:
            if self.augment is None:
                raise InvalidInputError("nothing to contrast: give labels, pairs, or an augment function for "
                                        "self-supervised views")
            mode = "views"
        augment: Augment = self.augment if self.augment is not None else (lambda b, g: b)
        engine = resolve_engine(self.device)
        dev = torch.device(engine.device if engine.kind == "torch" else "cpu")
        torch.manual_seed(self.seed)
        gen = torch.Generator(device=dev)
        gen.manual_seed(self.seed)
        towers = [self.encoder] + ([self.second_encoder] if self.second_encoder is not None else [])
        for t in (*towers, self.loss):
            t.to(dev)
        params = [p for m in (*towers, self.loss) for p in m.parameters() if p.requires_grad]
        if not params:
            raise InvalidInputError("the encoder has no trainable parameters")
        opt = torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        if mode == "labels":
            k = self.samples_per_class
            sampler: Any = ClassBalancedSampler(lab, max(2, self.batch_size // k), k, seed=self.seed)
            lab_t = torch.as_tensor(np.unique(lab, return_inverse=True)[1], device=dev)
        steps_per_epoch = len(sampler) if mode == "labels" else math.ceil(n / self.batch_size)
        total = self.epochs * steps_per_epoch
        warm = max(1, int(self.warmup * total))

        def lr_at(step: int) -> float:
            if step < warm:
                return self.learning_rate * (step + 1) / warm
            return 0.5 * self.learning_rate * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

        history: list[float] = []
        start = self._resume(towers, opt, history)
        step = start * steps_per_epoch
        with TrainingProgress(total, f"contrastive ({type(self.loss).__name__})", unit="batches",
                              enabled=self.progress) as bar:
            bar.advance(step)
            for epoch in range(start, self.epochs):
                for t in (*towers, self.loss):
                    t.train()
                gen.manual_seed(self.seed * 100_003 + epoch)  # views of epoch e: the same on a resumed run
                if mode == "labels":
                    sampler.set_epoch(epoch)
                    batches: Iterator[npt.NDArray[np.int64]] = iter(sampler)
                else:
                    order = np.random.default_rng([self.seed, epoch]).permutation(n)
                    batches = (order[i : i + self.batch_size] for i in range(0, n, self.batch_size)
                               if len(order[i : i + self.batch_size]) >= 2)
                total_loss, count = 0.0, 0
                for idx in batches:
                    for g in opt.param_groups:
                        g["lr"] = lr_at(step)
                    xb = take(x, idx, dev)
                    if mode == "labels":
                        value = self.loss(self.encoder(augment(xb, gen)), lab_t[torch.as_tensor(idx, device=dev)])
                    elif mode == "views":
                        value = self.loss(self.encoder(augment(xb, gen)), self.encoder(augment(xb, gen)))
                    else:
                        other = self.second_encoder if self.second_encoder is not None else self.encoder
                        value = self.loss(self.encoder(augment(xb, gen)), other(take(pairs, idx, dev)))
                    if not torch.isfinite(value):
                        raise InvalidInputError(f"the loss became {float(value)} at epoch {epoch + 1}; lower the "
                                                f"learning_rate (now {self.learning_rate})")
                    opt.zero_grad(set_to_none=True)
                    value.backward()
                    opt.step()
                    total_loss += float(value.detach())
                    count += 1
                    step += 1
                    bar.advance(1, loss=total_loss / count)
                history.append(total_loss / max(1, count))
                self._save_checkpoint(towers, opt, history, epoch + 1)
        for t in (*towers, self.loss):
            t.eval()
        self.encoder_ = self.encoder
        self.second_encoder_ = self.second_encoder if self.second_encoder is not None else self.encoder
        self.loss_history_ = history
        self.device_ = dev
        self._run_id = uuid.uuid4().hex[:12]
        self._fit_inputs = (x, None if keys is None else [str(k) for k in keys])
        self._space: EmbeddingSpace | None = None
        return self

    # ------------------------------------------------------------------ checkpoints
    def _settings(self) -> dict[str, Any]:
        return {"loss": repr(self.loss), "epochs": self.epochs, "batch_size": self.batch_size,
                "samples_per_class": self.samples_per_class, "learning_rate": self.learning_rate,
                "weight_decay": self.weight_decay, "warmup": self.warmup, "seed": self.seed}

    def _save_checkpoint(self, towers: list[Any], opt: Any, history: list[float], epoch: int) -> None:
        if self.checkpoint_dir is None:
            return
        import torch

        from .._atomic import atomic_path

        state = {"settings": self._settings(), "epoch": epoch, "loss_history": list(history),
                 "towers": [t.state_dict() for t in towers], "loss": self.loss.state_dict(),
                 "optimizer": opt.state_dict(), "rng": torch.get_rng_state()}
        path = Path(self.checkpoint_dir) / "checkpoint.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    def _resume(self, towers: list[Any], opt: Any, history: list[float]) -> int:
        if self.checkpoint_dir is None:
            return 0
        import torch

        path = Path(self.checkpoint_dir) / "checkpoint.pt"
        if not path.exists():
            return 0
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain data only
        if state.get("settings") != self._settings() or len(state.get("towers", [])) != len(towers):
            return 0  # another run's checkpoint: start afresh (it is overwritten after the first epoch)
        for t, sd in zip(towers, state["towers"], strict=True):
            t.load_state_dict(sd)
        self.loss.load_state_dict(state["loss"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        history.extend(state["loss_history"])
        return int(state["epoch"])

    # ------------------------------------------------------------------ products
    def embed(self, x: Any, *, batch_size: int = 1024, tower: str = "first", normalize: bool = False
              ) -> npt.NDArray[np.float32]:
        """Embeddings of ``x`` by the trained encoder (``tower="second"``: the pairs' tower), float32
        ``(n, dim)``, computed in eval mode without gradients."""
        self.check_is_fitted("encoder_")
        if tower not in ("first", "second"):
            raise InvalidInputError(f"tower must be 'first' or 'second', got {tower!r}")
        model = self.encoder_ if tower == "first" else self.second_encoder_
        return embed_with(model, x, self.device_, batch_size=batch_size, normalize=normalize)

    def encode_space(self, x: Any, keys: Sequence[Any] | None = None, *, tower: str = "first",
                     metric: Metric = "cosine") -> EmbeddingSpace:
        """An :class:`~embspace.EmbeddingSpace` of ``x`` (one key each; default ``"0"``, ``"1"``, ...) in
        this trained encoder's space; both towers of one run share the provenance, so their spaces are
        comparable."""
        z = self.embed(x, tower=tower)
        key_list = [str(i) for i in range(len(z))] if keys is None else list(keys)
        if len(key_list) != len(z):
            raise InvalidInputError(f"{len(key_list)} keys for {len(z)} inputs; give one key per input")
        prov = Provenance(model="embspace.contrastive", config={**self._settings(), "run_id": self._run_id,
                                                                 "encoder": type(self.encoder_).__name__})
        return EmbeddingSpace(key_list, z, metric=metric, provenance=prov, copy=False)

    @property
    def space_(self) -> EmbeddingSpace:
        """The trained encoder's space of the training inputs (computed once, on first use)."""
        self.check_is_fitted("encoder_")
        if self._space is None:
            x, keys = self._fit_inputs
            self._space = self.encode_space(x, keys)
        return self._space

    def space(self, keys: Sequence[Any], x: Any, *, tower: str = "first", metric: Metric = "cosine") -> EmbeddingSpace:
        """Deprecated: :meth:`encode_space` (``encode_space(x, keys)``; :attr:`space_` for the training inputs)."""
        warnings.warn("ContrastiveTrainer.space(keys, x) is deprecated and will be removed in the next release; use "
                      "encode_space(x, keys), or space_ for the training inputs", DeprecationWarning, stacklevel=2)
        return self.encode_space(x, keys, tower=tower, metric=metric)


def take(x: Any, idx: npt.NDArray[np.int64], dev: Any) -> Any:
    """Rows ``idx`` of ``x``: a tensor on ``dev`` for arrays and tensors, a list for anything else."""
    import torch

    if isinstance(x, torch.Tensor):
        return x[torch.as_tensor(idx, device=x.device)].to(dev)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x[idx])).to(dev)
    return [x[i] for i in idx.tolist()]


def embed_with(model: Any, x: Any, device: Any, *, batch_size: int = 1024,
               normalize: bool = False) -> npt.NDArray[np.float32]:
    """``model``'s float32 ``(n, dim)`` outputs for ``x`` in batches, without gradients (``model`` in
    eval mode, on ``device``); ``normalize`` scales each row to unit length."""
    import torch

    n = ContrastiveTrainer._length(x, "x")
    if n == 0:
        raise InvalidInputError("nothing to embed")
    with torch.no_grad():
        out = [model(take(x, np.arange(i, min(n, i + batch_size)), device)).float().cpu().numpy()
               for i in range(0, n, batch_size)]
    z = np.ascontiguousarray(np.concatenate(out), dtype=np.float32)
    if normalize:
        z = _linalg.unit_rows(z)  # zero rows stay zero
    return z
