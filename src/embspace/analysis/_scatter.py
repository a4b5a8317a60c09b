"""A map drawn as a PNG scatter with Pillow (no matplotlib): what a notebook shows for a SpaceMap.

The points are rasterised with NumPy (one vectorised pass, whatever their number), so drawing a map of
100,000 points takes milliseconds; Pillow only encodes the image and writes the title and legend.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .. import _html
from ..errors import InvalidInputError, MissingDependencyError

if TYPE_CHECKING:
    from PIL.Image import Image

    from .maps import SpaceMap

__all__ = ["map_html", "png", "scatter"]

# Tableau's ten colours (as matplotlib's "tab10"), then grey for noise (label -1)
PALETTE = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)], np.uint8)
NOISE = np.array((200, 200, 200), np.uint8)
BACKGROUND = (255, 255, 255)
FRAME = (210, 210, 210)
LEGEND_ROWS = 10
LEGEND_WIDTH = 150
MAX_SIDE = 4096


def _pillow() -> Any:
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise MissingDependencyError("pillow", "analysis", "Drawing maps") from None
    return Image, ImageDraw


def _codes(labels: npt.ArrayLike, n: int) -> tuple[npt.NDArray[np.int64], list[Any], npt.NDArray[np.int64]]:
    """(a colour group per point, the group's label, the group's size), groups by decreasing size."""
    arr = np.asarray(labels)
    if arr.ndim != 1 or len(arr) != n:
        raise InvalidInputError(f"labels must give one value per point of the map ({n}), got shape {arr.shape}")
    try:
        uniques, inverse = np.unique(arr, return_inverse=True)
    except TypeError:  # mixed types: group by their text
        uniques, inverse = np.unique(arr.astype(str), return_inverse=True)
    sizes = np.bincount(inverse.ravel(), minlength=len(uniques))
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()].astype(np.int64), [uniques[i].item() if hasattr(uniques[i], "item")
                                                     else uniques[i] for i in order], sizes[order].astype(np.int64)


def _colours(names: Sequence[Any]) -> npt.NDArray[np.uint8]:
    out = np.empty((len(names), 3), np.uint8)
    c = 0
    for i, name in enumerate(names):
        if isinstance(name, int | np.integer) and not isinstance(name, bool) and name == -1:
            out[i] = NOISE  # HDBSCAN's noise
        else:
            out[i] = PALETTE[c % len(PALETTE)]
            c += 1
    return out


def scatter(coords: npt.ArrayLike, labels: npt.ArrayLike | None = None, *, size: tuple[int, int] = (640, 480),
            title: str = "", point: int | None = None) -> Image:
    """The first two columns of ``coords`` ``(n, >= 2)`` drawn as a scatter on a white ``size`` image.

    ``labels`` (one per point) colour the points, the ten largest groups named in a legend (label ``-1``,
    HDBSCAN's noise, in grey); ``point`` is the radius in pixels (default: 2, or 1 above 20,000 points).
    Returns a ``PIL.Image.Image`` (RGB).
    """
    image_mod, draw_mod = _pillow()
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InvalidInputError(f"size is (width, height) in pixels, got {size!r}") from None
    if not (32 <= w <= MAX_SIDE and 32 <= h <= MAX_SIDE):
        raise InvalidInputError(f"size must be between 32 and {MAX_SIDE} pixels a side, got {size!r}")
    xy = np.asarray(coords, np.float64)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise InvalidInputError(f"coords must be an (n, 2) or (n, 3) array, got shape {xy.shape}")
    xy = xy[:, :2]
    n = len(xy)
    if labels is None:
        names: list[Any] = []
        codes, sizes = np.zeros(n, np.int64), np.zeros(0, np.int64)
        colours = PALETTE[:1]
    else:
        codes, names, sizes = _codes(labels, n)
        colours = _colours(names)
    legend = bool(names) and w >= 3 * LEGEND_WIDTH
    top = 22 if title else 8
    x0, y0, x1, y1 = 8, top, w - 9 - (LEGEND_WIDTH if legend else 0), h - 9
    pix = np.empty((h, w, 3), np.uint8)
    pix[...] = BACKGROUND
    ok = np.isfinite(xy).all(axis=1)
    if ok.any():
        lo, hi = xy[ok].min(axis=0), xy[ok].max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        r = (2 if n <= 20_000 else 1) if point is None else max(0, int(point))
        pad = r + 2
        px = np.rint(x0 + pad + (xy[ok, 0] - lo[0]) / span[0] * (x1 - x0 - 2 * pad)).astype(np.int64)
        py = np.rint(y1 - pad - (xy[ok, 1] - lo[1]) / span[1] * (y1 - y0 - 2 * pad)).astype(np.int64)
        px = np.where(hi[0] > lo[0], px, (x0 + x1) // 2)
        py = np.where(hi[1] > lo[1], py, (y0 + y1) // 2)
        col = colours[codes[ok]]
        order = np.random.default_rng(0).permutation(len(px))  # no group hidden under the last one drawn
        px, py, col = px[order], py[order], col[order]
        for dx in range(-r, r + 1):
            for dy in range(-r, r + 1):
                if dx * dx + dy * dy <= r * r + r:  # a small disc
                    pix[np.clip(py + dy, 0, h - 1), np.clip(px + dx, 0, w - 1)] = col
    img: Image = image_mod.fromarray(pix)
    draw = draw_mod.Draw(img)
    draw.rectangle((x0, y0, x1, y1), outline=FRAME)
    if title:
        draw.text((x0, 4), title, fill=(60, 60, 60))
    if legend:
        lx = x1 + 10
        for i, (name, count) in enumerate(zip(names[:LEGEND_ROWS], sizes[:LEGEND_ROWS].tolist(), strict=True)):
            ly = y0 + 4 + 16 * i
            draw.rectangle((lx, ly + 2, lx + 9, ly + 11), fill=tuple(int(c) for c in colours[i]))
            draw.text((lx + 14, ly), _html.truncate(f"{name} ({count:,})", 20), fill=(60, 60, 60))
        if len(names) > LEGEND_ROWS:
            draw.text((lx, y0 + 4 + 16 * LEGEND_ROWS), f"… {len(names) - LEGEND_ROWS:,} more", fill=(120, 120, 120))
    return img


def png(img: Image) -> bytes:
    """The image encoded as PNG."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def map_html(proj: SpaceMap) -> str:
    """A SpaceMap in a notebook: what made it, a few of its points, and the map as an inline PNG."""
    n = len(proj.keys)
    coords = np.asarray(proj.coords)
    facts = _html.kv_table([("method", proj.method), ("points", n), ("components", proj.n_components),
                            ("from dimension", proj.dim)])
    pts = _html.table(((k, *coords[i, : proj.n_components].tolist()) for i, k in enumerate(proj.keys[:5])),
                      ["key", *("xyz"[: proj.n_components])], total=n, limit=5)
    try:
        shown = "first two components of a 3-D map" if proj.n_components > 2 else ""
        pic = _html.image(png(proj.plot(size=(480, 360))), f"{proj.method} map of {n:,} points")
        if shown:
            pic = _html.Html(pic + _html.note(shown))
    except MissingDependencyError as e:
        pic = _html.note(str(e))
    return _html.frame("SpaceMap", f'<div style="display:flex;gap:12px;align-items:flex-start">'
                                   f"<div>{facts}{pts}</div><div>{pic}</div></div>",
                       subtitle=f"{proj.method}, {n:,} points")
