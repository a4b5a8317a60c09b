"""The API's routes, one :class:`fastapi.APIRouter` per resource. Each route gets the server's
:class:`~embspace.serve.Resources` through the :data:`~._common.ResourcesDep` dependency
(``app.state.resources``); :func:`~embspace.serve.create_app` includes them all."""

from __future__ import annotations

from fastapi import APIRouter

from . import apps, collections, home, maps, openai, recommenders, server, spaces

__all__ = ["ROUTERS", "apps", "collections", "home", "maps", "openai", "recommenders", "server", "spaces"]

#: Every router, in the order the app includes them.
ROUTERS: tuple[APIRouter, ...] = (server.router, collections.router, apps.router, spaces.router,
                                  recommenders.router, maps.router, openai.router, home.router)
