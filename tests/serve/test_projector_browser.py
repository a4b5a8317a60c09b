"""The web projector in a real browser: Playwright driving Debian's Chromium (headless) against a live server.

Every feature is exercised: the map loads, hover shows the key/text, click shows the nearest neighbours from
the index (and lines to them), the search box (free text through the encoder, or a key) highlights and flies to
the results, colouring by cluster, by a metadata field and by an evaluation error (and the colouring the map
opens with), hits drawn in a colour no legend uses, lasso selection exported as ids, the analogy panel and the
geometry summary (formatted figures, not JSON). Screenshots go to tests/artifacts/ and are checked not blank.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projector_testing import CHROMIUM, FLAGS, labelled_space_with_map, live_server, not_blank, round_trips

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
READY = "window.__projector && (window.__projector.ready || window.__projector.errors.length > 0)"
TOPICS = ["cats", "finance", "rivers"]
NOTES = {
    "cats": ["the cat sat on the mat", "a kitten chased the cat", "cats purr when they are happy",
             "my cat sleeps all day", "the cat drank the milk"],
    "finance": ["money in the bank account", "the bank raised interest rates", "a loan from the bank",
                "savings earn interest", "the stock market fell"],
    "rivers": ["the river bank was muddy", "boats sail down the river", "the river flows to the sea",
               "fish swim in the river", "a bridge over the river"],
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from serve_testing import tiny_encoder

    from embspace.serve import Resources
    from embspace.serve.app import create_app
    from embspace.store import Collection

    root = tmp_path_factory.mktemp("projector")
    data = root / "data"
    data.mkdir()
    space = labelled_space_with_map(data / "blobs", n=2000, dim=16, k=8)
    enc = tiny_encoder(root)
    with Collection.create(data / "notes", encoder=str(enc)) as col:  # no saved map: a PCA map computed on use
        keys, texts, meta = [], [], []
        for topic in TOPICS:
            for i, t in enumerate(NOTES[topic]):
                keys.append(f"{topic}-{i}")
                texts.append(t)
                meta.append({"topic": topic, "text": t, "year": 2000 + i})
        col.add(keys, texts, meta)
    with Collection.create(data / "demo-docs", dim=8) as col:  # the demo's passages and metadata, random vectors
        from embspace.data import python_help_passages

        passages = python_help_passages(400)
        # plus `author`, one value per passage (like a folder's paths), named to sort first: too many values
        # to colour by, so the map opens coloured by `chapter` still
        col.add([p["key"] for p in passages], np.random.default_rng(0).normal(size=(len(passages), 8)),
                [{**{k: v for k, v in p.items() if k != "key"}, "author": f"writer {i}"}
                 for i, p in enumerate(passages)])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_hf_bert

    from embspace.analysis import project
    from embspace.analysis.maps import map_path
    from embspace.encoders import token_space

    tokens = token_space(build_hf_bert(root / "bert"), device="cpu")  # a transformer's input embedding table
    tokens.save(data / "tokens")
    project(tokens, "pca").save(map_path(data / "tokens", "default"))
    resources = Resources(data, encoder=str(enc))
    with live_server(create_app(resources)) as url:
        yield {"url": url, "space": space, "resources": resources, "data": data, "tokens": tokens}
    resources.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def open_page(browser: Any, url: str, query: str, *, timeout: float = 60_000) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/projector/?{query}")
    page.wait_for_function(READY, timeout=timeout)
    metrics = page.evaluate("({...window.__projector, screen: undefined})")
    assert metrics["ready"], metrics["errors"]
    assert not errors, errors
    return page


def screen(page: Any, row: int) -> tuple[float, float]:
    x, y = page.evaluate(f"window.__projector.screen({row})")
    return float(x), float(y)


def visible_row(page: Any, rows: Any) -> int:
    """A row drawn inside the canvas (away from its edges) with no other point within 3 pixels."""
    box = page.locator("#canvas").bounding_box()
    pos = {int(r): screen(page, int(r)) for r in rows}
    for r, (x, y) in pos.items():
        inside = box["x"] + 40 < x < box["x"] + box["width"] - 40 and box["y"] + 40 < y < box["y"] + box["height"] - 40
        if inside and all(abs(x - a) + abs(y - b) > 6 for s, (a, b) in pos.items() if s != r):
            return r
    raise AssertionError("no isolated visible point")


def hover(page: Any, row: int) -> str:
    x, y = screen(page, row)
    page.mouse.move(x - 30, y - 30)
    page.mouse.move(x, y, steps=4)
    page.wait_for_function(f"document.getElementById('tooltip').dataset.row === '{row}' && "
                           "!document.getElementById('tooltip').hidden", timeout=10_000)
    text: str = page.inner_text("#tooltip .key")
    return text


def test_hover_and_click_show_the_point_and_its_neighbours_from_the_index(world: dict[str, Any],
                                                                          browser: Any) -> None:
    page = open_page(browser, world["url"], "space=blobs")
    space = world["space"]
    assert page.evaluate("window.__projector.n") == len(space)
    row = visible_row(page, np.random.default_rng(0).choice(len(space), 200, replace=False))
    key = space.keys[row]
    assert hover(page, row) == key  # the map's rows are the saved map's keys
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "projector-hover.png")
    x, y = screen(page, row)
    page.mouse.click(x, y)
    page.wait_for_function(f"document.getElementById('details').dataset.row === '{row}' && "
                           "document.querySelectorAll('#neighbors li').length === 10", timeout=10_000)
    shown = page.locator("#neighbors li .key").all_inner_texts()
    expected = list(space.neighbors(key, k=10).keys)  # exact search: the index, not the 2-D map
    assert shown == expected
    assert page.evaluate("window.__projector.lines") == 10  # a line to each neighbour
    assert page.evaluate("window.__projector.highlighted") == 11
    assert page.inner_text("#details .key") == key
    page.screenshot(path=ARTIFACTS / "projector-click.png")
    not_blank(ARTIFACTS / "projector-hover.png")
    not_blank(ARTIFACTS / "projector-click.png")
    page.close()


def test_search_by_text_through_the_encoder_and_by_key(world: dict[str, Any], browser: Any) -> None:
    page = open_page(browser, world["url"], "collection=notes")
    col = world["resources"].get("collection", "notes").obj
    page.fill("#search", "money and interest")
    page.click("#search-go")
    page.wait_for_function("document.querySelectorAll('#search-results li').length === 10", timeout=10_000)
    got = page.locator("#search-results li .key").all_inner_texts()
    assert got == list(col.search("money and interest", k=10).keys)
    assert page.evaluate("window.__projector.highlighted") == 10
    assert page.evaluate("window.__projector.flights") == 1  # the camera flew to the results
    assert "encoded text" in page.inner_text("#status")
    page.wait_for_timeout(600)  # the flight's transition
    page.screenshot(path=ARTIFACTS / "projector-search.png")
    not_blank(ARTIFACTS / "projector-search.png")
    page.fill("#search", "rivers-2")  # a key finds itself first, then its neighbours
    page.click("#search-go")
    page.wait_for_function("window.__projector.flights === 2", timeout=10_000)
    first = page.locator("#search-results li .key").first.inner_text()
    assert first == "rivers-2" and "a key" in page.inner_text("#status")
    page.fill("#search", "no such key")  # on a space without an encoder: a clear message, no crash
    page.close()
    page = open_page(browser, world["url"], "space=blobs")
    page.fill("#search", "no such key")
    page.click("#search-go")
    page.wait_for_function("document.getElementById('status').classList.contains('error')", timeout=10_000)
    assert "not a key of this map" in page.inner_text("#status")
    page.close()


def test_a_token_space_is_shown_and_searched_like_any_space(world: dict[str, Any], browser: Any) -> None:
    """encoders.token_space(model) (issue 26): the word pieces are the map's points and a token's neighbours in
    the embedding table are the search results."""
    tokens = world["tokens"]
    page = open_page(browser, world["url"], "space=tokens")
    assert page.evaluate("window.__projector.n") == len(tokens)
    page.fill("#search", "cat")
    page.click("#search-go")
    page.wait_for_function("window.__projector.flights === 1", timeout=10_000)
    got = page.locator("#search-results li .key").all_inner_texts()
    assert got[0] == "cat" and "a key" in page.inner_text("#status")
    assert got[1:] == list(tokens.neighbors("cat", k=len(got) - 1).keys)  # exact search over the table
    page.screenshot(path=ARTIFACTS / "projector-tokens.png")
    not_blank(ARTIFACTS / "projector-tokens.png")
    page.close()


@pytest.mark.parametrize(("query", "field", "kind"), [("space=blobs", "cluster", "categorical"),
                                                      ("collection=notes", "topic", "categorical"),
                                                      ("space=blobs", "knn_error", "numeric")])
def test_colour_by_cluster_metadata_field_and_evaluation_error(world: dict[str, Any], browser: Any, query: str,
                                                               field: str, kind: str) -> None:
    page = open_page(browser, world["url"], f"{query}&colour=none")  # plain first: what colouring changes
    assert page.evaluate("document.getElementById('legend').dataset.field") is None
    before = ARTIFACTS / f"projector-colour-{field}-before.png"
    page.screenshot(path=before)
    page.select_option("#color-by", field)
    page.wait_for_function(f"document.getElementById('legend').dataset.field === '{field}'", timeout=60_000)
    if kind == "categorical":
        items = page.locator("#legend .item").all_inner_texts()
        expected = {"cluster": [f"cluster {i}" for i in range(12)], "topic": TOPICS}[field]
        assert sorted(items) == sorted(expected)
    else:
        assert page.locator("#legend .ramp").count() == 1
        lo, hi = (float(v) for v in page.inner_text("#legend .item").split(" … "))
        assert 0 <= lo < hi <= 1  # errors vary over the map
    page.wait_for_timeout(300)
    shot = ARTIFACTS / f"projector-colour-{field}.png"
    page.screenshot(path=shot)
    not_blank(shot)
    from PIL import Image

    canvas = page.locator("#canvas").bounding_box()
    crop = (int(canvas["x"]), int(canvas["y"]), int(canvas["x"] + canvas["width"]), int(canvas["y"] + canvas["height"]))
    a = np.asarray(Image.open(before).convert("RGB").crop(crop), np.int16)
    b = np.asarray(Image.open(shot).convert("RGB").crop(crop), np.int16)
    assert np.abs(a - b).sum(axis=2).astype(bool).mean() > 0.001, "colouring changed nothing on the map"
    hues = {tuple(p) for p in b.reshape(-1, 3)[np.abs(b.reshape(-1, 3) - b.reshape(-1, 3).mean(1, keepdims=True))
                                                     .sum(1) > 60] // 32}
    assert len(hues) >= 3, "the map is not in several colours"
    page.close()


@pytest.mark.parametrize(("query", "field"), [("space=blobs", "label"), ("collection=notes", "topic"),
                                            ("collection=demo-docs", "chapter"),
                                            ("collection=notes&colour=year", "year"),
                                            ("collection=notes&colour=none", None)])
def test_the_map_opens_coloured_by_its_first_categorical_field(world: dict[str, Any], browser: Any, query: str,
                                                               field: str | None) -> None:
    """A space with a saved map opens coloured by its first field (`label`, before `knn_error`, a scale, and
    `cluster`, computed on request); a collection by its first categorical metadata field (`topic`); the
    demo's passages (metadata chapter, section, title, topic, text) by `chapter`, as the README shows them
    (not by `author`, first by name but with a value per point);
    the page's ?colour= picks another field or none."""
    page = open_page(browser, world["url"], query)
    assert page.evaluate("document.getElementById('legend').dataset.field") == field
    assert page.input_value("#color-by") == (field or "")
    if field == "topic":
        assert sorted(page.locator("#legend .item").all_inner_texts()) == TOPICS
        assert "coloured by topic" in page.inner_text("#status")
    if field == "label":
        assert len(page.locator("#legend .item").all_inner_texts()) == 8
    if field == "chapter":
        from embspace.data import python_help_passages

        chapters = sorted({p["chapter"] for p in python_help_passages(400)})
        assert sorted(page.locator("#legend .item").all_inner_texts()) == chapters and len(chapters) > 2
    page.close()


def _rgb(css: str) -> tuple[int, ...]:
    """(r, g, b) of a CSS colour as the browser reports it ("rgb(1, 2, 3)") or a "#rrggbb"."""
    if css.startswith("#"):
        return tuple(int(css[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(v) for v in re.findall(r"\d+", css)[:3])


@pytest.mark.parametrize("query", ["collection=notes", "space=blobs"])
def test_search_hits_are_drawn_in_a_colour_no_legend_uses(world: dict[str, Any], browser: Any, query: str) -> None:
    """Hits are drawn in the reserved mark colour: read back from the map's overlay where a hit is, it is at
    RGB distance >= 100 from every legend swatch, from every categorical colour and from every step of the
    numeric ramp."""
    page = open_page(browser, world["url"], query)
    assert page.evaluate("document.getElementById('legend').dataset.field")  # opened coloured
    colours = page.evaluate("window.__projector.colours")
    mark = _rgb(colours["mark"])
    swatches = [_rgb(c) for c in page.evaluate(
        "[...document.querySelectorAll('#legend .swatch')].map((e) => getComputedStyle(e).backgroundColor)")]
    assert swatches
    for c in [*swatches, *map(_rgb, colours["categorical"]), *map(_rgb, colours["ramp"])]:
        assert math.dist(c, mark) >= 100, (c, mark)
    page.fill("#search", "money and interest" if "notes" in query else world["space"].keys[0])
    page.click("#search-go")
    page.wait_for_function("document.querySelectorAll('#search-results li').length === 10", timeout=10_000)
    page.wait_for_timeout(700)  # the flight to the results
    rows = [int(r) for r in page.locator("#search-results li").evaluate_all("(li) => li.map((e) => e.dataset.row)")]
    drawn = page.evaluate("""(rows) => {
        const overlay = document.getElementById('overlay'); const box = overlay.getBoundingClientRect();
        const ctx = overlay.getContext('2d'); const dpr = window.devicePixelRatio || 1;
        return rows.filter((r) => r >= 0).map((r) => {
          const [x, y] = window.__projector.screen(r);
          const px = Math.round((x - box.left) * dpr); const py = Math.round((y - box.top) * dpr);
          return Array.from(ctx.getImageData(px, py, 1, 1).data);
        });
      }""", rows)
    assert drawn and all(tuple(p[:3]) == mark and p[3] == 255 for p in drawn), (drawn, mark)
    page.close()


def test_lasso_selection_exports_ids(world: dict[str, Any], browser: Any) -> None:
    page = open_page(browser, world["url"], "space=blobs")
    space = world["space"]
    box = page.locator("#canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.click("#lasso-mode")
    r = min(box["width"], box["height"]) * 0.3
    page.mouse.move(cx - r, cy - r)
    page.mouse.down()
    for px, py in [(cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r), (cx - r, cy - r)]:
        page.mouse.move(px, py, steps=12)
    page.mouse.up()
    page.wait_for_function("!document.getElementById('export').disabled", timeout=10_000)
    count = int(page.inner_text("#selection-count").split()[0].replace(",", ""))
    assert 0 < count < len(space)
    with page.expect_download() as dl:
        page.click("#export")
    path = Path(dl.value.path())
    keys = path.read_text(encoding="utf-8").split()
    assert len(keys) == count and set(keys) <= set(space.keys)
    inside = 0  # the exported points are the ones drawn inside the lasso
    for k in keys[:50]:
        x, y = screen(page, list(space.keys).index(k))
        inside += abs(x - cx) <= r + 3 and abs(y - cy) <= r + 3
    assert inside == min(50, len(keys))
    page.screenshot(path=ARTIFACTS / "projector-lasso.png")
    not_blank(ARTIFACTS / "projector-lasso.png")
    page.click("#clear-selection")
    page.wait_for_function("document.getElementById('export').disabled", timeout=10_000)
    page.close()


def test_analogy_panel_and_geometry_summary(world: dict[str, Any], browser: Any) -> None:
    page = open_page(browser, world["url"], "space=blobs")
    space = world["space"]
    a, b, c = space.keys[0], space.keys[1], space.keys[2]
    page.fill("#analogy-a", a)
    page.fill("#analogy-b", b)
    page.fill("#analogy-c", c)
    page.click("#analogy-go")
    page.wait_for_function("document.querySelectorAll('#analogy-results li').length === 10", timeout=10_000)
    got = page.locator("#analogy-results li .key").all_inner_texts()
    assert got == list(space.analogy(b, a, c, k=10).keys)  # a − b + c
    page.click("#summary-go")
    page.wait_for_function("document.querySelectorAll('#summary tr').length > 3", timeout=60_000)
    rows = dict(t.split("\t", 1) for t in page.locator("#summary tr.figure").all_inner_texts())
    assert rows["points"] == f"{len(space):,}" and rows["dimensions"] == "16" and rows["metric"] == "cosine"
    panel = page.inner_text("#summary")
    assert not {"{", "}", "[", "]", '":'} & set(panel) and '":' not in panel, panel  # figures, not raw JSON
    sections = page.locator("#summary tr.section").all_inner_texts()
    assert [t.split()[0] for t in sections] == ["Space", "Norms", "Anisotropy", "Intrinsic", "Hubness"]
    assert "raw vectors" in sections[1] and "unit vectors" in sections[2]  # what each measure used
    assert "unit vectors" in sections[3] and "unit vectors" in sections[4]  # a cosine space: the unit vectors
    summary = world["resources"].get("space", "blobs").cache.get("summary")  # what the page was sent
    assert summary is not None
    twonn = summary.intrinsic_dimension["twonn"]
    assert rows["TwoNN"] == f"{float(f'{twonn:.3g}'):g} dimensions"  # rounded to 3 significant digits, a unit
    assert rows["variance in the 1st component"] == f"{100 * summary.anisotropy['top1_variance']:.1f} %"
    assert rows["measured on"] == f"{len(space):,} points"
    assert all(not re.search(r"\d{5}", v.replace(",", "")) or v == rows["points"] for v in rows.values()), rows
    page.screenshot(path=ARTIFACTS / "projector-analogy-summary.png")
    not_blank(ARTIFACTS / "projector-analogy-summary.png")
    page.close()


def test_api_key_server_serves_the_page_and_asks_for_the_key(tmp_path: Path, browser: Any,
                                                            world: dict[str, Any]) -> None:
    from embspace.serve.app import create_app

    key = "k" * 24
    with live_server(create_app(world["resources"], api_key=key)) as url:
        page = browser.new_page()
        page.goto(f"{url}/projector/#key={key}")  # the key travels in the fragment, never to the server's logs
        page.wait_for_function(READY, timeout=60_000)
        assert page.evaluate("window.__projector.ready")
        assert "#key" not in page.url
        page.close()


def test_a_million_points_stay_interactive(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> None:
    """1,000,000 points: the page loads, and hover and click round trips (pointer event to the painted answer)
    are measured and written to tests/artifacts/projector-1m.json."""
    from embspace.serve import Resources
    from embspace.serve.app import create_app

    data = tmp_path_factory.mktemp("million") / "data"
    data.mkdir()
    space = labelled_space_with_map(data / "million", n=1_000_000, dim=8, k=20, error_field=False,
                                    spread=0.3)
    resources = Resources(data)
    with live_server(create_app(resources)) as url:
        page = open_page(browser, url, "space=million", timeout=300_000)
        assert page.evaluate("window.__projector.n") == 1_000_000
        result = round_trips(page, len(space), rounds=8, shot=ARTIFACTS / "projector-1m-click.png")
        page.select_option("#color-by", "label")
        page.wait_for_function("document.getElementById('legend').dataset.field === 'label'", timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=ARTIFACTS / "projector-1m.png")
        not_blank(ARTIFACTS / "projector-1m.png")
        not_blank(ARTIFACTS / "projector-1m-click.png")
        page.close()
    resources.close()
    (ARTIFACTS / "projector-1m.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(json.dumps(result))
    assert len(result["click_ms"]) == 8 and len(result["hover_ms"]) >= 8
