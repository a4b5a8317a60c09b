"""Take the README's projector screenshot: the demo's collection, coloured by chapter, one point clicked.

    embspace demo --no-serve && python tools/projector_screenshot.py [DATA_DIR] [OUT.png]

Needs Debian's Chromium (/usr/bin/chromium) and playwright (the dev extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "serve"))


def main(data_dir: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright
    from projector_testing import CHROMIUM, FLAGS, live_server

    from embspace.serve import Resources
    from embspace.serve.app import create_app

    resources = Resources(data_dir)
    with live_server(create_app(resources)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        page.goto(f"{url}/projector/?collection=demo-docs")
        page.wait_for_function("window.__projector && window.__projector.ready", timeout=120_000)
        # the page opens coloured by the collection's first categorical metadata field: chapter
        page.wait_for_function("document.getElementById('legend').dataset.field === 'chapter'", timeout=60_000)
        page.fill("#search", "how do I open a file")
        page.click("#search-go")
        page.wait_for_function("document.querySelectorAll('#search-results li').length > 0", timeout=60_000)
        page.wait_for_timeout(800)
        row = int(page.locator("#search-results li").first.get_attribute("data-row") or 0)
        x, y = page.evaluate(f"window.__projector.screen({row})")
        page.mouse.click(x, y)
        page.wait_for_function(f"document.getElementById('details').dataset.row === '{row}'", timeout=60_000)
        page.mouse.move(x + 1, y)
        page.wait_for_timeout(500)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()
    resources.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    from embspace._dirs import default_data_dir

    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default_data_dir(),
         Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "images" / "projector.png")
