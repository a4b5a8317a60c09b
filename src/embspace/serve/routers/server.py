"""The server itself: what it serves (``/health``) and its text encoders (``/encode``)."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter

from ..._version import __version__
from .._json import JSONRoute
from ..schemas import EncodeRequest, EncodeResponse, ErrorResponse, Health, SkippedEntry
from ._common import ResourcesDep

__all__ = ["router"]

router = APIRouter(route_class=JSONRoute)


# async and cheap (names from in-memory tables, under a lock held for lookups only): answered on the event
# loop, so it answers at once however busy the worker threads are
@router.get("/health", tags=["server"])
async def health(resources: ResourcesDep) -> Health:
    """What this server offers, and the entries of its directories it skipped (with why)."""
    return Health(version=__version__, encoders=resources.encoders(),
                  collections=resources.names("collection"), spaces=resources.names("space"),
                  recommenders=resources.names("recommender"),
                  skipped=[SkippedEntry(name=p.name, reason=why) for p, why in resources.skipped])


@router.post("/encode", tags=["server"], responses={
    413: {"model": ErrorResponse, "description": "more characters than the server encodes per request"},
    503: {"model": ErrorResponse, "description": "as many encodes running as the server takes (see Retry-After)"}})
def encode(req: EncodeRequest, resources: ResourcesDep) -> EncodeResponse:
    """Sentence vectors of texts (unit length), from one of the server's encoders. At most ``max_encode_chars``
    characters per request (413 beyond); each text is cut to what the model reads."""
    gate = resources.encode_gate
    gate.check(req.texts)  # before the encoder loads (the first load takes seconds)
    enc = resources.encoder(req.encoder)
    with gate.slot():  # checked above
        texts = gate.cut(req.texts, enc)
        vecs = np.asarray(enc.encode(texts, normalize=True, progress=False), np.float32)
    return EncodeResponse(encoder=str(enc.name), dim=int(vecs.shape[1]), vectors=vecs.tolist())
