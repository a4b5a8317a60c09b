"""Spaces (read-only): info, exact neighbours, analogies, similarity and the geometry summary."""

from __future__ import annotations

from fastapi import APIRouter

from ...apps.schemas import Hits, Summary
from .._json import JSONRoute
from .._resources import Served
from ..schemas import AnalogyRequest, NeighborsRequest, SimilarityRequest, SimilarityResponse, SpaceInfo
from ._common import ResourcesDep, as_space, one_of, summary_of, vector

__all__ = ["router", "space_info"]

router = APIRouter(route_class=JSONRoute)


def space_info(served: Served) -> SpaceInfo:
    s = as_space(served)
    return SpaceInfo(name=served.name, size=len(s), dim=s.dim, metric=s.metric, normalized=s.is_normalized,
                     model=s.provenance.model if s.provenance is not None else None)


@router.get("/spaces", tags=["spaces"])
def list_spaces(resources: ResourcesDep) -> list[SpaceInfo]:
    """Every served space."""
    return [space_info(resources.get("space", n)) for n in resources.names("space")]


@router.get("/spaces/{name}", tags=["spaces"])
def get_space(name: str, resources: ResourcesDep) -> SpaceInfo:
    """Size, dimension, metric and model of a space."""
    return space_info(resources.get("space", name))


@router.post("/spaces/{name}/neighbors", tags=["spaces"])
def neighbors(name: str, req: NeighborsRequest, resources: ResourcesDep) -> Hits:
    """Exact nearest neighbours of a key (itself left out) or of a vector."""
    by = one_of(key=req.key, vector=req.vector)
    space = as_space(resources.get("space", name))
    if by == "key" and req.key is not None:
        return Hits.of(space.neighbors(req.key, k=req.k))
    return Hits.of(space.neighbors(vector(req.vector or []), k=req.k))


@router.post("/spaces/{name}/analogy", tags=["spaces"])
def analogy(name: str, req: AnalogyRequest, resources: ResourcesDep) -> Hits:
    """a is to b as c is to ? — the k best answers, a, b and c left out."""
    space = as_space(resources.get("space", name))
    return Hits.of(space.analogy(req.a, req.b, req.c, k=req.k, method=req.method))


@router.post("/spaces/{name}/similarity", tags=["spaces"])
def similarity(name: str, req: SimilarityRequest, resources: ResourcesDep) -> SimilarityResponse:
    """The similarity (the space's metric, higher is closer) of each pair of keys."""
    space = as_space(resources.get("space", name))
    return SimilarityResponse(scores=[float(space.similarity(a, b)) for a, b in req.pairs])


@router.get("/spaces/{name}/summary", tags=["analysis"])
def space_summary(name: str, resources: ResourcesDep) -> Summary:
    """Geometry of the space: norms, anisotropy, intrinsic dimension, hubness (measured once, kept)."""
    served = resources.get("space", name)
    with served.lock:
        if "summary" not in served.cache:
            served.cache["summary"] = summary_of(as_space(served))
        result: Summary = served.cache["summary"]
        return result
