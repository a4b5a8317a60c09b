"""CLAP: audio clips and texts in one space, and zero-shot audio classification (Hugging Face ClapModel)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._audio import fit_window
from ..errors import InvalidInputError, ModelNotFoundError
from ..space.vector import EmbeddingVector
from ._images import _transformers, batched
from ._sounds import AudioEncoderBase
from .clip_encoder import ZeroShotResult, _features, _TextTower, zero_shot_captions, zero_shot_result
from .encoder import AudioItem, Encoder, l2_normalize, resolve_device
from .image_encoder import _resolve_model
from .sentence_encoder import _dir_revision

__all__ = ["DEFAULT_CLAP", "ClapEncoder"]

#: The checkpoint ``get_encoder("clap")`` loads (from the local Hugging Face cache; nothing is downloaded).
DEFAULT_CLAP = "laion/clap-htsat-unfused"


class ClapEncoder(AudioEncoderBase):
    """A CLAP model (Hugging Face ``ClapModel``): audio and texts encoded into one space, and zero-shot
    audio classification.

    ``encode`` (and its alias :meth:`encode_audio`) encodes audio clips; :meth:`encode_text` encodes
    texts into the same space (same ``space_id``); :attr:`text_encoder` is the text side as an Encoder.

    How a clip reaches the model
        Decoded with soundfile (WAV, FLAC, OGG, MP3 with libsndfile >= 1.1, ...), channels averaged to
        mono, resampled (``scipy.signal.resample_poly``) to the feature extractor's ``sampling_rate``
        (48 kHz for LAION's checkpoints). A clip longer than the model's window (``max_length_s``, 10 s for
        LAION's) keeps its FIRST window; a shorter one is padded by the feature extractor's own rule
        (``repeatpad``: the clip repeated whole as often as it fits, then zeros). The random crops of
        Hugging Face's ``rand_trunc``/``fusion`` truncation never happen (nothing is longer than the window
        when it reaches the extractor), and ``is_longer`` is False for every clip, so a clip's vector does not
        depend on chance or on the other clips of its batch.

    Parameters
    ----------
    model
        A directory holding a ``ClapModel`` and its ``ClapProcessor`` (``save_pretrained``), or a hub id
        already in the local Hugging Face cache (default :data:`DEFAULT_CLAP`).
    device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.
    batch_size
        Default number of clips (or texts) per forward pass.

    Attributes
    ----------
    name, dim, revision
        The model's name, the joint space's dimension, a hash of its files.
    sample_rate : int
        The rate clips are resampled to.
    window_seconds : float
        The model's window.
    logit_scale : float
        The model's learned audio-to-text temperature ``exp(logit_scale_a)``.

    Examples
    --------
    >>> clap = ClapEncoder("laion/clap-htsat-unfused")                          # doctest: +SKIP
    >>> clap.zero_shot(["dog.wav"], ["dog barking", "rain"]).predicted            # doctest: +SKIP
    ['dog barking']
    """

    def __init__(self, model: str | os.PathLike[str] = DEFAULT_CLAP, *, device: str = "auto",
                 batch_size: int = 16) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        hf = _transformers("CLAP encoders")
        import torch

        self.path, self.name = _resolve_model(model, ("config.json",), "CLAP model")
        try:
            model_type = json.loads((self.path / "config.json").read_text("utf-8")).get("model_type")
        except (OSError, ValueError, AttributeError) as e:
            raise ModelNotFoundError(f"{self.path / 'config.json'} is not a readable model config ({e})") from e
        if model_type != "clap":
            raise InvalidInputError(f"{self.path} holds a {model_type!r} model, not CLAP (model_type 'clap')")
        try:
            processor = hf.ClapProcessor.from_pretrained(str(self.path))
            clap = hf.ClapModel.from_pretrained(str(self.path))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelNotFoundError(f"cannot load a CLAP model from {self.path} ({type(e).__name__}: {e}); it needs "
                                     "config.json and the weights (model.save_pretrained(dir)) and the processor "
                                     "(ClapProcessor(...).save_pretrained(dir))") from e
        self.revision = _dir_revision(self.path)
        self.device = resolve_device(device)
        self.model = clap.to(device=self.device, dtype=torch.float32).eval()
        self.feature_extractor: Any = processor.feature_extractor
        self.tokenizer: Any = processor.tokenizer
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.window = int(self.feature_extractor.nb_max_samples)
        self.window_seconds = self.window / self.sample_rate
        self._fusion = bool(getattr(clap.config.audio_config, "enable_fusion", False))
        self.dim = int(clap.config.projection_dim)
        self.batch_size = batch_size
        self._logit_scale = float(clap.logit_scale_a.detach().exp().item())
        limits = [int(clap.config.text_config.max_position_embeddings) - 2]  # RoBERTa positions start at 2
        if isinstance(getattr(self.tokenizer, "model_max_length", None), int):
            limits.append(int(self.tokenizer.model_max_length))
        self.max_length = min(limits)
        self._set_provenance(backend="transformers", sample_rate=self.sample_rate, window=self.window,
                             window_rule="first window; repeatpad")
        self._text_encoder = _TextTower(self)

    @property
    def logit_scale(self) -> float:
        return self._logit_scale

    @property
    def text_encoder(self) -> Encoder:
        """The text side of this model: an Encoder (modality ``"text"``) of the same space."""
        return self._text_encoder

    def features(self, waves: list[npt.NDArray[np.float32]]) -> dict[str, Any]:
        """The model's inputs for waveforms at :attr:`sample_rate`: ``input_features`` and ``is_longer``
        (tensors), by the window rule of the class docstring."""
        import torch

        cut = [fit_window(w, self.window) if len(w) > self.window else w for w in waves]
        feats = self.feature_extractor(cut, sampling_rate=self.sample_rate, return_tensors="pt",
                                       truncation="fusion" if self._fusion else "rand_trunc")
        return {"input_features": feats["input_features"].to(self.device, torch.float32),
                "is_longer": torch.zeros((len(cut), 1), dtype=torch.bool, device=self.device)}

    def _embed_audio(self, waves: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        import torch

        with torch.inference_mode():
            out = _features(self.model.get_audio_features(**self.features(waves)))
        return np.ascontiguousarray(out.float().cpu().numpy(), dtype=np.float32)

    def _encode_texts(self, texts: list[str], *, batch_size: int | None, normalize: bool,
                      progress: bool) -> npt.NDArray[np.float32]:
        import torch

        out = np.empty((len(texts), self.dim), np.float32)
        size = self.batch_size if batch_size is None else batch_size
        for start, batch in batched(texts, size, description=f"encoding {self.name}", unit="texts",
                                    progress=progress):
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
            with torch.inference_mode():
                feats = _features(self.model.get_text_features(input_ids=enc["input_ids"].to(self.device),
                                                               attention_mask=enc["attention_mask"].to(self.device)))
            out[start:start + len(batch)] = feats.float().cpu().numpy()
        return l2_normalize(out) if normalize else out

    def encode_audio(self, clips: AudioItem | Sequence[AudioItem], *, batch_size: int | None = None,
                     normalize: bool = True, progress: bool = True) -> EmbeddingVector:
        """Encode audio clips to a float32 ``(n, dim)`` matrix of this space (one clip: ``(dim,)``); the same
        as :meth:`encode`."""
        return self.encode(clips, batch_size=batch_size, normalize=normalize, progress=progress)

    def encode_text(self, texts: str | Sequence[str], *, batch_size: int | None = None, normalize: bool = True,
                    progress: bool = True) -> EmbeddingVector:
        """Encode texts to a float32 ``(n, dim)`` matrix of the same space as the audio (one text: ``(dim,)``)."""
        return self._text_encoder.encode(texts, batch_size=batch_size, normalize=normalize, progress=progress)

    def zero_shot(self, clips: Sequence[AudioItem], labels: Sequence[str], template: str = "the sound of {}", *,
                  batch_size: int | None = None, progress: bool = True) -> ZeroShotResult:
        """Classify clips among labels: which caption (``template`` with the label) fits best.

        Returns a :class:`~embspace.encoders.ZeroShotResult`: ``softmax(logit_scale * cosine(clip, caption))``
        over the labels, the model's own audio-to-text logits.
        """
        label_list, captions = zero_shot_captions(labels, template)
        aud = self.encode(clips, batch_size=batch_size, normalize=True, progress=progress)
        txt = self.encode_text(captions, batch_size=batch_size, normalize=True, progress=False)
        return zero_shot_result(label_list, aud, txt, self.logit_scale)

    def __repr__(self) -> str:
        return (f"ClapEncoder({self.name!r}, dim={self.dim}, sample_rate={self.sample_rate}, "
                f"window={self.window_seconds:g}s, device={self.device!r})")


def is_clap_dir(path: Path) -> bool:
    """Whether ``path`` holds a Hugging Face ClapModel (``config.json`` with ``model_type`` ``"clap"``)."""
    try:
        return bool(json.loads((path / "config.json").read_text("utf-8")).get("model_type") == "clap")
    except (OSError, ValueError, AttributeError):
        return False
