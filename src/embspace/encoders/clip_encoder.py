"""CLIP: images and texts in one space, and zero-shot classification (Hugging Face or open_clip models)."""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, MissingDependencyError, ModelNotFoundError
from ..space.vector import EmbeddingVector
from ._images import ImageEncoderBase, _pil, _transformers, batched, describe_image_size
from .encoder import BaseEncoder, Encoder, ImageItem, Modality, l2_normalize, resolve_device
from .image_encoder import _resolve_model
from .sentence_encoder import _dir_revision

if TYPE_CHECKING:
    from PIL import Image as PILImage  # type: ignore[import-not-found, unused-ignore]

__all__ = ["ClipEncoder", "ZeroShotResult"]


@dataclass(frozen=True, eq=False)
class ZeroShotResult:
    """Zero-shot class probabilities of images over labels.

    Attributes
    ----------
    labels : tuple of str
        The candidate labels, in the order of the columns of ``probs``.
    probs : numpy.ndarray
        float32 ``(n_images, n_labels)``, read-only; each row sums to 1 (a softmax over the labels
        of the model's scaled cosine similarities).
    """

    labels: tuple[str, ...]
    probs: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        probs = np.array(self.probs, dtype=np.float32, order="C")  # a private copy
        if probs.ndim != 2 or probs.shape[1] != len(self.labels):
            raise InvalidInputError(f"probs of shape {probs.shape} do not match {len(self.labels)} labels; "
                                    "expected (n_images, n_labels)")
        probs.setflags(write=False)
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "probs", probs)

    def __len__(self) -> int:
        return int(self.probs.shape[0])

    @property
    def predicted(self) -> list[str]:
        """The most probable label of each image."""
        return [self.labels[j] for j in np.argmax(self.probs, axis=1)] if len(self.labels) else []

    def accuracy(self, true_labels: Sequence[str]) -> float:
        """The share of images whose most probable label is ``true_labels[i]``."""
        truth = list(true_labels)
        if len(truth) != len(self):
            raise InvalidInputError(f"{len(truth)} true labels for {len(self)} images")
        if not truth:
            raise InvalidInputError("no images to score")
        return sum(p == t for p, t in zip(self.predicted, truth, strict=True)) / len(truth)

    def top(self, k: int = 1) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable ``(label, probability)`` pairs of each image, most probable first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        k = min(k, len(self.labels))
        order = np.argsort(-self.probs, axis=1, kind="stable")[:, :k]
        return [[(self.labels[j], float(row[j])) for j in idx] for row, idx in zip(self.probs, order, strict=True)]

    def __repr__(self) -> str:
        return f"ZeroShotResult({len(self)} images x {len(self.labels)} labels, predicted={self.predicted[:5]!r})"


def _features(out: Any) -> Any:
    """The projected embeddings of ``get_*_features``: a tensor (transformers 4), or pooler_output (5)."""
    return out if hasattr(out, "ndim") else out.pooler_output


class _HFClip:
    """A transformers ``CLIPModel`` with its processor."""

    backend = "transformers"

    def __init__(self, path: Path, device: str) -> None:
        hf = _transformers("CLIP encoders")
        import torch

        try:
            model_type = json.loads((path / "config.json").read_text("utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError) as e:
            raise ModelNotFoundError(f"{path / 'config.json'} is not a readable model config ({e})") from e
        if model_type != "clip":
            raise InvalidInputError(f"{path} holds a {model_type!r} model, not CLIP; ClipEncoder loads Hugging Face "
                                    "CLIP models (model_type 'clip') and open_clip directories; use ImageEncoder "
                                    "for a vision-only model")
        try:
            processor = hf.AutoProcessor.from_pretrained(str(path))
            model = hf.CLIPModel.from_pretrained(str(path))
        except (OSError, ValueError, KeyError) as e:
            raise ModelNotFoundError(f"cannot load a CLIP model from {path} ({type(e).__name__}: {e}); it needs "
                                     "config.json and the weights (model.save_pretrained(dir)) and the processor's "
                                     "tokenizer and image processor files (processor.save_pretrained(dir))") from e
        self.image_processor: Any = getattr(processor, "image_processor", None)
        self.tokenizer: Any = getattr(processor, "tokenizer", None)
        if self.image_processor is None or self.tokenizer is None:
            raise ModelNotFoundError(f"{path} has no CLIP processor (a tokenizer and an image processor); "
                                     "save one with CLIPProcessor(...).save_pretrained(dir)")
        self.device = device
        self.model = model.to(device=device, dtype=torch.float32).eval()
        self.dim = int(model.config.projection_dim)
        self.logit_scale = float(model.logit_scale.detach().exp().item())
        limits = [int(model.config.text_config.max_position_embeddings)]
        if isinstance(getattr(self.tokenizer, "model_max_length", None), int):
            limits.append(int(self.tokenizer.model_max_length))
        self.max_length = min(limits)
        self.image_size = describe_image_size(self.image_processor)

    def image_features(self, images: list[PILImage.Image]) -> Any:
        import torch

        pixels = self.image_processor(images=images, return_tensors="pt")["pixel_values"]
        return _features(self.model.get_image_features(pixel_values=pixels.to(self.device, torch.float32)))

    def text_features(self, texts: list[str]) -> Any:
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return _features(self.model.get_text_features(input_ids=enc["input_ids"].to(self.device),
                                                      attention_mask=enc["attention_mask"].to(self.device)))


class _OpenClip:
    """An open_clip model from a directory with ``open_clip_config.json`` and its weights (open_clip >= 3)."""

    backend = "open_clip"

    def __init__(self, path: Path, device: str) -> None:
        try:
            oc = importlib.import_module("open_clip")
        except ImportError:
            raise MissingDependencyError("open_clip_torch", "clip", "open_clip models") from None
        spec = f"local-dir:{path}"
        try:
            model, self.preprocess = oc.create_model_from_pretrained(spec, device=device)
            self.tokenizer = oc.get_tokenizer(spec)
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            raise ModelNotFoundError(f"cannot load an open_clip model from {path} ({type(e).__name__}: {e}); "
                                     "it needs open_clip_config.json and open_clip_model.safetensors "
                                     "(or open_clip_pytorch_model.bin)") from e
        self.device = device
        self.model = model.eval()
        cfg = json.loads((path / "open_clip_config.json").read_text("utf-8"))
        self.dim = int(cfg["model_cfg"]["embed_dim"])
        self.logit_scale = float(model.logit_scale.detach().exp().item())
        size = getattr(model.visual, "image_size", None)
        hw = tuple(size) if isinstance(size, list | tuple) else (size, size)
        self.image_size = f"{hw[0]}x{hw[1]}" if hw[0] else "unknown"

    def image_features(self, images: list[PILImage.Image]) -> Any:
        import torch

        return self.model.encode_image(torch.stack([self.preprocess(im) for im in images]).to(self.device))

    def text_features(self, texts: list[str]) -> Any:
        return self.model.encode_text(self.tokenizer(texts).to(self.device))


class _TextTower(BaseEncoder):
    """The text tower of a two-tower encoder (:class:`ClipEncoder`, ``ClapEncoder``: whatever has
    ``_encode_texts``), as a text Encoder of the same space."""

    modality: Modality = "text"

    def __init__(self, owner: Any) -> None:
        self._owner = owner
        self.name, self.dim, self.revision = owner.name, owner.dim, owner.revision
        self._provenance = owner.provenance

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self._owner._encode_texts(items, batch_size=batch_size, normalize=normalize,
                                                                 progress=progress)
        return out

    def __repr__(self) -> str:
        return f"{type(self._owner).__name__}({self.name!r}, dim={self.dim}).text_encoder"


class ClipEncoder(ImageEncoderBase):
    """A CLIP model: images and texts encoded into one space, and zero-shot classification.

    ``encode`` (and its alias :meth:`encode_image`) encodes images; :meth:`encode_text` encodes
    texts into the same space (same ``space_id``), so an image vector can query captions and a
    caption can query images. :attr:`text_encoder` is the text side as an Encoder of its own, for
    anything that expects a text encoder (``encode_space`` of captions, a collection of texts).

    Parameters
    ----------
    model
        A local directory holding a Hugging Face ``CLIPModel`` and its processor (``config.json``,
        weights, tokenizer and image processor files, as written by ``save_pretrained``), or an
        open_clip model (``open_clip_config.json`` and ``open_clip_model.safetensors``; needs
        ``pip install "embspace[clip]"``), or a Hugging Face hub id already in the local cache
        (nothing is downloaded). A directory with both is loaded with transformers.
    device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (CUDA, then MPS, then CPU).
    batch_size
        Default number of images (or texts) per forward pass.

    Attributes
    ----------
    name : str
        The model directory's name, or the hub id.
    dim : int
        Dimension of the joint space.
    revision : str
        Hash of the model's config files and weight file sizes.
    backend : str
        ``"transformers"`` or ``"open_clip"``.
    image_size : str
        The image input size, e.g. ``"224x224"``.
    logit_scale : float
        The model's learned temperature, ``exp(logit_scale)``: zero-shot logits are this times the cosine.

    Raises
    ------
    ModelNotFoundError
        No such directory, a directory without a CLIP model, or a hub id not cached locally.
    MissingDependencyError
        ``transformers``, Pillow, or (for open_clip directories) ``open_clip_torch`` is not installed.
    InvalidInputError
        The directory holds a model that is not CLIP.

    Examples
    --------
    >>> clip = ClipEncoder("models/clip-vit-base-patch32")                    # doctest: +SKIP
    >>> clip.zero_shot(["cat.jpg"], ["cat", "dog"]).predicted                 # doctest: +SKIP
    ['cat']
    """

    def __init__(self, model: str | os.PathLike[str], *, device: str = "auto", batch_size: int = 32) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        _pil()
        self.path, self.name = _resolve_model(model, ("config.json", "open_clip_config.json"), "CLIP model")
        self.revision = _dir_revision(self.path)
        self.device = resolve_device(device)
        self._backend: _HFClip | _OpenClip = (
            _HFClip(self.path, self.device) if (self.path / "config.json").is_file()
            else _OpenClip(self.path, self.device)
        )
        self.backend = self._backend.backend
        self.dim = self._backend.dim
        self.image_size = self._backend.image_size
        self.batch_size = batch_size
        self._set_provenance(backend=self.backend, image_size=self.image_size)
        self._text_encoder = _TextTower(self)

    @property
    def logit_scale(self) -> float:
        return self._backend.logit_scale

    @property
    def text_encoder(self) -> Encoder:
        """The text side of this model: an Encoder (modality ``"text"``) of the same space."""
        return self._text_encoder

    def _embed_images(self, images: list[PILImage.Image]) -> npt.NDArray[np.float32]:
        import torch

        with torch.inference_mode():
            feats = self._backend.image_features(images)
        return np.ascontiguousarray(feats.float().cpu().numpy(), dtype=np.float32)

    def _encode_texts(self, texts: list[str], *, batch_size: int | None, normalize: bool,
                      progress: bool) -> npt.NDArray[np.float32]:
        import torch

        out = np.empty((len(texts), self.dim), np.float32)
        size = self.batch_size if batch_size is None else batch_size
        for start, batch in batched(texts, size, description=f"encoding {self.name}", unit="texts",
                                    progress=progress):
            with torch.inference_mode():
                feats = self._backend.text_features(batch)
            out[start:start + len(batch)] = feats.float().cpu().numpy()
        return l2_normalize(out) if normalize else out

    def encode_image(self, images: ImageItem | Sequence[ImageItem], *, batch_size: int | None = None,
                     normalize: bool = True, progress: bool = True) -> EmbeddingVector:
        """Encode images (paths, Pillow images, arrays) to a float32 ``(n, dim)`` matrix of this space
        (one path or Pillow image: a ``(dim,)`` vector).

        The same as :meth:`encode`.
        """
        return self.encode(images, batch_size=batch_size, normalize=normalize, progress=progress)

    def encode_text(self, texts: str | Sequence[str], *, batch_size: int | None = None, normalize: bool = True,
                    progress: bool = True) -> EmbeddingVector:
        """Encode texts to a float32 ``(n, dim)`` matrix of the same space as the images (one text: ``(dim,)``).

        Parameters
        ----------
        texts
            A string, or a list of strings (longer ones are truncated to the model's context length).
        batch_size
            Texts per forward pass (default: the encoder's ``batch_size``).
        normalize
            Scale each vector to unit length (default), so dot products are cosines.
        progress
            Show a progress bar.

        Returns
        -------
        EmbeddingVector
            float32 ``(n, dim)`` (``(dim,)`` for one text), tagged with this model's ``space_id``.
        """
        return self._text_encoder.encode(texts, batch_size=batch_size, normalize=normalize, progress=progress)

    def zero_shot(self, images: Sequence[ImageItem], labels: Sequence[str], template: str = "a photo of a {}", *,
                  batch_size: int | None = None, progress: bool = True) -> ZeroShotResult:
        """Classify images among labels never trained on: which caption (``template`` with the label) fits best.

        Parameters
        ----------
        images
            Paths, Pillow images or arrays.
        labels
            Candidate class names, unique and non-empty.
        template
            The caption of a label; ``"{}"`` stands for the label.
        batch_size
            Images per forward pass (default: the encoder's ``batch_size``).
        progress
            Show a progress bar while encoding the images.

        Returns
        -------
        ZeroShotResult
            ``probs`` float32 ``(n_images, n_labels)``: ``softmax(logit_scale * cosine(image, caption))``
            over the labels, the model's own image-to-text logits.

        Raises
        ------
        InvalidInputError
            No labels, duplicate or empty labels, or a template without ``"{}"``.
        """
        label_list, captions = zero_shot_captions(labels, template)
        img = self.encode(images, batch_size=batch_size, normalize=True, progress=progress)
        txt = self.encode_text(captions, batch_size=batch_size, normalize=True, progress=False)
        return zero_shot_result(label_list, img, txt, self.logit_scale)

    @staticmethod
    def _check_labels(labels: Sequence[str]) -> list[str]:
        return check_labels(labels)

    def __repr__(self) -> str:
        return f"ClipEncoder({self.name!r}, dim={self.dim}, backend={self.backend!r}, device={self.device!r})"


def zero_shot_captions(labels: Sequence[str], template: str) -> tuple[list[str], list[str]]:
    """The checked labels and their captions (``template`` with ``"{}"`` replaced by each label)."""
    label_list = check_labels(labels)
    if not isinstance(template, str) or "{}" not in template:
        raise InvalidInputError(f"template must be a string containing '{{}}' where the label goes, "
                                f"got {template!r}")
    return label_list, [template.replace("{}", label) for label in label_list]


def zero_shot_result(labels: Sequence[str], images: npt.ArrayLike, captions: npt.ArrayLike,
                     logit_scale: float) -> ZeroShotResult:
    """``softmax(logit_scale · cos(image, caption))`` over the labels, from unit-length vectors."""
    img, txt = np.asarray(images, np.float64), np.asarray(captions, np.float64)
    logits = logit_scale * (img @ txt.T)
    logits -= logits.max(axis=1, keepdims=True) if len(img) else 0.0
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    return ZeroShotResult(tuple(labels), probs.astype(np.float32))


def check_labels(labels: Sequence[str]) -> list[str]:
    """Zero-shot labels: a list of unique, non-empty strings."""
    if isinstance(labels, str):
        raise TypeError("labels must be a list of strings; wrap a single label in a list")
    out = list(labels)
    if not out:
        raise InvalidInputError("zero_shot needs at least one label")
    for i, label in enumerate(out):
        if not isinstance(label, str):
            raise TypeError(f"label #{i} is {type(label).__name__}, expected str")
        if not label.strip():
            raise InvalidInputError(f"label #{i} is empty")
    dupes = sorted(label for label, n in Counter(out).items() if n > 1)
    if dupes:
        raise InvalidInputError(f"labels must be unique; repeated: {', '.join(repr(d) for d in dupes)}")
    return out
