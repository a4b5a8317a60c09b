"""The layer report's HTML page in a real browser (Playwright driving Debian's Chromium, headless, offline):
the page renders, both figures (the per-layer curves, the CKA heat map) decode, and nothing is fetched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import layers

pytest.importorskip("matplotlib")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver", allow_module_level=True)


def test_layer_report_renders_in_a_browser(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    keys = [f"k{i}" for i in range(40)]
    base = rng.standard_normal((40, 8)).astype(np.float32)
    spaces = {i: EmbeddingSpace(keys, base + i * rng.standard_normal((40, 8)).astype(np.float32)) for i in range(4)}
    page_path = layers(spaces, labels=[0, 1] * 20, progress=False).save(tmp_path / "layers.html")
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            assert page.locator("h1").inner_text().startswith("Layers of")
            assert page.locator("h2", has_text="Linear CKA between layers").count() == 1
            sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
            assert len(sizes) == 2 and all(done and width > 100 for done, width in sizes), sizes
            assert page.locator("table tr").count() == 1 + 4  # the heading and one row per layer
            assert not errors
        finally:
            browser.close()
    assert all(u.startswith(("file:", "data:")) for u in requests), requests  # self-contained: nothing fetched
