"""Progress display for training (shared with encoding: see embspace._progress)."""

from .._progress import TrainingProgress, format_rate

__all__ = ["TrainingProgress", "format_rate"]
