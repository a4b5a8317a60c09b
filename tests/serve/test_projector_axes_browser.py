"""The web projector on two concept axes (issue 27): Playwright driving Debian's Chromium (headless) against a live
server. A word space is switched from its map to x = "man, he -> woman, she" and y = "poor -> rich": the points'
screen order along each axis is their projection order (``space.project(direction)``), the axes are labelled,
and hover, click (neighbours from the index), search and colouring still work; back to the map restores it.
Screenshots go to tests/artifacts/ and are checked not blank.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projector_testing import CHROMIUM, FLAGS, live_server, not_blank

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
READY = "window.__projector && (window.__projector.ready || window.__projector.errors.length > 0)"
MEN, WOMEN = ["man", "he", "him", "king", "boy"], ["woman", "she", "her", "queen", "girl"]
POOR, RICH = ["poor", "beggar", "poverty"], ["rich", "wealthy", "millionaire"]


def concept_space() -> Any:
    """Words on a gender axis (dimension 0) and a wealth axis (dimension 1), plus 400 random words."""
    from embspace import EmbeddingSpace

    rng = np.random.default_rng(0)
    dim = 16
    vecs: dict[str, np.ndarray] = {}
    for words, axis, sign in ((MEN, 0, -1), (WOMEN, 0, 1), (POOR, 1, -1), (RICH, 1, 1)):
        for w in words:
            v = 0.3 * rng.normal(size=dim)
            v[axis] = sign * (2.0 + rng.random())
            vecs[w] = v.astype(np.float32)
    for i in range(400):
        vecs[f"w{i}"] = rng.normal(size=dim).astype(np.float32)
    return EmbeddingSpace.from_dict(vecs)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from embspace.serve import Resources
    from embspace.serve.app import create_app

    data = tmp_path_factory.mktemp("axes") / "data"
    data.mkdir()
    space = concept_space()
    space.save(data / "words")  # no saved map: a PCA map computed on use
    resources = Resources(data)
    with live_server(create_app(resources)) as url:
        yield {"url": url, "space": space}
    resources.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def screen(page: Any, row: int) -> tuple[float, float]:
    x, y = page.evaluate(f"window.__projector.screen({row})")
    return float(x), float(y)


def set_axes(page: Any, x: tuple[str, str], y: tuple[str, str], method: str = "mean") -> None:
    page.fill("#axis-x-neg", x[0])
    page.fill("#axis-x-pos", x[1])
    page.fill("#axis-y-neg", y[0])
    page.fill("#axis-y-pos", y[1])
    page.select_option("#axes-method", method)
    page.click("#axes-go")


def test_a_space_on_two_concept_axes(world: dict[str, Any], browser: Any) -> None:
    from embspace.analysis import direction

    space = world["space"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{world['url']}/projector/?space=words&colour=none")
    page.wait_for_function(READY, timeout=60_000)
    assert page.evaluate("window.__projector.ready"), page.evaluate("window.__projector.errors")
    n = page.evaluate("window.__projector.n")
    assert n == len(space)
    keys = page.evaluate(f"fetch('/maps/space/words/keys', {{method: 'POST', headers: {{'Content-Type': "
                         f"'application/json'}}, body: JSON.stringify({{rows: [...Array({n}).keys()]}})}})"
                         ".then((r) => r.json())")
    rows = {k: i for i, k in enumerate(keys)}
    on_map = {r: screen(page, r) for r in range(0, n, 7)}

    set_axes(page, ("man, he, him", "woman, she, her"), ("poor, beggar", "rich, wealthy"))
    page.wait_for_function("window.__projector.axes !== null", timeout=30_000)
    axes = page.evaluate("window.__projector.axes")
    assert axes["x"]["low"] == "man, he, ..." and axes["x"]["high"] == "woman, she, ..."
    assert axes["y"]["high"] == "rich, wealthy" and axes["x"]["reliability"] == 1.0
    dx = direction(space, ["woman", "she", "her"], ["man", "he", "him"])
    dy = direction(space, ["rich", "wealthy"], ["poor", "beggar"])
    px, py = space.project(dx), space.project(dy)
    sample = [rows[k] for k in [*MEN, *WOMEN, *POOR, *RICH]] + list(range(0, n, 11))
    pos = {r: screen(page, r) for r in sample}
    proj = {r: (float(px[space.keys.index(keys[r])]), float(py[space.keys.index(keys[r])])) for r in sample}
    # screen x grows with the projection on x, screen y (downwards) falls with the projection on y: every pair
    # whose projections differ visibly (more than float32 rounding of the server's sums) is in order
    for a in sample:
        for b in sample:
            if proj[a][0] > proj[b][0] + 1e-4:
                assert pos[a][0] > pos[b][0], (keys[a], keys[b])
            if proj[a][1] > proj[b][1] + 1e-4:
                assert pos[a][1] < pos[b][1], (keys[a], keys[b])
    assert max(pos[rows[w]][0] for w in MEN) < min(pos[rows[w]][0] for w in WOMEN)  # men left, women right
    assert max(pos[rows[w]][1] for w in RICH) < min(pos[rows[w]][1] for w in POOR)  # rich above the poor
    info = page.inner_text("#axes-info")
    assert "man, he, ... -> woman, she, ..." in info and "held-out accuracy 1.00" in info
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(200)
    page.screenshot(path=ARTIFACTS / "projector-axes.png")
    not_blank(ARTIFACTS / "projector-axes.png")

    # hover and click still answer from the index, on the new positions
    row = rows["queen"]
    x, y = screen(page, row)
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=4)
    page.wait_for_function(f"document.getElementById('tooltip').dataset.row === '{row}' && "
                           "!document.getElementById('tooltip').hidden", timeout=10_000)
    assert page.inner_text("#tooltip .key") == "queen"
    page.mouse.click(x, y)
    page.wait_for_function(f"document.getElementById('details').dataset.row === '{row}' && "
                           "document.querySelectorAll('#neighbors li').length === 10", timeout=10_000)
    assert page.locator("#neighbors li .key").all_inner_texts() == list(space.neighbors("queen", k=10).keys)
    page.keyboard.press("Escape")
    # search and colouring too
    page.fill("#search", "rich")
    page.click("#search-go")
    page.wait_for_function("window.__projector.flights === 1", timeout=10_000)
    assert page.locator("#search-results li .key").first.inner_text() == "rich"
    page.select_option("#color-by", "cluster")
    page.wait_for_function("document.getElementById('legend').dataset.field === 'cluster'", timeout=60_000)
    page.wait_for_timeout(600)
    page.screenshot(path=ARTIFACTS / "projector-axes-coloured.png")
    not_blank(ARTIFACTS / "projector-axes-coloured.png")

    # an unknown word: a clear message, the axes kept
    set_axes(page, ("man", "womman"), ("poor", "rich"))
    page.wait_for_function("document.getElementById('status').classList.contains('error')", timeout=10_000)
    assert "womman" in page.inner_text("#status") and "'woman'" in page.inner_text("#status")
    assert page.evaluate("window.__projector.axes") is not None

    # back to the map: the map's own positions again
    page.click("#axes-map")
    page.wait_for_function("window.__projector.axes === null", timeout=10_000)
    for r, (mx, my) in on_map.items():
        sx, sy = screen(page, r)
        assert abs(sx - mx) < 0.01 and abs(sy - my) < 0.01
    assert not errors, errors
    page.close()


def test_the_page_opens_on_the_axes_of_its_address(world: dict[str, Any], browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{world['url']}/projector/?space=words&x=man,he%3Ewoman,she&y=poor%3Erich&method=pca")
    page.wait_for_function(READY, timeout=60_000)
    axes = page.evaluate("window.__projector.axes")
    assert axes["x"]["name"] == "man, he -> woman, she" and axes["x"]["method"] == "pca"
    assert axes["y"]["low"] == "poor" and page.input_value("#axis-x-pos") == "woman,she"
    page.close()
