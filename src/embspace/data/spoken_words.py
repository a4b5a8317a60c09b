"""Spoken words synthesised with espeak-ng: a small audio-text data set made on the machine, never shipped.

espeak-ng (the Debian/Ubuntu package ``espeak-ng``; ``brew install espeak-ng``) speaks a word in one of
its English voices (accents: ``en-us``, ``en-gb-scotland``, ...) with a *variant* (``+m3``, ``+f2``,
``+croak``: another speaker's formants, breathiness and pitch range), at a speed (words per minute) and a
pitch (0-99). A voice here is a ``voice+variant`` combination. Clips are written once under a cache folder
(``$EMBSPACE_CACHE/spoken_words`` by default) and read back as float32 mono waveforms at the rate asked for.

:func:`spoken_digits` builds the ten digit words "zero".."nine" in many voices and splits them by voice: the
held-out voices (voice+variant combinations) are never in the training part.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import shutil
import subprocess
import wave
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .._audio import fit_window, resample
from ..errors import CorruptDataError, InvalidInputError, MissingDependencyError
from .mnist import DIGIT_WORDS

__all__ = ["ESPEAK_ACCENTS", "ESPEAK_VARIANTS", "HELD_OUT_SPOKEN_TEMPLATE", "SPOKEN_PHRASINGS", "SpokenWords",
           "espeak_ng", "spoken_captions", "spoken_digits", "synthesize_words"]

#: espeak-ng's English voices (accents) used by :func:`spoken_digits`.
ESPEAK_ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
                  "en-us-nyc")
#: espeak-ng voice variants (speakers) used by :func:`spoken_digits`.
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
                   "klatt3", "croak", "Alex", "Annie", "Andy", "aunty", "boris", "david", "edward", "iven", "john",
                   "linda", "max", "michel", "norbert", "paul", "quincy", "rob", "robert", "steph", "travis", "zac")

#: Phrasings of the training captions of spoken words; ``"{w}"`` is the word.
SPOKEN_PHRASINGS = ("{w}", "the word {w}", "someone saying {w}", "a voice says {w}", "the spoken word {w}",
                    "{w} spoken aloud")
#: The zero-shot caption template of the held-out check: a phrasing never used in training.
HELD_OUT_SPOKEN_TEMPLATE = "a recording of a person pronouncing {}"


def spoken_captions(words: Sequence[str], phrasings: Sequence[str] = SPOKEN_PHRASINGS, *,
                    seed: int = 0) -> list[str]:
    """One caption per clip: its word in one of ``phrasings`` (``"{w}"``: the word), drawn with a seeded
    generator, e.g. ``"someone saying seven"``."""
    if not phrasings or any("{w}" not in p for p in phrasings):
        raise InvalidInputError("every phrasing must contain {w} (the word)")
    pick = np.random.default_rng(seed).integers(len(phrasings), size=len(words))
    return [phrasings[p].format(w=w) for w, p in zip(words, pick.tolist(), strict=True)]


def espeak_ng() -> str:
    """The path of the ``espeak-ng`` program, or a MissingDependencyError saying how to install it."""
    found = shutil.which("espeak-ng")
    if found is None:
        err = MissingDependencyError("espeak-ng", "audio", "Synthesising spoken words")
        err.msg = ("synthesising spoken words needs the program espeak-ng, which is not on the PATH; it is a system "
                   "package, not a Python one: apt-get install espeak-ng (Debian/Ubuntu), brew install espeak-ng "
                   "(macOS)")
        err.args = (err.msg,)
        raise err
    return found


@dataclass(frozen=True, eq=False)
class SpokenWords:
    """Synthesised clips and what each one says, in which voice.

    Attributes
    ----------
    audio : numpy.ndarray
        float32 ``(n, samples)``: each clip mono at ``sample_rate``, cut or zero-padded to the same length.
    words, voices : list of str
        The word spoken in each clip, and its voice (``"en-us+m3"``).
    speeds, pitches : numpy.ndarray
        int64 ``(n,)``: espeak-ng's speed (words per minute) and pitch (0-99) of each clip.
    sample_rate : int
    """

    audio: npt.NDArray[np.float32]
    words: list[str]
    voices: list[str]
    speeds: npt.NDArray[np.int64]
    pitches: npt.NDArray[np.int64]
    sample_rate: int

    def __len__(self) -> int:
        return len(self.words)

    def subset(self, mask: npt.ArrayLike) -> SpokenWords:
        """The clips where ``mask`` (a boolean ``(n,)`` array) is true."""
        m = np.asarray(mask, bool)
        idx = np.flatnonzero(m).tolist()
        return SpokenWords(np.ascontiguousarray(self.audio[m]), [self.words[i] for i in idx],
                           [self.voices[i] for i in idx], self.speeds[m], self.pitches[m], self.sample_rate)

    def __repr__(self) -> str:
        return (f"SpokenWords({len(self)} clips, {len(set(self.words))} words, {len(set(self.voices))} voices, "
                f"{self.audio.shape[1] / self.sample_rate:g} s at {self.sample_rate} Hz)")


@functools.lru_cache(maxsize=4)
def _known_voices(program: str) -> tuple[frozenset[str], frozenset[str]]:
    """The voice names espeak-ng knows (language codes, names and files, lower case) and its variants' names:
    it falls back to its default voice, silently and with exit code 0, for a name it does not know."""
    def table(*args: str) -> list[list[str]]:
        done = subprocess.run([program, *args], capture_output=True, text=True, check=False)
        return [line.split() for line in done.stdout.splitlines()[1:] if line.strip()]

    voices = {w.lower() for row in table("--voices") for w in (row[1], row[3], row[4]) if len(row) >= 5}
    voices |= {row[4].rsplit("/", 1)[-1].lower() for row in table("--voices") if len(row) >= 5}
    variants = {row[4].rsplit("/", 1)[-1].lower() for row in table("--voices=variant") if len(row) >= 5}
    return frozenset(voices), frozenset(variants)


def _check_voices(program: str, voices: Sequence[str]) -> None:
    known, variants = _known_voices(program)
    for v in voices:
        base, _, variant = v.partition("+")
        if base.lower() not in known or (variant and variant.lower() not in variants):
            what = f"variant {variant!r}" if base.lower() in known else f"voice {base!r}"
            raise InvalidInputError(f"espeak-ng could not speak with voice {v!r}: it has no {what} (it would fall "
                                    "back to its default voice without a word); list voices with "
                                    "`espeak-ng --voices=en` and variants with `espeak-ng --voices=variant`")


def _default_cache() -> Path:
    """``$EMBSPACE_CACHE``, else ``$XDG_CACHE_HOME/embspace``, else ``~/.cache/embspace`` (as the encoders' cache)."""
    env = os.environ.get("EMBSPACE_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "embspace"


def _read_wav(path: Path) -> tuple[npt.NDArray[np.float32], int]:
    """espeak-ng's output: 16-bit mono PCM WAV (read with the standard library)."""
    try:
        with wave.open(str(path), "rb") as f:
            rate, width, channels = f.getframerate(), f.getsampwidth(), f.getnchannels()
            raw = f.readframes(f.getnframes())
    except (OSError, EOFError, wave.Error) as e:
        raise CorruptDataError(path, f"not a readable WAV file ({e}); delete it to synthesise it again") from e
    if width != 2:
        raise CorruptDataError(path, f"{8 * width}-bit samples; espeak-ng writes 16-bit PCM")
    x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    return (x.reshape(-1, channels).mean(axis=1) if channels > 1 else x), rate


def _trim(x: npt.NDArray[np.float32], threshold: float = 0.01) -> npt.NDArray[np.float32]:
    """The clip without the silence espeak-ng leaves before and after the word."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    return x[loud[0]:loud[-1] + 1] if len(loud) else x


def synthesize_words(words: Sequence[str], voices: Sequence[str], *, speeds: Sequence[int] = (160,),
                     pitches: Sequence[int] = (50,), sample_rate: int = 16000, seconds: float = 1.0,
                     cache_dir: str | Path | None = None, workers: int = 4) -> SpokenWords:
    """Every word in every voice, speed and pitch, as clips of ``seconds`` at ``sample_rate``.

    Each clip is espeak-ng's WAV (``espeak-ng -v VOICE -s SPEED -p PITCH -w FILE WORD``, cached under
    ``cache_dir``), its leading and trailing silence trimmed, resampled, then cut to its first ``seconds``
    or zero-padded at the end.

    Parameters
    ----------
    words
        The words (or short phrases) to speak.
    voices
        espeak-ng voices, with a variant after ``+`` (``"en-us+m3"``; see :data:`ESPEAK_ACCENTS`,
        :data:`ESPEAK_VARIANTS`).
    speeds, pitches
        espeak-ng's ``-s`` (words per minute, 80-450) and ``-p`` (0-99) values.
    cache_dir
        Where the WAV files go (default ``$EMBSPACE_CACHE/spoken_words``).
    workers
        espeak-ng processes run at once when clips are missing from the cache.

    Raises
    ------
    MissingDependencyError
        espeak-ng is not installed.
    InvalidInputError
        No words or voices, or an unknown voice (espeak-ng's own message is included).
    """
    words, voices = list(words), list(voices)
    if not words or not voices or not speeds or not pitches:
        raise InvalidInputError("synthesize_words needs at least one word, voice, speed and pitch")
    for w in words:
        if not isinstance(w, str) or not w.strip() or w.startswith("-"):
            raise InvalidInputError(f"words must be non-empty strings not starting with '-', got {w!r}")
    if sample_rate <= 0 or seconds <= 0:
        raise InvalidInputError(f"sample_rate and seconds must be positive, got {sample_rate} and {seconds}")
    program = espeak_ng()
    _check_voices(program, voices)
    root = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache() / "spoken_words"
    combos = list(itertools.product(voices, speeds, pitches, words))

    def clip_path(voice: str, speed: int, pitch: int, word: str) -> Path:
        tag = hashlib.sha256(word.encode()).hexdigest()[:8]
        safe = "".join(c if c.isalnum() else "_" for c in word)[:24]
        return root / voice.replace("/", "_") / f"s{int(speed)}_p{int(pitch)}" / f"{safe}-{tag}.wav"

    def make(combo: tuple[str, int, int, str]) -> None:
        path = clip_path(*combo)
        if path.is_file() and path.stat().st_size > 44:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        voice, speed, pitch, word = combo
        tmp = path.with_name(path.name + ".part")
        done = subprocess.run([program, "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "-w", str(tmp),
                               word], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not tmp.is_file():
            raise InvalidInputError(f"espeak-ng could not speak {word!r} with voice {voice!r} (exit "
                                    f"{done.returncode}: {done.stderr.strip()[:200]}); list voices with "
                                    "`espeak-ng --voices=en` and variants with `espeak-ng --voices=variant`")
        tmp.replace(path)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(make, combos))
    n = round(seconds * sample_rate)
    audio = np.empty((len(combos), n), np.float32)
    for i, combo in enumerate(combos):
        x, rate = _read_wav(clip_path(*combo))
        audio[i] = fit_window(resample(_trim(x), rate, sample_rate), n)
    return SpokenWords(audio, [c[3] for c in combos], [c[0] for c in combos],
                       np.array([c[1] for c in combos], np.int64), np.array([c[2] for c in combos], np.int64),
                       sample_rate)


def spoken_digits(*, accents: Sequence[str] = ESPEAK_ACCENTS, variants: Sequence[str] = ESPEAK_VARIANTS,
                  speeds: Sequence[int] = (130, 175), pitches: Sequence[int] = (35, 65), held_out: float = 0.2,
                  sample_rate: int = 16000, seconds: float = 1.0, cache_dir: str | Path | None = None,
                  seed: int = 0, workers: int = 4) -> tuple[SpokenWords, SpokenWords]:
    """The digit words "zero".."nine" spoken in every ``accent+variant`` voice, split by voice into
    ``(train, held_out)``.

    A seeded share ``held_out`` of the voices (voice+variant combinations) is kept out of training, with
    every clip of each (all words, speeds and pitches): a held-out voice is never heard in training. Each
    held-out voice's accent and variant may each occur in training with other partners.
    """
    if not 0 < held_out < 1:
        raise InvalidInputError(f"held_out must be a share between 0 and 1, got {held_out}")
    voices = [f"{a}+{v}" for a in accents for v in variants]
    rng = np.random.default_rng(seed)
    n_held = max(1, round(held_out * len(voices)))
    if n_held >= len(voices):
        raise InvalidInputError(f"{len(voices)} voices cannot keep {n_held} out of training; give more voices")
    held = {voices[i] for i in rng.choice(len(voices), n_held, replace=False)}
    data = synthesize_words(DIGIT_WORDS, voices, speeds=speeds, pitches=pitches, sample_rate=sample_rate,
                            seconds=seconds, cache_dir=cache_dir, workers=workers)
    mask = np.array([v in held for v in data.voices])
    return data.subset(~mask), data.subset(mask)
