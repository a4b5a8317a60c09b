"""CLAP on a tiny random ClapModel built here: the same vectors as a plain transformers forward pass, audio files
of every format soundfile reads, resampling, the window rule, collections of audio files, zero-shot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from audio_testing import RATE, save_tiny_clap, tone  # noqa: E402

from embspace._audio import AUDIO_SUFFIXES, decode_audio, fit_window, load_audio, resample  # noqa: E402
from embspace.apps.zero_shot import ZeroShotClassifier  # noqa: E402
from embspace.encoders import ClapEncoder, get_encoder  # noqa: E402
from embspace.encoders.file_encoding import encode_file, read_items  # noqa: E402
from embspace.errors import CorruptDataError, IncompatibleSpaceError, InvalidInputError  # noqa: E402
from embspace.space.embedding_space import EmbeddingSpace  # noqa: E402

CAPTIONS = ["the sound of a dog", "rain", "a high tone", "the sound of a cat bark"]


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clap(tmp_path_factory.mktemp("models") / "tiny-clap")


@pytest.fixture(scope="module")
def clap(clap_dir: Path) -> ClapEncoder:
    enc = get_encoder(clap_dir, device="cpu")
    assert isinstance(enc, ClapEncoder)
    return enc


@pytest.fixture(scope="module")
def reference(clap_dir: Path) -> tuple[object, object]:
    from transformers import ClapModel, ClapProcessor

    return ClapModel.from_pretrained(str(clap_dir)).eval(), ClapProcessor.from_pretrained(str(clap_dir))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.sum(a * b, axis=-1)


def _plain_forward(reference: tuple[object, object], clips: list[np.ndarray], texts: list[str]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The audio and text embeddings of ClapModel's own forward pass on its processor's inputs."""
    model, processor = reference
    feats = processor.feature_extractor(clips, sampling_rate=RATE, return_tensors="pt")  # type: ignore[attr-defined]
    tok = processor.tokenizer(texts, padding=True, return_tensors="pt")  # type: ignore[attr-defined]
    with torch.no_grad():
        out = model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"],  # type: ignore[operator]
                    input_features=feats["input_features"], is_longer=torch.zeros((len(clips), 1), dtype=torch.bool))
    return out.audio_embeds.numpy(), out.text_embeds.numpy()


def test_tiny_clap_equals_a_plain_transformers_forward_pass(clap: ClapEncoder, reference: tuple[object, object]
                                                            ) -> None:
    clips = [tone(220, 0.6), tone(880, 0.9, seed=1), tone(440, 1.0, seed=2)]  # all within the 1 s window
    want_audio, want_text = _plain_forward(reference, clips, CAPTIONS)
    got_audio = np.asarray(clap.encode(clips, progress=False))
    got_text = np.asarray(clap.encode_text(CAPTIONS, progress=False))
    # float32 through the same weights, batched differently: equal up to rounding, not bit for bit
    assert _cos(got_audio, want_audio).min() >= 0.9999
    assert _cos(got_text, want_text).min() >= 0.9999
    assert clap.dim == 16 and clap.sample_rate == RATE and clap.window_seconds == 1.0
    assert clap.text_encoder.space_id == clap.space_id


def test_long_clips_keep_their_first_window_deterministically(clap: ClapEncoder,
                                                              reference: tuple[object, object]) -> None:
    long = np.concatenate([tone(300, 1.0), tone(1200, 1.5, seed=4)])  # 2.5 s: the window is 1 s
    want, _ = _plain_forward(reference, [long[:RATE]], ["rain"])
    a = np.asarray(clap.encode(long, progress=False))
    b = np.asarray(clap.encode([tone(500, 0.3), long], progress=False))[1]  # batch-mates change nothing
    assert _cos(a, want[0]) >= 0.9999
    np.testing.assert_allclose(a, b, atol=1e-5)  # same clip, another batch: rounding only


def test_audio_files_of_every_format_resampled(clap: ClapEncoder, tmp_path: Path) -> None:
    wave = tone(440, 0.8)
    x16 = resample(wave, RATE, 16000)
    want = np.asarray(clap.encode(wave, progress=False))
    for suffix, fmt in ((".wav", "WAV"), (".flac", "FLAC"), (".ogg", "OGG")):
        path = tmp_path / f"clip{suffix}"
        sf.write(str(path), x16, 16000, format=fmt)
        got = np.asarray(clap.encode(path, progress=False))
        assert got.shape == (16,)
        # resampled 16 kHz -> 8 kHz (and Vorbis is lossy): close, not equal
        assert _cos(got, want) > (0.95 if suffix == ".ogg" else 0.99), suffix
    stereo = np.stack([x16, x16], axis=1)
    sf.write(str(tmp_path / "stereo.wav"), stereo, 16000)
    np.testing.assert_allclose(load_audio([tmp_path / "stereo.wav"], RATE)[0], load_audio([tmp_path / "clip.wav"],
                                                                                           RATE)[0], atol=1e-4)
    # an in-memory (waveform, rate) tuple is resampled the same way as a file
    np.testing.assert_allclose(clap.encode((x16, 16000), progress=False),
                               clap.encode(tmp_path / "clip.wav", progress=False), atol=1e-3)


def test_mp3_when_libsndfile_reads_it(clap: ClapEncoder, tmp_path: Path) -> None:
    if "MP3" not in sf.available_formats():
        pytest.skip(f"libsndfile {sf.__libsndfile_version__} has no MP3 (it needs >= 1.1)")
    path = tmp_path / "clip.mp3"
    sf.write(str(path), resample(tone(440, 0.8), RATE, 16000), 16000, format="MP3")
    got = np.asarray(clap.encode(path, progress=False))
    assert _cos(got, np.asarray(clap.encode(tone(440, 0.8), progress=False))) > 0.9  # lossy


def test_bad_inputs_say_what_and_how(clap: ClapEncoder, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(InvalidInputError, match="not an audio file"):
        clap.encode([tmp_path / "notes.txt"], progress=False)
    with pytest.raises(InvalidInputError, match="no such audio file"):
        clap.encode([tmp_path / "missing.wav"], progress=False)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio")
    with pytest.raises(CorruptDataError, match="item #1"):
        clap.encode([tone(300, 0.5), tmp_path / "broken.wav"], progress=False)
    with pytest.raises(InvalidInputError, match="shape"):
        clap.encode([np.zeros((3, 3, 3), np.float32)], progress=False)
    with pytest.raises(TypeError, match="expected an audio file path"):
        clap.encode([{"a": 1}], progress=False)  # type: ignore[list-item]
    assert {".wav", ".flac", ".ogg", ".mp3"} <= AUDIO_SUFFIXES


def test_window_rule_and_resampling_helpers() -> None:
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fit_window(x, 4), x[:4])
    np.testing.assert_array_equal(fit_window(x, 12), np.r_[x, 0, 0])
    y = resample(tone(200, 1.0), RATE, 16000)
    assert len(y) == 2 * RATE and y.dtype == np.float32


def test_sent_audio_is_decoded_up_to_a_cap(tmp_path: Path) -> None:
    import soundfile as sf

    path = tmp_path / "long.flac"
    sf.write(str(path), np.tile(tone(300, 1.0), 5), RATE)  # five seconds
    wave, rate = decode_audio(path.read_bytes())
    assert rate == RATE and len(wave) == 5 * RATE
    wave, _ = decode_audio(path.read_bytes(), max_seconds=2)  # a few MB can decode to GBs: the cap holds
    assert len(wave) == 2 * RATE
    with pytest.raises(InvalidInputError, match="libsndfile"):
        decode_audio(b"not audio at all")


def test_audio_directory_becomes_a_space_and_a_collection(clap: ClapEncoder, tmp_path: Path) -> None:
    other_clap = ClapEncoder(save_tiny_clap(tmp_path / "other-clap", seed=1), device="cpu")
    root = tmp_path / "sounds"
    for label, freq in (("low", 200), ("high", 1500)):
        (root / label).mkdir(parents=True)
        for i in range(2):
            sf.write(str(root / label / f"{label}{i}.wav"), tone(freq, 0.5, seed=i), RATE)
    items, modality = read_items(root)
    assert modality == "audio" and [i.metadata["label"] for i in items] == ["high", "high", "low", "low"]
    report = encode_file(root, tmp_path / "space", encoder=clap, progress=False, cache_dir=tmp_path / "cache")
    assert report.modality == "audio" and report.n_items == 4
    space = EmbeddingSpace.load(tmp_path / "space")
    assert space.keys[0] == str(Path("high") / "high0.wav") and space.provenance.space_id == clap.space_id
    meta = [json.loads(line) for line in (tmp_path / "space" / "metadata.jsonl").read_text().splitlines()]
    assert meta[0]["label"] == "high"
    # cached the second time: nothing re-encoded
    again = encode_file(root, tmp_path / "space2", encoder=clap, progress=False, cache_dir=tmp_path / "cache")
    assert again.n_cached == 4 and again.n_encoded == 0
    # a collection takes the space (as for images), and a caption finds the clips
    from embspace.store import Collection

    col = Collection.create(tmp_path / "col", dim=clap.dim)
    col.add_space(space)
    # add_file of the saved space takes the metadata written beside it: the projector shows (and colours by) the label
    labelled = Collection.create(tmp_path / "col2", dim=clap.dim)
    assert labelled.add_file(tmp_path / "space") == 4
    got = labelled.get([space.keys[0]], vectors=False)[0]["metadata"]
    assert got["label"] == "high" and got["path"].endswith("high0.wav")
    assert col.get([space.keys[0]], vectors=False)[0]["metadata"] == {}  # add_space alone: no metadata
    hits = col.search(clap.encode_text("a high tone", progress=False), k=2)
    assert len(hits) == 2
    with pytest.raises(InvalidInputError, match="audio files"):
        col.add_file(root)
    # the CLAP text tower queries the space (same space_id); another CLAP's cannot
    assert len(space.neighbors(clap.encode_text("rain", progress=False), k=2)) == 2
    with pytest.raises(IncompatibleSpaceError):
        space.neighbors(other_clap.encode_text("rain", progress=False), k=1)


def test_zero_shot_through_the_classifier(clap: ClapEncoder, tmp_path: Path) -> None:
    clips = [tone(200, 0.5), tone(1500, 0.5)]
    direct = clap.zero_shot(clips, ["dog", "rain"], "the sound of {}", progress=False)
    assert direct.probs.shape == (2, 2)
    np.testing.assert_allclose(direct.probs.sum(axis=1), 1.0, atol=1e-5)
    clf = ZeroShotClassifier(clap)
    assert clf.scale == pytest.approx(clap.logit_scale)
    via = clf.classify(clips, ["dog", "rain"], "the sound of {}")
    np.testing.assert_allclose(via.probs, direct.probs, atol=1e-5)  # the same vectors, computed twice
    sf.write(str(tmp_path / "a.wav"), clips[0], RATE)
    assert clf.classify([tmp_path / "a.wav"], ["dog", "rain"], "the sound of {}").predicted == direct.predicted[:1]


def test_encode_space_keys_and_hash(clap: ClapEncoder) -> None:
    with pytest.raises(InvalidInputError, match="keys"):
        clap.encode_space([tone(200, 0.5)], progress=False)
    s = clap.encode_space([tone(200, 0.5), (tone(300, 0.5), RATE)], keys=["a", "b"], progress=False)
    assert list(s.keys) == ["a", "b"] and s.provenance.data_hash
    t = clap.encode_space([tone(200, 0.5), (tone(300, 0.5), RATE)], keys=["a", "b"], progress=False)
    assert t.provenance.data_hash == s.provenance.data_hash


def test_http_classify_takes_audio_with_an_audio_model(clap_dir: Path, clap: ClapEncoder, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    import base64
    import io

    from fastapi.testclient import TestClient

    from embspace.serve import Resources, create_app

    buf = io.BytesIO()
    sf.write(buf, tone(1500, 0.5), RATE, format="WAV")
    b64 = base64.b64encode(buf.getvalue()).decode()
    loop = {"client": ("127.0.0.1", 50000), "base_url": "http://127.0.0.1:8000"}  # served to loopback only
    client = TestClient(create_app(Resources(tmp_path / "data", encoder=str(clap_dir))), **loop)  # type: ignore[arg-type]
    r = client.post("/classify", json={"audio": [b64], "labels": ["dog", "rain"], "template": "the sound of {}"})
    assert r.status_code == 200, r.text
    want = clap.zero_shot([tone(1500, 0.5)], ["dog", "rain"], "the sound of {}", progress=False)
    got = r.json()["results"][0]
    assert got["label"] == want.predicted[0]
    # 16-bit WAV rounding of the clip: probabilities close, not equal
    assert got["scores"]["dog"] == pytest.approx(float(want.probs[0, 0]), abs=1e-3)
    for body, why in (({"labels": ["a"]}, "exactly one"), ({"audio": ["!!!!"], "labels": ["a"]}, "base64"),
                      ({"audio": [base64.b64encode(b"not audio").decode()], "labels": ["a"]}, "decode"),
                      ({"audio": [b64], "texts": ["x"], "labels": ["a"]}, "exactly one")):
        r = client.post("/classify", json=body)
        assert r.status_code == 422 and why in r.text, (body, r.text)
    text_server = TestClient(create_app(Resources(tmp_path / "data2")), **loop)  # type: ignore[arg-type]  # MiniLM
    r = text_server.post("/classify", json={"audio": [b64], "labels": ["dog", "rain"]})
    assert r.status_code == 422 and "audio-text model" in r.text
