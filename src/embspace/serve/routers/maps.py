"""Maps of spaces and collections (the data of the web projector) and the projector's own files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter
from fastapi import Path as Path_
from fastapi.responses import FileResponse, RedirectResponse, Response

from ...apps.map_view import MapView, axes_header, find_map
from ...apps.schemas import MapAxes, MapAxesRequest, MapHits, MapInfo, MapPoint, MapQuery
from .._json import JSONRoute
from .._resources import NotFoundError, Resources, Served
from ..schemas import MapPointsRequest, MapSelection, MapSource
from ._common import ResourcesDep, as_collection, as_space, encoding, holding

__all__ = ["PROJECTOR_DIR", "Source", "map_of", "router"]

T = TypeVar("T")

#: The web projector's built files (committed; rebuilt from projector/ with npm).
PROJECTOR_DIR = Path(__file__).resolve().parents[1] / "static" / "projector"
#: What a map shows (the path segment of the map routes).
Source = Literal["space", "collection"]

router = APIRouter(route_class=JSONRoute)


def map_of(resources: Resources, kind: str, name: str) -> tuple[Served, MapView]:
    """The served resource and its MapView (opened once: a saved map, else a PCA map computed now)."""
    served = resources.get(kind, name)
    with holding(resources, served):
        # a collection written since its map was opened: open it again (new items, deleted ones)
        version = as_collection(served).version if kind == "collection" else None
        view = served.cache.get("map")
        if not isinstance(view, MapView) or served.cache.get("map_version") != version:
            encoder = None
            if kind == "space":
                provenance = as_space(served).provenance
                encoder = resources.encoder_for(provenance.model if provenance is not None else None)
            view = MapView.open(served.obj, served.path if served.path.is_dir() else None, encoder=encoder, name=name)
            view.warm()
            served.cache["map"], served.cache["map_version"] = view, version
        return served, view


def on_map(resources: Resources, kind: str, name: str, fn: Callable[[MapView], T]) -> T:
    """``fn(view)`` of the map of the ``kind`` called ``name`` (under the collection's lock)."""
    served, view = map_of(resources, kind, name)
    if kind == "space":
        return fn(view)  # spaces are read-only: no lock
    with holding(resources, served):
        return fn(view)


@router.get("/maps", tags=["projector"])
def list_maps(resources: ResourcesDep) -> list[MapSource]:
    """Every space and collection the projector can show."""
    out = []
    for kind in ("space", "collection"):
        for n in resources.names(kind):
            try:
                served = resources.get(kind, n)
                if kind == "space":
                    size = len(as_space(served))
                else:
                    with holding(resources, served):
                        size = as_collection(served).count()
            except NotFoundError:  # a collection deleted since the names were read
                continue
            saved = find_map(served.path if served.path.is_dir() else None) is not None
            out.append(MapSource(source=kind, name=n, size=size, saved=saved))
    return out


@router.get("/maps/{source}/{name}", tags=["projector"])
def get_map(source: Source, name: str, resources: ResourcesDep) -> MapInfo:
    """A map's size, method, axes and the fields it can be coloured by."""
    return on_map(resources, source, name, lambda v: v.info())


def binary(arr: npt.NDArray[Any], **headers: str) -> Response:
    data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
    return Response(data, media_type="application/octet-stream", headers={"Cache-Control": "no-store", **headers})


@router.get("/maps/{source}/{name}/coords", tags=["projector"], response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "float32 little-endian, (size, n_components), row-major"}})
def map_coords(source: Source, name: str, resources: ResourcesDep) -> Response:
    """The map's positions as raw float32 (row-major, little-endian); X-Components gives the width."""
    coords = on_map(resources, source, name, lambda v: v.coords())
    return binary(coords, **{"X-Components": str(coords.shape[1]), "X-Rows": str(coords.shape[0])})


@router.get("/maps/{source}/{name}/fields/{field}", tags=["projector"], response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "int32 category codes or float32 values, one per map row"}})
def map_field(source: Source, name: str, field: Annotated[str, Path_(max_length=64)],
              resources: ResourcesDep) -> Response:
    """One field per map row: int32 codes into the field's categories (X-Field-Type: categorical) or
    float32 values (numeric; NaN where missing)."""
    desc, values = on_map(resources, source, name, lambda v: v.field(field))
    return binary(values, **{"X-Field-Type": desc.type})


@router.post("/maps/{source}/{name}/points", tags=["projector"])
def map_points(source: Source, name: str, req: MapPointsRequest, resources: ResourcesDep) -> list[MapPoint]:
    """Key, text and metadata of map rows (the hover labels); a row named twice is answered once."""
    rows = list(dict.fromkeys(req.rows))
    return on_map(resources, source, name, lambda v: v.points(rows))


@router.post("/maps/{source}/{name}/keys", tags=["projector"])
def map_keys(source: Source, name: str, req: MapSelection, resources: ResourcesDep) -> list[str]:
    """The keys of map rows (a lasso selection, exported as ids); a row named twice is answered once."""
    rows = list(dict.fromkeys(req.rows))
    return on_map(resources, source, name, lambda v: v.keys(rows))


@router.post("/maps/{source}/{name}/query", tags=["projector"])
def map_query(source: Source, name: str, req: MapQuery, resources: ResourcesDep) -> MapHits:
    """Neighbours of a point, a search (a key, or text through the encoder) or an analogy, answered by the
    index, with each hit's map row."""

    def query(view: MapView) -> MapHits:
        # a text may be encoded: within the encode limits, the slot taken under the collection's lock (as
        # every route takes them)
        with encoding(resources, [req.text] if req.text is not None else None, field="text"):
            return view.query(req)

    return on_map(resources, source, name, query)


def _axes(resources: Resources, source: str, name: str, req: MapAxesRequest) -> tuple[npt.NDArray[Any], MapAxes]:
    def run(view: MapView) -> tuple[npt.NDArray[Any], MapAxes]:
        # examples that are not keys go through the encoder: within the encode limits, as every route
        with encoding(resources, view.axis_texts(req.x, req.y), field="axes"):
            return view.axes(req.x, req.y, method=req.method)

    return on_map(resources, source, name, run)


@router.post("/maps/{source}/{name}/axes", tags=["projector"], response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "float32 little-endian, (size, 2), row-major: each point's "
                                             "projection on x, then on y; X-Axes: the axes (JSON, as /axes/info)"}})
def map_axes(source: Source, name: str, req: MapAxesRequest, resources: ResourcesDep) -> Response:
    """The map's points on two concept axes instead of the map: each point placed by its projections on the
    direction ``x`` (negative -> positive examples) and on ``y``, as raw float32 in the layout of ``/coords``
    (X-Components: 2). X-Axes holds, as ASCII JSON, each axis' label, held-out reliability and the examples
    the source lacks (the body of ``/axes/info``)."""
    coords, axes = _axes(resources, source, name, req)
    return binary(coords, **{"X-Components": "2", "X-Rows": str(coords.shape[0]), "X-Axes": axes_header(axes)})


@router.post("/maps/{source}/{name}/axes/info", tags=["projector"])
def map_axes_info(source: Source, name: str, req: MapAxesRequest, resources: ResourcesDep) -> MapAxes:
    """What ``/axes`` would place the points by, as JSON: each axis' label, method, held-out reliability and
    AUC, the examples the source lacks, the range of the projections, and the cosine between the axes."""
    return _axes(resources, source, name, req)[1]


@router.get("/projector", include_in_schema=False)
def projector_root() -> RedirectResponse:
    return RedirectResponse("/projector/")


@router.get("/projector/", include_in_schema=False)
def projector_page() -> FileResponse:
    return FileResponse(PROJECTOR_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/projector/{asset}", include_in_schema=False)
def projector_asset(asset: str) -> FileResponse:
    allowed = {p.name: p for p in PROJECTOR_DIR.iterdir() if p.is_file()} if PROJECTOR_DIR.is_dir() else {}
    if asset not in allowed:  # only the built files, by exact name: nothing else on disk is reachable
        raise NotFoundError(f"no projector file {asset!r}")
    return FileResponse(allowed[asset], headers={"Cache-Control": "no-cache"})
