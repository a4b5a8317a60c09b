"""Images in, float32 vectors out: loading image inputs, and what every image encoder shares.

Image inputs are file paths (``str`` or ``os.PathLike``, any format Pillow reads: PNG, JPEG, WebP,
BMP, GIF...), Pillow images, and NumPy arrays (``(H, W)`` grayscale, ``(H, W, 3)`` RGB or
``(H, W, 4)`` RGBA, channels last; ``uint8`` or other integers in 0..255, or floats in [0, 1]).
Everything becomes an RGB Pillow image before a model's processor sees it.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._progress import TrainingProgress
from ..errors import CorruptDataError, InvalidInputError, MissingDependencyError
from ..space.embedding_space import EmbeddingSpace
from .encoder import BaseEncoder, ImageItem, Modality, l2_normalize

if TYPE_CHECKING:
    from PIL import Image as PILImage  # type: ignore[import-not-found, unused-ignore]

__all__ = ["ImageEncoderBase", "check_images", "load_images"]

_ARRAY_SHAPES = "(H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA, channels last"


def _pil() -> Any:
    """The ``PIL.Image`` module, or a MissingDependencyError naming the extra to install."""
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError("pillow", "vision", "Image encoders") from None
    return Image


def _transformers(feature: str) -> Any:
    """The ``transformers`` module (untyped here: its annotations vary between versions), or a clear error."""
    try:
        return importlib.import_module("transformers")
    except ImportError:
        raise MissingDependencyError("transformers", "vision", feature) from None


def _is_path(item: Any) -> bool:
    return isinstance(item, str | os.PathLike)


def _is_pil(item: Any) -> bool:
    # Checked without importing Pillow, so that a path or an array never needs it to be validated.
    return any(c.__module__.startswith("PIL.") and c.__name__ == "Image" for c in type(item).__mro__)


def check_images(items: Sequence[Any], *, start: int = 0) -> list[Any]:
    """Validate image inputs cheaply (kinds, array shapes and values, files exist) without decoding them.

    Parameters
    ----------
    items
        Paths, Pillow images or NumPy arrays.
    start
        Index of the first item in the caller's list, so that errors name the caller's index.

    Returns
    -------
    list
        The items, as a list.

    Raises
    ------
    TypeError
        A bare string or path (not a list), or an item of another kind; the message names its index.
    InvalidInputError
        A missing file, an array that is not an image, or array values out of range.
    """
    if isinstance(items, str | os.PathLike):
        raise TypeError("a list of images is needed here; wrap a single path in a list")
    out = list(items)
    for i, item in enumerate(out, start):
        if _is_path(item):
            path = Path(item).expanduser()
            if not path.is_file():
                what = "a directory, not an image file" if path.is_dir() else "no such image file"
                hint = " (URLs are not fetched: download the image first)" if "://" in str(item) else ""
                raise InvalidInputError(f"item #{i}: {path} is {what}{hint}")
        elif isinstance(item, np.ndarray):
            _check_array(item, i)
        elif not _is_pil(item):
            raise TypeError(f"item #{i} is {type(item).__name__}; expected an image path (str or Path), "
                            "a PIL.Image.Image or a NumPy array")
    return out


def _check_array(arr: npt.NDArray[Any], i: int) -> None:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise InvalidInputError(f"item #{i}: an array of shape {arr.shape} is not an image; expected {_ARRAY_SHAPES}"
                                + ("; move the channel axis last" if arr.ndim == 3 and arr.shape[0] in (1, 3, 4)
                                   else ""))
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"item #{i}: an array of shape {arr.shape} is an empty image")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InvalidInputError(f"item #{i}: the image array holds NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidInputError(f"item #{i}: float image values must lie in [0, 1], got [{lo:g}, {hi:g}]; "
                                    "divide 0..255 values by 255, or pass a uint8 array")
    elif arr.dtype.kind in "iu":
        if arr.dtype != np.uint8:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < 0 or hi > 255:
                raise InvalidInputError(f"item #{i}: integer image values must lie in 0..255, got {lo}..{hi}")
    elif arr.dtype.kind != "b":
        raise InvalidInputError(f"item #{i}: an image array of dtype {arr.dtype} is not supported; "
                                "use uint8 (0..255) or float (0..1)")


def _array_to_image(arr: npt.NDArray[Any], image_mod: Any) -> PILImage.Image:
    if arr.dtype.kind == "f":
        arr = np.rint(arr.astype(np.float64) * 255.0)
    elif arr.dtype.kind == "b":
        arr = arr * 255
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.ascontiguousarray(arr[:, :, 0])
    img: PILImage.Image = image_mod.fromarray(arr)  # uint8 (H, W) -> "L", (H, W, 3) -> "RGB", (H, W, 4) -> "RGBA"
    return img


def load_images(items: Sequence[Any], *, start: int = 0) -> list[PILImage.Image]:
    """Load image inputs as RGB Pillow images.

    Parameters
    ----------
    items
        Paths to image files (any format Pillow reads), Pillow images (any mode), or NumPy arrays:
        ``(H, W)`` grayscale, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, as ``uint8`` (or other
        integers in 0..255) or floats in [0, 1].
    start
        Index of the first item in the caller's list, so that errors name the caller's index.

    Returns
    -------
    list of PIL.Image.Image
        One RGB image per item, fully decoded (no file stays open).

    Raises
    ------
    InvalidInputError
        A missing file or a bad array; the message names the item's index.
    CorruptDataError
        A file that Pillow cannot decode as an image.
    MissingDependencyError
        Pillow is not installed.
    """
    image_mod = _pil()
    checked = check_images(items, start=start)
    out: list[PILImage.Image] = []
    for i, item in enumerate(checked, start):
        if _is_path(item):
            path = Path(item).expanduser()
            try:
                with image_mod.open(path) as f:
                    f.load()
                    img = f.convert("RGB")
            except (OSError, ValueError, SyntaxError) as e:  # UnidentifiedImageError is an OSError
                raise CorruptDataError(path, f"item #{i} is not an image Pillow can read "
                                             f"({type(e).__name__}: {e})") from e
        elif isinstance(item, np.ndarray):
            img = _array_to_image(item, image_mod).convert("RGB")
        else:
            img = item if item.mode == "RGB" else item.convert("RGB")
        out.append(img)
    return out


def _size_field(size: Any, key: str) -> Any:
    if size is None:
        return None
    if isinstance(size, int):
        return size if key == "shortest_edge" else None  # old processors: an int is the shortest edge
    if isinstance(size, dict):
        return size.get(key)
    return getattr(size, key, None)  # transformers >= 5: a SizeDict


def describe_image_size(processor: Any, fallback: tuple[int, int] | None = None) -> str:
    """The input size a Hugging Face image processor produces: ``"224x224"``, or ``"shortest_edge=256"``."""
    sizes = [getattr(processor, "crop_size", None)] if getattr(processor, "do_center_crop", False) else []
    sizes.append(getattr(processor, "size", None))
    for size in sizes:
        h, w = _size_field(size, "height"), _size_field(size, "width")
        if h and w:
            return f"{int(h)}x{int(w)}"
        edge = _size_field(size, "shortest_edge")
        if edge:
            return f"shortest_edge={int(edge)}"
    return f"{fallback[0]}x{fallback[1]}" if fallback else "unknown"


def default_image_keys(items: Sequence[Any]) -> list[str]:
    """Keys for images given without keys: their paths; in-memory images have none, so that is an error."""
    keys = []
    for i, item in enumerate(items):
        if not _is_path(item):
            raise InvalidInputError(f"item #{i} is an in-memory image ({type(item).__name__}), which has no "
                                    "name to use as its key; pass keys=[...] (one per image)")
        keys.append(os.fspath(item))
    return keys


def _stable_item(item: Any) -> Any:
    """An item whose digest is stable across runs: a path as text, a Pillow image as its RGB pixels."""
    if _is_path(item):
        return os.fspath(item)
    if _is_pil(item):
        return np.asarray(item if item.mode == "RGB" else item.convert("RGB"))
    return item


def batched(items: list[Any], batch_size: int, *, description: str, unit: str,
            progress: bool) -> Iterator[tuple[int, list[Any]]]:
    """``(start, batch)`` pairs over ``items``, with a progress bar advanced after each batch."""
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size}")
    with TrainingProgress(len(items), description, unit=unit, enabled=progress and len(items) > 0) as bar:
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            yield start, batch
            bar.advance(len(batch))


class ImageEncoderBase(BaseEncoder):
    """An encoder of images: input checks, batching with progress, and keys for ``encode_space``.

    Subclasses set the identity (see :class:`~embspace.encoders.encoder.BaseEncoder`), a default
    ``batch_size``, and implement :meth:`_embed_images`, which gets a batch of RGB Pillow images and
    returns its float32 ``(n, dim)`` features (not normalised).
    """

    modality: Modality = "image"
    batch_size: int

    def _check_items(self, items: Sequence[Any]) -> list[Any]:
        return check_images(items)

    def _embed_images(self, images: list[PILImage.Image]) -> npt.NDArray[np.float32]:
        raise NotImplementedError

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> npt.NDArray[np.float32]:
        out = np.empty((len(items), self.dim), np.float32)
        size = self.batch_size if batch_size is None else batch_size
        for start, batch in batched(items, size, description=f"encoding {self.name}", unit="images",
                                    progress=progress):
            out[start:start + len(batch)] = self._embed_images(load_images(batch, start=start))
        return l2_normalize(out) if normalize else out

    def encode_space(self, items: Sequence[ImageItem], keys: Sequence[str] | None = None, *,
                     batch_size: int | None = None, normalize: bool = True,
                     progress: bool = True) -> EmbeddingSpace:
        """Encode images into an EmbeddingSpace.

        Keys default to the images' paths; images given in memory (Pillow images, arrays) need
        ``keys``. The space's ``data_hash`` covers paths by name and in-memory images by their pixels.
        """
        checked = self._check_items(items)
        key_list = default_image_keys(checked) if keys is None else [str(k) for k in keys]
        return super().encode_space([_stable_item(i) for i in checked], key_list, batch_size=batch_size,
                                    normalize=normalize, progress=progress)
