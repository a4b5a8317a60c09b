"""Recommendation models: list them, recommend for a known user or for a new one."""

from __future__ import annotations

from fastapi import APIRouter

from ...apps.schemas import Hits
from .._json import JSONRoute
from ..schemas import RecommenderInfo, RecommendRequest
from ._common import ResourcesDep, as_recommender, one_of

__all__ = ["router"]

router = APIRouter(route_class=JSONRoute)


@router.get("/recommenders", tags=["recommend"])
def list_recommenders(resources: ResourcesDep) -> list[RecommenderInfo]:
    """Every served recommendation model."""
    out = []
    for n in resources.names("recommender"):
        m = as_recommender(resources.get("recommender", n))
        out.append(RecommenderInfo(name=n, users=len(m.user_space_), items=len(m.item_space_), dim=int(m.dim),
                                   objective=m.objective))
    return out


@router.post("/recommenders/{name}/recommend", tags=["recommend"])
def recommend(name: str, req: RecommendRequest, resources: ResourcesDep) -> Hits:
    """Items for a known user, or for a new user given items they liked."""
    one_of(user=req.user, items=req.items)
    served = resources.get("recommender", name)
    with served.lock:
        model = as_recommender(served)
        if req.user is not None:
            return Hits.of(model.recommend(req.user, req.k, exclude_seen=req.exclude_seen))
        return Hits.of(model.recommend_for_new_user(req.items or [], req.k))
