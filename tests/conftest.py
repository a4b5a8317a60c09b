"""Session-wide test settings."""

from __future__ import annotations

import os
import tempfile

# Derived artifacts (exported ONNX graphs, encoding caches) go to a throw-away folder, never ~/.cache.
os.environ.setdefault("EMBSPACE_CACHE", tempfile.mkdtemp(prefix="embspace-test-cache-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# What the demo saves and `embspace serve` serves by default goes there too, never ~/.local/share.
os.environ.setdefault("EMBSPACE_DATA", tempfile.mkdtemp(prefix="embspace-test-data-"))
