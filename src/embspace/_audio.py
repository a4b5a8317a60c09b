"""Audio in, float32 waveforms out: decoding, mono, resampling, the window rule, and log-mel spectrograms.

Private, below every layer: the data layer (synthesised speech), the encoders (CLAP) and the train layer
(TwoTowerClap) share it.

What is read
    Files through ``soundfile`` (libsndfile): WAV, FLAC, OGG (Vorbis and Opus), AIFF, AU, CAF and, with
    libsndfile >= 1.1 (``soundfile`` >= 0.12 wheels bundle it), MP3. A suffix outside
    :data:`AUDIO_SUFFIXES` is refused before decoding; a file libsndfile cannot decode is a
    :class:`~embspace.errors.CorruptDataError` naming the item.
In memory
    A 1-D NumPy array is one clip already at the model's rate; a ``(array, sample_rate)`` tuple is a clip
    at that rate. A 2-D array is ``(samples, channels)`` (as soundfile returns it) inside a tuple.
Mono
    Channels are averaged.
Resampling
    ``scipy.signal.resample_poly`` (polyphase FIR with a Kaiser window) by the reduced ratio of the rates.
Window
    :func:`fit_window`: a clip longer than the window keeps its FIRST ``n`` samples (deterministic: no
    random crop); a shorter one is padded with zeros at the end (the CLAP encoder instead lets the model's
    own feature extractor pad, which repeats the clip first: see ``ClapEncoder``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import CorruptDataError, InvalidInputError, MissingDependencyError

#: File suffixes read as audio (by libsndfile; ``.mp3`` needs libsndfile >= 1.1).
AUDIO_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au",
                            ".caf"})

__all__ = ["AUDIO_SUFFIXES", "check_audio", "decode_audio", "fit_window", "is_audio_path", "load_audio", "log_mel",
           "resample", "to_mono"]


def is_audio_path(item: Any) -> bool:
    """Whether ``item`` is a path (``str``/``os.PathLike``) with an audio suffix."""
    return isinstance(item, str | os.PathLike) and Path(item).suffix.lower() in AUDIO_SUFFIXES


def _soundfile() -> Any:
    try:
        import soundfile
    except ImportError:
        raise MissingDependencyError("soundfile", "audio", "Reading audio files") from None
    return soundfile


def to_mono(x: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """A float32 1-D waveform: ``(samples,)`` as it is, ``(samples, channels)`` averaged over the channels."""
    a = np.asarray(x, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=1, dtype=np.float32)
    if a.ndim != 1:
        raise InvalidInputError(f"a waveform must be (samples,) or (samples, channels), got shape {a.shape}")
    return np.ascontiguousarray(a)


def resample(x: npt.ArrayLike, from_rate: int, to_rate: int) -> npt.NDArray[np.float32]:
    """``x`` (1-D) resampled from ``from_rate`` to ``to_rate`` Hz (polyphase filtering, scipy)."""
    a = np.asarray(x, dtype=np.float32)
    if from_rate <= 0 or to_rate <= 0:
        raise InvalidInputError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate or not len(a):
        return np.ascontiguousarray(a)
    from scipy.signal import resample_poly

    g = math.gcd(int(from_rate), int(to_rate))
    return np.ascontiguousarray(resample_poly(a, int(to_rate) // g, int(from_rate) // g), dtype=np.float32)


def fit_window(x: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.float32]:
    """The first ``n`` samples of ``x``, padded with zeros at the end when it is shorter."""
    if len(x) >= n:
        return np.ascontiguousarray(x[:n])
    out = np.zeros(n, np.float32)
    out[:len(x)] = x
    return out


def check_audio(items: Sequence[Any], *, start: int = 0) -> list[Any]:
    """Validate audio inputs cheaply (kinds, files exist, array shapes) without decoding them."""
    if isinstance(items, str | os.PathLike):
        raise TypeError("a list of audio clips is needed here; wrap a single path in a list")
    out = list(items)
    for i, item in enumerate(out, start):
        if isinstance(item, str | os.PathLike):
            path = Path(item).expanduser()
            if not path.is_file():
                what = "a directory, not an audio file" if path.is_dir() else "no such audio file"
                raise InvalidInputError(f"item #{i}: {path} is {what}")
            if path.suffix.lower() not in AUDIO_SUFFIXES:
                raise InvalidInputError(f"item #{i}: {path.name} is not an audio file this reads (suffixes: "
                                        f"{', '.join(sorted(AUDIO_SUFFIXES))}); convert it, e.g. with ffmpeg, to .wav")
        elif isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[1], int | np.integer) or isinstance(item[1], bool):
                raise InvalidInputError(f"item #{i}: an in-memory clip is (waveform, sample_rate); got a tuple of "
                                        f"{len(item)}")
            _check_wave(np.asarray(item[0]), i, allow_channels=True)
        elif isinstance(item, np.ndarray):
            _check_wave(item, i, allow_channels=False)
        else:
            raise TypeError(f"item #{i} is {type(item).__name__}; expected an audio file path, a 1-D NumPy "
                            "waveform at the model's rate, or a (waveform, sample_rate) tuple")
    return out


def _check_wave(a: npt.NDArray[Any], i: int, *, allow_channels: bool) -> None:
    if a.ndim != 1 and not (allow_channels and a.ndim == 2):
        shapes = "(samples,) or (samples, channels)" if allow_channels else "(samples,)"
        raise InvalidInputError(f"item #{i}: a waveform of shape {a.shape}; expected {shapes}")
    if a.dtype.kind not in "fiu" or not len(a):
        raise InvalidInputError(f"item #{i}: the waveform is empty or not numeric (dtype {a.dtype})")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise InvalidInputError(f"item #{i}: the waveform holds NaN or infinite values")


def _pcm(a: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Integer PCM scaled to [-1, 1); floats as they are."""
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        scale = float(max(abs(info.min), info.max + 1))
        if a.dtype.kind == "u":
            return ((a.astype(np.float32) - (info.max + 1) / 2) / (scale / 2)).astype(np.float32)
        return (a.astype(np.float32) / scale).astype(np.float32)
    return a.astype(np.float32, copy=False)


def load_audio(items: Sequence[Any], sample_rate: int, *, start: int = 0) -> list[npt.NDArray[np.float32]]:
    """Decode audio inputs to float32 mono waveforms at ``sample_rate`` (not yet cut to a window).

    Parameters
    ----------
    items
        Audio file paths, 1-D arrays (at ``sample_rate`` already), or ``(waveform, rate)`` tuples.
    sample_rate
        The rate every waveform is resampled to.
    start
        Index of the first item in the caller's list, so that errors name the caller's index.
    """
    out = []
    for i, item in enumerate(check_audio(items, start=start), start):
        if isinstance(item, str | os.PathLike):
            path = Path(item).expanduser()
            sf = _soundfile()
            try:
                data, rate = sf.read(str(path), dtype="float32", always_2d=True)
            except (RuntimeError, OSError, ValueError) as e:  # soundfile.LibsndfileError is a RuntimeError
                raise CorruptDataError(path, f"item #{i} is not audio libsndfile can decode ({type(e).__name__}: "
                                             f"{e}); mp3 needs libsndfile >= 1.1 (soundfile >= 0.12)") from e
            if not len(data):
                raise CorruptDataError(path, f"item #{i} holds no samples")
            wave, rate = to_mono(data), int(rate)
        elif isinstance(item, tuple):
            wave, rate = to_mono(_pcm(np.asarray(item[0]))), int(item[1])
        else:
            wave, rate = to_mono(_pcm(item)), sample_rate
        out.append(resample(wave, rate, sample_rate))
    return out


#: Seconds of a sent file :func:`decode_audio` decodes: encoders keep the first window (seconds), and a few
#: megabytes of compressed audio can otherwise decode to gigabytes of samples.
MAX_DECODE_SECONDS = 600


def decode_audio(data: bytes, *, what: str = "the audio",
                 max_seconds: float = MAX_DECODE_SECONDS) -> tuple[npt.NDArray[np.float32], int]:
    """``(mono waveform, sample rate)`` of an audio file's bytes (any format libsndfile reads); only its first
    ``max_seconds`` are decoded."""
    import io

    sf = _soundfile()
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            wave = f.read(frames=int(max_seconds * rate), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError, TypeError) as e:
        raise InvalidInputError(f"{what} is not audio libsndfile can decode ({type(e).__name__}: {e}); send the bytes "
                                "of a WAV, FLAC, OGG or MP3 file") from None
    if not len(wave):
        raise InvalidInputError(f"{what} holds no samples")
    return to_mono(wave), int(rate)


def _mel_filters(n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float) -> npt.NDArray[np.float32]:
    """Triangular HTK-scale mel filters, ``(n_mels, n_fft // 2 + 1)``, each of unit area (Slaney norm)."""
    def hz_to_mel(f: Any) -> Any:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m: Any) -> Any:
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:, None] - edges[1:-1, None])
    filt = np.maximum(0.0, np.minimum(lower, upper))
    filt *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    out: npt.NDArray[np.float32] = filt.astype(np.float32)
    return out


def log_mel(waves: npt.ArrayLike, sample_rate: int, *, n_mels: int = 64, n_fft: int = 400, hop: int = 160,
            f_min: float = 20.0, f_max: float | None = None) -> npt.NDArray[np.float32]:
    """Log-mel spectrograms of equal-length waveforms: float32 ``(n, n_mels, frames)``.

    A Hann window of ``n_fft`` samples every ``hop`` samples (the clip padded by reflection at both ends,
    ``frames = samples // hop + 1``), power spectrum, mel filters, ``log(mel + 1e-6)``.
    """
    import torch  # the STFT of torch is ~20x faster than a NumPy one; torch is needed to train or run the towers

    x = np.atleast_2d(np.asarray(waves, np.float32))
    if x.shape[1] < n_fft:
        raise InvalidInputError(f"clips of {x.shape[1]} samples are shorter than one analysis window ({n_fft})")
    filters = torch.from_numpy(_mel_filters(n_mels, n_fft, sample_rate, f_min, f_max or sample_rate / 2))
    window = torch.hann_window(n_fft)  # periodic
    out = np.empty((len(x), n_mels, x.shape[1] // hop + 1), np.float32)
    with torch.inference_mode():
        for s in range(0, len(x), 256):
            spec = torch.stft(torch.from_numpy(x[s:s + 256]), n_fft, hop, window=window, center=True,
                              pad_mode="reflect", return_complex=True).abs() ** 2  # (n, n_fft//2+1, frames)
            out[s:s + 256] = torch.log(filters @ spec + 1e-6).numpy()
    return out
