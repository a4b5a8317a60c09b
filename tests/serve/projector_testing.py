"""Data and a live server for the web projector's browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def blobs(n: int, dim: int, k: int, *, seed: int = 0, spread: float = 1.1) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 points around ``k`` random centres, and each point's centre (its label)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)).astype(np.float32)
    labels = rng.integers(0, k, n)
    x = centres[labels] + spread * rng.normal(size=(n, dim)).astype(np.float32)
    return np.ascontiguousarray(x, np.float32), labels


def labelled_space_with_map(path: Path, n: int = 2000, dim: int = 16, k: int = 8, *, error_field: bool = True,
                            spread: float = 1.1) -> Any:
    """A space of ``n`` labelled points saved at ``path``, with a saved map carrying the fields ``label``
    and (when ``error_field``) ``knn_error`` (:func:`embspace.evaluate.knn_label_errors`)."""
    from embspace import EmbeddingSpace
    from embspace.analysis import project
    from embspace.analysis.maps import map_path
    from embspace.evaluate import knn_label_errors

    x, labels = blobs(n, dim, k, spread=spread)
    names = np.asarray([f"topic{c}" for c in range(k)])[labels]
    space = EmbeddingSpace([f"{names[i]}-{i}" for i in range(n)], x, metric="cosine")
    space.save(path)
    proj = project(space, "pca", 2, sample=50_000)
    if len(proj.keys) != n:
        from embspace.analysis.maps import SpaceMap

        proj = SpaceMap("pca", 2, dim, list(space.keys), proj.transform(x), proj.state)
    proj.add_field("label", names)
    if error_field:
        proj.add_field("knn_error", knn_label_errors(space, names, k=10))
    proj.save(map_path(path, "default"))
    return space


def not_blank(path: Path) -> dict[str, float]:
    """Fail unless the screenshot shows something: many colours and real contrast."""
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"), np.float32)
    colours = len(np.unique(img.reshape(-1, 3).astype(np.uint8), axis=0))
    stats = {"colours": float(colours), "std": float(img.std())}
    assert colours > 50 and img.std() > 5, f"{path.name} looks blank: {stats}"
    return stats


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def round_trips(page: Any, n: int, *, rounds: int = 8, seed: int = 1, shot: Path | None = None) -> dict[str, Any]:
    """Hover then click ``rounds`` random points of a loaded projector page showing ``n`` points; the page's
    own measures (pointer event to the painted answer, ms) of those rounds, and its load time (s)."""
    rng = np.random.default_rng(seed)
    before = page.evaluate("({h: window.__projector.hoverMs.length, c: window.__projector.clickMs.length})")
    for i in range(rounds):
        x, y = page.evaluate(f"window.__projector.screen({int(rng.integers(n))})")  # the nearest point answers
        n_hover = len(page.evaluate("window.__projector.hoverMs"))
        page.mouse.move(x - 25, y - 25)
        page.mouse.move(x, y, steps=3)
        page.wait_for_function(f"window.__projector.hoverMs.length > {n_hover}", timeout=30_000)
        n_click = len(page.evaluate("window.__projector.clickMs"))
        page.mouse.click(x, y)
        page.wait_for_function(f"window.__projector.clickMs.length > {n_click}", timeout=30_000)
        if i == 0 and shot is not None:
            page.screenshot(path=shot)
        page.keyboard.press("Escape")
    m = page.evaluate("({loadMs: window.__projector.loadMs, hoverMs: window.__projector.hoverMs, "
                      "clickMs: window.__projector.clickMs})")
    hover, click = m["hoverMs"][before["h"]:], m["clickMs"][before["c"]:]
    return {"points": n, "load_s": m["loadMs"] / 1000, "hover_ms": hover, "click_ms": click,
            "hover_median_ms": float(np.median(hover)), "click_median_ms": float(np.median(click)),
            "hover_max_ms": float(np.max(hover)), "click_max_ms": float(np.max(click))}


__all__ = ["CHROMIUM", "FLAGS", "blobs", "free_port", "labelled_space_with_map", "live_server", "not_blank",
           "round_trips"]
