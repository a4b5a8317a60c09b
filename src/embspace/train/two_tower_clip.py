"""TwoTowerClip: a CLIP-style image-text space trained from (image, caption) pairs, with zero-shot."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .._artifact import check_format_version, write_header
from .._atomic import atomic_path
from ..encoders.clip_encoder import ZeroShotResult, zero_shot_captions, zero_shot_result
from ..encoders.registry import get_encoder
from ..errors import CorruptDataError, InvalidInputError
from ..space.provenance import Provenance
from ..space.vector import EmbeddingVector
from ._base import Learner
from ._device import resolve_engine
from .contrastive_trainer import ContrastiveTrainer, embed_with

#: The ``format`` in ``two_tower_clip.json``; the ``embspace.json`` header (kind ``"model"``) has its own version.
FORMAT = "embspace.two_tower_clip/2"
FORMAT_VERSION = 1

__all__ = ["TwoTowerClip"]


class TwoTowerClip(Learner):
    """Two towers trained with CLIP's symmetric InfoNCE loss (learned temperature) so that an image
    and its caption land together; then :meth:`zero_shot` classifies images among labels by
    caption, as :class:`ClipEncoder` does.

    The text tower is a pretrained sentence encoder kept FROZEN, with a trained projection on top
    (the locked-tower recipe of LiT, Zhai et al. 2022, here with the text side locked): a few
    thousand captions cannot teach language from scratch, while MiniLM already places "an image of
    a seven" near "a handwritten seven", so unseen phrasings work. Captions are encoded once and
    cached; only the projection (Linear-ReLU-Linear) and the image tower train.

    Parameters
    ----------
    dim
        Dimension of the shared space.
    image_encoder
        A ``torch.nn.Module`` mapping ``(n, c, h, w)`` float images to ``(n, dim)``; default
        :class:`~embspace.train.SmallConvNet` (width 32, 1 channel).
    text_encoder
        A registered encoder name (default ``"minilm"``) or any object with
        ``encode(texts, progress=False) -> (n, d)``; frozen.
    epochs, batch_size, learning_rate
        Training settings (AdamW, warm-up + cosine decay).
    temperature
        Initial softmax temperature (learned).
    augment
        Optional ``augment(batch, generator)`` for the images (e.g. ``ImageAugment``).
    device, seed, progress
        As for :class:`~embspace.train.ContrastiveTrainer`.

    Attributes
    ----------
    image_tower_, text_projection_
        The trained image tower and the projection on the frozen text encoder.
    logit_scale_
        The learned ``1 / temperature``.
    provenance_
        The shared space's provenance: :meth:`encode` and :meth:`encode_text` tag their vectors with
        its ``space_id`` (one run, one space; a saved model keeps it).
    loss_history_
        Mean loss of each epoch.
    """

    def __init__(self, *, dim: int = 64, image_encoder: Any = None, text_encoder: Any = "minilm", epochs: int = 3,
                 batch_size: int = 256, learning_rate: float = 2e-3, temperature: float = 0.07, augment: Any = None,
                 device: str = "auto", seed: int = 0, progress: bool = True) -> None:
        self.dim = dim
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.temperature = temperature
        self.augment = augment
        self.device = device
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ helpers
    def _text(self) -> Any:
        """The frozen text encoder (a name is resolved once, on first use; ``text_encoder`` stays as given)."""
        if not hasattr(self, "_text_model"):
            model = self.text_encoder
            if isinstance(model, str | Path):
                model = get_encoder(model)
            if not hasattr(model, "encode"):
                raise InvalidInputError("text_encoder must be an encoder name or have encode(texts)")
            self._text_model = model
        return self._text_model

    def _frozen_text(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The frozen text encoder's vectors of ``texts``, each distinct text encoded once."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise InvalidInputError("captions/texts must be a list of strings")
        unique, inverse = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
        vec = np.asarray(self._text().encode([str(u) for u in unique], progress=False), np.float32)
        return np.ascontiguousarray(vec[inverse])

    @staticmethod
    def _images(images: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Float ``(n, c, h, w)`` in [0, 1] from uint8 ``(n, h, w)``/``(n, c, h, w)`` or float arrays."""
        x = np.asarray(images)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4:
            raise InvalidInputError(f"images must be (n, h, w) or (n, c, h, w), got shape {x.shape}")
        if x.dtype == np.uint8:
            return np.ascontiguousarray(x, dtype=np.float32) / np.float32(255.0)
        return np.ascontiguousarray(x, dtype=np.float32)

    # ------------------------------------------------------------------ training
    def fit(self, images: npt.ArrayLike, captions: Sequence[str]) -> TwoTowerClip:
        """Train on aligned ``images`` (``(n, h, w)`` uint8 or ``(n, c, h, w)`` float) and ``captions``."""
        from ..losses import InfoNCELoss  # torch: loaded on first use
        from .conv_net import SmallConvNet
        from .mlp import MLP

        x = self._images(images)
        if len(captions) != len(x):
            raise InvalidInputError(f"{len(x)} images but {len(captions)} captions")
        t = self._frozen_text(captions)
        image_tower = self.image_encoder or SmallConvNet(x.shape[1], width=32, dim=self.dim, seed=self.seed)
        loss = InfoNCELoss(self.temperature, symmetric=True, learn_temperature=True)
        trainer = ContrastiveTrainer(image_tower, loss, second_encoder=MLP(t.shape[1], self.dim, seed=self.seed),
                                     augment=self.augment, epochs=self.epochs, batch_size=self.batch_size,
                                     learning_rate=self.learning_rate, device=self.device, seed=self.seed,
                                     progress=self.progress).fit(x, pairs=t)
        self.image_tower_, self.text_projection_ = trainer.encoder_, trainer.second_encoder_
        self._torch_device = trainer.device_
        self.logit_scale_ = float(loss.scale.detach())
        self.loss_history_ = trainer.loss_history_
        self._run_id = uuid.uuid4().hex[:12]
        return self

    @property
    def provenance_(self) -> Provenance:
        """Which run made the shared space (settings, text encoder, run id)."""
        self.check_is_fitted("logit_scale_")
        text = self.text_encoder if isinstance(self.text_encoder, str | Path) else type(self.text_encoder).__name__
        return Provenance(model="embspace.two_tower_clip",
                          config={"dim": self.dim, "epochs": self.epochs, "batch_size": self.batch_size,
                                  "learning_rate": self.learning_rate, "temperature": self.temperature,
                                  "seed": self.seed, "text_encoder": str(text), "run_id": self._run_id})

    def _tag(self, z: npt.NDArray[np.float32], single: bool) -> EmbeddingVector:
        prov = self.provenance_
        return EmbeddingVector(z[0] if single else z, prov.space_id, prov.describe())

    # ------------------------------------------------------------------ use
    @property
    def logit_scale(self) -> float:
        """The learned ``1 / temperature`` that scales cosines into zero-shot logits."""
        self.check_is_fitted("logit_scale_")
        return self.logit_scale_

    def encode(self, images: npt.ArrayLike, *, normalize: bool = True) -> EmbeddingVector:
        """Image vectors ``(n, dim)`` in the shared space (unit length by default), tagged with its
        ``space_id``; one ``(h, w)`` image gives one ``(dim,)`` vector."""
        self.check_is_fitted("logit_scale_")
        single = np.ndim(images) == 2
        x = self._images(np.asarray(images)[None] if single else images)
        return self._tag(embed_with(self.image_tower_, x, self._torch_device, normalize=normalize), single)

    def encode_text(self, texts: str | Sequence[str], *, normalize: bool = True) -> EmbeddingVector:
        """Text vectors ``(n, dim)`` in the shared space (unit length by default), tagged with its
        ``space_id``; one text gives one ``(dim,)`` vector."""
        self.check_is_fitted("logit_scale_")
        single = isinstance(texts, str)
        t = self._frozen_text([texts] if isinstance(texts, str) else texts)
        return self._tag(embed_with(self.text_projection_, t, self._torch_device, normalize=normalize), single)

    def zero_shot(self, images: npt.ArrayLike, labels: Sequence[str],
                  template: str = "a photo of a {}") -> ZeroShotResult:
        """Classify images among ``labels``: which caption (``template`` with the label) fits best.
        Same contract as :meth:`ClipEncoder.zero_shot`."""
        label_list, captions = zero_shot_captions(labels, template)
        return zero_shot_result(label_list, self.encode(images), self.encode_text(captions), self.logit_scale)

    # ------------------------------------------------------------------ persistence
    #: What :meth:`save` writes: the format tag, the model's name in the header, the settings file, and the
    #: trained tower's name (``<tower>_tower.safetensors``, ``<tower>_config``). A subclass with another
    #: tower (:class:`~embspace.train.TwoTowerClap`) changes these and the hooks below, not save/load.
    _FORMAT = FORMAT
    _MODEL = "TwoTowerClip"
    _META_FILE = "two_tower_clip.json"
    _TOWER = "image"

    def _settings(self) -> dict[str, Any]:
        """The constructor's settings :meth:`load` passes back."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "temperature": self.temperature, "seed": self.seed}

    def _extra_meta(self) -> dict[str, Any]:
        """Fitted state besides the towers and the scale, saved in the settings file (hook)."""
        return {}

    def _restore_extra(self, meta: dict[str, Any]) -> None:
        """Set what :meth:`_extra_meta` saved (hook)."""

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], tower: Any, device: str) -> Self:
        """A model with the saved settings and the loaded trained tower (hook)."""
        return cls(dim=meta["dim"], image_encoder=tower, text_encoder=meta["text_encoder"], device=device,
                   progress=False, **meta["settings"])

    def save(self, path: str | Path) -> Path:
        """Write the trained towers (safetensors), the learned scale and the settings (JSON) to the
        directory ``path`` (replaced atomically). The frozen text encoder is saved by name: a
        registered name or model directory, loaded again by :meth:`load`."""
        from safetensors.torch import save_file

        from .conv_net import SmallConvNet

        self.check_is_fitted("logit_scale_")
        if not isinstance(self.image_tower_, SmallConvNet):
            raise InvalidInputError(f"save() stores the default SmallConvNet {self._TOWER} tower; save a custom "
                                    "tower's state_dict yourself")
        if not isinstance(self.text_encoder, str | Path):
            raise InvalidInputError("save() needs the text encoder's name (a registered name or model directory), "
                                    "not an encoder object")
        meta = {"format": self._FORMAT, "dim": self.dim, f"{self._TOWER}_config": self.image_tower_.config,
                "text_encoder": str(self.text_encoder), "projection_config": self.text_projection_.config,
                "logit_scale": self.logit_scale_, "loss_history": self.loss_history_, "run_id": self._run_id,
                **self._extra_meta(), "settings": self._settings()}
        out = Path(path)
        with atomic_path(out, is_dir=True) as work:
            towers = ((f"{self._TOWER}_tower", self.image_tower_), ("text_projection", self.text_projection_))
            for name, tower in towers:
                save_file({k: v.detach().cpu().contiguous() for k, v in tower.state_dict().items()},
                          str(work / f"{name}.safetensors"))
            (work / self._META_FILE).write_text(json.dumps(meta, indent=2), "utf-8")
            write_header(work, "model", FORMAT_VERSION, model=self._MODEL, format=self._FORMAT)
        return out

    @classmethod
    def load(cls, path: str | Path, *, device: str = "cpu") -> Self:
        """Read a model written by :meth:`save`."""
        import torch
        from safetensors.torch import load_file

        from .conv_net import SmallConvNet
        from .mlp import MLP

        folder = Path(path)
        header = check_format_version(folder, "model", FORMAT_VERSION)
        if header is not None and header.extra.get("model", cls._MODEL) != cls._MODEL:
            raise CorruptDataError(folder, f"this directory holds a {header.extra.get('model')} model, not a "
                                           f"{cls._MODEL}; open it with embspace.open()")
        try:
            meta = json.loads((folder / cls._META_FILE).read_text("utf-8"))
        except FileNotFoundError:
            raise CorruptDataError(folder, f"no {cls._META_FILE}: not a {cls._MODEL} directory") from None
        if meta.get("format") != cls._FORMAT:
            raise CorruptDataError(folder / cls._META_FILE, f"unknown format {meta.get('format')!r}")
        engine = resolve_engine(device)
        dev = torch.device(engine.device if engine.kind == "torch" else "cpu")
        trained = f"{cls._TOWER}_tower"
        towers = {trained: SmallConvNet(**meta[f"{cls._TOWER}_config"], seed=None),
                  "text_projection": MLP(**meta["projection_config"], seed=None)}
        for name, tower in towers.items():
            try:
                tower.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
            except (OSError, RuntimeError) as e:
                raise CorruptDataError(folder, f"unreadable {name} weights: {e}") from None
            tower.to(dev).eval()
        model = cls._from_meta(meta, towers[trained], device)
        model.image_tower_, model.text_projection_ = towers[trained], towers["text_projection"]
        model._torch_device = dev
        model.logit_scale_ = float(meta["logit_scale"])
        model._run_id = str(meta.get("run_id") or uuid.uuid4().hex[:12])  # saved before run ids: a new space
        model.loss_history_ = list(meta.get("loss_history", []))
        model._restore_extra(meta)
        return model
