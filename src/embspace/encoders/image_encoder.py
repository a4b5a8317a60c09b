"""Image encoders from Hugging Face vision models: ViT, DINOv2 (CLS or mean pooling), and conv nets."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, ModelNotFoundError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.vector import EmbeddingVector
from ._images import (
    ImageEncoderBase,
    _pil,
    _stable_item,
    _transformers,
    batched,
    default_image_keys,
    describe_image_size,
    load_images,
)
from .encoder import EncodeInput, item_digest, layer_space, resolve_device
from .sentence_encoder import _dir_revision
from .text_encoder import LayerSpec

if TYPE_CHECKING:
    from PIL import Image as PILImage  # type: ignore[import-not-found, unused-ignore]

__all__ = ["ImageEncoder", "Pooling"]

Pooling = Literal["cls", "mean"]


def _resolve_model(model: str | os.PathLike[str], markers: Iterable[str], what: str) -> tuple[Path, str]:
    """(local directory, name) of a model: a local directory, or a Hugging Face hub id cached on this machine.

    Nothing is downloaded: a hub id must already be in the local Hugging Face cache.
    """
    text = os.fspath(model)
    path = Path(text).expanduser()
    markers = tuple(markers)
    if path.is_dir():
        if not any((path / m).is_file() for m in markers):
            raise ModelNotFoundError(f"{path} is a directory but holds no {what} (none of {', '.join(markers)})")
        return path, path.resolve().name
    # A hub id is "name" or "org/name"; anything else was meant as a path.
    looks_like_path = not text or text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
    how = (f"give the directory of a {what} saved with save_pretrained, or a Hugging Face hub id that is "
           "already cached on this machine (nothing is downloaded here; fetch it first, e.g. "
           "`huggingface-cli download ORG/NAME` on a connected machine)")
    if looks_like_path:
        raise ModelNotFoundError(f"no model directory at {path}; {how}")
    try:
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(text, local_files_only=True))
    except ImportError:
        raise ModelNotFoundError(f"no model directory at {path}; {how}") from None
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"{text!r} is neither a local model directory nor a Hugging Face model cached "
                                 f"on this machine ({type(e).__name__}); {how}") from e
    if not any((local / m).is_file() for m in markers):
        raise ModelNotFoundError(f"the cached hub model {text!r} holds no {what} (none of {', '.join(markers)})")
    return local, text


def _patch_grid(patch_size: Any, height: int, width: int) -> int | None:
    """How many patch tokens a ViT-style model makes of an image of that size (None when unknown)."""
    if isinstance(patch_size, int) and patch_size > 0:
        return (height // patch_size) * (width // patch_size)
    if isinstance(patch_size, list | tuple) and len(patch_size) == 2 and all(isinstance(p, int) for p in patch_size):
        return (height // int(patch_size[0])) * (width // int(patch_size[1]))
    return None


class ImageEncoder(ImageEncoderBase):
    """A Hugging Face vision model (ViT, DINOv2, DeiT, BEiT, ResNet, ConvNeXt...) as an image encoder.

    Parameters
    ----------
    model
        A local directory holding a vision model saved with ``save_pretrained`` (``config.json``,
        weights, and the image processor's ``preprocessor_config.json``), or a Hugging Face hub id
        already in the local cache (nothing is downloaded).
    pooling
        How a transformer's token features become one vector: ``"cls"`` (default) takes the first
        token of ``last_hidden_state``; ``"mean"`` averages the patch tokens only (the CLS token,
        DeiT's distillation token and DINOv2's register tokens are left out: whatever precedes
        the patch grid). Convolutional models (4-D feature maps) have no tokens: their pooled
        output (global average pooling) is used whatever is given, and the provenance says
        ``pooling="pooler"``.
    device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"`` (CUDA, then MPS, then CPU).
    batch_size
        Default number of images per forward pass.

    Attributes
    ----------
    name : str
        The model directory's name, or the hub id.
    dim : int
        Dimension of the vectors.
    revision : str
        Hash of the model's config files and weight file sizes.
    pooling : str
        ``"cls"``, ``"mean"`` or ``"pooler"``.
    image_size : str
        The processor's input size, e.g. ``"224x224"``.
    path : pathlib.Path
        The directory the model was loaded from.

    Raises
    ------
    ModelNotFoundError
        No such directory, a directory without a model, or a hub id not cached locally.
    MissingDependencyError
        ``transformers`` or Pillow is not installed.
    InvalidInputError
        An unknown pooling, ``"cls"`` on a model without a CLS token, or a CLIP-style model (use
        :class:`~embspace.encoders.clip_encoder.ClipEncoder`).

    Examples
    --------
    >>> enc = ImageEncoder("models/dinov2-small", pooling="cls")   # doctest: +SKIP
    >>> vecs = enc.encode(["cat.jpg", "dog.png"])                  # doctest: +SKIP
    >>> vecs.shape                                                 # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, model: str | os.PathLike[str], *, pooling: Pooling = "cls", device: str = "auto",
                 batch_size: int = 32) -> None:
        if pooling not in ("cls", "mean"):
            raise InvalidInputError(f"unknown pooling {pooling!r}; expected 'cls' or 'mean'")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        image_mod = _pil()
        hf = _transformers("Image encoders")
        import torch
        self.path, self.name = _resolve_model(model, ("config.json",), "vision model")
        self.revision = _dir_revision(self.path)
        try:
            self._processor = hf.AutoImageProcessor.from_pretrained(str(self.path))
            net = hf.AutoModel.from_pretrained(str(self.path))
        except (OSError, ValueError, KeyError) as e:
            raise ModelNotFoundError(f"cannot load an image model from {self.path} ({type(e).__name__}: {e}); "
                                     "it needs config.json, the weights and preprocessor_config.json, as "
                                     "written by model.save_pretrained(dir) and processor.save_pretrained(dir)") from e
        if hasattr(net, "get_image_features") and hasattr(net, "get_text_features"):
            raise InvalidInputError(f"{self.name} is an image-text model ({type(net).__name__}); use ClipEncoder "
                                    "for it")
        self.device = resolve_device(device)
        self._model = net.to(device=self.device, dtype=torch.float32).eval()
        self.batch_size = batch_size
        self.pooling: str = pooling

        # One forward pass on a blank image tells the output layout, the dimension and where the patches start.
        probe = image_mod.new("RGB", (64, 64), (128, 128, 128))
        hidden, pooled, (height, width) = self._forward([probe])
        if hidden.ndim == 3:
            tokens = int(hidden.shape[1])
            grid = _patch_grid(getattr(self._model.config, "patch_size", None), height, width)
            # Tokens before the patch grid: CLS, distillation, registers. A hierarchical model (Swin)
            # has fewer tokens than patches of its first stage, and no CLS token.
            self._prefix = tokens - grid if grid is not None and 0 <= tokens - grid < tokens else 0
            if pooling == "cls" and self._prefix == 0:
                raise InvalidInputError(f"{self.name} has no CLS token (its {tokens} tokens are all image patches); "
                                        "use pooling='mean'")
            self.dim = int(hidden.shape[2])
        elif hidden.ndim == 4:
            self.pooling = "pooler"
            self.dim = int(pooled.flatten(1).shape[1]) if pooled is not None else int(hidden.shape[1])
            self._prefix = 0
        else:
            raise InvalidInputError(f"{self.name}: unsupported output of shape {tuple(hidden.shape)} "
                                    "(expected tokens (n, tokens, dim) or feature maps (n, channels, h, w))")
        self.image_size = describe_image_size(self._processor, (height, width))
        self._set_provenance(pooling=self.pooling, image_size=self.image_size)
        self.num_layers = len(self._hidden_states([probe])) - 1

    def _hidden_states(self, images: list[PILImage.Image]) -> Any:
        """The forward pass with ``output_hidden_states=True``: the embedding output, then every block or stage."""
        import torch

        pixels = self._processor(images=images, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(device=self.device, dtype=torch.float32)
        with torch.inference_mode():
            out = self._model(pixel_values=pixels, output_hidden_states=True)
        states = getattr(out, "hidden_states", None)
        if not states:
            raise InvalidInputError(f"{self.name} ({type(self._model).__name__}) returns no hidden states; "
                                    "embspace cannot read its layers")
        return states

    def _layer_list(self, layers: LayerSpec) -> list[int]:
        n = self.num_layers
        if isinstance(layers, str):
            if layers != "all":
                raise InvalidInputError(f"layers must be a list of layer indices or 'all', got {layers!r}")
            return list(range(n + 1))
        given = [layers] if isinstance(layers, int | np.integer) else list(layers)
        out: list[int] = []
        for layer in given:
            if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not -(n + 1) <= layer <= n:
                raise InvalidInputError(f"layer {layer!r} does not exist: {self.name} has layers 0 (the embedding "
                                        f"output) to {n} (the last block or stage), or -1 to -{n + 1} from the end; "
                                        "or give 'all'")
            if int(layer) % (n + 1) not in out:
                out.append(int(layer) % (n + 1))
        if not out:
            raise InvalidInputError("layers is empty; give layer indices such as [0, 1, 2], or 'all'")
        return out

    def _layer_pooling(self, pooling: str | None) -> str:
        if self.pooling == "pooler":  # feature maps: the spatial mean of each stage
            if pooling not in (None, "mean"):
                raise InvalidInputError(f"{self.name} is a convolutional model: its stages are pooled by their "
                                        f"spatial mean (pooling='mean'), got {pooling!r}")
            return "mean"
        mode = self.pooling if pooling is None else pooling
        if mode not in ("cls", "mean"):
            raise InvalidInputError(f"unknown pooling {mode!r}; expected 'cls' or 'mean'")
        return mode

    def layer_provenance(self, layer: int, pooling: str | None = None) -> Provenance:
        """The provenance of layer ``layer``'s pooled vectors: its own space_id per layer and pooling."""
        return Provenance(model=self.name, config={
            "revision": self.revision, "output": "hidden_states", "layer": self._layer_list([layer])[0],
            "num_layers": self.num_layers, "pooling": self._layer_pooling(pooling), "image_size": self.image_size})

    def _pool_layer(self, h: Any, mode: str) -> npt.NDArray[np.float32]:
        if h.ndim == 4:  # (n, channels, height, width)
            feats = h.mean(dim=(2, 3))
        elif mode == "cls":
            feats = h[:, 0]
        else:
            feats = h[:, self._prefix:].mean(dim=1)
        return np.ascontiguousarray(feats.float().cpu().numpy(), dtype=np.float32)

    @overload
    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True, layers: None = None, pooling: None = None,
               keys: None = None) -> EmbeddingVector: ...

    @overload
    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True, layers: LayerSpec, pooling: str | None = None,
               keys: Sequence[str] | None = None) -> dict[int, EmbeddingSpace]: ...

    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True, layers: LayerSpec | None = None, pooling: str | None = None,
               keys: Sequence[str] | None = None) -> EmbeddingVector | dict[int, EmbeddingSpace]:
        """Encode images (see :meth:`~embspace.encoders.BaseEncoder.encode`), or, with ``layers``, the output of
        those layers as ``{layer: EmbeddingSpace}``.

        Layer 0 is the embedding output (a ViT's patch embeddings, a conv net's stem), :attr:`num_layers` the last
        block or stage (before a ViT's final LayerNorm, so not :meth:`encode`'s vectors). Token outputs are pooled
        by ``pooling`` (default the encoder's: ``"cls"`` or ``"mean"`` of the patch tokens); a conv net's stages
        by their spatial mean (their dimensions differ). Keys: the image paths, or ``keys``. Each layer space
        records the layer and pooling in its provenance and has its own space_id (:meth:`layer_provenance`).
        """
        if layers is None:
            if pooling is not None or keys is not None:
                raise InvalidInputError("pooling= and keys= apply to layer outputs; give layers=[...] or 'all' too")
            return super().encode(items, batch_size=batch_size, normalize=normalize, progress=progress)
        checked = self._check_items([items] if self._is_single(items) else items)  # type: ignore[arg-type]
        wanted = self._layer_list(layers)
        mode = self._layer_pooling(pooling)
        key_list = default_image_keys(checked) if keys is None else [str(k) for k in keys]
        if len(key_list) != len(checked):
            raise InvalidInputError(f"{len(key_list)} keys for {len(checked)} images; give one key per image")
        parts: dict[int, list[npt.NDArray[np.float32]]] = {layer: [] for layer in wanted}
        size = self.batch_size if batch_size is None else batch_size
        for start, batch in batched(checked, size, description=f"encoding {len(wanted)} layers with {self.name}",
                                    unit="images", progress=progress):
            states = self._hidden_states(load_images(batch, start=start))
            for layer in wanted:
                parts[layer].append(self._pool_layer(states[layer], mode))
        data_hash = hashlib.sha256(json.dumps([item_digest(_stable_item(i)) for i in checked]).encode()).hexdigest()
        spaces = {}
        for layer in wanted:
            if parts[layer]:
                arr = np.ascontiguousarray(np.concatenate(parts[layer]), np.float32)
            else:
                probe = _pil().new("RGB", (64, 64), (128, 128, 128))
                arr = self._pool_layer(self._hidden_states([probe])[layer], mode)[:0]
            spaces[layer] = layer_space(key_list, arr, self.layer_provenance(layer, mode), data_hash,
                                        normalize=normalize)
        return spaces

    def _forward(self, images: list[PILImage.Image]) -> tuple[Any, Any, tuple[int, int]]:
        """(last_hidden_state, pooler_output or None, input (height, width)) of a batch of RGB images."""
        import torch

        pixels = self._processor(images=images, return_tensors="pt")["pixel_values"]
        pixels = pixels.to(device=self.device, dtype=torch.float32)
        with torch.inference_mode():
            out = self._model(pixel_values=pixels)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        pooled = getattr(out, "pooler_output", None)
        return hidden, pooled, (int(pixels.shape[-2]), int(pixels.shape[-1]))

    def _embed_images(self, images: list[PILImage.Image]) -> npt.NDArray[np.float32]:
        hidden, pooled, _ = self._forward(images)
        if self.pooling == "cls":
            feats = hidden[:, 0]
        elif self.pooling == "mean":
            feats = hidden[:, self._prefix:].mean(dim=1)
        else:  # a conv net: its own global pooling, else the spatial mean of the last feature map
            feats = pooled.flatten(1) if pooled is not None else hidden.mean(dim=(2, 3))
        return np.ascontiguousarray(feats.float().cpu().numpy(), dtype=np.float32)

    def __repr__(self) -> str:
        return f"ImageEncoder({self.name!r}, dim={self.dim}, pooling={self.pooling!r}, device={self.device!r})"
