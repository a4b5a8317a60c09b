"""CLIP on a tiny random CLIPModel built here: one space for images and texts, and zero-shot probabilities."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from vision_testing import random_images, save_tiny_clip, save_tiny_vit  # noqa: E402

from embspace.encoders.clip_encoder import ClipEncoder, ZeroShotResult  # noqa: E402
from embspace.encoders.encoder import Encoder  # noqa: E402
from embspace.encoders.image_encoder import ImageEncoder  # noqa: E402
from embspace.errors import (  # noqa: E402
    IncompatibleSpaceError,
    InvalidInputError,
    MissingDependencyError,
    ModelNotFoundError,
)

LABELS = ["cat", "dog", "red car", "blue bird"]


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="session")
def clip(clip_dir: Path) -> ClipEncoder:
    return ClipEncoder(clip_dir, device="cpu", batch_size=4)


@pytest.fixture(scope="session")
def other_clip(tmp_path_factory: pytest.TempPathFactory) -> ClipEncoder:
    return ClipEncoder(save_tiny_clip(tmp_path_factory.mktemp("models") / "other-clip", seed=1), device="cpu")


@pytest.fixture(scope="session")
def images() -> list[np.ndarray]:
    return random_images(5, seed=3)


@pytest.fixture(scope="session")
def image_paths(tmp_path_factory: pytest.TempPathFactory, images: list[np.ndarray]) -> list[Path]:
    root = tmp_path_factory.mktemp("clip-images")
    paths = []
    for i, a in enumerate(images):
        paths.append(root / f"img{i}.png")
        Image.fromarray(a).save(paths[-1])
    return paths


def _hf_reference(clip_dir: Path) -> tuple[Any, Any]:
    from transformers import CLIPModel, CLIPProcessor

    return CLIPModel.from_pretrained(str(clip_dir)).eval(), CLIPProcessor.from_pretrained(str(clip_dir))


def _unit(x: Any) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# ---------------------------------------------------------------- one space for images and texts


def test_image_vectors(clip: ClipEncoder, images: list[np.ndarray], image_paths: list[Path]) -> None:
    assert isinstance(clip, Encoder)
    assert clip.modality == "image" and clip.dim == 24 and clip.name == "tiny-clip"
    assert clip.backend == "transformers" and clip.image_size == "32x32"
    vecs = clip.encode(images, progress=False)
    assert vecs.shape == (5, 24) and vecs.dtype == np.float32 and vecs.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(clip.encode_image(image_paths, progress=False), vecs, atol=1e-6)
    np.testing.assert_allclose(clip.encode(images, batch_size=1, progress=False), vecs, atol=1e-5)
    raw = clip.encode_image(images[:2], normalize=False, progress=False)
    np.testing.assert_allclose(_unit(raw), vecs[:2], atol=1e-6)


def test_vectors_match_transformers(clip: ClipEncoder, clip_dir: Path, images: list[np.ndarray]) -> None:
    model, proc = _hf_reference(clip_dir)
    texts = ["a photo of a cat", "red car", "the blue tree"]
    with torch.inference_mode():
        img = model.get_image_features(**proc(images=[Image.fromarray(a) for a in images], return_tensors="pt"))
        txt = model.get_text_features(**proc(text=texts, padding=True, return_tensors="pt"))
    img = img if isinstance(img, torch.Tensor) else img.pooler_output
    txt = txt if isinstance(txt, torch.Tensor) else txt.pooler_output
    np.testing.assert_allclose(clip.encode(images, normalize=False, progress=False), img.numpy(), atol=1e-5)
    np.testing.assert_allclose(clip.encode_text(texts, normalize=False, progress=False), txt.numpy(), atol=1e-5)


def test_text_vectors_share_the_image_space(clip: ClipEncoder, images: list[np.ndarray]) -> None:
    texts = ["a photo of a cat", "a photo of a dog", "a red car"]
    txt = clip.encode_text(texts, progress=False)
    img = clip.encode(images, progress=False)
    assert txt.shape == (3, 24) and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, rtol=1e-5)
    assert txt.space_id == img.space_id == clip.space_id
    sims = img @ txt.T  # same space: comparable
    assert sims.shape == (5, 3) and np.all(np.abs(sims) <= 1.0 + 1e-5)
    np.testing.assert_allclose(clip.encode_text(texts, batch_size=1, progress=False), txt, atol=1e-5)
    one = clip.encode_text("a cat", progress=False)  # one text: one (dim,) vector, as in sentence-transformers
    assert one.shape == (24,) and one.space_id == clip.space_id
    np.testing.assert_allclose(one, clip.encode_text(["a cat"], progress=False)[0], atol=1e-6)  # batch of 1 vs 1
    with pytest.raises(TypeError, match="item #1 is int"):
        clip.encode_text(["a cat", 3], progress=False)  # type: ignore[list-item]


def test_long_texts_are_truncated(clip: ClipEncoder) -> None:
    long = " ".join(["a photo of a red car"] * 20)  # far beyond the 16-token context
    assert clip.encode_text([long, "cat"], progress=False).shape == (2, 24)


def test_text_encoder_is_a_text_encoder_of_the_same_space(clip: ClipEncoder, images: list[np.ndarray]) -> None:
    te = clip.text_encoder
    assert isinstance(te, Encoder) and te.modality == "text" and te.dim == clip.dim and te.name == clip.name
    assert te.space_id == clip.space_id and te.provenance == clip.provenance
    captions = ["a photo of a cat", "a photo of a dog", "a red car", "a blue bird"]
    space = te.encode_space(captions, progress=False)
    assert space.keys == tuple(captions) and space.space_id == clip.space_id and space.is_normalized
    # An image queries the captions (cross-modal search), and a caption queries the images.
    hits = space.neighbors(clip.encode(images[:1], progress=False)[0], k=2)
    assert len(hits.keys) == 2
    pics = clip.encode_space(images, keys=[f"img{i}" for i in range(5)], progress=False)
    assert pics.space_id == space.space_id
    assert pics.neighbors(space["a photo of a cat"], k=1).top in pics.keys
    assert "text_encoder" in repr(te)


def test_another_models_vectors_do_not_mix(clip: ClipEncoder, other_clip: ClipEncoder,
                                          images: list[np.ndarray]) -> None:
    assert other_clip.space_id != clip.space_id
    a = clip.encode(images[:2], progress=False)
    b = other_clip.encode_text(["a cat", "a dog"], progress=False)
    with pytest.raises(IncompatibleSpaceError):
        a @ b.T
    captions = clip.text_encoder.encode_space(["a cat", "a dog"], progress=False)
    with pytest.raises(IncompatibleSpaceError):
        captions.neighbors(other_clip.encode(images[:1], progress=False)[0])


# ---------------------------------------------------------------- zero-shot


def test_zero_shot_shape_and_probabilities(clip: ClipEncoder, images: list[np.ndarray]) -> None:
    res = clip.zero_shot(images, LABELS, progress=False)
    assert isinstance(res, ZeroShotResult) and len(res) == 5
    assert res.labels == tuple(LABELS)
    assert res.probs.shape == (5, 4) and res.probs.dtype == np.float32
    np.testing.assert_allclose(res.probs.sum(axis=1), 1.0, atol=1e-6)
    assert (res.probs > 0).all()
    assert res.predicted == [LABELS[j] for j in res.probs.argmax(1)]
    top = res.top(2)
    assert len(top) == 5 and all(len(row) == 2 and row[0][1] >= row[1][1] for row in top)
    assert [row[0][0] for row in top] == res.predicted
    assert len(res.top(10)[0]) == 4
    with pytest.raises(ValueError, match="read-only"):
        res.probs[0, 0] = 1.0
    assert "5 images x 4 labels" in repr(res)


def test_zero_shot_equals_clipmodel_logits_per_image(clip: ClipEncoder, clip_dir: Path,
                                                     image_paths: list[Path]) -> None:
    """The real correctness test: the same probabilities as transformers' own CLIPModel forward pass."""
    model, proc = _hf_reference(clip_dir)
    template = "a sketch of the {}"
    inputs = proc(text=[template.format(label) for label in LABELS],
                  images=[Image.open(p).convert("RGB") for p in image_paths], return_tensors="pt", padding=True)
    with torch.inference_mode():
        expected = model(**inputs).logits_per_image.softmax(-1).numpy()
    assert np.ptp(expected) > 1e-2  # the labels really differ, so the comparison means something
    res = clip.zero_shot(image_paths, LABELS, template=template, batch_size=2, progress=False)
    np.testing.assert_allclose(res.probs, expected, atol=1e-5)
    assert clip.logit_scale == pytest.approx(float(model.logit_scale.detach().exp()))
    # The probabilities are the softmax of the scaled cosines of encode_image and encode_text.
    img = np.asarray(clip.encode_image(image_paths, progress=False))
    txt = np.asarray(clip.encode_text([template.format(label) for label in LABELS], progress=False))
    logits = clip.logit_scale * img @ txt.T
    manual = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(res.probs, manual / manual.sum(1, keepdims=True), atol=1e-5)


def test_zero_shot_validates_labels_and_template(clip: ClipEncoder, images: list[np.ndarray]) -> None:
    with pytest.raises(InvalidInputError, match="at least one label"):
        clip.zero_shot(images[:1], [], progress=False)
    with pytest.raises(InvalidInputError, match="unique; repeated: 'cat'"):
        clip.zero_shot(images[:1], ["cat", "dog", "cat"], progress=False)
    with pytest.raises(InvalidInputError, match="label #1 is empty"):
        clip.zero_shot(images[:1], ["cat", " "], progress=False)
    with pytest.raises(TypeError, match="wrap a single label"):
        clip.zero_shot(images[:1], "cat", progress=False)
    with pytest.raises(TypeError, match="label #0 is int"):
        clip.zero_shot(images[:1], [1, 2], progress=False)  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="template must be a string containing"):
        clip.zero_shot(images[:1], ["cat"], template="a photo", progress=False)
    one = clip.zero_shot(images[:2], ["cat"], progress=False)
    np.testing.assert_allclose(one.probs, 1.0)
    none = clip.zero_shot([], ["cat", "dog"], progress=False)
    assert none.probs.shape == (0, 2) and none.predicted == []


def test_zero_shot_result_checks_its_shape() -> None:
    with pytest.raises(InvalidInputError, match="do not match 3 labels"):
        ZeroShotResult(("a", "b", "c"), np.ones((2, 2), np.float32))
    res = ZeroShotResult(["a", "b"], np.array([[0.25, 0.75]]))  # type: ignore[arg-type]
    assert res.labels == ("a", "b") and res.probs.dtype == np.float32 and res.predicted == ["b"]
    with pytest.raises(InvalidInputError, match="positive integer"):
        res.top(0)


# ---------------------------------------------------------------- loading


def test_provenance(clip: ClipEncoder, clip_dir: Path) -> None:
    prov = clip.provenance
    assert prov.model == "tiny-clip" and prov.config["revision"] == clip.revision
    assert prov.config["backend"] == "transformers" and prov.config["image_size"] == "32x32"
    assert ClipEncoder(clip_dir, device="cpu").space_id == clip.space_id  # stable across loads
    assert "tiny-clip" in repr(clip)


def test_loading_errors(tmp_path: Path, clip_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model directory"):
        ClipEncoder(tmp_path / "nope", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no CLIP model"):
        ClipEncoder(tmp_path / "empty", device="cpu")
    with pytest.raises(ModelNotFoundError, match="cached"):
        ClipEncoder("embspace-test/no-such-clip", device="cpu")
    vit = save_tiny_vit(tmp_path / "vit")
    with pytest.raises(InvalidInputError, match=r"'vit' model, not CLIP.*use ImageEncoder"):
        ClipEncoder(vit, device="cpu")
    with pytest.raises(InvalidInputError, match="use ClipEncoder"):
        ImageEncoder(clip_dir, device="cpu")
    with pytest.raises(InvalidInputError, match="batch_size"):
        ClipEncoder(clip_dir, batch_size=-1, device="cpu")


def test_model_without_processor(tmp_path: Path, clip_dir: Path) -> None:
    (tmp_path / "m").mkdir()
    for f in ("config.json", "model.safetensors"):
        (tmp_path / "m" / f).write_bytes((clip_dir / f).read_bytes())
    with pytest.raises(ModelNotFoundError, match="processor"):
        ClipEncoder(tmp_path / "m", device="cpu")


@pytest.mark.skipif(importlib.util.find_spec("open_clip") is not None, reason="open_clip is installed")
def test_open_clip_directory_without_open_clip(tmp_path: Path) -> None:
    d = tmp_path / "oc"
    d.mkdir()
    (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 8}, "preprocess_cfg": {}}))
    with pytest.raises(MissingDependencyError, match=r'open_clip_torch.*pip install "embspace\[clip\]"'):
        ClipEncoder(d, device="cpu")
