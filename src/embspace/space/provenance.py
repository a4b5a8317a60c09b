"""Where a space came from, and which coordinate system its vectors live in."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from .._version import __version__

__all__ = ["Provenance", "mixing_error"]

#: Config entries that describe a space without defining its coordinates: left out of :attr:`Provenance.space_id`
#: (``subwords``: a SubwordSpace also embeds unknown words, in the same coordinates).
INFORMATIONAL = frozenset({"subwords"})

#: What :meth:`Provenance.describe` writes after the id of a truncated or projected coordinate system.
TRUNCATED = "(truncated: "


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Provenance:
    """Which model or trainer produced a space, with which config, on which data.

    Two spaces are comparable (a vector of one may query the other) exactly when their
    :attr:`space_id` is equal. The id is derived from ``model`` and ``config``, the things that
    define the coordinate system; ``data_hash``, ``created`` and ``embspace_version`` are
    informational. Learners put their hyperparameters, seed and a run id in ``config`` so that two
    training runs are never mixed; encoders put the model revision and pooling there, so a query
    encoded today is comparable with documents encoded yesterday by the same model.

    Parameters
    ----------
    model
        Id of what produced the vectors, e.g. ``"sentence-transformers/all-MiniLM-L6-v2"``,
        ``"word2vec"``, or ``"unknown"`` (vectors identified by their content).
    config
        JSON-serialisable settings that define the coordinate system.
    data_hash
        Hash of the data the vectors were computed from, when known.
    created
        ISO-8601 creation time (UTC).
    embspace_version
        Version of embspace that produced the space.
    """

    model: str
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)  # a mappingproxy: unhashable
    data_hash: str | None = None
    created: str = field(default_factory=_now)
    embspace_version: str = __version__

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"provenance model must be a non-empty string, got {self.model!r}")
        # Freeze a private copy, and make sure it serialises.
        cfg = json.loads(_canonical(dict(self.config)))
        object.__setattr__(self, "config", MappingProxyType(cfg))

    @property
    def space_id(self) -> str:
        """Identity of the coordinate system: a hash of ``model`` and ``config`` (16 hex digits; the
        :data:`INFORMATIONAL` entries of ``config`` left out)."""
        config = {k: v for k, v in self.config.items() if k not in INFORMATIONAL}
        raw = _canonical({"model": self.model, "config": config})
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    @property
    def truncation(self) -> str | None:
        """How the vectors were cut down, when they were: ``"first 128 of 384 dimensions"`` (an encoder's
        ``dim=``, config ``truncate_dim``/``full_dim``), ``"PCA to 128 of 384 dimensions"`` (a
        ``pca-truncate`` fix); None for full vectors."""
        cfg = self.config
        fix = cfg.get("fix")
        if isinstance(fix, Mapping) and fix.get("kind") == "pca-truncate":
            return f"PCA to {fix.get('dim')} of {fix.get('full_dim')} dimensions"
        if cfg.get("truncate_dim") is not None:
            return f"first {cfg.get('truncate_dim')} of {cfg.get('full_dim')} dimensions"
        return None

    def describe(self) -> str:
        """A short human-readable name, used in error messages (with the truncation, when there is one)."""
        cut = self.truncation
        return f"{self.model} [{self.space_id}]" + ("" if cut is None else f" {TRUNCATED}{cut})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "config": dict(self.config),
            "data_hash": self.data_hash,
            "created": self.created,
            "embspace_version": self.embspace_version,
            "space_id": self.space_id,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provenance:
        return cls(
            model=str(d["model"]),
            config=dict(d.get("config") or {}),
            data_hash=d.get("data_hash"),
            created=str(d.get("created") or _now()),
            embspace_version=str(d.get("embspace_version") or __version__),
        )

    @classmethod
    def from_content(cls, model: str, content_hash: str, **config: Any) -> Provenance:
        """Provenance for vectors of unknown origin, identified by a hash of their content."""
        return cls(model=model, config={**config, "content_sha256": content_hash}, data_hash=content_hash)


def mixing_error(a: str | None, b: str | None) -> str:
    """Why vectors of the spaces described ``a`` and ``b`` (:meth:`Provenance.describe`) do not mix, and what to do."""
    if TRUNCATED in (a or "") or TRUNCATED in (b or ""):
        return ("truncated and full vectors, or vectors truncated differently (first-k against PCA, or to "
                "another size), never mix, even when their dimensions happen to match; encode both with the same "
                "dim= (and map queries into a PCA-truncated space with its transform)")
    return "they come from different models, so their coordinates are not comparable"
