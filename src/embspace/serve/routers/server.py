"""The server itself: what it serves (``/health``) and its text encoders (``/encode``)."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter

from ..._version import __version__
from ..schemas import EncodeRequest, EncodeResponse, Health
from ._common import ResourcesDep

__all__ = ["router"]

router = APIRouter()


@router.get("/health", tags=["server"])
def health(resources: ResourcesDep) -> Health:
    """What this server offers."""
    return Health(version=__version__, encoders=resources.encoders(),
                  collections=resources.names("collection"), spaces=resources.names("space"),
                  recommenders=resources.names("recommender"))


@router.post("/encode", tags=["server"])
def encode(req: EncodeRequest, resources: ResourcesDep) -> EncodeResponse:
    """Sentence vectors of texts (unit length), from one of the server's encoders."""
    enc = resources.encoder(req.encoder)
    vecs = np.asarray(enc.encode(req.texts, normalize=True, progress=False), np.float32)
    return EncodeResponse(encoder=str(enc.name), dim=int(vecs.shape[1]), vectors=vecs.tolist())
