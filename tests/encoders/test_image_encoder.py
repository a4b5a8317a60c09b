"""Image encoders on tiny random Hugging Face vision models built here: real loading code, real forward passes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from vision_testing import random_images, save_tiny_dinov2, save_tiny_resnet, save_tiny_vit  # noqa: E402

import embspace  # noqa: E402
from embspace.encoders._images import check_images, describe_image_size, load_images  # noqa: E402
from embspace.encoders.encoder import Encoder  # noqa: E402
from embspace.encoders.image_encoder import ImageEncoder  # noqa: E402
from embspace.errors import (  # noqa: E402
    CorruptDataError,
    IncompatibleSpaceError,
    InvalidInputError,
    MissingDependencyError,
    ModelNotFoundError,
)


@pytest.fixture(scope="session")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_vit(tmp_path_factory.mktemp("models") / "tiny-vit")


@pytest.fixture(scope="session")
def dino_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_dinov2(tmp_path_factory.mktemp("models") / "tiny-dinov2-reg", registers=2)


@pytest.fixture(scope="session")
def vit_cls(vit_dir: Path) -> ImageEncoder:
    return ImageEncoder(vit_dir, device="cpu")


@pytest.fixture(scope="session")
def vit_mean(vit_dir: Path) -> ImageEncoder:
    return ImageEncoder(vit_dir, pooling="mean", device="cpu")


@pytest.fixture(scope="session")
def images() -> list[np.ndarray]:
    return random_images(7, seed=1)


@pytest.fixture(scope="session")
def image_files(tmp_path_factory: pytest.TempPathFactory, images: list[np.ndarray]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    files = {"png": root / "a.png", "jpeg": root / "b.jpg", "gray": root / "c.png", "rgba": root / "d.png",
             "palette": root / "e.gif"}
    Image.fromarray(images[0]).save(files["png"])
    Image.fromarray(images[1]).save(files["jpeg"], quality=90)
    Image.fromarray(images[2][:, :, 0]).save(files["gray"])
    Image.fromarray(np.dstack([images[3], np.full(images[3].shape[:2], 200, np.uint8)])).save(files["rgba"])
    Image.fromarray(images[4]).convert("P").save(files["palette"])
    return files


def _reference(model_dir: Path, imgs: list[Any]) -> tuple[Any, Any]:
    """last_hidden_state and pooler_output computed directly through transformers."""
    from transformers import AutoImageProcessor, AutoModel

    proc = AutoImageProcessor.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    with torch.inference_mode():
        out = model(**proc(images=[Image.fromarray(a) for a in imgs], return_tensors="pt"))
    return out.last_hidden_state, out.pooler_output


def _unit(x: Any) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------- shapes, pooling, correctness


def test_shapes_dtype_and_normalisation(vit_cls: ImageEncoder, images: list[np.ndarray]) -> None:
    assert isinstance(vit_cls, Encoder)
    assert vit_cls.modality == "image" and vit_cls.dim == 32 and vit_cls.name == "tiny-vit"
    vecs = vit_cls.encode(images[:3], progress=False)
    assert vecs.shape == (3, 32) and vecs.dtype == np.float32 and vecs.flags.c_contiguous
    assert vecs.space_id == vit_cls.space_id
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    raw = vit_cls.encode(images[:3], normalize=False, progress=False)
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    np.testing.assert_allclose(_unit(raw), vecs, atol=1e-6)
    empty = vit_cls.encode([], progress=False)
    assert empty.shape == (0, 32) and empty.dtype == np.float32
    assert "tiny-vit" in repr(vit_cls) and "cls" in repr(vit_cls)


def test_cls_and_mean_pooling_match_transformers(vit_dir: Path, vit_cls: ImageEncoder, vit_mean: ImageEncoder,
                                                 images: list[np.ndarray]) -> None:
    hidden, _ = _reference(vit_dir, images[:4])
    assert hidden.shape == (4, 17, 32)  # CLS + 4x4 patches
    cls = vit_cls.encode(images[:4], normalize=False, progress=False)
    mean = vit_mean.encode(images[:4], normalize=False, progress=False)
    np.testing.assert_allclose(cls, hidden[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(mean, hidden[:, 1:].mean(1).numpy(), atol=1e-5)  # patch tokens only
    assert not np.allclose(np.asarray(cls), np.asarray(mean), atol=1e-3)  # tagged vectors of two spaces don't mix
    assert vit_cls.space_id != vit_mean.space_id


def test_dinov2_mean_pooling_skips_cls_and_register_tokens(dino_dir: Path, images: list[np.ndarray]) -> None:
    hidden, pooled = _reference(dino_dir, images[:3])
    assert hidden.shape == (3, 1 + 2 + 16, 32)  # CLS, 2 registers, 4x4 patches
    cls = ImageEncoder(dino_dir, device="cpu").encode(images[:3], normalize=False, progress=False)
    enc = ImageEncoder(dino_dir, pooling="mean", device="cpu")
    mean = enc.encode(images[:3], normalize=False, progress=False)
    np.testing.assert_allclose(cls, pooled.numpy(), atol=1e-5)
    np.testing.assert_allclose(mean, hidden[:, 3:].mean(1).numpy(), atol=1e-5)
    assert enc.image_size == "32x32"  # the center crop, not the resize edge


def test_plain_dinov2_loads(tmp_path: Path, images: list[np.ndarray]) -> None:
    enc = ImageEncoder(save_tiny_dinov2(tmp_path / "dino"), pooling="mean", device="cpu")
    assert enc.encode(images[:2], progress=False).shape == (2, 32)


def test_conv_net_uses_its_pooled_output(tmp_path: Path, images: list[np.ndarray]) -> None:
    model_dir = save_tiny_resnet(tmp_path / "tiny-resnet")
    enc = ImageEncoder(model_dir, device="cpu")
    assert enc.dim == 16 and enc.pooling == "pooler" and enc.provenance.config["pooling"] == "pooler"
    _, pooled = _reference(model_dir, images[:3])
    np.testing.assert_allclose(enc.encode(images[:3], normalize=False, progress=False), pooled.flatten(1).numpy(),
                               atol=1e-5)
    # The pooling argument cannot change a conv net's vectors, so it does not change its space either.
    assert ImageEncoder(model_dir, pooling="mean", device="cpu").space_id == enc.space_id


def test_batch_size_does_not_change_vectors(vit_mean: ImageEncoder, images: list[np.ndarray]) -> None:
    full = vit_mean.encode(images, progress=False)
    for bs in (1, 3):
        np.testing.assert_allclose(vit_mean.encode(images, batch_size=bs, progress=False), full, atol=1e-5)
    np.testing.assert_allclose(vit_mean.encode(images[2:3], progress=False)[0], full[2], atol=1e-5)


def test_progress_bar_runs(vit_cls: ImageEncoder, images: list[np.ndarray], capsys: pytest.CaptureFixture[str]) -> None:
    vecs = vit_cls.encode(images[:3], batch_size=2, progress=True)
    assert vecs.shape == (3, 32)
    assert "images/s" in capsys.readouterr().err


# ---------------------------------------------------------------- inputs


def test_same_image_by_path_pil_and_array(vit_cls: ImageEncoder, images: list[np.ndarray],
                                          image_files: dict[str, Path]) -> None:
    png = image_files["png"]
    inputs = [str(png), png, Image.open(png), Image.fromarray(images[0]), images[0],
              images[0].astype(np.float32) / 255.0]
    vecs = vit_cls.encode(inputs, progress=False)
    for v in vecs[1:]:
        np.testing.assert_allclose(v, vecs[0], atol=1e-6)


def test_png_jpeg_gray_rgba_and_palette_files_load(vit_cls: ImageEncoder, images: list[np.ndarray],
                                                   image_files: dict[str, Path]) -> None:
    loaded = load_images(list(image_files.values()))
    assert all(im.mode == "RGB" for im in loaded)
    assert [im.size for im in loaded] == [(48, 40)] * 5
    np.testing.assert_array_equal(np.asarray(loaded[0]), images[0])  # PNG is lossless
    jpeg = np.asarray(loaded[1]).astype(int)
    assert np.abs(jpeg - images[1]).mean() < 20  # JPEG is lossy, but it is the same picture
    gray = np.asarray(loaded[2])
    assert (gray[:, :, 0] == gray[:, :, 1]).all() and (gray[:, :, 0] == images[2][:, :, 0]).all()
    np.testing.assert_array_equal(np.asarray(loaded[3]), images[3])  # RGBA: alpha dropped
    vecs = vit_cls.encode(list(image_files.values()), progress=False)
    assert vecs.shape == (5, 32) and np.isfinite(vecs).all()


def test_arrays_of_every_supported_kind(images: list[np.ndarray]) -> None:
    rgb = images[0]
    gray = rgb[:, :, 0]
    out = load_images([gray, gray[:, :, None], rgb.astype(np.float64) / 255.0, rgb.astype(np.int64),
                       np.dstack([rgb, np.zeros_like(gray)]), np.ones((4, 5), bool)])
    np.testing.assert_array_equal(np.asarray(out[0]), np.dstack([gray] * 3))
    np.testing.assert_array_equal(np.asarray(out[1]), np.dstack([gray] * 3))
    np.testing.assert_array_equal(np.asarray(out[2]), rgb)
    np.testing.assert_array_equal(np.asarray(out[3]), rgb)
    np.testing.assert_array_equal(np.asarray(out[4]), rgb)
    assert np.asarray(out[5]).min() == 255 and out[5].size == (5, 4)


@pytest.mark.parametrize(("item", "error", "match"), [
    (np.zeros((3, 32, 32), np.uint8), InvalidInputError, r"item #1: .*shape \(3, 32, 32\).*channel axis last"),
    (np.zeros((4, 4, 2), np.uint8), InvalidInputError, r"item #1: .*not an image"),
    (np.zeros((2, 4, 4, 3), np.uint8), InvalidInputError, r"item #1: .*not an image"),
    (np.zeros((0, 4, 3), np.uint8), InvalidInputError, r"item #1: .*empty image"),
    (np.full((4, 4, 3), 2.0), InvalidInputError, r"item #1: float image values must lie in \[0, 1\]"),
    (np.full((4, 4), np.nan), InvalidInputError, r"item #1: .*NaN"),
    (np.full((4, 4), 300, np.int32), InvalidInputError, r"item #1: integer image values must lie in 0..255"),
    (np.full((4, 4), "x"), InvalidInputError, r"item #1: .*dtype"),
    (42, TypeError, r"item #1 is int"),
    (b"bytes", TypeError, r"item #1 is bytes"),
])
def test_bad_items_name_their_index(vit_cls: ImageEncoder, images: list[np.ndarray], item: object,
                                    error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        vit_cls.encode([images[0], item], progress=False)


def test_missing_and_unreadable_files(vit_cls: ImageEncoder, tmp_path: Path, images: list[np.ndarray]) -> None:
    with pytest.raises(InvalidInputError, match=r"item #1: .*nope\.png is no such image file"):
        vit_cls.encode([images[0], tmp_path / "nope.png"], progress=False)
    with pytest.raises(InvalidInputError, match="a directory"):
        vit_cls.encode([tmp_path], progress=False)
    with pytest.raises(InvalidInputError, match="URLs are not fetched"):
        vit_cls.encode(["https://example.com/cat.jpg"], progress=False)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(CorruptDataError, match=r"broken\.png.*item #0 is not an image Pillow can read"):
        vit_cls.encode([bad], progress=False)
    truncated = tmp_path / "truncated.png"
    Image.fromarray(images[0]).save(tmp_path / "whole.png")
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    with pytest.raises(CorruptDataError, match="item #2"):
        vit_cls.encode([images[0], images[1], truncated], batch_size=2, progress=False)
    with pytest.raises(CorruptDataError, match="item #0"):  # one path: read as the one item it is
        vit_cls.encode(str(bad), progress=False)
    with pytest.raises(TypeError, match="wrap a single path in a list"):
        vit_cls.encode_space(str(bad), progress=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wrap a single path in a list"):
        check_images(bad)  # type: ignore[arg-type]


def test_pillow_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch, images: list[np.ndarray]) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "embspace\[vision\]"'):
        load_images(images[:1])


def test_describe_image_size() -> None:
    class Proc:
        def __init__(self, **kw: Any) -> None:
            self.__dict__.update(kw)

    assert describe_image_size(Proc(size={"height": 224, "width": 196})) == "224x196"
    assert describe_image_size(Proc(size={"shortest_edge": 256}, do_center_crop=True,
                                    crop_size={"height": 224, "width": 224})) == "224x224"
    assert describe_image_size(Proc(size={"shortest_edge": 256}, do_center_crop=False)) == "shortest_edge=256"
    assert describe_image_size(Proc(size=224)) == "shortest_edge=224"
    assert describe_image_size(Proc(), (32, 32)) == "32x32"
    assert describe_image_size(Proc()) == "unknown"


# ---------------------------------------------------------------- provenance and spaces


def test_provenance_names_the_model_and_revision(vit_dir: Path, vit_cls: ImageEncoder, tmp_path: Path) -> None:
    prov = vit_cls.provenance
    assert prov.model == "tiny-vit"
    assert prov.config["revision"] == vit_cls.revision and vit_cls.revision.startswith("sha256:")
    assert prov.config["pooling"] == "cls" and prov.config["image_size"] == "32x32"
    assert ImageEncoder(vit_dir, device="cpu").space_id == vit_cls.space_id  # stable across loads
    changed = save_tiny_vit(tmp_path / "tiny-vit", intermediate_size=41)  # same name, other weights
    other = ImageEncoder(changed, device="cpu")
    assert other.name == vit_cls.name
    assert other.revision != vit_cls.revision and other.space_id != vit_cls.space_id


def test_encode_space_and_queries(vit_cls: ImageEncoder, images: list[np.ndarray],
                                  image_files: dict[str, Path]) -> None:
    paths = [image_files["png"], image_files["jpeg"], image_files["gray"]]
    space = vit_cls.encode_space(paths, progress=False)
    assert space.keys == tuple(str(p) for p in paths)
    assert space.space_id == vit_cls.space_id and space.is_normalized and space.provenance.data_hash
    q = vit_cls.encode([image_files["png"]], progress=False)[0]
    assert space.neighbors(q, k=1).top == str(image_files["png"])

    with pytest.raises(InvalidInputError, match=r"item #0 is an in-memory image .*keys="):
        vit_cls.encode_space(images[:2], progress=False)
    mem = vit_cls.encode_space([Image.fromarray(images[0]), images[1]], keys=["x", "y"], progress=False)
    again = vit_cls.encode_space([Image.fromarray(images[0]), images[1]], keys=["x", "y"], progress=False)
    assert mem.keys == ("x", "y") and mem.provenance.data_hash == again.provenance.data_hash
    np.testing.assert_allclose(mem.vectors, vit_cls.encode(images[:2], progress=False), atol=1e-6)
    with pytest.raises(ValueError, match="1 keys for 2 items"):
        vit_cls.encode_space(images[:2], keys=["x"], progress=False)


def test_vectors_of_another_model_do_not_mix(vit_cls: ImageEncoder, vit_mean: ImageEncoder,
                                             images: list[np.ndarray]) -> None:
    a = vit_cls.encode(images[:2], progress=False)
    b = vit_mean.encode(images[:2], progress=False)
    with pytest.raises(IncompatibleSpaceError):
        a - b
    space = vit_mean.encode_space(images[:2], keys=["a", "b"], progress=False)
    with pytest.raises(IncompatibleSpaceError):
        space.neighbors(a[0])
    other = embspace.EmbeddingSpace.from_dict({"x": np.ones(32)})
    with pytest.raises(IncompatibleSpaceError):
        other.neighbors(a[0])


# ---------------------------------------------------------------- loading errors


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model directory"):
        ImageEncoder(tmp_path / "nope", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no vision model"):
        ImageEncoder(tmp_path / "empty", device="cpu")
    with pytest.raises(ModelNotFoundError, match="neither a local model directory nor a Hugging Face model cached"):
        ImageEncoder("embspace-test/no-such-model", device="cpu")


def test_model_without_processor(tmp_path: Path, vit_dir: Path) -> None:
    (tmp_path / "m").mkdir()
    for f in ("config.json", "model.safetensors"):
        (tmp_path / "m" / f).write_bytes((vit_dir / f).read_bytes())
    with pytest.raises(ModelNotFoundError, match=r"preprocessor_config\.json"):
        ImageEncoder(tmp_path / "m", device="cpu")


def test_bad_arguments(vit_dir: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown pooling 'max'"):
        ImageEncoder(vit_dir, pooling="max", device="cpu")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="batch_size"):
        ImageEncoder(vit_dir, batch_size=0, device="cpu")
