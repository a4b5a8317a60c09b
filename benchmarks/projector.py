"""The web projector at a million points: page load and hover / click round trips in headless Chromium.

A seeded space of N points (20 labelled blobs, 8-d) with a saved PCA map is served by `embspace serve`'s
app; each run opens a fresh page, waits until the map is drawn, then hovers and clicks R random points.
The page measures each round trip itself, from the pointer event to the painted answer (for a click, that
includes the neighbour query on the server's exact search). Medians over runs and rounds.

There is no peer to run side by side: TensorFlow's Embedding Projector loads at most 100,000 points
(tensorflow/tensorboard issue #773), the reason this projector exists.

    python benchmarks/projector.py                  # 1,000,000 points, 3 runs
    python benchmarks/projector.py --points 100000 --runs 1 --no-markdown
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "serve"))

from _report import publish_section, say, version, write_json  # noqa: E402

SECTION = "## Web projector (issue 10)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10, help="hover + click rounds per run")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "projector.json")
    ap.add_argument("--no-markdown", action="store_true", help="do not update BENCHMARKS.md")
    args = ap.parse_args()

    import numpy as np
    from playwright.sync_api import sync_playwright
    from projector_testing import CHROMIUM, FLAGS, labelled_space_with_map, live_server, round_trips

    from embspace.serve import Resources
    from embspace.serve.app import create_app

    if not CHROMIUM.exists():
        sys.exit(f"no Chromium at {CHROMIUM}: apt-get install -y chromium chromium-driver")
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        t0 = time.perf_counter()
        labelled_space_with_map(data / "points", n=args.points, dim=8, k=20, error_field=False, spread=0.3)
        say(f"space and map of {args.points:,} points in {time.perf_counter() - t0:.1f} s")
        resources = Resources(data)
        runs: list[dict[str, Any]] = []
        with live_server(create_app(resources)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
            for r in range(args.runs):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{url}/projector/?space=points")
                page.wait_for_function("window.__projector && window.__projector.ready", timeout=600_000)
                runs.append(round_trips(page, args.points, rounds=args.rounds, seed=r))
                page.close()
                say(f"run {r + 1}: load {runs[-1]['load_s']:.1f} s, hover median {runs[-1]['hover_median_ms']:.0f} "
                    f"ms, click median {runs[-1]['click_median_ms']:.0f} ms")
            browser.close()
        resources.close()
    hover = [x for run in runs for x in run["hover_ms"]]
    click = [x for run in runs for x in run["click_ms"]]
    loads = [run["load_s"] for run in runs]
    summary = {"points": args.points, "runs": args.runs, "rounds": args.rounds,
               "load_s_median": float(np.median(loads)), "hover_ms_median": float(np.median(hover)),
               "hover_ms_p90": float(np.percentile(hover, 90)), "hover_ms_max": float(np.max(hover)),
               "click_ms_median": float(np.median(click)), "click_ms_p90": float(np.percentile(click, 90)),
               "click_ms_max": float(np.max(click))}
    chromium = os.popen(f"{CHROMIUM} --version 2>/dev/null").read().strip()
    report = {"summary": summary, "runs": runs, "machine": {"cpus": os.cpu_count(), "load_before": load0,
                                                            "load_after": os.getloadavg()[0], "chromium": chromium,
                                                            "playwright": version("playwright")}}
    write_json(args.out, report)
    table = ("| points | runs x rounds | page load s (median) | hover ms median / p90 / max | "
             "click ms median / p90 / max |\n|---|---|---|---|---|\n"
             f"| {args.points:,} | {args.runs} x {args.rounds} | {summary['load_s_median']:.1f} | "
             f"{summary['hover_ms_median']:.0f} / {summary['hover_ms_p90']:.0f} / {summary['hover_ms_max']:.0f} | "
             f"{summary['click_ms_median']:.0f} / {summary['click_ms_p90']:.0f} / {summary['click_ms_max']:.0f} |\n")
    print(table)
    verdict = "holds" if max(summary["hover_ms_max"], summary["click_ms_max"]) < 200 else "DOES NOT hold"
    section = (f"{SECTION}\n\nThe projector (`/projector/`) on a served space of {args.points:,} points (8-d, 20 "
               "labelled blobs, saved PCA map) in headless Debian Chromium (software WebGL: `--disable-gpu`), "
               f"{os.cpu_count()} cores shared by browser, server and driver. Each of {args.runs} runs opens a fresh "
               f"page and hovers then clicks {args.rounds} random points; the page measures each round trip from "
               "the pointer event to the painted answer (a click includes the server's exact neighbour search over "
               "all points). No peer runs side by side: TensorFlow's Embedding Projector loads at most 100,000 "
               "points.\n\n" + table +
               f"\nAcceptance (hover/click round trip under 200 ms at 1,000,000 points): {verdict} (every round "
               f"trip measured, the slowest included). {chromium}; load average {load0:.2f} before. Rerun with:\n\n"
               "```bash\npython benchmarks/projector.py\n```\n\nThe browser test "
               "`tests/serve/test_projector_browser.py::test_a_million_points_stay_interactive` measures the same "
               "way in every CI run (8 rounds) and writes `tests/artifacts/projector-1m.json`.\n")
    publish_section(None if args.no_markdown else HERE.parent / "BENCHMARKS.md", SECTION, section)


if __name__ == "__main__":
    main()
