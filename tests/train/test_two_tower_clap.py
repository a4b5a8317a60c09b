"""TwoTowerClap on synthetic tones with a tiny frozen text encoder (fast), and on spoken digits synthesised with
espeak-ng (skipped cleanly where espeak-ng is not installed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from embspace.data import DIGIT_WORDS, spoken_captions, synthesize_words
from embspace.errors import InvalidInputError, NotFittedError
from embspace.train import SpecAugment, TwoTowerClap

RATE = 8000
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng): no spoken words to "
                                         "train on")


class BagOfWords:
    """A frozen 'text encoder': counts of a small vocabulary (so phrasings share the label word)."""

    VOCAB = ("low", "high", "a", "the", "tone", "sound", "of", "pitch", "this", "is", "recording")

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return np.array([[t.split().count(w) for w in self.VOCAB] for t in texts], np.float32)


def _tones(n: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.arange(int(0.5 * RATE)) / RATE
    x = np.zeros((n, int(0.6 * RATE)), np.float32)
    for i, c in enumerate(y):
        f = rng.uniform(200, 400) if c == 0 else rng.uniform(1500, 2500)
        start = rng.integers(0, 400)
        x[i, start:start + len(t)] = 0.3 * np.sin(2 * np.pi * f * t) + 0.02 * rng.standard_normal(len(t))
    return x, ["low" if c == 0 else "high" for c in y]


def _small(**kw: object) -> TwoTowerClap:
    settings: dict[str, object] = dict(dim=16, text_encoder=BagOfWords(), sample_rate=RATE, seconds=0.5, n_mels=20,
                                       hop=160, n_fft=256, width=8, epochs=8, batch_size=32, device="cpu",
                                       progress=False)
    settings.update(kw)
    return TwoTowerClap(**settings)  # type: ignore[arg-type]


def test_zero_shot_tones_with_an_unseen_phrasing(tmp_path: Path) -> None:
    x, words = _tones(200)
    caps = [("a {} tone" if i % 2 else "the sound of a {} pitch").format(w) for i, w in enumerate(words)]
    m = _small(epochs=6).fit(x[:160], caps[:160])
    assert m.loss_history_[-1] < m.loss_history_[0]
    r = m.zero_shot(x[160:], ["low", "high"], template="this is a recording of {}")  # never seen verbatim
    assert r.accuracy(words[160:]) >= 0.9
    assert m.encode(x[0]).shape == (16,) and m.encode(x[:3]).shape == (3, 16)
    assert m.encode(x[:2]).space_id == m.encode_text(["low"]).space_id
    # a file path and a (waveform, rate) tuple go through the same front end
    import soundfile as sf

    sf.write(str(tmp_path / "a.wav"), x[0], RATE)
    np.testing.assert_allclose(m.encode(tmp_path / "a.wav"), m.encode(x[0]), atol=1e-4)  # 16-bit PCM rounding
    np.testing.assert_allclose(m.encode((x[0], RATE)), m.encode(x[0]), atol=1e-6)
    # saved and loaded: the same vectors and the same space
    m.text_encoder = "bag-test"
    from embspace.encoders import register_encoder

    register_encoder("bag-test", lambda **_: BagOfWords())  # type: ignore[arg-type, return-value]
    back = TwoTowerClap.load(m.save(tmp_path / "clap"))
    np.testing.assert_allclose(back.encode(x[:4]), m.encode(x[:4]), atol=1e-5)  # same weights, float32 rounding
    assert back.encode(x[:1]).space_id == m.encode(x[:1]).space_id
    assert back.audio_tower_ is back.image_tower_


def test_the_classifier_takes_a_trained_clap() -> None:
    from embspace.apps.zero_shot import ZeroShotClassifier

    x, words = _tones(64, seed=1)
    m = _small(epochs=1).fit(x, [f"a {w} tone" for w in words])
    clf = ZeroShotClassifier(m)
    assert clf.scale == pytest.approx(m.logit_scale)
    np.testing.assert_allclose(clf.classify(list(x[:5]), ["low", "high"], "a {} tone").probs,
                               m.zero_shot(x[:5], ["low", "high"], "a {} tone").probs, atol=1e-5)


def test_errors() -> None:
    m = _small()
    with pytest.raises(NotFittedError):
        m.encode(np.zeros(4000, np.float32))
    with pytest.raises(InvalidInputError, match="captions"):
        m.fit(np.zeros((4, 4000), np.float32), ["a low tone"])
    x = SpecAugment()(__import__("torch").zeros((3, 1, 20, 26)), None)
    assert tuple(x.shape) == (3, 1, 20, 26)


@needs_espeak
def test_synthesised_words_are_cached_and_split_by_voice(tmp_path: Path) -> None:
    data = synthesize_words(["one", "two"], ["en-us+m1", "en-us+f2"], speeds=(150,), pitches=(40, 60),
                            sample_rate=8000, seconds=0.8, cache_dir=tmp_path)
    assert data.audio.shape == (8, 6400) and data.audio.dtype == np.float32
    assert data.words[:2] == ["one", "two"] and set(data.voices) == {"en-us+m1", "en-us+f2"}
    assert np.abs(data.audio).max(axis=1).min() > 0.05  # every clip holds speech
    files = sorted(tmp_path.rglob("*.wav"))
    assert len(files) == 8
    stamp = [f.stat().st_mtime_ns for f in files]
    again = synthesize_words(["one", "two"], ["en-us+m1", "en-us+f2"], speeds=(150,), pitches=(40, 60),
                             sample_rate=8000, seconds=0.8, cache_dir=tmp_path)
    assert [f.stat().st_mtime_ns for f in files] == stamp  # read from the cache, not spoken again
    np.testing.assert_array_equal(again.audio, data.audio)
    half = data.subset(np.array([v == "en-us+f2" for v in data.voices]))
    assert len(half) == 4 and set(half.voices) == {"en-us+f2"}
    with pytest.raises(InvalidInputError, match="espeak-ng could not speak"):
        synthesize_words(["one"], ["no-such-voice"], cache_dir=tmp_path)


@needs_espeak
@pytest.mark.slow
def test_spoken_digits_in_unheard_voices(tmp_path: Path) -> None:
    """A small run of the real recipe: ten digit words, 12 voices in training, 2 never heard, MiniLM frozen."""
    voices = [f"{a}+{v}" for a in ("en-us", "en-gb-x-rp") for v in ("m1", "m3", "f1", "f2", "croak", "klatt", "m5")]
    data = synthesize_words(DIGIT_WORDS, voices, speeds=(140, 180), pitches=(40, 60), cache_dir=tmp_path)
    assert data.audio.shape == (len(voices) * 4 * 10, 16000) and data.sample_rate == 16000
    held = np.isin(data.voices, ["en-us+f2", "en-gb-x-rp+m3"])
    train, test = data.subset(~held), data.subset(held)
    m = TwoTowerClap(epochs=6, batch_size=64, device="cpu", progress=False).fit(train.audio,
                                                                                spoken_captions(train.words))
    acc = m.zero_shot(test.audio, list(DIGIT_WORDS), "a recording of a person pronouncing {}").accuracy(test.words)
    assert acc >= 0.6, acc  # chance is 0.1; the full recipe (`embspace train clap-words`) reaches >= 0.9


def test_missing_espeak_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from embspace.errors import MissingDependencyError

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingDependencyError, match="apt-get install espeak-ng"):
        synthesize_words(["one"], ["en-us"])
