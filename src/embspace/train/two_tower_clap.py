"""TwoTowerClap: a CLAP-style audio-text space trained from (clip, caption) pairs, with zero-shot."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .._audio import fit_window, load_audio, log_mel
from ..encoders.clip_encoder import ZeroShotResult, zero_shot_captions, zero_shot_result
from ..errors import InvalidInputError
from ..space.provenance import Provenance
from ..space.vector import EmbeddingVector
from .contrastive_trainer import embed_with
from .two_tower_clip import TwoTowerClip

#: The ``format`` in ``two_tower_clap.json``; the ``embspace.json`` header (kind ``"model"``) has its own version.
FORMAT = "embspace.two_tower_clap/1"
FORMAT_VERSION = 1

__all__ = ["SpecAugment", "TwoTowerClap"]


class SpecAugment:
    """Random views of log-mel batches ``(n, 1, n_mels, frames)`` (standardised), on any device.

    Per clip: a shift in time (up to ``shift`` frames, circular: the clips are mostly silence at the
    end), a stretch of the mel axis by a factor in ``warp`` (a speaker's vocal tract: vocal-tract-length
    perturbation), a gain (a constant added to the log-mel), and one frequency mask and one time mask
    (SpecAugment, Park et al. 2019) of up to ``freq_mask`` bins and ``time_mask`` frames.
    """

    def __init__(self, *, shift: int = 8, warp: tuple[float, float] = (0.88, 1.12), gain: float = 0.3,
                 freq_mask: int = 6, time_mask: int = 6) -> None:
        self.shift, self.warp, self.gain = int(shift), (float(warp[0]), float(warp[1])), float(gain)
        self.freq_mask, self.time_mask = int(freq_mask), int(time_mask)

    def __call__(self, x: Any, generator: Any) -> Any:
        import torch
        import torch.nn.functional as F

        if x.ndim != 4:
            raise InvalidInputError(f"log-mel batches must be (n, 1, n_mels, frames), got shape {tuple(x.shape)}")
        n, _, m, t = x.shape
        dev, dt = x.device, x.dtype

        def uniform(lo: float, hi: float) -> Any:
            return lo + (hi - lo) * torch.rand((n,), generator=generator, device=dev, dtype=dt)

        # Frequency warp and time shift as one affine resampling (y: mel axis, x: time axis, in [-1, 1]).
        zoom = 1.0 / uniform(*self.warp)
        shift = torch.randint(-self.shift, self.shift + 1, (n,), generator=generator, device=dev).to(dt)
        zeros, ones = torch.zeros_like(zoom), torch.ones_like(zoom)
        theta = torch.stack([torch.stack([ones, zeros, -2 * shift / t], 1),
                             torch.stack([zeros, zoom, zoom - 1], 1)], 1)  # keeps the lowest mel bin in place
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        out = out + uniform(-self.gain, self.gain).view(n, 1, 1, 1)
        for size, axis, length in ((self.freq_mask, 2, m), (self.time_mask, 3, t)):
            if size > 0:
                width = torch.randint(0, size + 1, (n,), generator=generator, device=dev)
                start = (torch.rand((n,), generator=generator, device=dev) * (length - width + 1)).long()
                pos = torch.arange(length, device=dev).view(1, -1)
                mask = (pos >= start.view(-1, 1)) & (pos < (start + width).view(-1, 1))
                shape = (n, 1, length, 1) if axis == 2 else (n, 1, 1, length)
                out = out.masked_fill(mask.view(shape), 0.0)
        return out

    def __repr__(self) -> str:
        return (f"SpecAugment(shift={self.shift}, warp={self.warp}, gain={self.gain}, freq_mask={self.freq_mask}, "
                f"time_mask={self.time_mask})")


class TwoTowerClap(TwoTowerClip):
    """An audio tower and a frozen text tower trained with CLIP's symmetric InfoNCE loss, so that a clip
    and its caption land together; then :meth:`zero_shot` classifies clips among labels by caption, as
    :class:`~embspace.encoders.ClapEncoder` does. :class:`TwoTowerClip` with sound in place of images.

    The audio tower: each clip mono at ``sample_rate``, cut to its first ``seconds`` or zero-padded at the
    end, a log-mel spectrogram (``n_mels`` bands, a frame every ``hop`` samples), standardised with the
    training set's mean and spread, then a :class:`~embspace.train.SmallConvNet` (width ``width``) over the
    ``(1, n_mels, frames)`` picture. The text tower is a frozen sentence encoder with a trained projection
    (the locked-text recipe of :class:`TwoTowerClip`). ``augment`` (default :class:`SpecAugment`) draws a
    random view of each spectrogram at every step.

    Parameters
    ----------
    dim
        Dimension of the shared space.
    text_encoder
        A registered encoder name (default ``"minilm"``) or an object with ``encode(texts, progress=False)``.
    sample_rate, seconds, n_mels, hop, n_fft
        The front end (16 kHz, 1 s, 40 bands, 20 ms frames, 32 ms windows by default).
    width
        Width of the convolutional tower.
    epochs, batch_size, learning_rate, temperature
        Training settings (AdamW, warm-up + cosine decay; the temperature is learned).
    augment
        ``augment(batch, generator)`` on the standardised spectrograms; ``None`` for :class:`SpecAugment`'s
        defaults, ``False`` for none.
    device, seed, progress
        As for :class:`~embspace.train.ContrastiveTrainer`.

    Attributes
    ----------
    audio_tower_, text_projection_
        The trained audio tower (a SmallConvNet over log-mels) and the projection on the frozen text encoder.
    mel_mean_, mel_std_
        The standardisation of the log-mels (from the training clips).
    logit_scale_, loss_history_, provenance_
        As for :class:`TwoTowerClip`.
    """

    def __init__(self, *, dim: int = 64, text_encoder: Any = "minilm", sample_rate: int = 16000,
                 seconds: float = 1.0, n_mels: int = 40, hop: int = 320, n_fft: int = 512, width: int = 16,
                 epochs: int = 3, batch_size: int = 256, learning_rate: float = 3e-3, temperature: float = 0.07,
                 augment: Any = None, device: str = "auto", seed: int = 0, progress: bool = True) -> None:
        super().__init__(dim=dim, image_encoder=None, text_encoder=text_encoder, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, temperature=temperature, augment=augment, device=device,
                         seed=seed, progress=progress)
        self.sample_rate = sample_rate
        self.seconds = seconds
        self.n_mels = n_mels
        self.hop = hop
        self.n_fft = n_fft
        self.width = width

    # ------------------------------------------------------------------ front end
    def _waves(self, audio: Any) -> tuple[npt.NDArray[np.float32], bool]:
        """``(n, samples)`` float32 at ``sample_rate`` cut/padded to the window, and whether ONE clip was given."""
        n = round(self.seconds * self.sample_rate)
        if isinstance(audio, np.ndarray) and audio.dtype.kind == "f" and audio.ndim in (1, 2):
            single = audio.ndim == 1
            rows = audio[None] if single else audio
            return np.stack([fit_window(np.asarray(r, np.float32), n) for r in rows]) if len(rows) else \
                np.zeros((0, n), np.float32), single
        single = isinstance(audio, str | os.PathLike | tuple)
        clips = load_audio([audio] if single else list(audio), self.sample_rate)
        return (np.stack([fit_window(c, n) for c in clips]) if clips else np.zeros((0, n), np.float32)), single

    def spectrograms(self, audio: Any) -> npt.NDArray[np.float32]:
        """The audio tower's input for clips: float32 ``(n, 1, n_mels, frames)`` log-mels, standardised
        (after :meth:`fit`; raw before)."""
        waves, _ = self._waves(audio)
        mel = log_mel(waves, self.sample_rate, n_mels=self.n_mels, n_fft=self.n_fft, hop=self.hop)[:, None]
        if hasattr(self, "mel_mean_"):
            mel = (mel - np.float32(self.mel_mean_)) / np.float32(self.mel_std_)
        return np.ascontiguousarray(mel, dtype=np.float32)

    # ------------------------------------------------------------------ training
    def fit(self, audio: Any, captions: Sequence[str]) -> TwoTowerClap:
        """Train on aligned clips and captions.

        ``audio``: float ``(n, samples)`` waveforms at ``sample_rate``, or a list of clips (audio file paths,
        1-D waveforms at ``sample_rate``, ``(waveform, rate)`` tuples).
        """
        from .conv_net import SmallConvNet

        for name in ("mel_mean_", "mel_std_"):
            self.__dict__.pop(name, None)
        mel = self.spectrograms(audio)
        if len(mel) != len(captions):
            raise InvalidInputError(f"{len(mel)} clips but {len(captions)} captions")
        if len(mel) < 2:
            raise InvalidInputError("fit needs at least two (clip, caption) pairs to contrast")
        mean, std = float(mel.mean()), float(mel.std()) or 1.0
        x = (mel - np.float32(mean)) / np.float32(std)
        tower = SmallConvNet(1, width=self.width, dim=self.dim, seed=self.seed)
        augment = self.augment
        settings = (self.image_encoder, augment)
        self.image_encoder = tower
        self.augment = SpecAugment() if augment is None else (augment or None)
        try:
            super().fit(x, captions)
        finally:
            self.image_encoder, self.augment = settings
        self.mel_mean_, self.mel_std_ = mean, std
        return self

    @property
    def audio_tower_(self) -> Any:
        """The trained audio tower (a SmallConvNet over standardised log-mels)."""
        self.check_is_fitted("logit_scale_")
        return self.image_tower_

    @property
    def provenance_(self) -> Provenance:
        """Which run made the shared space (settings, front end, text encoder, run id)."""
        prov = super().provenance_
        return Provenance(model="embspace.two_tower_clap",
                          config={**prov.config, "sample_rate": self.sample_rate, "seconds": self.seconds,
                                  "n_mels": self.n_mels, "hop": self.hop, "n_fft": self.n_fft, "width": self.width})

    # ------------------------------------------------------------------ use
    def encode(self, audio: Any, *, normalize: bool = True) -> EmbeddingVector:
        """Clip vectors ``(n, dim)`` in the shared space (unit length by default), tagged with its
        ``space_id``; one clip (a path, a 1-D waveform, a ``(waveform, rate)`` tuple) gives ``(dim,)``."""
        self.check_is_fitted("logit_scale_")
        single = isinstance(audio, str | os.PathLike | tuple) or (isinstance(audio, np.ndarray) and audio.ndim == 1)
        x = self.spectrograms(audio)
        return self._tag(embed_with(self.image_tower_, x, self._torch_device, normalize=normalize), single)

    def zero_shot(self, audio: Any, labels: Sequence[str],
                  template: str = "the sound of someone saying {}") -> ZeroShotResult:
        """Classify clips among ``labels``: which caption (``template`` with the label) fits best. Same
        contract as :meth:`ClapEncoder.zero_shot <embspace.encoders.ClapEncoder.zero_shot>`."""
        label_list, captions = zero_shot_captions(labels, template)
        return zero_shot_result(label_list, self.encode(audio), self.encode_text(captions), self.logit_scale)

    # ------------------------------------------------------------------ persistence (TwoTowerClip's save/load)
    _FORMAT = FORMAT
    _MODEL = "TwoTowerClap"
    _META_FILE = "two_tower_clap.json"
    _TOWER = "audio"

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "sample_rate": self.sample_rate, "seconds": self.seconds,
                "n_mels": self.n_mels, "hop": self.hop, "n_fft": self.n_fft, "width": self.width}

    def _extra_meta(self) -> dict[str, Any]:
        return {"mel_mean": self.mel_mean_, "mel_std": self.mel_std_}  # the front end's normalisation

    def _restore_extra(self, meta: dict[str, Any]) -> None:
        self.mel_mean_, self.mel_std_ = float(meta["mel_mean"]), float(meta["mel_std"])

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], tower: Any, device: str) -> Self:
        return cls(dim=meta["dim"], text_encoder=meta["text_encoder"], device=device, progress=False,
                   **meta["settings"])
