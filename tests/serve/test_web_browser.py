"""The API docs and CORS in a real browser: Playwright driving Debian's Chromium (headless) against live servers.

The docs pages are loaded with every request to anything but 127.0.0.1 refused (as on a machine without
internet): Swagger UI and ReDoc must render from the server's own files. A page served on another port calls
the API with ``fetch``: the browser lets it through only when the server names that origin (CORS).
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from projector_testing import CHROMIUM, FLAGS, live_server

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
KEY = "k" * 8 + "-secret-key-0123456789"


def not_blank(path: Path) -> None:
    """Fail unless the screenshot shows something: several colours and real contrast."""
    from PIL import Image

    img = np.asarray(Image.open(path).convert("RGB"), np.float32)
    colours = len(np.unique(img.reshape(-1, 3).astype(np.uint8), axis=0))
    assert colours > 20 and img.std() > 5, f"{path.name} looks blank: {colours} colours, std {img.std():.1f}"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from embspace.store import Collection

    root = tmp_path_factory.mktemp("web") / "data"
    with Collection.create(root / "vecs", dim=4) as col:
        col.add(["a", "b"], np.eye(4, dtype=np.float32)[:2], [{"n": 1}, {"n": 2}])
    return root


@pytest.fixture()
def serve(data: Path) -> Iterator[Any]:
    """Start a live API server over ``data`` with create_app's options; yields a function giving its URL."""
    from contextlib import ExitStack

    from embspace.serve import Resources, create_app

    with ExitStack() as stack:
        def start(**options: Any) -> str:
            resources = Resources(data)
            stack.callback(resources.close)
            url: str = stack.enter_context(live_server(create_app(resources, **options)))
            return url

        yield start


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield b
        b.close()


def offline_page(browser: Any) -> tuple[Any, list[str], list[str]]:
    """A page that may reach 127.0.0.1 only (every other request is aborted and listed), and its errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    errors: list[str] = []

    def gate(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", gate)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, blocked, errors


def test_swagger_ui_renders_offline(serve: Any, browser: Any) -> None:
    url = serve()
    page, blocked, errors = offline_page(browser)
    page.goto(f"{url}/docs")
    page.wait_for_selector("#swagger-ui .swagger-ui .opblock", timeout=60_000)  # the operations are drawn
    assert "embspace" in page.inner_text("#swagger-ui .information-container .title")
    assert page.locator("#swagger-ui .opblock").count() >= 20
    assert page.locator("#docs-error").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "docs-swagger-ui.png")
    not_blank(ARTIFACTS / "docs-swagger-ui.png")
    assert blocked == [] and errors == []  # nothing was asked of a CDN
    page.close()


def test_redoc_renders_offline(serve: Any, browser: Any) -> None:
    url = serve()
    page, blocked, errors = offline_page(browser)
    page.goto(f"{url}/redoc")
    page.wait_for_selector("#redoc .api-content h1", timeout=60_000)
    assert "embspace" in page.inner_text("#redoc .api-content h1")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "docs-redoc.png")
    not_blank(ARTIFACTS / "docs-redoc.png")
    assert blocked == [] and errors == []
    page.close()


def test_the_docs_of_a_server_with_a_key_load_the_schema_with_it(serve: Any, browser: Any) -> None:
    url = serve(api_key=KEY)
    page, blocked, _ = offline_page(browser)
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept(KEY)))  # the key, asked for on a 401
    page.goto(f"{url}/docs")
    page.wait_for_selector("#swagger-ui .swagger-ui .opblock", timeout=60_000)
    assert asked == ["This server needs its API key:"] and blocked == []
    # "Try it out" requests carry the key too: the page's request interceptor adds it
    got = page.evaluate("""async () => {
        const req = window.ui.getConfigs().requestInterceptor({url: "/health", headers: {}});
        const r = await fetch(req.url, {headers: req.headers});
        return r.status;
    }""")
    assert got == 200
    page.close()


# ------------------------------------------------------------------------------------------------ CORS
PAGE = "<!doctype html><html><head><title>another app</title></head><body>another origin</body></html>"
FETCH = """async ([api, key]) => {
    try {
        const r = await fetch(api + "/collections/vecs/search", {method: "POST",
            headers: {"Content-Type": "application/json", ...(key ? {"Authorization": "Bearer " + key} : {})},
            body: JSON.stringify({vector: [1, 0, 0, 0], k: 1})});
        return {ok: true, status: r.status, body: await r.json()};
    } catch (e) {
        return {ok: false, error: String(e)};
    }
}"""


@pytest.fixture(scope="module")
def other_origin() -> Iterator[str]:
    """A page on another port of 127.0.0.1: another origin than the API's."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    app = Starlette(routes=[Route("/", lambda request: HTMLResponse(PAGE))])
    with live_server(app) as url:
        yield url


def cross_origin_fetch(browser: Any, page_url: str, api: str, key: str | None = None) -> dict[str, Any]:
    page = browser.new_page()
    page.goto(page_url)
    got: dict[str, Any] = page.evaluate(FETCH, [api, key])
    page.close()
    return got


@pytest.mark.parametrize("key", [None, KEY], ids=["loopback", "api-key"])
def test_a_page_of_another_origin_calls_the_api_only_when_its_origin_is_named(
        serve: Any, browser: Any, other_origin: str, key: str | None) -> None:
    assert urlsplit(other_origin).port is not None
    options = {"api_key": key} if key else {}
    closed = serve(**options)
    refused = cross_origin_fetch(browser, other_origin, closed, key)
    assert refused["ok"] is False and "Failed to fetch" in refused["error"], refused  # CORS is off by default
    opened = serve(cors_origins=[other_origin], **options)
    assert urlsplit(opened).port != urlsplit(other_origin).port
    got = cross_origin_fetch(browser, other_origin, opened, key)  # with a key: the preflight comes without it
    assert got["ok"] is True and got["status"] == 200, got
    assert got["body"]["hits"][0]["key"] == "a"
    elsewhere = serve(cors_origins=["http://127.0.0.1:1"], **options)  # another origin named: still refused
    assert cross_origin_fetch(browser, other_origin, elsewhere, key)["ok"] is False
